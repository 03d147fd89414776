"""Entry sources: the static source reads a validated entry file."""

from __future__ import annotations

from pathlib import Path

import pytest

from gwms_core.config import ConfigError
from gwms_core.manager import build_registry
from gwms_core.types import Family

EXAMPLES = Path(__file__).resolve().parents[3] / "docs" / "examples"


def test_static_loads_examples() -> None:
    src = build_registry(external=False).get(Family.ENTRY_SOURCE, "static").handler
    entries = src.load({"path": "entries.yaml"}, EXAMPLES)
    assert [e.name for e in entries] == ["CE_local", "SLURM_local"]
    ce = entries[0]
    assert (ce.grid_type, ce.cpus, ce.memory_mb, ce.allowed_frontends) == \
        ("condor", 8, 16000, ("vofrontend",))
    slurm = entries[1]
    assert slurm.limits.max_idle == 10
    assert slurm.limits.per_frontend_max_held == 50  # default


def test_static_rejects_bad_file_whole(tmp_path: Path) -> None:
    (tmp_path / "e.yaml").write_text(
        "kind: entries\nentries:\n  good: {grid_type: condor, gatekeeper: g, site: s}\n"
        "  bad: {grid_type: condor, site: s}\n")
    src = build_registry(external=False).get(Family.ENTRY_SOURCE, "static").handler
    with pytest.raises(ConfigError, match=r"e.yaml:4: entries.bad: 'gatekeeper' is required"):
        src.load({"path": "e.yaml"}, tmp_path)
