"""``gwms factory run|status|upgrade-check``: the factory service and its checks.

``run`` cycles (or runs one cycle with ``--once``); ``status`` shows the glideins in the
factory schedd's queue by entry and client, and the state file; ``upgrade-check``
reports what to fix for a single-user factory (directory and job ownership). Exit
codes: 0 fine, 1 something to fix or a failure, 2 usage.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from gwms_core import defaults

EXIT_OK = 0
EXIT_FAIL = 1


def _print(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")


def _load(args: argparse.Namespace) -> Any:
    from gwms_core.config import ConfigError
    from gwms_core.factory.service import FactoryConfig

    try:
        return FactoryConfig.from_file(args.config)
    except ConfigError as exc:
        for problem in exc.problems:
            _err(f"error: {problem}")
        return None


def _connect(cfg: Any) -> tuple[Any, Any]:
    from gwms_core.factory.collector import WmsCollector
    from gwms_core.factory.schedd import FactorySchedd

    schedd = FactorySchedd.connect(cfg.name, cfg.glidein, cfg.schedd, cfg.wms_collector)
    return schedd, WmsCollector(cfg.wms_collector)


def cmd_run(args: argparse.Namespace) -> int:
    """Run the factory (``--once``: one cycle, exit 1 if it reported errors)."""
    from gwms_core.factory.service import Factory, load_entries
    from gwms_core.manager import get_registry

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    cfg = _load(args)
    if cfg is None:
        return EXIT_FAIL
    if args.key:
        from dataclasses import replace

        cfg = replace(cfg, key_files=tuple(Path(k) for k in args.key))
    registry = get_registry()
    schedd, collector = _connect(cfg)
    factory = Factory(cfg, schedd, collector, registry)
    stopping = {"now": False}

    def on_term(signum: int, frame: object) -> None:
        stopping["now"] = True

    signal.signal(signal.SIGTERM, on_term)

    def entries() -> dict[str, Any]:
        loaded, errors = load_entries(cfg, registry)
        for e in errors:
            logging.getLogger("gwms.factory").error("%s", e)
        return loaded

    from gwms_core.factory.state import AlreadyRunning

    if args.metrics_port is not None:
        from gwms_core.metrics import start_http_server

        server, _ = start_http_server(factory.metrics, args.metrics_host, args.metrics_port)
        logging.getLogger("gwms.factory").info(
            "metrics on http://%s:%d/metrics", *server.server_address[:2])
    try:
        watch = None
        if args.wake_poll > 0 and not args.once:
            from gwms_core.wake import ChangeWatch, request_probe, requests_rose

            watch = ChangeWatch(request_probe(cfg.wms_collector, cfg.name, cfg.glidein),
                                poll_s=args.wake_poll, min_interval_s=args.wake_poll,
                                changed=requests_rose)
        report = factory.run(entries, once=args.once, stop=lambda: stopping["now"],
                             watch=watch)
    except AlreadyRunning as exc:
        _err(f"error: {exc}")
        return EXIT_FAIL
    if args.metrics_file:
        Path(args.metrics_file).write_text(factory.metrics(), encoding="utf-8")
    if args.once:
        if report is None:
            return EXIT_FAIL
        _print(json.dumps({"glideins": report.glideins,
                           "submitted": sum(report.submitted.values()),
                           "removed": sum(report.removed.values()),
                           "released": report.released,
                           "refused": [f"{r.entry}/{r.client}: {r.reason}"
                                       for r in report.refused],
                           "errors": report.errors}))
        return EXIT_FAIL if report.errors else EXIT_OK
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    """Glideins in the queue by entry and client, and the state file."""
    from gwms_core.factory import state as ST
    from gwms_core.factory.decide import account

    cfg = _load(args)
    if cfg is None:
        return EXIT_FAIL
    try:
        schedd, _ = _connect(cfg)
        glideins = schedd.glideins()
    except Exception as exc:
        _err(f"error: cannot query the factory schedd: {type(exc).__name__}: {exc}")
        return EXIT_FAIL
    acct = account(glideins)
    st = ST.load(cfg.state_path)
    data = {
        "factory": cfg.name,
        "entries": {e: c.as_dict() for e, c in sorted(acct.entries.items())},
        "clients": {f"{e}/{c}/{k} ({f})": n.as_dict()
                    for (e, f, c, k), n in sorted(acct.clients.items())},
        "state_file": str(cfg.state_path),
        "state": st.rebuilt or "ok",
        "pending_submissions": len(st.pending),
    }
    if args.json:
        _print(json.dumps(data, indent=2))
        return EXIT_OK
    cols = ("unsubmitted", "idle", "running", "held", "removed", "total")
    _print(f"{'ENTRY/CLIENT':40} " + " ".join(f"{c.upper():>11}" for c in cols))
    for name, counts in [*data["entries"].items(), *data["clients"].items()]:
        _print(f"{name:40} " + " ".join(f"{counts[c]:>11}" for c in cols))
    _print(f"state file {data['state_file']}: {data['state']}, "
           f"{data['pending_submissions']} pending submission(s)")
    return EXIT_OK


def cmd_upgrade_check(args: argparse.Namespace) -> int:
    """Ownership of directories and jobs for a single-user factory; 1 if anything to fix."""
    from gwms_core.factory import attrs as A
    from gwms_core.factory import state as ST
    from gwms_core.factory import upgrade as U
    from gwms_core.factory.schedd import GRID_UNIVERSE
    from gwms_core.factory.service import load_entries
    from gwms_core.manager import get_registry
    from gwms_core.types import Family

    cfg = _load(args)
    if cfg is None:
        return EXIT_FAIL
    uid, user = os.geteuid(), getpass.getuser()
    paths = [U.stat_path(cfg.work_dir, "work directory")]
    if cfg.staging_dir is not None:
        paths.append(U.stat_path(cfg.staging_dir, "staging directory"))
    findings = U.check_paths(paths, uid, user)
    findings += U.check_state(ST.load(cfg.state_path).rebuilt, cfg.state_path)
    registry = get_registry()
    entries, errors = load_entries(cfg, registry)
    findings += [U.Finding("error", e, "fix the entry source") for e in errors]
    backends = set(registry.names(Family.BACKEND))
    for e in entries.values():
        if e.grid_type not in backends:
            findings.append(U.Finding("error", f"entry {e.name}: no backend {e.grid_type!r}",
                                      "install the plugin or change grid_type"))
    try:
        schedd, _ = _connect(cfg)
        jobs = schedd.schedd.query(constraint=f"JobUniverse == {GRID_UNIVERSE}",
                                   projection=["Owner", A.FACTORY, "ClusterId", "ProcId"])
        findings += U.check_jobs([dict(j) for j in jobs], cfg.name, user)
    except Exception as exc:
        findings.append(U.Finding("error", f"cannot query the factory schedd: "
                                           f"{type(exc).__name__}: {exc}",
                                  "start the schedd or fix 'schedd'/'wms_collector'"))
    if args.json:
        _print(json.dumps([{"severity": f.severity, "what": f.what, "fix": f.fix}
                           for f in findings], indent=2))
    else:
        for f in findings:
            _print(str(f))
        _print(f"{len(findings)} finding(s) for factory {cfg.name!r} running as {user!r}")
    return EXIT_FAIL if any(f.severity == "error" for f in findings) else EXIT_OK


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], noun: str) -> None:
    """Add the ``factory`` noun."""
    p = sub.add_parser(noun, help="run the glidein factory and check it",
                       description="The glidein factory: publishes entries, reads requests "
                                   "from the WMS collector, submits glideins.")
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    v = verbs.add_parser("run", help="cycle: read requests, submit/remove/release, advertise")
    v.add_argument("--config", "-c", required=True, help="kind: factory YAML file")
    v.add_argument("--once", action="store_true", help="one cycle, print a JSON summary")
    v.add_argument("--metrics-file", help="write Prometheus metrics here after the run")
    v.add_argument("--metrics-port", type=int, metavar="PORT",
                   help="serve Prometheus metrics on PORT (0: any free port)")
    v.add_argument("--metrics-host", default="127.0.0.1", metavar="HOST",
                   help="address the metrics endpoint listens on (default 127.0.0.1)")
    v.add_argument("--key", action="append", default=[], metavar="PEM",
                   help="factory private key (repeatable, newest first): decrypts sealed "
                        "request parameters; its public half is published in entry ads "
                        "(create one with 'gwms credentials factory-key')")
    v.add_argument("--wake-poll", type=float, default=defaults.WAKE_POLL_SECONDS,
                   metavar="SECONDS",
                   help="between cycles, read this factory's request ads every SECONDS and "
                        "start the next cycle as soon as one is new or asks for more (0: off; "
                        "default "
                        f"{defaults.WAKE_POLL_SECONDS:g})")
    v.set_defaults(func=cmd_run)
    v = verbs.add_parser("status", help="glideins in the queue by entry and client")
    v.add_argument("--config", "-c", required=True)
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=cmd_status)
    v = verbs.add_parser("upgrade-check",
                         help="ownership of directories and jobs for a single-user factory")
    v.add_argument("--config", "-c", required=True)
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=cmd_upgrade_check)
