"""Acceptance: a file generated from the CRIC fixture, read by a factory with the static
source, is advertised entry by entry into a real collector.

Uses the factory service (gwms_core/factory) and the personal HTCondor of the factory
tests; skips, with the reason, when either is not available here.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
from entrygen_support import CRIC_DIR

from gwms_core.cli import main

FACTORY_TESTS = Path(__file__).resolve().parents[2] / "factory"


def test_generated_entries_are_advertised_by_a_factory(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    htcondor2 = pytest.importorskip("htcondor2")
    service = pytest.importorskip("gwms_core.factory.service")
    fschedd = pytest.importorskip("gwms_core.factory.schedd")
    fcoll = pytest.importorskip("gwms_core.factory.collector")
    fattrs = pytest.importorskip("gwms_core.factory.attrs")
    if not (FACTORY_TESTS / "personal_condor.py").exists():
        pytest.skip("tests/factory/personal_condor.py is not there")
    monkeypatch.syspath_prepend(str(FACTORY_TESTS))
    import personal_condor as pcmod

    try:
        pc = pcmod.start()
    except pcmod.Unavailable as exc:
        pytest.skip(f"personal HTCondor unavailable: {exc}")
    try:
        for key, value in pcmod.client_env().items():
            if key.startswith(("_condor", "CONDOR")):
                monkeypatch.setenv(key, value)
        htcondor2.reload_config()
        assert main(["entries", "generate", "--source", "cric", "--path",
                     str(CRIC_DIR / "computeunits.json"),
                     "--out", str(tmp_path / "entries.yaml")]) == 3
        (tmp_path / "factory.yaml").write_text(
            f"kind: factory\nname: accept\nwms_collector: {pc.collector}\n"
            f"work_dir: {tmp_path / 'work'}\n"
            "entry_sources:\n  - type: static\n    path: entries.yaml\n")
        from gwms_core.manager import get_registry

        registry = get_registry()
        cfg = service.FactoryConfig.from_file(tmp_path / "factory.yaml", registry)
        entries, errors = service.load_entries(cfg, registry)
        assert errors == []
        collector = htcondor2.Collector(pc.collector)
        schedd = htcondor2.Schedd(collector.locate(htcondor2.DaemonType.Schedd))
        factory = service.Factory(cfg, fschedd.FactorySchedd(schedd, cfg.name, cfg.glidein),
                                  fcoll.WmsCollector(pc.collector), registry)
        factory.start(settle_s=0)
        report = factory.cycle(entries)
        assert report.errors == []
        advertised: dict[str, object] = {}
        deadline = time.monotonic() + 60  # updates reach the collector asynchronously
        while time.monotonic() < deadline and set(advertised) != set(entries):
            time.sleep(0.5)
            ads = collector.query(htcondor2.AdType.Any,
                                  constraint=f'MyType == "{fattrs.ENTRY_MYTYPE}"',
                                  projection=["Name", "GLIDEIN_CPUS", "GLIDEIN_Site"])
            advertised = {str(ad["Name"]).split("@", 1)[0]: ad for ad in ads}
        assert set(advertised) == set(entries)
        assert len(entries) == 259
        for name, entry in entries.items():
            ad = advertised[name]
            assert ad["GLIDEIN_CPUS"] == entry.cpus  # type: ignore[index]
            assert ad["GLIDEIN_Site"] == entry.site  # type: ignore[index]
    finally:
        htcondor2.reload_config()
        pc.stop()
        os.environ.pop("_condor_SEC_CLAIMTOBE_USER", None)
        sys.modules.pop("personal_condor", None)
