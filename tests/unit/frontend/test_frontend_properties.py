"""Property tests of the whole decision on random pools, limits and histories.

Requests are never negative and never above any limit; entries in downtime get nothing;
removal never names a glidein that runs a job; every matched idle job is shared out once.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gwms_core.frontend import (
    JOB_IDLE,
    Entry,
    EntryHistory,
    EntryLimits,
    Glidein,
    GroupConfig,
    Job,
    MatchExpression,
    PoolCounts,
    RemovalConfig,
    RemovalLevel,
    TotalLimits,
    decide,
    group_jobs,
    match_groups,
    proportional_demand,
)

EXPR = MatchExpression.compile(
    "stringListMember(glidein.GLIDEIN_Site, job.DESIRED_Sites) "
    "&& glidein.GLIDEIN_CPUS >= job.RequestCpus"
)
SITES = ("A", "B", "C", "D")
NOW = 1_000_000


@st.composite
def pools(draw: st.DrawFn) -> dict[str, Any]:
    n_entries = draw(st.integers(1, 4))
    entries = [
        Entry(
            name=f"E{i}",
            site=draw(st.sampled_from(SITES)),
            cpus=draw(st.sampled_from([1, 4, 8])),
            in_downtime=draw(st.booleans()),
            gpus=draw(st.sampled_from([0, 0, 1, 2])),
        )
        for i in range(n_entries)
    ]
    jobs: list[Job] = []
    for spec in range(draw(st.integers(0, 5))):
        sites = ",".join(draw(st.lists(st.sampled_from(SITES), min_size=1, max_size=3)))
        cpus = draw(st.sampled_from([1, 4, 8]))
        attrs = {"DESIRED_Sites": sites, "RequestCpus": cpus, "RequestMemory": 2000 * cpus,
                 "RequestGPUs": draw(st.sampled_from([0, 0, 1, 2]))}
        for proc in range(draw(st.integers(0, 40))):
            age = draw(st.sampled_from([0, 3600]))
            jobs.append(Job("s", spec, proc, JOB_IDLE, NOW - age, attrs))
    glideins = []
    for i in range(draw(st.integers(0, 12))):
        total = draw(st.integers(1, 8))
        gpus = draw(st.sampled_from([0, 0, 1, 2]))
        glideins.append(
            Glidein(
                name=f"g{i}",
                entry=f"E{draw(st.integers(0, n_entries - 1))}",
                total_cpus=total,
                idle_cpus=draw(st.integers(0, total)),
                total_memory=2000 * total,
                idle_memory=draw(st.integers(0, 2000 * total)),
                running_jobs=draw(st.integers(0, 3)),
                partitionable=draw(st.booleans()),
                total_gpus=gpus,
                idle_gpus=draw(st.integers(0, gpus)),
            )
        )
    # Mostly small limits (so that they bind), sometimes out of reach (so that the others do).
    small = st.one_of(st.integers(0, 30), st.integers(0, 30), st.just(10**6))
    limits = EntryLimits(
        max_running=draw(small),
        min_running=draw(st.integers(0, 5)),
        relative_to_queue=draw(st.sampled_from([1.0, 1.15, 2.0])),
        max_idle=draw(small),
        reserve_idle=draw(st.integers(0, 5)),
        max_idle_glideins=draw(small),
        curb_idle_glideins=draw(small),
    )

    def totals() -> TotalLimits:
        return TotalLimits(draw(small), draw(small), draw(small), draw(small))

    config = GroupConfig(
        entry=limits,
        group=totals(),
        frontend=totals(),
        global_=totals(),
        ramp_up_attenuation=draw(st.sampled_from([1.0, 2.0, 3.0])),
        min_memory=draw(st.sampled_from([0, 2500, 8000])),
        removal=RemovalConfig(
            type=draw(st.sampled_from(list(RemovalLevel))),
            wait=draw(st.integers(0, 3)),
            requests_tracking=draw(st.booleans()),
            margin=draw(st.integers(0, 3)),
            disable=draw(st.booleans()),
        ),
        ignore_down_entries=draw(st.booleans()),
    )
    history = {
        e.name: EntryHistory(
            draw(st.integers(0, 15)), draw(st.integers(0, 15)), draw(st.integers(0, 15))
        )
        for e in entries
    }
    fe = PoolCounts(draw(st.integers(0, 40)), draw(st.integers(0, 40)))
    gl = PoolCounts(draw(st.integers(0, 40)), draw(st.integers(0, 40)))
    return {
        "entries": entries,
        "jobs": jobs,
        "glideins": glideins,
        "config": config,
        "history": history,
        "fe": fe,
        "gl": gl,
    }


def usable(g: Glidein, min_memory: int) -> bool:
    """Independent statement of "usable idle" for the check below."""
    if g.running_jobs == 0:
        return True
    gpu_free = g.total_gpus == 0 or g.idle_gpus >= 1
    return g.partitionable and gpu_free and g.idle_cpus >= 1 and g.idle_memory >= min_memory


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pools())
def test_requests_are_bounded_by_every_limit(pool: dict[str, Any]) -> None:
    cfg: GroupConfig = pool["config"]
    groups = group_jobs(pool["jobs"], EXPR.job_attrs, now=NOW)
    decision = decide(
        groups,
        pool["entries"],
        pool["glideins"],
        EXPR,
        cfg,
        frontend_counts=pool["fe"],
        global_counts=pool["gl"],
        history=pool["history"],
    )
    gls: list[Glidein] = pool["glideins"]
    group_total = len(gls)
    group_idle = sum(usable(g, cfg.min_memory) for g in gls)
    for entry, req in zip(pool["entries"], decision.requests, strict=True):
        assert req.entry == entry.name
        here = [g for g in gls if g.entry == entry.name]
        total = len(here)
        idle = sum(usable(g, cfg.min_memory) for g in here)
        lim = cfg.entry
        pairs = [
            (total, lim.max_running),
            (idle, lim.max_idle_glideins),
            (group_total, cfg.group.max_glideins),
            (group_idle, cfg.group.max_idle_glideins),
            (pool["fe"].total, cfg.frontend.max_glideins),
            (pool["fe"].idle, cfg.frontend.max_idle_glideins),
            (pool["gl"].total, cfg.global_.max_glideins),
            (pool["gl"].idle, cfg.global_.max_idle_glideins),
        ]
        headroom = min(limit - count for count, limit in pairs)
        assert 0 <= req.req_idle_glideins <= max(0, headroom)
        assert req.req_idle_glideins <= lim.max_idle
        assert 0 <= req.req_max_glideins <= lim.max_running
        assert req.req_remove_excess_margin >= 0
        if entry.in_downtime:
            assert (req.req_idle_glideins, req.req_max_glideins) == (0, 0)
        if cfg.removal.disable:
            assert req.req_remove_excess is RemovalLevel.NO
        busy = {g.name for g in here if g.running_jobs > 0}
        assert not busy & set(req.removable_glideins)
        # the factory cannot tell busy glideins apart: no ALL while one runs a job
        if busy:
            assert req.req_remove_excess is not RemovalLevel.ALL
            if not entry.in_downtime:
                assert req.req_max_glideins >= min(len(busy), lim.max_running)
        assert set(req.removable_glideins) <= {g.name for g in here}
        if req.req_remove_excess is not RemovalLevel.ALL:
            assert req.removable_glideins == ()


@settings(max_examples=200, deadline=None)
@given(pools())
def test_every_matched_idle_job_is_shared_out_exactly_once(pool: dict[str, Any]) -> None:
    entries: list[Entry] = pool["entries"]
    groups = group_jobs(pool["jobs"], EXPR.job_attrs, now=NOW)
    matches = match_groups(EXPR, groups, entries).matches
    demand, unmatched = proportional_demand(matches, groups, entries)
    idle = sum(g.idle for g in groups)
    assert abs(sum(d.prop_idle for d in demand) + unmatched - idle) < 1e-6
    for entry, d in zip(entries, demand, strict=True):
        assert d.glideins * entry.cpus >= d.prop_cores - 1e-6
        if entry.gpus:
            assert d.glideins * entry.gpus >= d.prop_gpus - 1e-6
        assert d.hereonly_idle <= d.prop_idle + 1e-6 <= d.matched_idle + 2e-6
