"""Run the factory against the personal HTCondor, for tests and benchmarks.

``python factory_driver.py CONFIG_JSON`` cycles a :class:`Factory` forever (or ``--once``)
with the entries and settings in the JSON; the crash test kills it with SIGKILL.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from gwms_core.entries import Entry, EntryLimits
from gwms_core.factory.collector import WmsCollector
from gwms_core.factory.model import HeldPolicy, Policy
from gwms_core.factory.schedd import FactorySchedd
from gwms_core.factory.service import Factory, FactoryConfig
from gwms_core.manager import get_registry


def make_entry(name: str, grid_type: str = "batch", gatekeeper: str = "local",
               allowed: tuple[str, ...] = ("vofrontend",), **limits: int) -> Entry:
    """A test entry."""
    return Entry(name=name, grid_type=grid_type, gatekeeper=gatekeeper, site=f"T3_XX_{name}",
                 batch_system="slurm" if grid_type == "batch" else "",
                 walltime_s=3600, allowed_frontends=allowed, limits=EntryLimits(**limits))


def make_factory(spec: dict[str, Any]) -> tuple[Factory, dict[str, Entry]]:
    """Build the factory and its entries from a JSON-able spec."""
    import htcondor2

    coll = htcondor2.Collector(spec["collector"])
    schedd = htcondor2.Schedd(coll.locate(htcondor2.DaemonType.Schedd))
    policy = Policy(max_submit_per_cycle=int(spec.get("max_submit_per_cycle", 100)),
                    idle_lifetime_s=int(spec.get("idle_lifetime_s", 0)),
                    orphan_grace_s=int(spec.get("orphan_grace_s", 600)),
                    held=HeldPolicy(max_releases=int(spec.get("max_releases", 3)),
                                    backoff_s=int(spec.get("backoff_s", 300))))
    cfg = FactoryConfig(name=spec["name"], wms_collector=spec["collector"],
                        work_dir=Path(spec["work_dir"]), cycle_seconds=int(spec.get("cycle", 1)),
                        policy=policy, executable=spec.get("executable", "/bin/true"),
                        initialdir=spec.get("initialdir", "/var/tmp"),
                        log_dir=spec.get("log_dir", ""))
    entries = {e["name"]: make_entry(**e) for e in spec["entries"]}
    factory = Factory(cfg, FactorySchedd(schedd, cfg.name, cfg.glidein),
                      WmsCollector(spec["collector"]), get_registry())
    return factory, entries


def main(argv: list[str]) -> int:
    """Cycle until killed (or once with --once)."""
    spec = json.loads(argv[1])
    factory, entries = make_factory(spec)
    factory.start()
    pause = float(spec.get("pause", 0.0))
    while True:
        report = factory.cycle(entries)
        print(json.dumps({"submitted": sum(report.submitted.values()),
                          "removed": sum(report.removed.values()),
                          "errors": report.errors}), flush=True)
        if "--once" in argv:
            return 0
        time.sleep(pause)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
