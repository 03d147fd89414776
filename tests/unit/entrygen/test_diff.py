"""Entry-set diff: added, removed, changed attributes per entry."""

from __future__ import annotations

from gwms_core.entries import Entry
from gwms_core.entrygen.diff import diff_entries, entry_to_dict, flatten, format_diff


def entry(name: str, **data: object) -> Entry:
    base: dict[str, object] = {"grid_type": "condor", "gatekeeper": "ce.x.org:9619",
                               "site": "S"}
    base.update(data)
    return Entry.from_dict(name, base)


def test_added_removed_changed() -> None:
    old = {"a": entry("a"), "b": entry("b", cpus=8, attrs={"X": "1"}), "c": entry("c")}
    new = {"b": entry("b", cpus=16, attrs={"Y": "2"}, limits={"max_idle": 7}),
           "c": entry("c"), "d": entry("d", site="T")}
    diff = diff_entries(old, new)
    assert diff.added == ("d",) and diff.removed == ("a",) and diff.unchanged == 1
    (change,) = diff.changed
    assert change.name == "b"
    assert [(c.path, c.old, c.new) for c in change.changes] == [
        ("attrs.X", "1", None), ("attrs.Y", None, "2"), ("cpus", 8, 16),
        ("limits.max_idle", 2000, 7), ("memory_mb", 16000, 32000)]
    lines = format_diff(diff, new)
    assert lines[0] == "+ d (condor ce.x.org:9619, site T)"
    assert lines[1] == "- a"
    assert lines[2] == "~ b"
    assert "    cpus: 8 -> 16" in lines and "    attrs.X: '1' -> (unset)" in lines
    assert lines[-1] == "1 added, 1 removed, 1 changed, 1 unchanged"


def test_explicit_default_equals_implicit() -> None:
    implicit = entry("a")
    explicit = entry("a", cpus=1, memory_mb=2000, walltime_s=172800, gpus=0,
                     auth_method="idtokens", limits={"max_idle": 2000})
    assert diff_entries({"a": implicit}, {"a": explicit}).empty


def test_flatten() -> None:
    assert flatten({"a": {"b": {"c": 1}}, "d": [1]}) == {"a.b.c": 1, "d": [1]}
    assert set(entry_to_dict(entry("a"))) >= {"grid_type", "limits", "attrs"}
