"""``gwms frontend run|status``: the frontend service and its one-screen status."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from gwms_core import defaults

EXIT_OK = 0
EXIT_INVALID = 1


def _load(path: str) -> Any:
    from gwms_core.config import load_config
    from gwms_core.frontend.settings import settings_from_config

    return settings_from_config(load_config(path, expect_kind="frontend").data)


class _DryWms:
    """Reads like the real WMS client but advertises nothing (for ``status``)."""

    def __init__(self, real: Any) -> None:
        self.real = real

    def entries(self) -> list[Mapping[str, Any]]:
        entries: list[Mapping[str, Any]] = self.real.entries()
        return entries

    def advertise(self, ads: Sequence[Mapping[str, Any]]) -> None:
        return None


def _identity(settings: Any, given: str | None) -> str:
    """The identity the WMS collector authenticates for us: given, else user@trust domain."""
    if given:
        return given
    import getpass

    domains = [str(c.get("trust_domain", "")) for c in settings.credentials
               if c.get("trust_domain")]
    return f"{getpass.getuser()}@{domains[0]}" if domains else getpass.getuser()


def _frontend(path: str, dry: bool, identity: str | None = None,
              state_file: str | None = None) -> Any:
    """The service object; a dry one reads the state file but never writes it."""
    from gwms_core.frontend.credentials import CredentialSplitOnly, credential_params
    from gwms_core.frontend.service import Frontend, HTCondorPools, HTCondorWms

    settings = _load(path)
    # Request ads live three cycles (at least a minute) unless re-advertised.
    wms: Any = HTCondorWms(settings.wms_collector,
                           lifetime_s=max(60, 3 * int(settings.cycle_seconds)))
    params: Any = None
    if settings.credentials and not dry:
        params = credential_params(settings.credentials, _identity(settings, identity))
    elif settings.credentials:  # status: the per-credential split, nothing minted
        params = CredentialSplitOnly(settings.credentials)
    fe = Frontend(settings=settings, pools=HTCondorPools(), wms=_DryWms(wms) if dry else wms,
                  params=params, state_path=state_file or None)
    problem = fe.load_state()
    if problem:
        logging.getLogger("gwms.frontend").warning("%s", problem)
    if dry:
        fe.state_path = None
    return fe


def _summary(result: Any) -> str:
    return (f"entries={result.entries} idle_jobs={result.jobs_idle} "
            f"running_jobs={result.jobs_running} requests={len(result.ads)} "
            f"kept_last_good={result.kept_last_good}")


def cmd_run(args: argparse.Namespace) -> int:
    """Run cycles until SIGTERM/SIGINT (or one with ``--once``)."""
    from gwms_core.config import ConfigError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s",
                        stream=sys.stderr)
    log = logging.getLogger("gwms.frontend")
    try:
        fe = _frontend(args.config, dry=False, identity=args.identity,
                       state_file=args.state_file)
    except ConfigError as exc:
        for p in exc.problems:
            sys.stderr.write(f"error: {p}\n")
        return EXIT_INVALID
    stop = threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        log.info("signal %d: stopping after this cycle", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    metrics = None
    if args.metrics_port is not None:
        from gwms_core.frontend.metrics import FrontendMetrics
        from gwms_core.metrics import start_http_server

        metrics = FrontendMetrics()
        server, _ = start_http_server(metrics.registry, args.metrics_host, args.metrics_port)
        log.info("metrics on http://%s:%d/metrics", *server.server_address[:2])
    interval = args.interval or fe.settings.cycle_seconds
    watch = None
    if args.wake_poll > 0 and not args.once:
        from gwms_core.wake import ChangeWatch, idle_rose, schedd_probe

        watch = ChangeWatch(schedd_probe([p.collector for p in fe.settings.user_pools]),
                            poll_s=args.wake_poll, min_interval_s=args.wake_poll,
                            changed=idle_rose)
    while True:
        t0 = time.monotonic()
        if watch is not None:
            watch.snapshot()
        result = fe.cycle()
        if metrics is not None:
            metrics.observe(result)
        log.info("cycle: %s", _summary(result))
        for problem in result.problems:
            log.warning("%s", problem)
        if args.once:
            return EXIT_OK
        if watch is not None and watch.wait(t0, interval, stop.is_set) == "change":
            log.info("more idle jobs: cycle %.1f s after the last one",
                     time.monotonic() - t0)
        if stop.is_set() or (watch is None and stop.wait(interval)):
            try:
                log.info("withdrew %d request ads", fe.withdraw())
            except Exception as exc:  # the ads still expire with their lifetime
                log.warning("withdrawing the request ads failed: %s", exc)
            return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    """One dry cycle (nothing advertised): a table per entry."""
    from gwms_core.config import ConfigError

    try:
        fe = _frontend(args.config, dry=True, state_file=args.state_file)
    except ConfigError as exc:
        for p in exc.problems:
            sys.stderr.write(f"error: {p}\n")
        return EXIT_INVALID
    result = fe.cycle()
    rows = [{
        "entry": ad["ReqName"], "group": ad["GroupName"],
        "credential": ad.get("GlideinCredentialIdentifier", ""),
        "matched_idle": ad.get("GlideinMonitorMatchedIdle", 0),
        "glideins_idle": ad.get("GlideinMonitorGlideinsIdle", 0),
        "glideins_running": ad.get("GlideinMonitorGlideinsRunning", 0),
        "req_idle": ad["ReqIdleGlideins"], "req_max": ad["ReqMaxGlideins"],
        "removal": ad["ReqRemoveExcess"],
    } for ad in result.ads]
    if args.json:
        sys.stdout.write(json.dumps({"rows": rows, "problems": result.problems}, indent=2)
                         + "\n")
        return EXIT_OK
    cols = list(rows[0]) if rows else ["entry", "group", "req_idle", "req_max"]
    widths = {c: max([len(c)] + [len(str(r[c])) for r in rows]) for c in cols}
    sys.stdout.write("  ".join(c.upper().ljust(widths[c]) for c in cols).rstrip() + "\n")
    for r in rows:
        sys.stdout.write("  ".join(str(r[c]).ljust(widths[c]) for c in cols).rstrip() + "\n")
    sys.stdout.write(_summary(result) + "\n")
    for problem in result.problems:
        sys.stderr.write(f"problem: {problem}\n")
    return EXIT_OK


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], noun: str) -> None:
    """Add the ``frontend`` noun."""
    p = sub.add_parser("frontend", help="run the VO frontend or show its view",
                       description="The VO frontend: idle jobs to glidein requests.")
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    run = verbs.add_parser("run", help="run cycles until SIGTERM")
    run.add_argument("config", metavar="FRONTEND_YAML")
    run.add_argument("--once", action="store_true", help="run one cycle and exit")
    run.add_argument("--interval", type=int, help="seconds between cycles (default: config)")
    run.add_argument("--identity", help="this frontend's identity at the WMS collector, "
                     "for sealing credentials (default: USER@trust domain of the first "
                     "credential)")
    run.add_argument("--state-file", metavar="PATH",
                     help="keep the removal history in PATH across restarts (JSON, written "
                     "atomically after every cycle; default: not kept)")
    run.add_argument("--metrics-port", type=int, metavar="PORT",
                     help="serve Prometheus metrics on PORT (0: any free port; default: off)")
    run.add_argument("--metrics-host", default="127.0.0.1", metavar="HOST",
                     help="address the metrics endpoint listens on (default: 127.0.0.1)")
    run.add_argument("--wake-poll", type=float, default=defaults.WAKE_POLL_SECONDS,
                     metavar="SECONDS",
                     help="between cycles, read the user pools' schedd ads every SECONDS and "
                     "start the next cycle as soon as a schedd has more idle jobs (0: off; "
                     f"default {defaults.WAKE_POLL_SECONDS:g})")
    run.set_defaults(func=cmd_run)
    st = verbs.add_parser("status", help="one dry cycle: per-entry jobs, glideins, requests")
    st.add_argument("config", metavar="FRONTEND_YAML")
    st.add_argument("--json", action="store_true")
    st.add_argument("--state-file", metavar="PATH",
                    help="read the removal history of `run --state-file` (never written)")
    st.set_defaults(func=cmd_status)
