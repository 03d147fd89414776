"""Secret files: mode 0600, replaced whole, no temporary file left behind."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from gwms_core.fileio import write_private


def test_mode_and_content(tmp_path: Path) -> None:
    target = tmp_path / "key"
    target.write_bytes(b"old")
    target.chmod(0o644)
    write_private(target, b"new secret")
    assert target.read_bytes() == b"new secret"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert os.listdir(tmp_path) == ["key"]


def test_failure_keeps_old_file_and_cleans_up(tmp_path: Path) -> None:
    target = tmp_path / "key"
    target.write_bytes(b"old")
    with pytest.raises(TypeError):
        write_private(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["key"]
