"""Benchmark: glidein submission through the factory (BENCHMARKS.md "Factory submission").

Against a personal HTCondor 23.9 (collector + schedd) in the Debian 13 root that
``tests/factory/setup-condor-root.sh`` builds (run as root), with ``batch slurm`` glideins
that stay unsubmitted (no Slurm: the gridmanager marks the resource down):

- floor:   the factory's own submit description for the entry, submitted directly with
           ``htcondor2`` in one transaction, ``submit(count=N)``;
- factory: one factory cycle serving one request for N idle glideins (queue query,
           request intake, decision, state file written before and after the batch,
           ``submit(count=N)``, entry and client ads advertised);
- memory:  peak RSS of a fresh factory process running one cycle while 10,000 of its
           glideins are in the queue (the bar: under 150 MB).

Prints the median of several runs and the ratio factory/floor (bar: 0.9). No asserts.

Usage: python bench/factory_submit.py [--count 1000] [--runs 5] [--track 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "factory"))

import factory_driver as fd  # noqa: E402
import personal_condor as pcmod  # noqa: E402

from gwms_core.factory.model import Request  # noqa: E402

FRONTEND = "vofrontend"

MEMORY_PROBE = textwrap.dedent("""
    import json, resource, sys
    sys.path.insert(0, sys.argv[2])
    import factory_driver as fd
    spec = json.loads(sys.argv[1])
    f, entries = fd.make_factory(spec)
    f.start(settle_s=0)
    report = f.cycle(entries)
    print(json.dumps({"glideins": report.glideins,
                      "submitted": sum(report.submitted.values()),
                      "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
""")


def request(pc: pcmod.PersonalCondor, entry: str, factory: str, n: int) -> None:
    from conftest import advertise_as  # type: ignore[import-not-found]

    advertise_as(pc, FRONTEND, [{
        "MyType": "glideclient", "Name": f"{entry}@{factory}@{factory}@vofe.main",
        "ReqName": f"{entry}@{factory}@{factory}", "ClientName": "vofe.main",
        "ReqIdleGlideins": n, "ReqMaxGlideins": n}])


def drain(schedd: object, timeout: float = 120.0) -> None:
    """Remove every job and wait until the queue is empty and the schedd has settled."""
    import htcondor2

    try:
        schedd.act(htcondor2.JobAction.Remove, "true")  # type: ignore[attr-defined]
    except htcondor2.HTCondorException as exc:  # a very large queue: the schedd times out
        print(f"(removing the queue: {exc}; waiting for it anyway)")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if not schedd.query(constraint="true",  # type: ignore[attr-defined]
                                projection=["ProcId"]):
                break
        except htcondor2.HTCondorException:  # busy schedd: ask again
            pass
        time.sleep(0.5)
    time.sleep(2.0)


def spec(pc: pcmod.PersonalCondor, name: str, work: Path, n: int) -> dict[str, object]:
    big = max(n, 10)
    return {"collector": pc.collector, "name": name, "work_dir": str(work),
            "max_submit_per_cycle": big,
            "entries": [{"name": "BENCH", "max_glideins": big, "max_idle": big,
                         "per_frontend_max_glideins": big, "per_frontend_max_idle": big}]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=1000, help="glideins per request (N)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--track", type=int, default=10000,
                    help="glideins in the queue for the memory figure (0: skip)")
    args = ap.parse_args()
    try:
        pc = pcmod.start()
    except pcmod.Unavailable as exc:
        print(f"skipped: {exc}")
        return 0
    pcmod.configure_client()
    import htcondor2

    try:
        coll = htcondor2.Collector(pc.collector)
        schedd = htcondor2.Schedd(coll.locate(htcondor2.DaemonType.Schedd))
        floor: list[float] = []
        through: list[float] = []
        in_submit: list[float] = []
        with TemporaryDirectory() as tmp:
            for run in range(args.runs):
                # Alternate which goes first so neither side always meets the larger queue;
                # the ratio is also taken per pair of adjacent runs (drift cancels).
                for side in (("floor", "factory") if run % 2 == 0 else ("factory", "floor")):
                    name = f"{side}{run}"
                    f, entries = fd.make_factory(spec(pc, name, Path(tmp) / name, args.count))
                    if side == "floor":
                        # the factory's own description, submitted directly
                        req = Request(entry="BENCH", client="vofe.main",
                                      frontend="vofrontend@gwms.test", idle=args.count,
                                      max_glideins=args.count)
                        desc = f.description(entries["BENCH"], req, f"direct-{run}", ("", ""))
                        t0 = time.perf_counter()
                        schedd.submit(htcondor2.Submit(desc), count=args.count)
                        floor.append(time.perf_counter() - t0)
                        continue
                    # one factory cycle for one request of N
                    f.start(settle_s=0)
                    request(pc, "BENCH", name, args.count)
                    inner = f.schedd.submit

                    def timed(desc: Any, n: int, inner: Any = inner) -> int:
                        t = time.perf_counter()
                        try:
                            return int(inner(desc, n))
                        finally:
                            in_submit.append(time.perf_counter() - t)

                    f.schedd.submit = timed  # type: ignore[method-assign]
                    t0 = time.perf_counter()
                    report = f.cycle(entries)
                    through.append(time.perf_counter() - t0)
                    got = sum(report.submitted.values())
                    if got != args.count or report.errors:
                        print(f"run {run}: factory submitted {got}, errors {report.errors}")
            fl, fa = statistics.median(floor), statistics.median(through)
            print(f"floor   direct submit(count={args.count}): median {fl * 1e3:.1f} ms "
                  f"= {args.count / fl:,.0f} glideins/s  (runs: "
                  + ", ".join(f"{x * 1e3:.0f}" for x in floor) + " ms)")
            print(f"factory one cycle, request of {args.count}: median {fa * 1e3:.1f} ms "
                  f"= {args.count / fa:,.0f} glideins/s  (runs: "
                  + ", ".join(f"{x * 1e3:.0f}" for x in through) + " ms)")
            pairs = statistics.median(a / b for a, b in zip(floor, through, strict=True))
            rest = statistics.median(a - b for a, b in zip(through, in_submit, strict=True))
            print(f"        of which the submit call: median "
                  f"{statistics.median(in_submit) * 1e3:.1f} ms; the rest of the cycle: "
                  f"median {rest * 1e3:.1f} ms")
            print(f"ratio factory/floor (glideins/s): {fl / fa:.2f} of the medians, "
                  f"{pairs:.2f} median of per-run pairs  (bar: >= 0.9)")
            drain(schedd)
            if args.track:
                name = "track"
                sp = spec(pc, name, Path(tmp) / name, args.track)
                f, entries = fd.make_factory(sp)
                f.start(settle_s=0)
                request(pc, "BENCH", name, args.track)
                t0 = time.perf_counter()
                report = f.cycle(entries)
                t_submit = time.perf_counter() - t0
                f.close()  # the probe's fresh factory takes the work directory's lock
                probe = subprocess.run(
                    [sys.executable, "-c", MEMORY_PROBE, json.dumps(sp),
                     str(ROOT / "tests" / "factory")],
                    env=pcmod.client_env(), capture_output=True, text=True, timeout=600)
                if probe.returncode != 0:
                    print(f"memory probe failed: {probe.stderr.strip()[-500:]}")
                else:
                    m = json.loads(probe.stdout.strip().splitlines()[-1])
                    print(f"tracking {m['glideins']:,} glideins: one cycle in a fresh factory "
                          f"process, peak RSS {m['maxrss_mb']:.0f} MB (bar: < 150 MB); "
                          f"submitting them took {t_submit:.2f} s in one cycle")
                drain(schedd)
    finally:
        pc.stop()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
