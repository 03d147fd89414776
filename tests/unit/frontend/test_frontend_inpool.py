"""GlideinsInPool on the frontend side: which glideins a request ad lists."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gwms_core import defaults
from gwms_core.config import load_config
from gwms_core.factory import attrs as A
from gwms_core.factory.inpool import parse_in_pool
from gwms_core.frontend.inpool import InPoolKey, select_in_pool
from gwms_core.frontend.service import add_in_pool
from gwms_core.frontend.settings import settings_from_config

ROOT = Path(__file__).resolve().parents[3]
NOW = 1_700_000_000
SCHEDD = "schedd@factory.example"
KEY = InPoolKey(factory="F", entry="E1", frontend="fe", group="main")


def slot(cluster: int | None, proc: int | None = 0, age: int = 60, *, factory: str = "F",
         entry: str = "E1", client: str = "fe", group: str | None = "main",
         cred: str | None = None, schedd: str | None = SCHEDD, name: str = "slot1") -> dict[
             str, Any]:
    ad: dict[str, Any] = {"Name": f"{name}@g{cluster}@node", "GLIDEIN_Factory": factory,
                          "GLIDEIN_Entry_Name": entry, "GLIDEIN_Client": client,
                          "DaemonStartTime": NOW - age}
    for k, v in ((A.GLIDEIN_CLUSTER, cluster), (A.GLIDEIN_PROC, proc),
                 ("GLIDECLIENT_Group", group), (A.GLIDEIN_CREDENTIAL, cred),
                 (A.GLIDEIN_SCHEDD, schedd)):
        if v is not None:
            ad[k] = v
    return ad


@pytest.mark.parametrize(("ads", "key", "value"), [
    ([slot(12)], KEY, f"{SCHEDD}#12.0"),
    # two slots of one glidein: listed once
    ([slot(12), slot(12, name="slot1_1")], KEY, f"{SCHEDD}#12.0"),
    # newest first
    ([slot(12, age=300), slot(13, age=10)], KEY, f"{SCHEDD}#13.0,{SCHEDD}#12.0"),
    # outside the window, or no start time, or no job id (older factory): not listed
    ([slot(12, age=defaults.GLIDEINS_IN_POOL_WINDOW_SECONDS + 1)], KEY, ""),
    ([{**slot(12), "DaemonStartTime": None}], KEY, ""),
    ([slot(None)], KEY, ""),
    ([slot(12, proc=None)], KEY, ""),
    # another factory, entry, frontend or group
    ([slot(12, factory="G")], KEY, ""),
    ([slot(12, entry="E2")], KEY, ""),
    ([slot(12, client="other")], KEY, ""),
    ([slot(12, group="other")], KEY, ""),
    # a glidein without a group or credential attribute is listed (the factory matches
    # job ids only among the request's own glideins)
    ([slot(12, group=None)], KEY, f"{SCHEDD}#12.0"),
    ([slot(12, cred="k2")], replace(KEY, credential="k2"), f"{SCHEDD}#12.0"),
    ([slot(12, cred="k2")], KEY, ""),
    # a glidein that did not know its schedd: empty schedd part
    ([slot(12, schedd=None)], KEY, "#12.0"),
    # a name that cannot be written in the list is skipped
    ([slot(12, schedd="a,b")], KEY, ""),
    # numbers as strings (an attribute file typed them so)
    ([{**slot(12), A.GLIDEIN_CLUSTER: "12", A.GLIDEIN_PROC: "3"}], KEY, f"{SCHEDD}#12.3"),
])
def test_select_in_pool(ads: list[dict[str, Any]], key: InPoolKey, value: str) -> None:
    assert select_in_pool(ads, key, NOW).value == value


def test_cap_keeps_the_newest_and_counts_the_rest() -> None:
    ads = [slot(i, age=i) for i in range(1, 8)]
    got = select_in_pool(ads, KEY, NOW, cap=3)
    assert (got.value, got.listed, got.dropped) == \
        (f"{SCHEDD}#1.0,{SCHEDD}#2.0,{SCHEDD}#3.0", 3, 4)
    assert select_in_pool(ads, KEY, NOW, cap=0).value == ""


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 3), st.integers(0, 2000),
                          st.sampled_from(["main", "other"])), max_size=40),
       st.integers(0, 1500), st.integers(0, 20))
def test_select_properties(rows: list[tuple[int, int, int, str]], window: int,
                           cap: int) -> None:
    ads = [slot(c, p, age, group=grp) for c, p, age, grp in rows]
    got = select_in_pool(ads, KEY, NOW, window_s=window, cap=cap)
    refs = parse_in_pool(got.value)
    assert refs is not None
    eligible = {(SCHEDD, f"{c}.{p}") for c, p, age, grp in rows
                if grp == "main" and age <= window}
    assert refs <= eligible
    assert len(refs) == got.listed == min(cap, len(eligible))
    assert got.listed + got.dropped == len(eligible)
    # every listed glidein started no earlier than every eligible one left out
    newest = {}
    for c, p, age, grp in rows:
        if grp == "main" and age <= window:
            ref = (SCHEDD, f"{c}.{p}")
            newest[ref] = min(age, newest.get(ref, age))
    if got.dropped and refs:
        assert max(newest[r] for r in refs) <= min(newest[r] for r in eligible - refs)


def _settings(extra: dict[str, Any] | None = None) -> Any:
    data = load_config(ROOT / "docs/examples/frontend.yaml").data
    return settings_from_config({**data, **(extra or {})})


def test_settings_defaults_and_keys() -> None:
    s = _settings()
    assert (s.in_pool_window_s, s.in_pool_max) == \
        (defaults.GLIDEINS_IN_POOL_WINDOW_SECONDS, defaults.GLIDEINS_IN_POOL_MAX)
    s = _settings({"glideins_in_pool": {"window_s": 60, "max": 2}})
    assert (s.in_pool_window_s, s.in_pool_max) == (60, 2)


ENTRY_ADS = [{"MyType": "glidefactory", "Name": "E1@F@F", "FactoryName": "F",
              "EntryName": "E1"}]


def test_add_in_pool_to_a_request_ad() -> None:
    s = _settings({"glideins_in_pool": {"max": 1}})
    ad: dict[str, Any] = {A.REQ_NAME: "E1@F@F", A.GROUP_NAME: "main",
                          A.CREDENTIAL: A.DEFAULT_CREDENTIAL}
    ads = [slot(12, age=5, client=s.name), slot(13, age=9, client=s.name)]
    add_in_pool(ad, ads, ENTRY_ADS, s, NOW)
    assert ad[A.IN_POOL] == f"{SCHEDD}#12.0"
    assert ad[A.IN_POOL_DROPPED] == 1
    # an entry the frontend does not know, or the list disabled: no attribute
    other = {A.REQ_NAME: "E9@F@F", A.GROUP_NAME: "main"}
    add_in_pool(other, ads, ENTRY_ADS, s, NOW)
    assert A.IN_POOL not in other
    off: dict[str, Any] = {A.REQ_NAME: "E1@F@F", A.GROUP_NAME: "main"}
    add_in_pool(off, ads, ENTRY_ADS, _settings({"glideins_in_pool": {"max": 0}}), NOW)
    assert A.IN_POOL not in off
