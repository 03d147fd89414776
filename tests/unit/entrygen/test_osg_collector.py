"""The osg source against a real collector where a real schedd advertises a CE ad.

A personal HTCondor (Debian 13's condor 23.9, collector + schedd) is started with
the factory tests' helper (tests/factory/personal_condor.py, in the root built by
tests/factory/setup-condor-root.sh). The schedd is configured the way
osg-configure configures an HTCondor-CE: the OSG_* attributes are defined in the
configuration and added to SCHEDD_ATTRS, so the schedd's own ad carries them.
Skips, with the reason, when the daemons cannot run here.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gwms_core.cli import main
from gwms_core.config import load_config
from gwms_plugins.entry_sources.osg import OsgSource, plain

FACTORY_TESTS = Path(__file__).resolve().parents[2] / "factory"

# Doubled braces: the helper fills its template with str.format.
CE_CONFIG = """\
OSG_Resource = "LOCAL-CE"
OSG_ResourceGroup = "GWMS-Test"
OSG_BatchSystems = "SLURM"
OSG_ResourceCatalog = {{ \\
  [ Name = "main"; IsPilotEntry = true; CPUs = 4; Memory = 8000; MaxWallTime = 600; \\
    AllowedVOs = {{ "osg", "CMS" }}; MaxPilots = 10; Queue = "debug"; OS = "rhel9"; \\
    WholeNode = false; GPUs = 0; RequireSingularity = true ], \\
  [ Name = "gpu"; IsPilotEntry = true; CPUs = 2; GPUs = 1; Memory = 4000; \\
    MaxWallTime = 120; AllowedVOs = {{ "osg" }} ], \\
  [ Name = "subcluster"; CPUs = 8; Memory = 16000; MaxWallTime = 1440; \\
    AllowedVOs = {{ "OSG", "ligo" }} ] \\
}}
SCHEDD_ATTRS = $(SCHEDD_ATTRS) OSG_Resource OSG_ResourceGroup OSG_BatchSystems \\
  OSG_ResourceCatalog
"""


@pytest.fixture(scope="module")
def ce() -> Iterator[Any]:
    pytest.importorskip("htcondor2", reason="htcondor2 bindings not installed")
    if not (FACTORY_TESTS / "personal_condor.py").exists():
        pytest.skip("tests/factory/personal_condor.py is not there")
    sys.path.insert(0, str(FACTORY_TESTS))
    try:
        import personal_condor as pcmod
    finally:
        sys.path.remove(str(FACTORY_TESTS))
    saved_config = pcmod.CONFIG
    pcmod.CONFIG = saved_config + CE_CONFIG
    try:
        pc = pcmod.start()
    except pcmod.Unavailable as exc:
        pytest.skip(f"personal HTCondor unavailable: {exc}")
    finally:
        pcmod.CONFIG = saved_config
    saved_env = dict(os.environ)
    os.environ.update({k: v for k, v in pcmod.client_env().items()
                       if k.startswith(("_condor", "CONDOR"))})
    import htcondor2

    htcondor2.reload_config()
    try:
        yield pc
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        htcondor2.reload_config()
        pc.stop()


def _ce_ad(collector: str) -> dict[str, Any]:
    import htcondor2

    ads = htcondor2.Collector(collector).query(
        htcondor2.AdType.Schedd, constraint="OSG_ResourceCatalog =!= undefined")
    assert len(ads) == 1
    ad: dict[str, Any] = plain(ads[0])
    return ad


def test_entries_match_the_advertised_ce_ad(ce: Any, tmp_path: Path) -> None:
    ad = _ce_ad(ce.collector)
    result = OsgSource().generate({"collector": ce.collector, "use_collector_host": True},
                                  tmp_path)
    assert result.skipped == ()
    pilots = [s for s in ad["OSG_ResourceCatalog"] if s.get("IsPilotEntry") is True]
    assert len(pilots) == 2 == len(result.entries)
    for section in pilots:
        (entry,) = [e for e in result.entries.values() if e.name.endswith("_" + section["Name"])]
        assert entry.gatekeeper == f"{ad['Name'].lower()} {ad['CollectorHost']}"
        assert entry.site == ad["OSG_ResourceGroup"] == "GWMS-Test"
        assert entry.attrs["GLIDEIN_ResourceName"] == ad["OSG_Resource"]
        assert entry.cpus == section["CPUs"]
        assert entry.memory_mb == section["Memory"]
        assert entry.walltime_s == section["MaxWallTime"] * 60
        assert entry.gpus == section.get("GPUs", 0)
        assert entry.queue == section.get("Queue", "")
        assert entry.os == section.get("OS", "")
        assert entry.attrs["GLIDEIN_Supported_VOs"] == \
            ",".join(sorted(v.lower() for v in section["AllowedVOs"]))
    main_entry = next(e for e in result.entries.values() if e.name.endswith("_main"))
    assert main_entry.limits.max_glideins == 10


def test_generate_command_against_the_collector(ce: Any, tmp_path: Path) -> None:
    out = tmp_path / "osg-entries.yaml"
    over = tmp_path / "over.yaml"
    over.write_text("frontends_by_vo: {osg: [vofrontend]}\n")
    rc = main(["entries", "generate", "--source", "osg", "--collector", ce.collector,
               "--use-collector-host", "--best-fit", "--override", str(over),
               "--out", str(out)])
    assert rc == 0
    entries = load_config(out).data["entries"]
    assert len(entries) == 3  # two pilot sections and the best fit
    assert all(e["allowed_frontends"] == ["vofrontend"] for e in entries.values())
    assert main(["config", "validate", str(out)]) == 0
