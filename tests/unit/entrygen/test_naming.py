"""Stable entry names."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gwms_core.entrygen.naming import derived_name, host_label, is_valid_name, sanitize


def test_host_label_of_every_gatekeeper_form() -> None:
    for gk in ("ce01.x.org", "ce01.x.org:9619", "ce01.x.org ce01.x.org:9619",
               "pilot@ce01.x.org", "https://ce01.x.org:443/arex", "sched@ce01.x.org cm:9618"):
        assert host_label(gk) == "ce01", gk


def test_derived_name() -> None:
    assert derived_name("T2_US_UCSD", "osg-gw-2", "") == "T2_US_UCSD_osg-gw-2"
    assert derived_name("1site", "a b/c") == "E_1site_a_b_c"
    assert derived_name("", "") == "E"


def test_long_names_stay_distinct_and_stable() -> None:
    a = derived_name("x" * 200, "one")
    b = derived_name("x" * 200, "two")
    assert len(a) == len(b) == 128 and a != b
    assert a == derived_name("x" * 200, "one")


@given(st.lists(st.text(max_size=80), max_size=4))
def test_derived_name_is_always_valid(parts: list[str]) -> None:
    name = derived_name(*parts)
    assert is_valid_name(name)
    assert derived_name(*parts) == name


@given(st.text(max_size=50))
def test_sanitize_keeps_only_name_characters(text: str) -> None:
    assert all(c.isascii() and (c.isalnum() or c in "_.-") for c in sanitize(text))
