"""Benchmark: the frontend decision on the BENCHMARKS.md "Frontend decision" workload.

Builds the workload exactly as specified (seeded), then times separately:

- query:  building the in-memory job list (``Job`` objects from the projected job ads a
          schedd query returns; the ads themselves are made before timing starts),
- group:  grouping jobs by the attributes the match expression reads,
- match:  evaluating the match expression for every (group, entry) pair,
- decide: proportional demand, limits, curbs, removal levels, one request per entry.

Prints the median of several runs per phase, peak memory (tracemalloc in a separate,
untimed run, and the process's ru_maxrss), and the ratio against the bar (large size: the
decision under 1 s on one core, under 500 MB). No asserts on time.

Usage: python bench/frontend_decision.py [--size small|large|all] [--runs N] [--seed S]
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import resource
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# One core: keep numpy's thread pools (unused by this code path anyway) to one thread.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from gwms_core.frontend import (  # noqa: E402  (after sys.path and thread settings)
    JOB_IDLE,
    Entry,
    GroupConfig,
    Job,
    MatchExpression,
    decide_from_matches,
    group_jobs,
    match_groups,
)

EXPRESSION = (
    "stringListMember(glidein.GLIDEIN_Site, job.DESIRED_Sites) "
    "&& glidein.GLIDEIN_CPUS >= job.RequestCpus"
)
SIZES = {"small": (10_000, 500, 100), "large": (100_000, 5_000, 1_000)}
BAR_SECONDS = 1.0
BAR_MB = 500.0
NOW = 1_700_000_000


@dataclass
class Workload:
    entries: list[Entry]
    raw_jobs: list[tuple[str, int, int, int, int, dict[str, Any]]]


def build_workload(n_jobs: int, n_groups: int, n_entries: int, seed: int) -> Workload:
    """Build the BENCHMARKS.md workload: sites, entries, distinct job groups, idle jobs."""
    rng = random.Random(seed)
    n_sites = max(10, n_entries // 2)
    sites = [f"T{rng.randint(1, 3)}_XX_Site{i:04d}" for i in range(n_sites)]
    entries = []
    for e in range(n_entries):
        cpus = 8 if e % 2 else 1
        entries.append(
            Entry(
                name=f"entry_{e:04d}",
                site=sites[e % n_sites],
                cpus=cpus,
                memory=2000 * cpus,
                grid_type="condor",
                in_downtime=False,
            )
        )
    combos: set[tuple[str, int]] = set()
    while len(combos) < n_groups:
        desired = ",".join(sorted(rng.sample(sites, rng.randint(1, 5))))
        combos.add((desired, rng.choice((1, 8))))
    groups = sorted(combos)
    raw_jobs = []
    for i in range(n_jobs):
        desired, cpus = groups[rng.randrange(n_groups)]
        attrs = {"DESIRED_Sites": desired, "RequestCpus": cpus, "RequestMemory": 2000 * cpus}
        raw_jobs.append(
            ("schedd1", 1 + i // 10, i % 10, JOB_IDLE, NOW - rng.randint(0, 3600), attrs)
        )
    return Workload(entries, raw_jobs)


def run_once(
    work: Workload, match: MatchExpression, config: GroupConfig
) -> tuple[dict[str, float], Any]:
    """One full decision; returns the seconds per phase and the decision."""
    t0 = time.perf_counter()
    jobs = [Job(s, c, p, st, ecs, a) for s, c, p, st, ecs, a in work.raw_jobs]
    t1 = time.perf_counter()
    groups = group_jobs(jobs, match.job_attrs, now=NOW, old_idle_age=config.old_idle_age)
    t2 = time.perf_counter()
    result = match_groups(match, groups, work.entries)
    t3 = time.perf_counter()
    decision = decide_from_matches(groups, work.entries, result, [], config)
    t4 = time.perf_counter()
    times = {"query": t1 - t0, "group": t2 - t1, "match": t3 - t2, "decide": t4 - t3}
    return times, (groups, decision)


def peak_traced(fn: Callable[[], object]) -> float:
    """Peak Python heap (MB) allocated while running ``fn`` (tracemalloc)."""
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 1e6


def classad_rate(match: MatchExpression, groups: list[Any], entries: list[Entry]) -> float:
    """Seconds per pair when evaluating through classad2 (a sample of 200 x 50 pairs)."""
    g = [x.attrs for x in groups[:200]]
    e = [x.classad_attrs() for x in entries[:50]]
    t0 = time.perf_counter()
    res = match.evaluate(g, e, force_classad=True)
    dt = time.perf_counter() - t0
    fast = match.evaluate(g, e)
    if not (res.codes == fast.codes).all():
        raise SystemExit("compiled and classad2 results differ on the sample")
    return dt / max(1, res.classad_pairs)


def bench(size: str, runs: int, seed: int) -> None:
    """Run and print one size."""
    n_jobs, n_groups, n_entries = SIZES[size]
    work = build_workload(n_jobs, n_groups, n_entries, seed)
    match = MatchExpression.compile(EXPRESSION)
    config = GroupConfig()
    samples: dict[str, list[float]] = {"query": [], "group": [], "match": [], "decide": []}
    totals: list[float] = []
    decision_totals: list[float] = []
    out: Any = None
    for _ in range(runs):
        gc.collect()
        times, out = run_once(work, match, config)
        for k, v in times.items():
            samples[k].append(v)
        totals.append(sum(times.values()))
        decision_totals.append(times["group"] + times["match"] + times["decide"])
    groups, decision = out
    peak_mb = peak_traced(lambda: run_once(work, match, config))
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    per_pair = classad_rate(match, groups, work.entries)
    pairs = len(groups) * n_entries
    req_idle = sum(r.req_idle_glideins for r in decision.requests)
    req_max = sum(r.req_max_glideins for r in decision.requests)
    med = {k: statistics.median(v) for k, v in samples.items()}
    total = statistics.median(totals)
    dec_total = statistics.median(decision_totals)
    print(
        f"== {size}: {n_jobs} jobs, {len(groups)} groups, {n_entries} entries "
        f"({runs} runs, seed {seed})"
    )
    for k in ("query", "group", "match", "decide"):
        print(f"  {k:<7} median {med[k] * 1e3:8.1f} ms   (min {min(samples[k]) * 1e3:7.1f})")
    print(f"  decision (group+match+decide) median {dec_total * 1e3:8.1f} ms")
    print(f"  total incl. query              median {total * 1e3:8.1f} ms")
    print(f"  peak traced heap {peak_mb:7.1f} MB; process ru_maxrss {rss_mb:7.1f} MB")
    print(
        f"  pairs {pairs}, through classad2 {decision.report.classad_pairs}; classad2 costs "
        f"{per_pair * 1e6:.2f} us/pair here -> {pairs * per_pair:.1f} s if every pair went there"
    )
    print(
        f"  requests: sum ReqIdleGlideins {req_idle}, sum ReqMaxGlideins {req_max}, "
        f"unmatched idle jobs {decision.report.unmatched_idle_jobs}"
    )
    if size == "large":
        print(
            f"  bar: total/1 s = {total / BAR_SECONDS:.2f} (decision only "
            f"{dec_total / BAR_SECONDS:.2f}); ru_maxrss/500 MB = {rss_mb / BAR_MB:.2f}"
        )


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run the requested sizes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size", choices=("small", "large", "all"), default="all")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    for size in ("small", "large") if args.size == "all" else (args.size,):
        bench(size, args.runs, args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
