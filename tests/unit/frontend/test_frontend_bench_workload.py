"""The benchmark builds exactly the BENCHMARKS.md "Frontend decision" workload."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[3]


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "frontend_decision_bench", ROOT / "bench" / "frontend_decision.py"
    )
    assert spec is not None and spec.loader is not None
    module = sys.modules.get(spec.name)
    if module is None:
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # its dataclasses look their module up
        spec.loader.exec_module(module)
    return module


def test_small_workload_has_the_specified_shape() -> None:
    bench = load_bench()
    work = bench.build_workload(10_000, 500, 100, seed=1)
    entries, jobs = work.entries, work.raw_jobs
    n_sites = max(10, 100 // 2)
    assert len(entries) == 100
    for e, entry in enumerate(entries):
        assert entry.cpus == (8 if e % 2 else 1)
        assert entry.memory == 2000 * entry.cpus
        assert entry.grid_type == "condor" and not entry.in_downtime
        assert entry.site == entries[e % n_sites].site
    sites = {entry.site for entry in entries}
    assert len(sites) == n_sites
    assert all(re.fullmatch(r"T[123]_XX_Site\d{4}", s) for s in sites)
    assert len(jobs) == 10_000
    combos = {(a["DESIRED_Sites"], a["RequestCpus"]) for *_, a in jobs}
    assert len(combos) == 500  # every group is used by some job with 20 jobs per group
    for _schedd, _cluster, proc, status, _, attrs in jobs:
        assert status == 1 and proc < 10
        listed = attrs["DESIRED_Sites"].split(",")
        assert listed == sorted(listed) and 1 <= len(listed) <= 5 and set(listed) <= sites
        assert attrs["RequestCpus"] in (1, 8)
        assert attrs["RequestMemory"] == 2000 * attrs["RequestCpus"]
    assert {c for _, c, *_ in jobs} == set(range(1, 1001))  # clusters of 10 procs


def test_benchmark_match_goes_nowhere_near_classad2() -> None:
    bench = load_bench()
    work = bench.build_workload(2_000, 100, 20, seed=2)
    match = bench.MatchExpression.compile(bench.EXPRESSION)
    times, (_groups, decision) = bench.run_once(work, match, bench.GroupConfig())
    assert set(times) == {"query", "group", "match", "decide"}
    assert decision.report.classad_pairs == 0
    assert len(decision.requests) == 20
