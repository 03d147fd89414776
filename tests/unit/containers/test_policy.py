"""Container policy table, case by case (each cell of docs/containers.md)."""

from __future__ import annotations

import itertools

import pytest

from gwms_core.containers import SETTINGS, Mode, combine, on_node

N, OPT, P, R, C = Mode.NONE, Mode.OPTIONAL, Mode.PREFERRED, Mode.REQUIRED, Mode.CONFLICT

# rows: VO setting; columns: entry setting never, optional, preferred, required
TABLE = {
    "never":     (N, N, N, C),
    "optional":  (N, OPT, P, R),
    "preferred": (N, P, P, R),
    "required":  (C, R, R, R),
}
CASES = [(vo, entry, TABLE[vo][i]) for vo in SETTINGS for i, entry in enumerate(SETTINGS)]


@pytest.mark.parametrize(("vo", "entry", "mode"), CASES)
def test_combine(vo: str, entry: str, mode: Mode) -> None:
    assert combine(vo, entry) is mode


def test_combine_is_symmetric() -> None:
    for a, b in itertools.product(SETTINGS, repeat=2):
        assert combine(a, b) is combine(b, a)


def test_unknown_setting_named() -> None:
    with pytest.raises(ValueError, match="entry container policy 'always'"):
        combine("optional", "always")


# (mode, runtime works) -> (use container, advertise, validation ok)
NODE = [
    (N, True, (False, False, True)),
    (N, False, (False, False, True)),
    (OPT, True, (False, True, True)),
    (OPT, False, (False, False, True)),
    (P, True, (True, True, True)),
    (P, False, (False, False, True)),
    (R, True, (True, True, True)),
    (R, False, (False, False, False)),
    (C, True, (False, False, False)),
]


@pytest.mark.parametrize(("mode", "works", "expected"), NODE)
def test_on_node(mode: Mode, works: bool, expected: tuple[bool, bool, bool]) -> None:
    out = on_node(mode, works)
    assert (out.use_container, out.advertise, out.validation_ok) == expected
    assert out.reason
