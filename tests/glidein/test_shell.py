"""ShellCheck over every file of glidein/, and the bats suite of the glidein libraries.

Both skip, saying why, when the tool is not installed (Debian: apt-get install shellcheck
bats).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from glidein_helpers import GLIDEIN

from gwms_core import staging

ROOT = GLIDEIN.parent


def shell_files() -> list[Path]:
    return sorted(p for p in GLIDEIN.rglob("*") if p.is_file())


def test_every_glidein_file_is_bash_with_a_header(tmp_path: Path) -> None:
    files = shell_files()
    assert len(files) >= 15
    for path in files:
        text = path.read_text()
        first = text.splitlines()[0]
        assert first in ("#!/bin/bash", "# shellcheck shell=bash"), path
        if first == "#!/bin/bash":
            assert "set -Eeuo pipefail" in text, path
            assert text.rstrip().endswith('main "$@"'), path
            assert path.stat().st_mode & 0o111, f"{path} is not executable"
        else:
            # a sourced library defines functions only: sourcing it prints nothing and
            # sets no variable
            probe = ('compgen -v | sort >"$1.before"; source "$2"; compgen -v | sort | '
                     'comm -13 "$1.before" - | grep -vx -e _ -e PIPESTATUS -e "BASH_.*"')
            proc = subprocess.run(
                ["bash", "-c", probe, "probe", str(tmp_path / "probe"), str(path)],
                capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
            assert proc.stdout == "" and proc.stderr == "", (path, proc.stdout, proc.stderr)
            assert "() {" in text, path


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed")
def test_shellcheck_clean() -> None:
    files = [str(p.relative_to(ROOT)) for p in shell_files()]
    proc = subprocess.run(["shellcheck", "-x", *files], cwd=ROOT, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed")
def test_bundled_pilot_is_valid_bash(tmp_path: Path) -> None:
    pilot = tmp_path / "glidein_startup.sh"
    pilot.write_text(staging.pilot_text(GLIDEIN))
    subprocess.run(["bash", "-n", str(pilot)], check=True)
    proc = subprocess.run(["shellcheck", "-S", "error", str(pilot)], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout


@pytest.mark.skipif(shutil.which("bats") is None, reason="bats not installed")
def test_bats_suite() -> None:
    proc = subprocess.run(["bats", "tests/glidein"], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
