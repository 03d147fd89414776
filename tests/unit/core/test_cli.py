"""The gwms command, run as a user runs it (a subprocess of the installed entry point)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gwms_core import __version__
from gwms_core.cli import main

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "docs" / "examples"


def gwms(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("gwms", path=str(Path(sys.executable).parent))
    cmd = [exe] if exe else [sys.executable, "-m", "gwms_core.cli"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, env=env, check=False)


def test_version() -> None:
    out = gwms("--version")
    assert out.returncode == 0
    assert out.stdout.strip() == f"gwms {__version__}"


def test_help_lists_nouns() -> None:
    out = gwms("--help")
    assert out.returncode == 0
    for noun in ("config", "plugins", "schema"):
        assert noun in out.stdout


def test_config_validate_ok() -> None:
    out = gwms("config", "validate", str(EXAMPLES / "factory.yaml"),
               str(EXAMPLES / "frontend.yaml"))
    assert out.returncode == 0, out.stderr
    assert "valid factory configuration" in out.stdout


def test_config_validate_bad_names_path(tmp_path: Path) -> None:
    bad = tmp_path / "f.yaml"
    bad.write_text("kind: factory\nname: f\nwms_collector: cm\nentry_sources:\n"
                   "  - type: static\n    pth: x\n")
    out = gwms("config", "validate", str(bad))
    assert out.returncode == 1
    assert f"{bad}:6: entry_sources[0].pth: unknown key 'pth'" in out.stderr
    assert "nothing applied" in out.stderr


def test_plugins_list_table_and_json() -> None:
    out = gwms("plugins", "list")
    assert out.returncode == 0
    header = out.stdout.splitlines()[0].split()
    assert header == ["NAME", "FAMILY", "DISTRIBUTION", "VERSION", "DESCRIPTION"]
    data = json.loads(gwms("plugins", "list", "--json").stdout)
    families = {p["family"] for p in data["plugins"] if p["distribution"] == "gwms"}
    assert families == {"auth", "container", "entry_source", "backend"}


def test_schema_print_and_check(tmp_path: Path) -> None:
    out = gwms("schema", "frontend", "--builtin-only")
    assert json.loads(out.stdout)["$id"] == "urn:gwms:schema:frontend"
    assert main(["schema", "--check", str(ROOT / "docs" / "schema")]) == 0
    assert main(["schema", "--check", str(tmp_path)]) == 1
    assert main(["schema", "--write", str(tmp_path)]) == 0
    assert main(["schema", "--check", str(tmp_path)]) == 0


def test_missing_verb_is_usage_error() -> None:
    with pytest.raises(SystemExit) as info:
        main(["config"])
    assert info.value.code == 2
