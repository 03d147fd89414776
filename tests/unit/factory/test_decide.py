"""Table and property tests of the factory's pure decisions."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gwms_core.entries import EntryLimits
from gwms_core.factory.decide import (
    HeldAction,
    account,
    count,
    held_action,
    plan_entry,
    plan_removal,
    plan_submission,
    removal_order,
    waterfill,
)
from gwms_core.factory.model import (
    Counts,
    Glidein,
    GlideinState,
    HeldPolicy,
    Policy,
    Reason,
    RemovalLevel,
    Request,
    classify,
)

S = GlideinState
NOW = 1_000_000


def g(n: int, state: GlideinState, client: str = "c1", frontend: str = "fe1",
      entry: str = "E", since: int = NOW - 100, **kw: int) -> Glidein:
    return Glidein(job_id=f"{n}.0", entry=entry, client=client, frontend=frontend,
                   state=state, since=since, qdate=since, **kw)  # type: ignore[arg-type]


def req(idle: int, maxg: int, level: RemovalLevel = RemovalLevel.NO, client: str = "c1",
        frontend: str = "fe1", margin: int = 0) -> Request:
    return Request(entry="E", client=client, frontend=frontend, idle=idle, max_glideins=maxg,
                   remove=level, margin=margin)


# --------------------------------------------------------------------------- classify


@pytest.mark.parametrize(("status", "grid_id", "grid_status", "expected"), [
    (1, None, None, S.UNSUBMITTED),
    (1, "batch slurm 123", "IDLE", S.IDLE),
    (1, "condor ce ce:9619 5.0", "RUNNING", S.RUNNING),  # HTCondor-C mirror lag
    (2, "batch slurm 123", "RUNNING", S.RUNNING),
    (2, None, None, S.RUNNING),
    (6, "x", None, S.RUNNING),
    (7, "x", None, S.RUNNING),
    (5, "x", "IDLE", S.HELD),
    (3, "x", "RUNNING", S.REMOVED),
    (4, "x", "COMPLETED", S.COMPLETED),
])
def test_classify(status: int, grid_id: str | None, grid_status: str | None,
                  expected: GlideinState) -> None:
    assert classify(status, grid_id, grid_status) is expected


def test_glidein_from_queue_ad_reads_tags_and_status() -> None:
    ad = {"ClusterId": 12, "ProcId": 3, "JobStatus": 5, "GridJobId": "batch slurm 9",
          "EnteredCurrentStatus": 50, "QDate": 40, "HoldReasonCode": 0,
          "HoldReasonSubCode": 2, "GlideinEntryName": "E", "GlideinClient": "vo.main",
          "GlideinFrontendName": "vofe@cm", "GwmsReleases": 2, "GwmsSubmissionId": "s1"}
    gl = Glidein.from_ad(ad)
    assert (gl.job_id, gl.state, gl.entry, gl.client, gl.frontend) == (
        "12.3", S.HELD, "E", "vo.main", "vofe@cm")
    assert (gl.since, gl.qdate, gl.hold_subcode, gl.releases, gl.submission) == (
        50, 40, 2, 2, "s1")


def test_accounting_per_entry_client_frontend() -> None:
    gs = [g(1, S.UNSUBMITTED), g(2, S.IDLE), g(3, S.RUNNING, client="c2"),
          g(4, S.HELD, frontend="fe2", client="c3"), g(5, S.REMOVED),
          g(6, S.RUNNING, entry="F")]
    a = account(gs)
    assert a.entry("E").as_dict() == {"unsubmitted": 1, "idle": 1, "running": 1, "held": 1,
                                      "removed": 1, "completed": 0, "waiting": 2, "total": 4}
    assert a.clients[("E", "fe1", "c1", "default")].total == 2
    assert a.clients[("E", "fe1", "c1", "default")].removed == 1
    assert a.frontends[("E", "fe1")].total == 3
    assert a.frontends[("E", "fe2")].held == 1
    assert a.entry("F").running == 1
    assert a.entry("nowhere").total == 0


@pytest.mark.parametrize(("value", "level"), [
    ("NO", RemovalLevel.NO), ("wait", RemovalLevel.WAIT), ("IDLE", RemovalLevel.IDLE),
    ("ALL", RemovalLevel.ALL), ("UNREG", RemovalLevel.ALL), (2, RemovalLevel.IDLE),
    ("bogus", RemovalLevel.NO), (9, RemovalLevel.NO), (True, RemovalLevel.NO),
])
def test_removal_level_parse(value: object, level: RemovalLevel) -> None:
    assert RemovalLevel.parse(value) is level


# --------------------------------------------------------------------------- held


HP = HeldPolicy(max_releases=2, backoff_s=100)


@pytest.mark.parametrize(("glidein", "expected"), [
    (g(1, S.HELD, since=NOW - 50), (HeldAction.WAIT, None)),
    (g(1, S.HELD, since=NOW - 100), (HeldAction.RELEASE, Reason.HELD_RECOVERABLE)),
    # backoff doubles after each release
    (g(1, S.HELD, since=NOW - 150, releases=1), (HeldAction.WAIT, None)),
    (g(1, S.HELD, since=NOW - 200, releases=1), (HeldAction.RELEASE, Reason.HELD_RECOVERABLE)),
    (g(1, S.HELD, since=NOW - 10_000, releases=2), (HeldAction.REMOVE, Reason.HELD_TOO_OFTEN)),
    (g(1, S.HELD, since=NOW, hold_code=3), (HeldAction.REMOVE, Reason.HELD_UNRECOVERABLE)),
    (g(1, S.HELD, since=NOW, hold_code=1), (HeldAction.LEAVE, None)),
    (g(1, S.RUNNING), (HeldAction.LEAVE, None)),
])
def test_held_action(glidein: Glidein, expected: tuple[HeldAction, Reason | None]) -> None:
    assert held_action(glidein, HP, NOW) == expected


def test_held_subcode_specific_unrecoverable() -> None:
    policy = HeldPolicy(unrecoverable=frozenset({(0, 7)}), backoff_s=0)
    assert held_action(g(1, S.HELD, hold_code=0, hold_subcode=7), policy, NOW)[0] \
        is HeldAction.REMOVE
    assert held_action(g(1, S.HELD, hold_code=0, hold_subcode=8), policy, NOW)[0] \
        is HeldAction.RELEASE


# --------------------------------------------------------------------------- removal


def test_removal_order_unsubmitted_then_idle_newest_first() -> None:
    gs = [g(1, S.IDLE, since=10), g(2, S.UNSUBMITTED, since=5), g(3, S.IDLE, since=30),
          g(4, S.RUNNING), g(5, S.UNSUBMITTED, since=20)]
    assert [x.job_id for x in removal_order(gs)] == ["5.0", "2.0", "3.0", "1.0"]


MIX = [g(1, S.UNSUBMITTED), g(2, S.UNSUBMITTED), g(3, S.IDLE), g(4, S.IDLE),
       g(5, S.RUNNING), g(6, S.RUNNING), g(7, S.RUNNING)]


@pytest.mark.parametrize(("request_", "removed_states"), [
    (req(0, 0, RemovalLevel.NO), []),
    # WAIT: only waiting above the idle request
    (req(1, 100, RemovalLevel.WAIT), [S.UNSUBMITTED, S.UNSUBMITTED, S.IDLE]),
    (req(4, 100, RemovalLevel.WAIT), []),
    (req(1, 100, RemovalLevel.WAIT, margin=2), [S.UNSUBMITTED]),
    # IDLE: waiting ones also to bring the total to max
    (req(4, 4, RemovalLevel.IDLE), [S.UNSUBMITTED, S.UNSUBMITTED, S.IDLE]),
    (req(4, 0, RemovalLevel.IDLE), [S.UNSUBMITTED, S.UNSUBMITTED, S.IDLE, S.IDLE]),
    # WAIT never follows the max
    (req(4, 0, RemovalLevel.WAIT), []),
    # ALL: running only after every waiting one
    (req(0, 2, RemovalLevel.ALL), [S.UNSUBMITTED, S.UNSUBMITTED, S.IDLE, S.IDLE, S.RUNNING]),
    (req(0, 3, RemovalLevel.ALL), [S.UNSUBMITTED, S.UNSUBMITTED, S.IDLE, S.IDLE]),
    (req(0, 0, RemovalLevel.ALL), [S.UNSUBMITTED] * 2 + [S.IDLE] * 2 + [S.RUNNING] * 3),
])
def test_plan_removal_levels(request_: Request, removed_states: list[GlideinState]) -> None:
    assert [a.glidein.state for a in plan_removal(request_, MIX)] == removed_states


def test_all_removes_only_removable_running() -> None:
    r = Request(entry="E", client="c1", frontend="fe1", idle=0, max_glideins=0,
                remove=RemovalLevel.ALL, removable=frozenset({"6.0"}))
    removed = [a.glidein.job_id for a in plan_removal(r, MIX)
               if a.glidein.state is S.RUNNING]
    assert removed == ["6.0"]


# --------------------------------------------------------------------------- submission


L = EntryLimits(max_glideins=100, max_idle=50, max_held=10, per_frontend_max_glideins=60,
                per_frontend_max_idle=30, per_frontend_max_held=5)


def sub(requests: list[Request], clients: dict[str, Counts] | None = None,
        frontends: dict[str, Counts] | None = None, entry: Counts | None = None,
        limits: EntryLimits = L, cap: int = 1000, downtime: bool = False) -> dict[str, int]:
    """Counts per client name (the table's clients all belong to their request's frontend)."""
    fe_of = {r.client: r.frontend for r in requests}
    keyed = {(fe_of.get(c, "fe1"), c, "default"): n for c, n in (clients or {}).items()}
    got = plan_submission(requests, keyed, frontends or {}, entry or Counts(), limits,
                          cap, downtime)[0]
    return {c: n for (_, c, _), n in got.items()}


@pytest.mark.parametrize(("kwargs", "expected"), [
    # idle request minus what already waits
    ({"requests": [req(10, 100)]}, {"c1": 10}),
    ({"requests": [req(10, 100)], "clients": {"c1": Counts(idle=4, running=50)},
      "frontends": {"fe1": Counts(idle=4, running=50)},
      "entry": Counts(idle=4, running=50)}, {"c1": 6}),
    # ReqMaxGlideins caps
    ({"requests": [req(10, 8)], "clients": {"c1": Counts(running=5)}}, {"c1": 3}),
    # per-frontend idle limit
    ({"requests": [req(100, 1000)]}, {"c1": 30}),
    # per-frontend total limit
    ({"requests": [req(100, 1000)], "frontends": {"fe1": Counts(running=55)}}, {"c1": 5}),
    # per-frontend held limit stops the frontend
    ({"requests": [req(10, 100)], "frontends": {"fe1": Counts(held=5)}}, {"c1": 0}),
    # entry held limit stops everyone
    ({"requests": [req(10, 100)], "entry": Counts(held=10)}, {"c1": 0}),
    # entry total / idle limits
    ({"requests": [req(10, 1000)], "entry": Counts(running=95)}, {"c1": 5}),
    ({"requests": [req(10, 1000)], "entry": Counts(idle=45)}, {"c1": 5}),
    # cycle cap
    ({"requests": [req(10, 100)], "cap": 3}, {"c1": 3}),
    # downtime
    ({"requests": [req(10, 100)], "downtime": True}, {"c1": 0}),
    # already above: nothing, never negative
    ({"requests": [req(1, 1)], "clients": {"c1": Counts(running=5)}}, {"c1": 0}),
    # two frontends share the entry's idle room fairly
    ({"requests": [req(40, 100), req(40, 100, client="c2", frontend="fe2")]},
     {"c1": 25, "c2": 25}),
    # two clients of one frontend share the frontend's room
    ({"requests": [req(20, 100), req(20, 100, client="c2")]}, {"c1": 15, "c2": 15}),
    # a small want leaves the rest to the other
    ({"requests": [req(5, 100), req(40, 100, client="c2", frontend="fe2")]},
     {"c1": 5, "c2": 30}),
])
def test_plan_submission_table(kwargs: dict[str, object], expected: dict[str, int]) -> None:
    assert sub(**kwargs) == expected  # type: ignore[arg-type]


def test_plan_submission_names_the_limit() -> None:
    _, limited = plan_submission([req(100, 1000)], {}, {}, Counts(), L, 1000)
    assert limited == {"c1": "per_frontend_max_idle"}
    _, limited = plan_submission([req(10, 100)], {}, {}, Counts(), L, 3)
    assert limited == {"c1": "max_submit_per_cycle"}


def test_waterfill() -> None:
    assert waterfill(10, {"a": 2, "b": 100, "c": 100}) == {"a": 2, "b": 4, "c": 4}
    assert waterfill(0, {"a": 2}) == {"a": 0}
    assert waterfill(100, {"a": 2, "b": 3}) == {"a": 2, "b": 3}
    assert waterfill(-5, {"a": 2}) == {"a": 0}


# --------------------------------------------------------------------------- whole entry


def test_plan_entry_lowered_request_removes_idle_never_running() -> None:
    gs = [g(i, S.IDLE) for i in range(5)] + [g(10 + i, S.RUNNING) for i in range(5)]
    plan = plan_entry("E", L, gs, [req(0, 0, RemovalLevel.IDLE)], Policy(), NOW)
    assert {a.glidein.state for a in plan.remove} == {S.IDLE}
    assert len(plan.remove) == 5
    assert plan.submit == ()


def test_plan_entry_replaces_idle_lifetime_and_unrecoverable_held() -> None:
    policy = Policy(idle_lifetime_s=1000, held=HeldPolicy(backoff_s=10))
    gs = [g(1, S.IDLE, since=NOW - 2000), g(2, S.IDLE), g(3, S.HELD, hold_code=3),
          g(4, S.HELD, since=NOW - 50), g(5, S.RUNNING, since=NOW - 5000)]
    plan = plan_entry("E", L, gs, [req(3, 100)], policy, NOW)
    removed = {a.glidein.job_id: a.reason for a in plan.remove}
    assert removed == {"1.0": Reason.IDLE_LIFETIME, "3.0": Reason.HELD_UNRECOVERABLE}
    assert [a.glidein.job_id for a in plan.release] == ["4.0"]
    # 3 wanted waiting, 1 left (2.0): submit 2
    assert plan.submit_count == 2


def test_plan_entry_far_above_limits_stays_within() -> None:
    plan = plan_entry("E", L, [], [req(10**6, 10**6)], Policy(max_submit_per_cycle=10**6), NOW)
    assert plan.submit_count == L.per_frontend_max_idle


# --------------------------------------------------------------------------- properties

STATES = [S.UNSUBMITTED, S.IDLE, S.RUNNING, S.HELD, S.REMOVED]
LEVELS = list(RemovalLevel)


@st.composite
def scenario(draw: st.DrawFn) -> tuple[EntryLimits, list[Glidein], list[Request], Policy]:
    limits = EntryLimits(
        max_glideins=draw(st.integers(0, 60)), max_idle=draw(st.integers(0, 40)),
        max_held=draw(st.integers(0, 10)),
        per_frontend_max_glideins=draw(st.integers(0, 50)),
        per_frontend_max_idle=draw(st.integers(0, 30)),
        per_frontend_max_held=draw(st.integers(0, 8)))
    clients = [("c1", "fe1"), ("c2", "fe1"), ("c3", "fe2"), ("c4", "fe3")]
    n = draw(st.integers(0, 60))
    gs = []
    for i in range(n):
        client, fe = draw(st.sampled_from(clients))
        gs.append(Glidein(
            job_id=f"{i}.0", entry="E", client=client, frontend=fe,
            state=draw(st.sampled_from(STATES)), since=NOW - draw(st.integers(0, 5000)),
            hold_code=draw(st.sampled_from([0, 1, 3])), releases=draw(st.integers(0, 4))))
    reqs = []
    for client, fe in draw(st.lists(st.sampled_from(clients), unique=True, max_size=4)):
        reqs.append(Request(entry="E", client=client, frontend=fe,
                            idle=draw(st.integers(0, 80)), max_glideins=draw(st.integers(0, 80)),
                            remove=draw(st.sampled_from(LEVELS)),
                            margin=draw(st.integers(0, 3))))
    policy = Policy(max_submit_per_cycle=draw(st.integers(0, 50)),
                    idle_lifetime_s=draw(st.sampled_from([0, 1000, 3000])),
                    held=HeldPolicy(max_releases=2, backoff_s=draw(st.integers(0, 2000))))
    return limits, gs, reqs, policy


@settings(max_examples=400, deadline=None)
@given(scenario())
def test_properties(sc: tuple[EntryLimits, list[Glidein], list[Request], Policy]) -> None:
    limits, gs, reqs, policy = sc
    plan = plan_entry("E", limits, gs, reqs, policy, NOW)
    removed = {a.glidein.job_id for a in plan.remove}
    released = {a.glidein.job_id for a in plan.release}
    by_client = {(r.frontend, r.client): r for r in reqs}

    # Removal never touches running glideins unless the request's level is ALL.
    for a in plan.remove:
        if a.glidein.state is S.RUNNING:
            assert by_client[(a.glidein.frontend, a.glidein.client)].remove \
                is RemovalLevel.ALL
            assert a.reason is Reason.EXCESS_RUNNING
    # Nothing removed twice, nothing both released and removed, removed/completed untouched.
    assert len(removed) == len(plan.remove)
    assert not removed & released
    assert all(a.glidein.state not in (S.REMOVED, S.COMPLETED) for a in plan.remove)

    live = [x for x in gs if x.job_id not in removed]
    entry = count(live)
    n_total = plan.submit_count
    # Never above limits because of this cycle's submissions.
    assert n_total <= policy.max_submit_per_cycle
    if n_total:
        assert entry.total + n_total <= limits.max_glideins
        assert entry.waiting + n_total <= limits.max_idle
        assert entry.held < limits.max_held
    for fe in {r.frontend for r in reqs}:
        n_fe = sum(s.count for s in plan.submit if s.request.frontend == fe)
        if n_fe:
            f = count(x for x in live if x.frontend == fe)
            assert f.total + n_fe <= limits.per_frontend_max_glideins
            assert f.waiting + n_fe <= limits.per_frontend_max_idle
            assert f.held < limits.per_frontend_max_held
    # Never submits beyond the request.
    for s in plan.submit:
        c = count(x for x in live if (x.frontend, x.client) ==
                  (s.request.frontend, s.request.client))
        assert s.count > 0
        assert c.waiting + s.count <= s.request.idle
        assert c.total + s.count <= s.request.max_glideins
    # Never submits and removes excess for the same client in one cycle.
    submitted = {(s.request.frontend, s.request.client) for s in plan.submit}
    excess = {(a.glidein.frontend, a.glidein.client) for a in plan.remove
              if a.reason in (Reason.EXCESS_WAITING, Reason.EXCESS_RUNNING)}
    assert not submitted & excess


@settings(max_examples=200, deadline=None)
@given(st.integers(-5, 200), st.dictionaries(st.sampled_from("abcdef"), st.integers(0, 100)))
def test_waterfill_properties(cap: int, wants: dict[str, int]) -> None:
    got = waterfill(cap, wants)
    assert set(got) == set(wants)
    assert sum(got.values()) <= max(0, cap)
    assert all(0 <= got[k] <= wants[k] for k in wants)
    # Work conserving: capacity left over only when everyone got what it wanted.
    if sum(got.values()) < max(0, cap):
        assert got == wants
    # Max-min fair: anyone cut short got at least as much as anyone else.
    for k in wants:
        if got[k] < wants[k]:
            assert all(got[k] >= got[j] for j in wants if j != k) or \
                all(got[k] + 1 >= got[j] for j in wants)


def test_a_frontend_cannot_touch_another_frontends_glideins_by_client_name() -> None:
    """fe2 sends ClientName "c1" (fe1's) with level ALL and max 0: fe1's glideins stay."""
    gs = [g(i, S.IDLE, client="c1", frontend="fe1") for i in range(3)] + \
         [g(10 + i, S.RUNNING, client="c1", frontend="fe1") for i in range(3)]
    spoof = req(0, 0, RemovalLevel.ALL, client="c1", frontend="fe2")
    plan = plan_entry("E", L, gs, [spoof], Policy(), NOW)
    assert plan.remove == ()
    # and fe1's own request is counted against fe1's glideins only
    plan = plan_entry("E", L, gs, [spoof, req(5, 100, client="c1", frontend="fe1")],
                      Policy(), NOW)
    assert [(s.request.frontend, s.count) for s in plan.submit] == [("fe1", 2)]
