"""The written entry file: valid, deterministic, atomic."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gwms_core.config import load_config
from gwms_core.entries import Entry
from gwms_core.entrygen.output import entry_file_item, render_entries, write_atomic
from gwms_plugins.entry_sources.static import StaticSource


def entries() -> dict[str, Entry]:
    return {
        "on": Entry.from_dict("on", {"grid_type": "condor", "gatekeeper": "ce:9619",
                                     "site": "yes", "attrs": {"GLIDEIN_WorkDir": "."}}),
        "B": Entry.from_dict("B", {"grid_type": "batch", "batch_system": "slurm",
                                   "gatekeeper": "local", "site": "S", "queue": "08",
                                   "limits": {"max_idle": 3}, "gpus": 1}),
    }


def test_round_trip_through_static_source(tmp_path: Path) -> None:
    text = render_entries(entries(), ["header line", ""])
    assert text.startswith("# header line\n#\nkind: entries\n")
    (tmp_path / "e.yaml").write_text(text)
    assert load_config(tmp_path / "e.yaml").kind == "entries"
    loaded = {e.name: e for e in StaticSource().load({"path": "e.yaml"}, tmp_path)}
    assert loaded == entries()  # YAML-special strings ('on', 'yes', '08') survive


def test_compact_but_size_always_shown() -> None:
    item = entry_file_item(entries()["on"])
    assert list(item) == ["grid_type", "gatekeeper", "site", "cpus", "memory_mb",
                          "walltime_s", "auth_method", "allowed_frontends", "attrs"]
    assert entry_file_item(entries()["B"])["limits"] == {"max_idle": 3}


def test_deterministic() -> None:
    a = entries()
    b = dict(reversed(list(a.items())))
    assert render_entries(a) == render_entries(b)


def test_write_atomic_keeps_mode_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "e.yaml"
    target.write_text("old")
    os.chmod(target, 0o640)
    write_atomic(target, "new")
    assert target.read_text() == "new"
    assert target.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.yaml"]


def test_write_atomic_failure_leaves_old_file(tmp_path: Path) -> None:
    target = tmp_path / "e.yaml"
    target.write_text("old")
    with pytest.raises(TypeError):
        write_atomic(target, None)  # type: ignore[arg-type]
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.yaml"]
