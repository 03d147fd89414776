"""The osg source against the local podman grid's CE-like host (``gwms-ce``).

The CE host runs its own collector and schedd (an HTCondor-CE stand-in). If its
schedd ad does not already carry an OSG resource catalogue, the test adds one the
way osg-configure does (attributes in the configuration plus ``SCHEDD_ATTRS``) as a
drop-in, reconfigures, and removes the drop-in afterwards. The host's htcondor2
queries the CE collector (READ is open on the grid).

Bring the grid up first (``tests/grid/up.sh && tests/grid/converge.sh``). Without
it the test skips, unless ``GWMS_GRID_REQUIRED=1``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gwms_core.cli import main
from gwms_core.config import load_config
from gwms_plugins.entry_sources.osg import OsgSource, plain

pytestmark = pytest.mark.grid

ROOT = Path(__file__).resolve().parents[3]
PREFIX = os.environ.get("GWMS_GRID_PREFIX", "gwms-")
CE = f"{PREFIX}ce"
DROP_IN = "/etc/condor/config.d/95-gwms-test-osg-catalogue.config"
CATALOGUE = """\
OSG_Resource = "GWMS-LOCAL-CE"
OSG_ResourceGroup = "GWMS-Grid"
OSG_BatchSystems = "CONDOR"
OSG_ResourceCatalog = { \\
  [ Name = "main"; IsPilotEntry = true; CPUs = 1; Memory = 2000; MaxWallTime = 60; \\
    AllowedVOs = { "gwms" }; MaxPilots = 4; WholeNode = false ], \\
  [ Name = "big"; IsPilotEntry = true; CPUs = 2; Memory = 3000; MaxWallTime = 30; \\
    AllowedVOs = { "gwms" }; MaxPilots = 1; WholeNode = false ] \\
}
SCHEDD_ATTRS = $(SCHEDD_ATTRS) OSG_Resource OSG_ResourceGroup OSG_BatchSystems \\
  OSG_ResourceCatalog
"""


def _podman(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", str(ROOT / "tests" / "grid" / "containers.conf"))
    return subprocess.run(["podman", *args], input=stdin, capture_output=True, text=True,
                          env=env, timeout=120, check=False)


def _unavailable(reason: str) -> None:
    if os.environ.get("GWMS_GRID_REQUIRED") == "1":
        pytest.fail(f"grid required but unavailable: {reason}")
    pytest.skip(f"local grid unavailable: {reason}")


def _ce_ads(collector: str) -> list[dict[str, Any]]:
    import htcondor2

    ads = htcondor2.Collector(collector).query(
        htcondor2.AdType.Schedd, constraint="OSG_ResourceCatalog =!= undefined")
    return [plain(ad) for ad in ads]


@pytest.fixture(scope="module")
def ce_collector() -> Iterator[str]:
    pytest.importorskip("htcondor2")
    if shutil.which("podman") is None:
        _unavailable("no podman")
    state = _podman("inspect", CE, "--format", "{{.State.Running}}")
    if state.returncode != 0 or state.stdout.strip() != "true":
        _unavailable(f"container {CE} is not running")
    ip = _podman("inspect", CE, "--format",
                 "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}").stdout.strip()
    collector = f"{ip}:9618"
    added = False
    try:
        if not _ce_ads(collector):
            res = _podman("exec", "-i", CE, "/bin/bash", "-c",
                          f"cat > {DROP_IN} && condor_reconfig", stdin=CATALOGUE)
            assert res.returncode == 0, res.stderr
            added = True
            deadline = time.monotonic() + 120  # the schedd re-advertises after reconfig
            while time.monotonic() < deadline and not _ce_ads(collector):
                time.sleep(2)
        if not _ce_ads(collector):
            pytest.fail(f"the CE schedd at {collector} never advertised OSG_ResourceCatalog")
        yield collector
    finally:
        if added:
            _podman("exec", CE, "/bin/bash", "-c", f"rm -f {DROP_IN} && condor_reconfig")


def test_entries_match_the_ce_ad(ce_collector: str, tmp_path: Path) -> None:
    (ad,) = _ce_ads(ce_collector)
    result = OsgSource().generate({"collector": ce_collector, "use_collector_host": True},
                                  tmp_path)
    assert result.invalid == ()
    pilots = [s for s in ad["OSG_ResourceCatalog"] if s.get("IsPilotEntry") is True]
    assert len(result.entries) == len(pilots) >= 1
    for section in pilots:
        (entry,) = [e for e in result.entries.values() if e.name.endswith("_" + section["Name"])]
        assert entry.gatekeeper == f"{ad['Name'].lower()} {ad['CollectorHost']}"
        assert entry.site == ad["OSG_ResourceGroup"]
        assert (entry.cpus, entry.memory_mb, entry.walltime_s) == \
            (section["CPUs"], section["Memory"], 60 * section["MaxWallTime"])
        assert entry.limits.max_glideins == section.get("MaxPilots", entry.limits.max_glideins)


def test_generate_command_on_the_grid(ce_collector: str, tmp_path: Path) -> None:
    out = tmp_path / "grid-entries.yaml"
    assert main(["entries", "generate", "--source", "osg", "--collector", ce_collector,
                 "--use-collector-host", "--out", str(out)]) == 0
    assert main(["config", "validate", str(out)]) == 0
    assert load_config(out).data["entries"]
