"""Demand per entry: hand-worked tables for grouping, 1/k counting, glidein counts, limits,
curbs, ramp-up, reserve, queue-relative cap, downtime and removal levels."""

from __future__ import annotations

import dataclasses

import pytest

from gwms_core.frontend import (
    JOB_IDLE,
    JOB_RUNNING,
    Entry,
    EntryHistory,
    EntryLimits,
    Glidein,
    GlideinCounts,
    GroupConfig,
    Job,
    MatchExpression,
    PoolCounts,
    RemovalConfig,
    RemovalLevel,
    TotalLimits,
    choose_removal,
    compute_req_idle,
    compute_req_max,
    count_glideins,
    decide,
    group_jobs,
    is_usable_idle,
    match_groups,
    proportional_demand,
)

SITE_MATCH = (
    "stringListMember(glidein.GLIDEIN_Site, job.DESIRED_Sites) "
    "&& glidein.GLIDEIN_CPUS >= job.RequestCpus"
)
NOW = 100_000


def jobs_for(sites: str, cpus: int, n: int, *, status: int = JOB_IDLE, age: int = 0) -> list[Job]:
    attrs = {"DESIRED_Sites": sites, "RequestCpus": cpus, "RequestMemory": 2000 * cpus}
    return [Job("schedd", 1, i, status, NOW - age, attrs) for i in range(n)]


# -- grouping ------------------------------------------------------------------------------


def test_group_jobs_groups_by_read_attributes_and_counts_states() -> None:
    jobs = (
        jobs_for("A,B", 1, 3)
        + jobs_for("A,B", 1, 2, age=3600)  # old idle: idle for an hour
        + jobs_for("A,B", 1, 4, status=JOB_RUNNING)
        + jobs_for("A,B", 8, 1)
        + jobs_for("A,B", 1, 5, status=5)  # held: ignored
    )
    groups = {g.key: g for g in group_jobs(jobs, ["DESIRED_Sites"], now=NOW)}
    assert set(groups) == {("A,B", 1, 2000, 0), ("A,B", 8, 16000, 0)}
    one = groups["A,B", 1, 2000, 0]
    assert (one.idle, one.old_idle, one.running, one.cpus) == (5, 2, 4, 1)
    assert groups["A,B", 8, 16000, 0].cpus == 8


def test_group_jobs_reads_names_case_insensitively_and_missing_as_undefined() -> None:
    jobs = [
        Job("s", 1, 0, JOB_IDLE, NOW, {"desired_sites": "A", "RequestCpus": 2}),
        Job("s", 1, 1, JOB_IDLE, NOW, {"DESIRED_Sites": "A", "RequestCpus": 2}),
        Job("s", 1, 2, JOB_IDLE, NOW, {"RequestCpus": 2}),
    ]
    groups = group_jobs(jobs, ["DESIRED_Sites"], now=NOW)
    assert sorted(g.idle for g in groups) == [1, 2]
    no_sites = next(g for g in groups if g.idle == 1)
    assert "DESIRED_Sites" not in no_sites.attrs  # UNDEFINED for the match expression
    assert no_sites.memory == 0  # RequestMemory missing


def test_list_and_ad_valued_attributes_group_and_match_through_classad2() -> None:
    expr = MatchExpression.compile("member(glidein.GLIDEIN_Site, job.Sites)")
    jobs = [
        Job("s", 1, i, JOB_IDLE, NOW, {"Sites": ["A", "B"], "RequestCpus": 1}) for i in range(3)
    ] + [Job("s", 2, 0, JOB_IDLE, NOW, {"Sites": ["C"], "RequestCpus": 1})]
    groups = group_jobs(jobs, expr.job_attrs, now=NOW)
    assert sorted(g.idle for g in groups) == [1, 3]
    assert all(isinstance(g.attrs["Sites"], list) for g in groups)  # values kept as they came
    result = match_groups(expr, groups, [Entry("E1", "A"), Entry("E2", "C")])
    rows = result.matches.tolist()
    by_sites = {tuple(g.attrs["Sites"]): row for g, row in zip(groups, rows, strict=True)}
    assert by_sites == {("A", "B"): [True, False], ("C",): [False, True]}
    assert result.classad_pairs == 4


def test_group_cores_found_whatever_the_spelling_in_the_expression() -> None:
    jobs = [Job("s", 1, 0, JOB_IDLE, NOW, {"RequestCpus": 8, "RequestMemory": 100})]
    (group,) = group_jobs(jobs, ["requestcpus", "REQUESTMEMORY"], now=NOW)
    assert (group.cpus, group.memory) == (8, 100)


# -- proportional demand ------------------------------------------------------------------


def test_proportional_demand_hand_worked() -> None:
    entries = [Entry("E1", "A", cpus=1), Entry("E2", "B", cpus=8), Entry("E3", "C", cpus=8)]
    jobs = (
        jobs_for("A,B", 1, 6)  # matches E1, E2 (k=2): 3 jobs each
        + jobs_for("B,C", 8, 4)  # matches E2, E3 (k=2): 2 jobs each, 16 cores each
        + jobs_for("D", 1, 5)  # matches nothing
    )
    expr = MatchExpression.compile(SITE_MATCH)
    groups = group_jobs(jobs, expr.job_attrs, now=NOW)
    demand, unmatched = proportional_demand(
        match_groups(expr, groups, entries).matches, groups, entries
    )
    e1, e2, e3 = demand
    assert unmatched == 5
    # E1: 3 one-core jobs on 1-core glideins -> 3 glideins
    assert (e1.matched_idle, e1.prop_idle, e1.prop_cores, e1.glideins) == (6, 3.0, 3.0, 3)
    # E2: 3 one-core + 2 eight-core jobs = 3 + 16 = 19 cores -> ceil(19 / 8) = 3 glideins
    assert (e2.matched_idle, e2.prop_idle, e2.prop_cores, e2.glideins) == (10, 5.0, 19.0, 3)
    # E3: 2 eight-core jobs = 16 cores -> 2 glideins
    assert (e3.prop_cores, e3.glideins, e3.hereonly_idle) == (16.0, 2, 0)


def test_thirds_add_up_to_whole_glideins() -> None:
    # 3 jobs each matching 3 entries: 1/3 + 1/3 + 1/3 = 1 job per entry, not 2 by rounding.
    entries = [Entry(f"E{i}", s) for i, s in enumerate("ABC")]
    expr = MatchExpression.compile(SITE_MATCH)
    groups = group_jobs(jobs_for("A,B,C", 1, 3), expr.job_attrs, now=NOW)
    demand, _ = proportional_demand(match_groups(expr, groups, entries).matches, groups, entries)
    assert [d.glideins for d in demand] == [1, 1, 1]


# -- glidein counts (partitionable slots) ---------------------------------------------------


def test_partitionable_idle_cores_without_memory_are_not_usable() -> None:
    gl = [
        # 4 idle cores but only 1000 MB free: not usable (min_memory 2500)
        Glidein("g1", "E", 8, 4, 16000, 1000, running_jobs=2),
        # 2 idle cores and 4000 MB free: usable
        Glidein("g2", "E", 8, 2, 16000, 4000, running_jobs=1),
        # not yet partitioned: usable
        Glidein("g3", "E", 8, 8, 16000, 16000, running_jobs=0),
        # busy static slot
        Glidein("g4", "E", 1, 0, 2000, 0, running_jobs=1, partitionable=False),
        # all cores used, memory left: not usable
        Glidein("g5", "E", 8, 0, 16000, 8000, running_jobs=8),
        # unclaimed static slot: usable
        Glidein("g6", "F", 1, 1, 2000, 2000, running_jobs=0, partitionable=False),
    ]
    assert [is_usable_idle(g, 2500) for g in gl] == [False, True, True, False, False, True]
    counts = count_glideins(gl, 2500)
    # E: 5 glideins, idle g2+g3, running g1 g2 g4 g5; idle cores 2 + 8; running cores
    # (8-4) + (8-2) + (1-0) + (8-0) = 19
    assert counts["E"] == GlideinCounts(
        total=5, idle=2, running=4, total_cores=33, idle_cores=10, running_cores=19
    )
    assert counts["F"].idle == 1


# -- ReqIdleGlideins -----------------------------------------------------------------------

ZERO = PoolCounts()
DEFAULT = GroupConfig()


@pytest.mark.parametrize(
    ("effective", "old", "counts", "want", "why"),
    [
        # 30 glideins needed: 30 / 3 (ramp-up) = 10, no reserve (no old idle jobs)
        (30, 0, GlideinCounts(), 10, set()),
        # reserve: min(9 // 3, 5) = 3 -> 10 + 3
        (30, 9, GlideinCounts(), 13, set()),
        # reserve capped at 5: min(30 // 3, 5) -> 10 + 5
        (30, 30, GlideinCounts(), 15, set()),
        # 5 idle glideins reach the entry curb (5): 10 / 2 = 5
        (30, 0, GlideinCounts(total=5, idle=5), 5, {"CurbIdleGlideinsPerEntry"}),
        # one glidein needed: 1 / 3 = 0, but never below 1 while there is demand
        (1, 0, GlideinCounts(), 1, set()),
        # 600 needed, but at most 100 - 0 more idle glideins (idle_vms_per_entry max 100):
        # min(600, 100) / 3 = 33
        (600, 0, GlideinCounts(), 33, set()),
        # 100 idle glideins reach the entry idle limit: nothing more
        (30, 0, GlideinCounts(total=100, idle=100), 0, {"IdleGlideinsPerEntry"}),
        # 10000 glideins reach max_running (and the entry idle limit too)
        (30, 0, GlideinCounts(total=10000, idle=0), 0, {"TotalGlideinsPerEntry"}),
        # no demand: 0
        (0, 30, GlideinCounts(), 0, set()),
    ],
)
def test_req_idle_entry_level(
    effective: int, old: int, counts: GlideinCounts, want: int, why: set[str]
) -> None:
    req, triggered = compute_req_idle(
        DEFAULT.entry, DEFAULT, counts, ZERO, ZERO, ZERO, effective, old
    )
    assert req == want
    assert set(triggered) == why


def test_req_idle_curbs_compound_across_levels() -> None:
    # group idle 200 >= group idle curb 200 and frontend total 90000 >= its curb:
    # 30 / 3 = 10 -> /2 (group idle curb) -> /2 (frontend total curb) = 2.5 -> 2
    req, triggered = compute_req_idle(
        DEFAULT.entry,
        DEFAULT,
        GlideinCounts(),
        PoolCounts(total=300, idle=200),
        PoolCounts(total=90000, idle=0),
        ZERO,
        30,
        0,
    )
    assert req == 2
    assert set(triggered) == {"CurbIdleGlideinsPerGroup", "CurbTotalGlideinsPerFrontend"}


@pytest.mark.parametrize(
    ("level", "counts", "name"),
    [
        ("group", PoolCounts(total=100000), "TotalGlideinsPerGroup"),
        ("group", PoolCounts(idle=1000), "IdleGlideinsPerGroup"),
        ("frontend", PoolCounts(total=100000), "TotalGlideinsPerFrontend"),
        ("global", PoolCounts(idle=1000), "IdleGlideinsGlobal"),
    ],
)
def test_req_idle_is_zero_at_any_level_limit(level: str, counts: PoolCounts, name: str) -> None:
    args = {"group": ZERO, "frontend": ZERO, "global": ZERO, level: counts}
    req, triggered = compute_req_idle(
        DEFAULT.entry,
        DEFAULT,
        GlideinCounts(),
        args["group"],
        args["frontend"],
        args["global"],
        30,
        0,
    )
    assert req == 0
    assert name in triggered


def test_reserve_never_pushes_the_request_past_a_limit() -> None:
    # global max 1000 glideins, 998 exist: headroom 2. Demand 300 -> min(300, 2) = 2,
    # 2 / 3 = 0, + reserve 5 = 5, but capped at the headroom: 2 (GlideinWMS would send 5).
    config = dataclasses.replace(DEFAULT, global_=TotalLimits(max_glideins=1000, curb_glideins=999))
    req, _ = compute_req_idle(
        config.entry, config, GlideinCounts(), ZERO, ZERO, PoolCounts(total=998), 300, 300
    )
    assert req == 2


def test_req_idle_capped_at_max_idle_after_reserve() -> None:
    # 60 needed: 60 / 3 = 20, + reserve min(60 // 3, 5) = 25, capped at max_idle 10
    limits = EntryLimits(max_idle=10)
    req, _ = compute_req_idle(limits, DEFAULT, GlideinCounts(), ZERO, ZERO, ZERO, 60, 60)
    assert req == 10


def test_ramp_up_attenuation_is_configurable() -> None:
    config = dataclasses.replace(DEFAULT, ramp_up_attenuation=1.0)
    req, _ = compute_req_idle(config.entry, config, GlideinCounts(), ZERO, ZERO, ZERO, 30, 0)
    assert req == 30


# -- ReqMaxGlideins -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("demand", "counts", "limits", "want"),
    [
        # (10 needed - 2 idle + 5 running) * 1.15 + 1 = 15.95 -> 15
        (10, GlideinCounts(total=7, idle=2, running=5), EntryLimits(), 15),
        # no idle demand: keep what runs, no margin
        (0, GlideinCounts(total=5, idle=0, running=5), EntryLimits(), 5),
        (0, GlideinCounts(), EntryLimits(), 0),
        # more idle glideins than needed: only the running ones count, (0 + 3) * 1.15 + 1
        (2, GlideinCounts(total=8, idle=5, running=3), EntryLimits(), 4),
        # capped at max_running
        (100, GlideinCounts(), EntryLimits(max_running=10), 10),
        # relative_to_queue 2: (10 + 0) * 2 + 1 = 21
        (10, GlideinCounts(), EntryLimits(relative_to_queue=2.0), 21),
    ],
)
def test_req_max(demand: int, counts: GlideinCounts, limits: EntryLimits, want: int) -> None:
    assert compute_req_max(limits, demand, counts) == want


# -- removal --------------------------------------------------------------------------------


def run_cycles(
    config: RemovalConfig, cycles: int, matched_idle: int, counts: GlideinCounts
) -> list[RemovalLevel]:
    history = EntryHistory()
    levels = []
    for _ in range(cycles):
        level, _, history = choose_removal(config, history, matched_idle, counts)
        levels.append(level)
    return levels


def test_auto_removal_wait_then_all_when_nothing_registers() -> None:
    levels = run_cycles(RemovalConfig(), 12, 0, GlideinCounts())
    # cycles 1-5 NO; from the 6th (more than 5 without idle jobs) WAIT; from the 11th (more
    # than 10 with no glidein registered) ALL
    assert levels[:5] == [RemovalLevel.NO] * 5
    assert levels[5:10] == [RemovalLevel.WAIT] * 5
    assert levels[10:] == [RemovalLevel.ALL] * 2


def test_auto_removal_idle_when_all_glideins_idle() -> None:
    levels = run_cycles(RemovalConfig(), 11, 0, GlideinCounts(total=2, idle=2))
    assert levels[5] == RemovalLevel.WAIT and levels[10] == RemovalLevel.IDLE


def test_auto_removal_stays_wait_while_a_glidein_is_busy() -> None:
    levels = run_cycles(RemovalConfig(), 30, 0, GlideinCounts(total=2, idle=1, running=1))
    assert max(levels) == RemovalLevel.WAIT


def test_idle_jobs_reset_removal() -> None:
    history = EntryHistory(no_idle_jobs=20, all_glideins_idle=20, no_glideins=20)
    level, _, new = choose_removal(RemovalConfig(), history, 3, GlideinCounts())
    assert level == RemovalLevel.NO and new.no_idle_jobs == 0


def test_configured_removal_after_wait_cycles() -> None:
    config = RemovalConfig(type=RemovalLevel.IDLE, wait=2)
    levels = run_cycles(config, 4, 0, GlideinCounts(total=3, idle=1, running=2))
    assert levels == [RemovalLevel.NO, RemovalLevel.NO, RemovalLevel.IDLE, RemovalLevel.IDLE]


def test_requests_tracking_sends_configured_level_with_margin_at_once() -> None:
    config = RemovalConfig(type=RemovalLevel.IDLE, requests_tracking=True, margin=3)
    level, margin, _ = choose_removal(config, EntryHistory(), 10, GlideinCounts())
    assert (level, margin) == (RemovalLevel.IDLE, 3)


def test_disable_turns_off_every_removal() -> None:
    levels = run_cycles(RemovalConfig(disable=True, type=RemovalLevel.ALL), 20, 0, GlideinCounts())
    assert set(levels) == {RemovalLevel.NO}


# -- the whole decision ---------------------------------------------------------------------


def test_decide_downtime_gives_zero_but_still_shares_jobs() -> None:
    entries = [Entry("up", "A"), Entry("down", "B", in_downtime=True)]
    expr = MatchExpression.compile(SITE_MATCH)
    groups = group_jobs(jobs_for("A,B", 1, 30), expr.job_attrs, now=NOW)
    up, down = decide(groups, entries, [], expr).requests
    # 30 jobs, k = 2: 15 to "up" -> 15 / 3 = 5; "down" gets nothing
    assert (up.req_idle_glideins, up.req_max_glideins) == (5, int(15 * 1.15 + 1))
    assert (down.req_idle_glideins, down.req_max_glideins, down.in_downtime) == (0, 0, True)
    # with ignore_down_entries the down entry leaves the matching: all 30 go to "up"
    config = GroupConfig(ignore_down_entries=True)
    up2, _ = decide(groups, entries, [], expr, config).requests
    assert up2.req_idle_glideins == 10


def test_decide_counts_idle_glideins_against_demand() -> None:
    entries = [Entry("E", "A", cpus=8, memory=16000)]
    expr = MatchExpression.compile(SITE_MATCH)
    groups = group_jobs(jobs_for("A", 8, 12), expr.job_attrs, now=NOW)
    gl = [Glidein(f"g{i}", "E", 8, 8, 16000, 16000) for i in range(3)]  # 3 idle glideins
    (req,) = decide(groups, entries, gl, expr).requests
    # 12 jobs of 8 cores on 8-core glideins: 12 needed - 3 idle = 9 -> 9 / 3 = 3
    assert req.req_idle_glideins == 3
    # (9 + 0 running) * 1.15 + 1 = 11.35 -> 11
    assert req.req_max_glideins == 11
    assert req.monitor["EffectiveIdle"] == 9 and req.monitor["GlideinsIdle"] == 3
    ad = req.classad_attrs()
    assert (ad["ReqIdleGlideins"], ad["ReqMaxGlideins"], ad["ReqRemoveExcess"]) == (3, 11, "NO")
    assert ad["GlideinMonitorGlideinsIdle"] == 3


def test_decide_min_running_keeps_demand_with_an_empty_queue() -> None:
    config = GroupConfig(entry=EntryLimits(min_running=6))
    expr = MatchExpression.compile(SITE_MATCH)
    (req,) = decide([], [Entry("E", "A")], [], expr, config).requests
    # no jobs, but min 6 glideins: 6 / 3 = 2; max (6 + 0) * 1.15 + 1 = 7.9 -> 7
    assert (req.req_idle_glideins, req.req_max_glideins) == (2, 7)


def test_decide_all_is_lowered_to_idle_while_a_glidein_runs_a_job() -> None:
    # The factory cannot tell which started glideins run jobs: ALL would let it remove
    # the busy one, so the frontend sends IDLE (waiting glideins only) until it is free.
    expr = MatchExpression.compile(SITE_MATCH)
    busy = Glidein("busy", "E", 8, 4, 16000, 8000, running_jobs=1)
    idle = Glidein("idle", "E", 8, 8, 16000, 16000)
    config = GroupConfig(removal=RemovalConfig(type=RemovalLevel.ALL))
    history = {"E": EntryHistory(no_idle_jobs=3)}
    entry = [Entry("E", "A", cpus=8)]
    (req,) = decide([], entry, [busy, idle], expr, config, history=history).requests
    assert req.req_remove_excess == RemovalLevel.IDLE
    assert req.classad_attrs()["ReqRemoveExcess"] == "IDLE"
    assert req.removable_glideins == req.busy_glideins == ()
    # ReqMaxGlideins keeps room for the busy glidein
    assert req.req_max_glideins == 1
    # once its job is done, ALL, and the request lists both idle glideins as removable
    done = dataclasses.replace(busy, idle_cpus=8, idle_memory=16000, running_jobs=0)
    (req,) = decide([], entry, [done, idle], expr, config, history=history).requests
    assert req.req_remove_excess == RemovalLevel.ALL
    assert req.removable_glideins == ("busy", "idle")
    assert req.busy_glideins == ()
    assert req.req_max_glideins == 0


def test_automatic_all_is_lowered_too() -> None:
    # no glidein registered for 11 cycles and no idle job for 6: automatic ALL ...
    history = EntryHistory(no_idle_jobs=5, no_glideins=10)
    level, _, _ = choose_removal(RemovalConfig(), history, 0, GlideinCounts())
    assert level == RemovalLevel.ALL
    # ... but a glidein that registered and runs a job turns it into IDLE
    running = GlideinCounts(total=1, running=1)
    history = EntryHistory(no_idle_jobs=5, all_glideins_idle=20)
    level, _, _ = choose_removal(RemovalConfig(type=RemovalLevel.ALL), history, 0, running)
    assert level == RemovalLevel.IDLE


def test_decide_reports_errors_once_and_carries_history() -> None:
    expr = MatchExpression.compile("glidein.GLIDEIN_CPUS >= job.RequestCpus")
    jobs = [Job("s", 1, 0, JOB_IDLE, NOW, {"RequestCpus": "eight"})]
    groups = group_jobs(jobs, expr.job_attrs, now=NOW)
    decision = decide(groups, [Entry("E1", "A"), Entry("E2", "B")], [], expr)
    assert decision.report.error_pairs == 2
    line = decision.report.problem()
    assert line is not None and "2 (job group, entry) pairs evaluated to ERROR" in line
    assert expr.text in line
    clean = decide(groups, [], [], expr)
    assert clean.report.problem() is None
    assert decision.report.unmatched_idle_jobs == 1
    assert all(r.req_idle_glideins == 0 for r in decision.requests)
    assert decision.history["E1"].no_idle_jobs == 1


# -- GPUs ----------------------------------------------------------------------------------


def test_group_jobs_separates_gpu_jobs() -> None:
    cpu = {"DESIRED_Sites": "A", "RequestCpus": 1, "RequestMemory": 2000}
    jobs = [Job("s", 1, i, JOB_IDLE, NOW, cpu) for i in range(3)]
    jobs += [Job("s", 2, i, JOB_IDLE, NOW, {**cpu, "RequestGPUs": 1}) for i in range(2)]
    jobs += [Job("s", 3, 0, JOB_IDLE, NOW, {**cpu, "RequestGPUs": 0})]  # same as none
    groups = sorted(group_jobs(jobs, ["DESIRED_Sites"], now=NOW), key=lambda g: g.gpus)
    assert [(g.gpus, g.idle) for g in groups] == [(0, 4), (1, 2)]
    # an expression that reads RequestGPUs itself sees it (the key holds it once), and
    # there undefined and 0 are different values
    groups = group_jobs(jobs, ["RequestGPUs"], now=NOW)
    assert sorted((g.gpus, g.idle, len(g.key)) for g in groups) == [(0, 1, 3), (0, 3, 3),
                                                                    (1, 2, 3)]


def test_gpu_jobs_need_glideins_by_gpus_at_a_gpu_entry() -> None:
    # 5 one-core one-GPU jobs at an 8-core 2-GPU entry: cores say ceil(5/8) = 1 glidein,
    # GPUs say ceil(5/2) = 3: the entry needs 3. Three 1-core CPU-only jobs matching both
    # entries add 1.5 cores here (3 + ... still 1 glidein by cores) and 1.5 at the CPU entry.
    expr = MatchExpression.compile(SITE_MATCH)
    gpu_entry = Entry("GPU", "A", cpus=8, gpus=2)
    cpu_entry = Entry("CPU", "B", cpus=1)
    jobs = [Job("s", 1, i, JOB_IDLE, NOW, {"DESIRED_Sites": "A", "RequestCpus": 1,
                                             "RequestGPUs": 1}) for i in range(5)]
    jobs += jobs_for("A,B", 1, 3)
    groups = group_jobs(jobs, expr.job_attrs, now=NOW)
    demand, _ = proportional_demand(match_groups(expr, groups, [gpu_entry, cpu_entry]).matches,
                                    groups, [gpu_entry, cpu_entry])
    assert (demand[0].prop_gpus, demand[0].prop_cores, demand[0].glideins) == (5, 6.5, 3)
    assert (demand[1].prop_gpus, demand[1].glideins) == (0, 2)
    (req, _) = decide(groups, [gpu_entry, cpu_entry], [], expr).requests
    # 3 glideins / ramp-up 3 = 1; max 3 * 1.15 + 1 = 4.45 -> 4
    assert (req.req_idle_glideins, req.req_max_glideins) == (1, 4)
    assert req.monitor["IdleGPUs"] == 5


def test_a_gpu_job_at_an_entry_without_gpus_counts_cores_only() -> None:
    entry = Entry("E", "A", cpus=4)
    groups = [dataclasses.replace(g, gpus=1) for g in group_jobs(jobs_for("A", 1, 6), [],
                                                                   now=NOW)]
    import numpy as np

    demand, _ = proportional_demand(np.ones((1, 1), dtype=bool), groups, [entry])
    assert demand[0].glideins == 2  # ceil(6 / 4)


@pytest.mark.parametrize(("idle_gpus", "usable"), [(0, False), (1, True)])
def test_a_gpu_glidein_with_every_gpu_claimed_is_not_idle(idle_gpus: int, usable: bool) -> None:
    # cores and memory left, but the GPUs are taken: GPU jobs cannot start there
    g = Glidein("g", "E", 8, 6, 32000, 28000, running_jobs=2, total_gpus=2,
                idle_gpus=idle_gpus)
    assert is_usable_idle(g, 2500) is usable
    counts = count_glideins([g], 2500)["E"]
    assert (counts.idle, counts.total_gpus, counts.idle_gpus) == \
        (int(usable), 2, idle_gpus if usable else 0)
    # an idle GPU glidein that runs nothing is idle whatever its GPUs say
    assert is_usable_idle(dataclasses.replace(g, running_jobs=0, idle_gpus=0), 2500)
