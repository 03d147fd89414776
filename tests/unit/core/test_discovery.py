"""Third-party plugins found through entry points of separately installed distributions.

Each test pip-installs a real distribution (the example VO plugin, or a fixture under
tests/data/plugins) into a temporary directory and runs the real ``gwms`` command with
that directory on PYTHONPATH, as a site would after ``pip install``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _install(src: Path, target: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--no-build-isolation", "--target", str(target), str(src)],
        check=True, capture_output=True, text=True,
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("site")
    _install(ROOT / "plugins" / "examples" / "vo_example", target)
    return target


def _gwms(site_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("GWMS_")}
    environ.update(PYTHONPATH=str(site_dir), **env)
    return subprocess.run([sys.executable, "-c", "import sys; from gwms_core.cli import main; "
                           "sys.exit(main(sys.argv[1:]))", *args],
                          capture_output=True, text=True, env=environ, check=False)


def test_example_vo_plugin_is_listed(site: Path) -> None:
    out = _gwms(site, "plugins", "list", "--json")
    assert out.returncode == 0, out.stderr
    rows = {p["name"]: p for p in json.loads(out.stdout)["plugins"]}
    assert rows["vo-sites"]["distribution"] == "gwms-vo-example"
    assert rows["vo-sites"]["version"] == "1.0.0"
    assert rows["vo-sites"]["family"] == "entry_source"
    assert rows["static"]["distribution"] == "gwms"


def test_example_plugin_schema_composed_and_hook_runs(site: Path, tmp_path: Path) -> None:
    (tmp_path / "sites.txt").write_text("T2_XX_A ce-a.example.org\n# comment\n"
                                        "T2_XX_B ce-b.example.org:9619\n")
    cfg = tmp_path / "factory.yaml"
    cfg.write_text("kind: factory\nname: f\nwms_collector: cm\n"
                   "entry_sources:\n  - type: vo-sites\n    path: sites.txt\n    cpus: 4\n")
    assert _gwms(site, "config", "validate", str(cfg)).returncode == 0
    cfg.write_text("kind: factory\nname: f\nwms_collector: cm\n"
                   "entry_sources:\n  - type: vo-sites\n    cpus: 4\n")
    bad = _gwms(site, "config", "validate", str(cfg))
    assert bad.returncode == 1
    assert "entry_sources[0]: 'path' is required but missing" in bad.stderr
    code = (
        "from pathlib import Path\n"
        "from gwms_core.manager import get_registry\n"
        "from gwms_core.types import Family\n"
        "reg = get_registry()\n"
        f"es = reg.get(Family.ENTRY_SOURCE, 'vo-sites').handler.load("
        f"{{'path': 'sites.txt', 'cpus': 4}}, Path({str(tmp_path)!r}))\n"
        "print([(e.name, e.gatekeeper, e.cpus) for e in es])\n"
        "print(reg.glidein_attributes(es[0], 'main'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=str(site)), check=True)
    lines = out.stdout.splitlines()
    assert lines[0] == ("[('examplevo_T2_XX_A', 'ce-a.example.org', 4), "
                        "('examplevo_T2_XX_B', 'ce-b.example.org:9619', 4)]")
    assert "'VO_Name': '\"examplevo\"'" in lines[1]


def test_no_external_and_disable(site: Path) -> None:
    for env in ({"GWMS_NO_EXTERNAL_PLUGINS": "1"}, {"GWMS_DISABLE_PLUGINS": "vo_example"}):
        out = _gwms(site, "plugins", "list", "--json", **env)
        names = {p["name"] for p in json.loads(out.stdout)["plugins"]}
        assert "vo-sites" not in names and "static" in names


def test_broken_plugin_reported_others_work(tmp_path: Path) -> None:
    _install(ROOT / "tests" / "data" / "plugins" / "broken_plugin", tmp_path)
    out = _gwms(tmp_path, "plugins", "list")
    assert out.returncode == 0
    assert "static" in out.stdout
    assert ("broken: plugin 'broken_example' from 'gwms-broken-example': "
            "RuntimeError: this plugin is broken on purpose") in out.stderr


def test_duplicate_name_names_both_distributions(tmp_path: Path) -> None:
    _install(ROOT / "tests" / "data" / "plugins" / "duplicate_plugin", tmp_path)
    out = _gwms(tmp_path, "plugins", "list")
    assert out.returncode == 1
    assert "'static' is registered twice" in out.stderr
    assert "'gwms'" in out.stderr and "'gwms-duplicate-example'" in out.stderr
