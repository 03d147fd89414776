"""The drop-fraction check."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gwms_core.entrygen.safety import check_drop


def test_refuses_above_the_limit_only() -> None:
    current = [f"e{i}" for i in range(10)]
    assert check_drop(current, current[:5], 0.5).ok  # exactly half removed: allowed
    check = check_drop(current, current[:4], 0.5)
    assert not check.ok and check.removed == 6 and check.fraction == 0.6
    assert str(check) == ("6 of 10 current entries would be removed (60%), which exceeds "
                          "the limit of 50%")


def test_additions_do_not_hide_removals() -> None:
    assert not check_drop(["a", "b"], ["x", "y", "z", "w"], 0.5).ok


def test_empty_current_never_refuses() -> None:
    assert check_drop([], [], 0.0).ok
    assert check_drop([], ["a"], 0.0).ok


def test_limit_must_be_a_fraction() -> None:
    with pytest.raises(ValueError):
        check_drop(["a"], [], 1.5)


@given(st.sets(st.integers(0, 50)), st.sets(st.integers(0, 50)),
       st.floats(0, 1))
def test_fraction_matches_set_difference(cur: set[int], new: set[int], limit: float) -> None:
    check = check_drop({str(i) for i in cur}, {str(i) for i in new}, limit)
    assert check.removed == len(cur - new)
    assert 0.0 <= check.fraction <= 1.0
    assert check.ok == (len(cur - new) <= limit * len(cur) if cur else True) or \
        abs(check.fraction - limit) < 1e-9
