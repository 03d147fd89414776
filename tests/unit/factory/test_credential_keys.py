"""Requests and glidein accounting per credential (``GlideinCredentialIdentifier``).

One frontend client may send one request per (entry, credential); the factory keeps
requests and glideins apart by (entry, frontend identity, client, credential id), tags
each glidein with its credential, and applies the per-frontend limits to the sum.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gwms_core.entries import Entry, EntryLimits
from gwms_core.factory import ads as ADS
from gwms_core.factory import attrs as A
from gwms_core.factory import state as ST
from gwms_core.factory.decide import account, orphaned_clients, plan_entry
from gwms_core.factory.intake import read_requests
from gwms_core.factory.model import Glidein, GlideinState, Policy, RemovalLevel, Request
from gwms_core.manager import get_registry
from gwms_core.types import Family

S = GlideinState
NOW = 1_000_000
ENTRY = Entry(name="E1", grid_type="batch", gatekeeper="local", site="T2_XX_A",
              batch_system="slurm", allowed_frontends=("vofrontend",),
              limits=EntryLimits(max_idle=100, max_glideins=1000, per_frontend_max_idle=10,
                                 per_frontend_max_glideins=1000))
IDENT = "vofrontend@gwms.test"


def ad(**kw: object) -> dict[str, object]:
    base: dict[str, object] = {
        "MyType": "glideclient", "ReqName": "E1@fac@fac", "ClientName": "vofe.main",
        "ReqIdleGlideins": 4, "ReqMaxGlideins": 9, "ReqRemoveExcess": "NO",
        "AuthenticatedIdentity": IDENT,
    }
    base.update(kw)
    return {k: v for k, v in base.items() if v is not None}


def g(n: int, state: GlideinState, cred: str, client: str = "vofe.main") -> Glidein:
    return Glidein(job_id=f"{n}.0", entry="E1", client=client, frontend=IDENT, state=state,
                   since=NOW - 10, qdate=NOW - 10, credential=cred)


def req(idle: int, maxg: int, cred: str, remove: RemovalLevel = RemovalLevel.NO,
        client: str = "vofe.main") -> Request:
    return Request(entry="E1", client=client, frontend=IDENT, idle=idle, max_glideins=maxg,
                   remove=remove, credential=cred)


def test_two_credentials_of_one_client_are_two_requests() -> None:
    got = read_requests([ad(Name="a", GlideinCredentialIdentifier="pilot", ReqIdleGlideins=3),
                         ad(Name="b", GlideinCredentialIdentifier="prod", ReqIdleGlideins=5)],
                        {"E1": ENTRY}, "fac", "fac")
    assert got.refused == ()
    assert sorted((r.credential, r.idle) for r in got.requests) == [("pilot", 3), ("prod", 5)]


def test_a_request_without_the_attribute_is_for_the_default_credential() -> None:
    (r,) = read_requests([ad()], {"E1": ENTRY}, "fac", "fac").requests
    assert r.credential == A.DEFAULT_CREDENTIAL == "default"


def test_the_same_credential_twice_keeps_the_later_request() -> None:
    got = read_requests([ad(GlideinCredentialIdentifier="p", ReqIdleGlideins=1),
                         ad(GlideinCredentialIdentifier="p", ReqIdleGlideins=7)],
                        {"E1": ENTRY}, "fac", "fac")
    assert [r.idle for r in got.requests] == [7]


@pytest.mark.parametrize("bad", ["", "a b", "x/../y", 7, "a" * 129, 'q"uote'])
def test_a_malformed_credential_id_is_refused(bad: object) -> None:
    got = read_requests([ad(GlideinCredentialIdentifier=bad)], {"E1": ENTRY}, "fac", "fac")
    assert got.requests == ()
    (rf,) = got.refused
    assert A.CREDENTIAL in rf.reason


def test_glidein_tag_read_back_and_default_when_absent() -> None:
    base = {"ClusterId": 3, "ProcId": 1, "JobStatus": 1, A.ENTRY: "E1", A.CLIENT: "c",
            A.FRONTEND: IDENT}
    assert Glidein.from_ad(base).credential == "default"
    assert Glidein.from_ad({**base, A.CREDENTIAL: "prod"}).credential == "prod"
    assert A.CREDENTIAL in A.JOB_ATTRS


def test_submit_description_tags_the_credential() -> None:
    backend = get_registry().get(Family.BACKEND, "batch").handler
    desc = ADS.submit_description(ENTRY, backend, {}, req(1, 1, "prod"), factory="fac",
                                  glidein="fac", submission_id="s1", executable="/bin/true",
                                  arguments='""',
                                  plugin_attrs={f"+{A.CREDENTIAL}": '"forged"'})
    assert desc[f"+{A.CREDENTIAL}"] == '"prod"'  # nothing overrides the factory's tag


def test_client_ads_are_named_per_credential() -> None:
    from gwms_core.factory.model import Counts

    default = ADS.client_ad("E1", "vofe.main", "fac", "fac", Counts())
    prod = ADS.client_ad("E1", "vofe.main", "fac", "fac", Counts(), credential="prod")
    assert default["Name"] == "E1@fac@fac@vofe.main"  # as before credential ids
    assert prod["Name"] == "E1@fac@fac@vofe.main@prod"
    assert prod[A.CREDENTIAL] == "prod"


def test_accounting_and_submission_per_credential() -> None:
    gs = [g(1, S.IDLE, "pilot"), g(2, S.IDLE, "pilot"), g(3, S.RUNNING, "prod")]
    acct = account(gs)
    assert acct.clients[("E1", IDENT, "vofe.main", "pilot")].waiting == 2
    assert acct.clients[("E1", IDENT, "vofe.main", "prod")].running == 1
    assert acct.frontends[("E1", IDENT)].total == 3
    plan = plan_entry("E1", ENTRY.limits, gs, [req(3, 50, "pilot"), req(3, 50, "prod")],
                      Policy(), NOW)
    assert {a.request.credential: a.count for a in plan.submit} == {"pilot": 1, "prod": 3}


def test_lowering_one_credential_removes_only_its_glideins() -> None:
    gs = [g(1, S.IDLE, "pilot"), g(2, S.IDLE, "pilot"), g(3, S.IDLE, "prod")]
    plan = plan_entry("E1", ENTRY.limits, gs,
                      [req(0, 0, "pilot", RemovalLevel.WAIT), req(1, 5, "prod")],
                      Policy(), NOW)
    assert sorted(a.glidein.job_id for a in plan.remove) == ["1.0", "2.0"]
    assert plan.submit == ()


def test_orphans_per_credential() -> None:
    gs = [g(1, S.IDLE, "pilot"), g(2, S.IDLE, "prod")]
    out = orphaned_clients(gs, [req(1, 1, "prod")],
                           {("E1", IDENT, "vofe.main", "pilot"): NOW - 700}, NOW, 600)
    assert out.orphaned == {("E1", IDENT, "vofe.main", "pilot")}


def test_old_state_file_loads_with_the_default_credential(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"version": 1, "pending": {}, "counters": {"submitted": 4},
                                "request_seen": [["E1", IDENT, "vofe.main", NOW - 5]]}))
    back = ST.load(path)
    assert back.rebuilt == ""
    assert back.request_seen == {("E1", IDENT, "vofe.main", "default"): NOW - 5}
    back.request_seen[("E1", IDENT, "vofe.main", "prod")] = NOW
    ST.save(path, back)
    again = ST.load(path)
    assert again.rebuilt == "" and again.request_seen == back.request_seen


@settings(max_examples=200, deadline=None)
@given(wants=st.lists(st.tuples(st.integers(0, 40), st.integers(0, 60)), min_size=1,
                      max_size=4),
       have=st.lists(st.tuples(st.integers(0, 3), st.sampled_from([S.IDLE, S.RUNNING])),
                     max_size=12))
def test_per_frontend_limits_hold_for_the_sum_over_credentials(
        wants: list[tuple[int, int]], have: list[tuple[int, GlideinState]]) -> None:
    requests = [req(i, m, f"c{k}") for k, (i, m) in enumerate(wants)]
    gs = [g(n, state, f"c{k}") for n, (k, state) in enumerate(have)]
    plan = plan_entry("E1", ENTRY.limits, gs, requests, Policy(), NOW)
    waiting = sum(1 for x in gs if x.state is S.IDLE) + plan.submit_count
    assert waiting <= max(ENTRY.limits.per_frontend_max_idle,
                          sum(1 for x in gs if x.state is S.IDLE))
    for a in plan.submit:
        r = a.request
        mine = [x for x in gs if x.credential == r.credential]
        assert a.count > 0
        assert a.count + sum(1 for x in mine if x.state is S.IDLE) <= r.idle
        assert a.count + len(mine) <= r.max_glideins
