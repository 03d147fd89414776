"""GlideinsInPool on the factory side: wire format, intake, and the removal guard."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gwms_core.entries import Entry, EntryLimits
from gwms_core.factory import attrs as A
from gwms_core.factory.ads import glidein_arguments
from gwms_core.factory.decide import apply_in_pool, count, plan_entry
from gwms_core.factory.inpool import (
    format_in_pool,
    listed,
    parse_in_pool,
    parse_token,
    schedd_of,
)
from gwms_core.factory.intake import read_requests
from gwms_core.factory.model import (
    Glidein,
    GlideinState,
    Policy,
    Reason,
    RemovalLevel,
    Request,
)

S = GlideinState
NOW = 1_000_000
SCHEDD = "schedd_glideins@factory.example"


def g(n: int, state: GlideinState, client: str = "c1", frontend: str = "fe1",
      credential: str = A.DEFAULT_CREDENTIAL, schedd: str = SCHEDD,
      since: int = NOW - 100) -> Glidein:
    return Glidein(job_id=f"{n}.0", entry="E", client=client, frontend=frontend,
                   state=state, since=since, qdate=since, credential=credential,
                   schedd=schedd)


def req(idle: int, maxg: int, level: RemovalLevel, in_pool: str | None,
        client: str = "c1", frontend: str = "fe1",
        credential: str = A.DEFAULT_CREDENTIAL) -> Request:
    return Request(entry="E", client=client, frontend=frontend, idle=idle, max_glideins=maxg,
                   remove=level, credential=credential,
                   in_pool=None if in_pool is None else parse_in_pool(in_pool))


# --------------------------------------------------------------------------- wire format


@pytest.mark.parametrize(("token", "expected"), [
    ("s@h#12.0", ("s@h", "12.0")),
    (" s@h#12.3 ", ("s@h", "12.3")),
    ("#7.1", ("", "7.1")),
    ("a#b#3.0", ("a#b", "3.0")),     # only the last '#' separates
    ("s#012.00", ("s", "12.0")),     # normalised like ClusterId.ProcId
    ("s#12", None),
    ("s#x.0", None),
    ("s#1.-1", None),
    ("12.0", None),
    ("s#1.٣", None),                 # non-ASCII digits are not job ids
    ("", None),
])
def test_parse_token(token: str, expected: tuple[str, str] | None) -> None:
    assert parse_token(token) == expected


@pytest.mark.parametrize(("value", "expected"), [
    (None, None),                    # an older frontend: no attribute
    (17, None),
    ("", frozenset()),
    ("s#1.0,s#2.0, junk ,,t#3.1", frozenset({("s", "1.0"), ("s", "2.0"), ("t", "3.1")})),
])
def test_parse_in_pool(value: object, expected: frozenset[tuple[str, str]] | None) -> None:
    assert parse_in_pool(value) == expected


refs = st.lists(st.tuples(st.from_regex(r"[A-Za-z0-9_.@#-]{0,20}", fullmatch=True),
                          st.integers(0, 10**7), st.integers(0, 10**4)), max_size=30)


@given(refs)
def test_format_parse_round_trip(triples: list[tuple[str, int, int]]) -> None:
    parsed = parse_in_pool(format_in_pool(triples))
    assert parsed == {(s, f"{c}.{p}") for s, c, p in triples}


def test_format_drops_duplicates_keeps_order() -> None:
    assert format_in_pool([("s", 2, 0), ("s", 1, 0), ("s", 2, 0)]) == "s#2.0,s#1.0"


@pytest.mark.parametrize(("gid", "schedd"), [
    ("schedd@host#12.0#1700000000", "schedd@host"), ("", ""), ("nohash", "")])
def test_schedd_of(gid: str, schedd: str) -> None:
    assert schedd_of(gid) == schedd


@pytest.mark.parametrize(("refs_", "schedd", "job", "expected"), [
    ({("s", "1.0")}, "s", "1.0", True),
    ({("s", "1.0")}, "t", "1.0", False),     # same job id on another schedd
    ({("s", "1.0")}, "s", "1.1", False),
    ({("", "1.0")}, "s", "1.0", True),       # glidein did not know its schedd
    ({("s", "1.0")}, "", "1.0", True),       # queue ad without GlobalJobId
])
def test_listed(refs_: set[tuple[str, str]], schedd: str, job: str, expected: bool) -> None:
    assert listed(frozenset(refs_), schedd, job) is expected


def test_glidein_reads_schedd_from_global_job_id() -> None:
    ad = {"ClusterId": 12, "ProcId": 0, "JobStatus": 1, "GridJobId": "batch slurm 5",
          "GlobalJobId": f"{SCHEDD}#12.0#1700000000", A.ENTRY: "E"}
    assert Glidein.from_ad(ad).schedd == SCHEDD


# --------------------------------------------------------------------------- intake


def _entry() -> Entry:
    return Entry(name="E", gatekeeper="slurm", grid_type="batch", site="S",
                 allowed_frontends=("fe1",))


def test_intake_reads_the_list_and_tells_absent_from_empty() -> None:
    base = {"MyType": "glideclient", "ReqName": "E", "ClientName": "c1",
            "AuthenticatedIdentity": "fe1@example", "ReqIdleGlideins": 0,
            "ReqMaxGlideins": 5, "ReqRemoveExcess": "WAIT"}
    with_list = {**base, A.IN_POOL: f"{SCHEDD}#12.0,{SCHEDD}#13.0"}
    old = read_requests([base], {"E": _entry()}, "F", "F").requests[0]
    new = read_requests([with_list], {"E": _entry()}, "F", "F").requests[0]
    assert old.in_pool is None
    assert new.in_pool == {(SCHEDD, "12.0"), (SCHEDD, "13.0")}


# --------------------------------------------------------------------------- arguments


def test_glidein_arguments_name_the_factory_job() -> None:
    r = Request(entry="E", client="fe.main", frontend="fe1@x", idle=1, max_glideins=1,
                credential="cred-a")
    args = glidein_arguments(_entry(), r, "F", "http://h/m", "0" * 64, schedd=SCHEDD)
    assert f"--schedd {SCHEDD}" in args
    assert "--cluster $(Cluster) --proc $(Process)" in args
    assert "--credential-id cred-a" in args
    assert "--schedd" not in glidein_arguments(_entry(), r, "F", "u", "0" * 64)


# --------------------------------------------------------------------------- the guard

LIMITS = EntryLimits()
POLICY = Policy()


@pytest.mark.parametrize(("level", "in_pool", "removed", "submitted"), [
    # Request lowered to 0 idle: the listed glidein (1.0) stays, the other idle one goes.
    (RemovalLevel.WAIT, f"{SCHEDD}#1.0", {"2.0"}, 0),
    (RemovalLevel.IDLE, f"{SCHEDD}#1.0", {"2.0"}, 0),
    # Without the list (an older frontend) both are removed, as before.
    (RemovalLevel.WAIT, None, {"1.0", "2.0"}, 0),
    (RemovalLevel.WAIT, "", {"1.0", "2.0"}, 0),
    # Listed under another schedd's name: not this glidein.
    (RemovalLevel.WAIT, "other@host#1.0", {"1.0", "2.0"}, 0),
    # ALL may remove it (it counts as running, above ReqMaxGlideins 0).
    (RemovalLevel.ALL, f"{SCHEDD}#1.0", {"1.0", "2.0"}, 0),
])
def test_lowered_request(level: RemovalLevel, in_pool: str | None, removed: set[str],
                         submitted: int) -> None:
    gs = [g(1, S.IDLE), g(2, S.IDLE)]
    plan = plan_entry("E", LIMITS, gs, [req(0, 0 if level is RemovalLevel.ALL else 5,
                                            level, in_pool)], POLICY, NOW)
    assert {a.glidein.job_id for a in plan.remove} == removed
    assert plan.submit_count == submitted
    assert plan.in_pool == (("1.0",) if in_pool and in_pool.startswith(SCHEDD) else ())


def test_listed_glidein_counts_as_running_for_submission() -> None:
    # One idle glidein asked for; the only waiting one is in the pool already: the factory
    # submits one more (counted as waiting it would have submitted none).
    gs = [g(1, S.IDLE)]
    plan = plan_entry("E", LIMITS, gs, [req(1, 5, RemovalLevel.WAIT, f"{SCHEDD}#1.0")],
                      POLICY, NOW)
    assert plan.submit_count == 1 and not plan.remove
    # ... and the total still counts it: ReqMaxGlideins 1 allows nothing more.
    plan = plan_entry("E", LIMITS, gs, [req(1, 1, RemovalLevel.WAIT, f"{SCHEDD}#1.0")],
                      POLICY, NOW)
    assert plan.submit_count == 0 and not plan.remove


def test_idle_lifetime_spares_listed_glideins() -> None:
    old = NOW - 10_000
    gs = [g(1, S.IDLE, since=old), g(2, S.IDLE, since=old)]
    plan = plan_entry("E", LIMITS, gs, [req(2, 5, RemovalLevel.NO, f"{SCHEDD}#1.0")],
                      replace(POLICY, idle_lifetime_s=1000), NOW)
    assert {(a.glidein.job_id, a.reason) for a in plan.remove} == {("2.0", Reason.IDLE_LIFETIME)}


def test_only_the_glideins_own_request_vouches_for_it() -> None:
    gs = [g(1, S.IDLE, client="c2"), g(2, S.IDLE, credential="k2"), g(3, S.HELD)]
    reqs = [req(0, 5, RemovalLevel.WAIT, f"{SCHEDD}#1.0,{SCHEDD}#2.0,{SCHEDD}#3.0")]
    out = {x.job_id: x.state for x in apply_in_pool(gs, reqs)}
    assert out == {"1.0": S.IDLE, "2.0": S.IDLE, "3.0": S.HELD}


# --------------------------------------------------------------------------- property

CLIENTS = [("c1", "fe1", "default"), ("c1", "fe1", "k2"), ("c2", "fe1", "default"),
           ("c3", "fe2", "default")]
STATES = list(GlideinState)


@st.composite
def guarded(draw: st.DrawFn) -> tuple[list[Glidein], list[Request], Policy,
                                       frozenset[tuple[str, str]]]:
    n = draw(st.integers(0, 40))
    gs = []
    for i in range(n):
        client, fe, cred = draw(st.sampled_from(CLIENTS))
        gs.append(Glidein(job_id=f"{i}.0", entry="E", client=client, frontend=fe,
                          state=draw(st.sampled_from(STATES)), credential=cred,
                          since=NOW - draw(st.integers(0, 5000)),
                          schedd=draw(st.sampled_from([SCHEDD, SCHEDD, ""]))))
    reqs = []
    for client, fe, cred in draw(st.lists(st.sampled_from(CLIENTS), unique=True,
                                          max_size=4)):
        mine = [x for x in gs if x.client_key == (fe, client, cred)]
        picked = draw(st.lists(st.sampled_from(mine), unique=True)) if mine else []
        noise = draw(st.lists(st.integers(0, 60), max_size=3))
        tokens = [f"{draw(st.sampled_from([SCHEDD, '']))}#{x.job_id}" for x in picked]
        tokens += [f"{SCHEDD}#{k}.0" for k in noise]
        reqs.append(Request(entry="E", client=client, frontend=fe, credential=cred,
                            idle=draw(st.integers(0, 30)),
                            max_glideins=draw(st.integers(0, 40)),
                            remove=draw(st.sampled_from(list(RemovalLevel))),
                            margin=draw(st.integers(0, 2)),
                            in_pool=parse_in_pool(",".join(tokens))))
    policy = Policy(max_submit_per_cycle=draw(st.integers(0, 30)),
                    idle_lifetime_s=draw(st.sampled_from([0, 1000, 3000])),
                    orphan_grace_s=0)
    orphans = frozenset(draw(st.lists(st.sampled_from(
        [(fe, c, k) for c, fe, k in CLIENTS]), max_size=2)))
    return gs, reqs, policy, orphans


@settings(max_examples=500, deadline=None)
@given(guarded())
def test_a_listed_waiting_glidein_is_never_removed_below_all(
        sc: tuple[list[Glidein], list[Request], Policy, frozenset[tuple[str, str]]]) -> None:
    gs, reqs, policy, orphans = sc
    plan = plan_entry("E", LIMITS, gs, reqs, policy, NOW, orphaned=orphans)
    by_key = {r.client_key: r for r in reqs}
    for a in plan.remove:
        raw = next(x for x in gs if x.job_id == a.glidein.job_id)
        r = by_key.get(raw.client_key)
        if (r is not None and r.in_pool
                and raw.state in (S.UNSUBMITTED, S.IDLE)
                and listed(r.in_pool, raw.schedd, raw.job_id)):
            assert r.remove is RemovalLevel.ALL
            assert a.reason is Reason.EXCESS_RUNNING
    # Submissions respect the request with listed glideins counted as running.
    view = apply_in_pool(gs, reqs)
    removed = {a.glidein.job_id for a in plan.remove}
    for s in plan.submit:
        c = count(x for x in view if x.client_key == s.request.client_key
                  and x.job_id not in removed)
        assert c.waiting + s.count <= s.request.idle
        assert c.total + s.count <= s.request.max_glideins


@settings(max_examples=300, deadline=None)
@given(guarded())
def test_without_lists_the_plan_is_unchanged(
        sc: tuple[list[Glidein], list[Request], Policy, frozenset[tuple[str, str]]]) -> None:
    gs, reqs, policy, orphans = sc
    bare = [replace(r, in_pool=None) for r in reqs]
    empty = [replace(r, in_pool=frozenset()) for r in reqs]
    a = plan_entry("E", LIMITS, gs, bare, policy, NOW, orphaned=orphans)
    b = plan_entry("E", LIMITS, gs, empty, policy, NOW, orphaned=orphans)
    assert (a.remove, a.release, a.limited, a.orphaned) == \
        (b.remove, b.release, b.limited, b.orphaned)
    assert [(x.request.client_key, x.count) for x in a.submit] == \
        [(x.request.client_key, x.count) for x in b.submit]
