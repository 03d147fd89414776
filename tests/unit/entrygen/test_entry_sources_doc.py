"""docs/plugins/entry-sources.md: its override example loads, its exit codes are the code's."""

from __future__ import annotations

import re
from pathlib import Path

from entrygen_support import ROOT

from gwms_core.cli_entries import EXIT_CODES
from gwms_core.entrygen.merge import load_overrides

DOC = ROOT / "docs" / "plugins" / "entry-sources.md"


def test_override_example_is_valid(tmp_path: Path) -> None:
    block = re.search(r"```yaml\n(# overrides\.yaml.*?)```", DOC.read_text(), re.S)
    assert block is not None
    (tmp_path / "o.yaml").write_text(block.group(1))
    over = load_overrides(tmp_path / "o.yaml")
    assert over.frontends_by_vo["cms"] == ("cms-frontend",)
    assert "SLURM_local" in over.pin


def test_exit_code_table_matches_the_code() -> None:
    rows = re.findall(r"^\| (\d)    \|", DOC.read_text(), re.M)
    assert sorted(int(r) for r in rows) == sorted(EXIT_CODES)
