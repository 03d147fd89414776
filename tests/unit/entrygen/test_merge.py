"""Layered merge: defaults < override defaults < catalogue < VO map < entry overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from gwms_core.config import ConfigError
from gwms_core.config.schema import schema_for
from gwms_core.entrygen.merge import (
    BUILTIN_DEFAULTS,
    Overrides,
    assemble,
    deep_merge,
    load_overrides,
    merge_layers,
)
from gwms_core.entrygen.model import Candidate
from gwms_core.manager import build_registry


def cand(name: str = "E1", unit: str = "CU1", vos: tuple[str, ...] = ("CMS",),
         **data: object) -> Candidate:
    base = {"grid_type": "condor", "gatekeeper": "ce.x.org:9619", "site": "S"}
    base.update(data)
    return Candidate(name=name, unit=unit, data=base, vos=vos)


def entry_schema() -> dict:
    return schema_for("entries", build_registry(external=False))["$defs"]["entry"]


def test_layer_order() -> None:
    over = Overrides.from_dict({
        "defaults": {"cpus": 4, "walltime_s": 3600, "limits": {"max_idle": 5},
                     "attrs": {"A": "default", "B": "default"}},
        "frontends_by_vo": {"cms": ["fe-cms"], "DUNE": ["fe-dune"]},
        "entries": {"E*": {"limits": {"max_held": 3}, "attrs": {"B": "pattern"}},
                    "E1": {"attrs": {"B": "exact"}}},
    })
    data = merge_layers(cand(cpus=8, attrs={"A": "catalogue"}), over)
    assert data["cpus"] == 8  # catalogue beats both defaults
    assert data["walltime_s"] == 3600  # override defaults beat built-in defaults
    assert data["gpus"] == BUILTIN_DEFAULTS["gpus"]
    assert data["memory_mb"] == 8 * 2000  # derived from the merged cpus
    assert data["limits"] == {"max_idle": 5, "max_held": 3}  # mappings merge by key
    assert data["attrs"] == {"A": "catalogue", "B": "exact"}  # file order: last wins
    assert data["allowed_frontends"] == ["fe-cms"]  # VO names are case-insensitive


def test_vo_map_unions_frontends_and_entries_override_it() -> None:
    over = Overrides.from_dict({"frontends_by_vo": {"cms": ["b", "a"], "dune": ["a", "c"]}})
    assert merge_layers(cand(vos=("CMS", "DUNE")), over)["allowed_frontends"] == \
        ["a", "b", "c"]
    over = Overrides.from_dict({"frontends_by_vo": {"cms": ["a"]},
                                "entries": {"E1": {"allowed_frontends": []}}})
    assert merge_layers(cand(), over)["allowed_frontends"] == []


def test_deep_merge_does_not_mutate() -> None:
    base = {"attrs": {"a": 1}, "x": [1]}
    out = deep_merge(base, {"attrs": {"b": 2}, "x": [2]})
    assert base == {"attrs": {"a": 1}, "x": [1]}
    assert out == {"attrs": {"a": 1, "b": 2}, "x": [2]}


def test_duplicates_are_all_skipped() -> None:
    result = assemble([cand("D", "CU1"), cand("D", "CU2"), cand("E", "CU3")])
    assert list(result.entries) == ["E"]
    notes = sorted((n.unit, n.field, n.reason) for n in result.invalid)
    assert notes == [("CU1", "name", "duplicate entry name 'D' (also in 'CU2')"),
                     ("CU2", "name", "duplicate entry name 'D' (also in 'CU1')")]


def test_allow_drop_pin() -> None:
    pinned = {"grid_type": "batch", "gatekeeper": "local", "site": "P", "cpus": 2}
    over = Overrides.from_dict({"allow": ["T2_*", "PIN*"], "drop": ["T2_*_test"],
                                "pin": {"T2_A": pinned}})
    result = assemble([cand("T2_A"), cand("T2_B"), cand("T2_B_test"), cand("T3_C")], over)
    assert sorted(result.entries) == ["T2_A", "T2_B"]
    assert result.entries["T2_A"].grid_type == "batch"  # the pin, not the catalogue
    assert result.entries["T2_A"].memory_mb == 4000
    reasons = {n.entry: n.reason for n in result.ignored}
    assert reasons == {"T2_A": "replaced by the override file's pin",
                       "T2_B_test": "dropped by override pattern 'T2_*_test'",
                       "T3_C": "not in the override file's allow list"}
    assert result.invalid == ()


def test_merged_entry_is_validated_against_installed_backends() -> None:
    result = assemble([cand(grid_type="globus"), cand("E2", cpus=0)],
                      entry_schema=entry_schema())
    assert result.entries == {}
    fields = sorted((n.entry, n.field) for n in result.invalid)
    assert fields == [("E1", "grid_type"), ("E2", "cpus")]
    assert "'globus' is not one of" in next(n.reason for n in result.invalid
                                            if n.entry == "E1")


def test_bad_pin_is_reported_not_used() -> None:
    over = Overrides.from_dict({"pin": {"P": {"grid_type": "globus", "gatekeeper": "g",
                                              "site": "s"}}})
    result = assemble([], over, entry_schema=entry_schema())
    assert result.entries == {}
    (note,) = result.invalid
    assert str(note).startswith("override file 'pin' entry 'P': field 'grid_type'")


def test_override_file_errors_name_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "over.yaml"
    path.write_text("kind: entry-overrides\nentries:\n  X:\n    cpus: many\nfrobnicate: 1\n")
    with pytest.raises(ConfigError) as info:
        load_overrides(path)
    text = [str(p) for p in info.value.problems]
    assert any(t.startswith(f"{path}:4: entries.X.cpus: expected integer, got str 'many'")
               for t in text), text
    assert f"{path}:5: frobnicate: unknown key 'frobnicate'" in text[1], text


def test_override_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "over.yaml"
    path.write_text("allow: [a*]\nfrontends_by_vo: {CMS: [fe]}\n"
                    "entries:\n  a1: {limits: {max_idle: 1}}\n")
    over = load_overrides(path)
    assert over.allow == ("a*",) and over.frontends_by_vo == {"cms": ("fe",)}
    assert over.entries == (("a1", {"limits": {"max_idle": 1}}),)
    (tmp_path / "empty.yaml").write_text("")
    assert load_overrides(tmp_path / "empty.yaml") == Overrides()
