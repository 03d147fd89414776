"""The osg source: HTCondor-CE ads with OSG_ResourceCatalog -> entries.

The ads below have the shape osg-configure gives an HTCondor-CE's schedd ad
(OSG_Resource, OSG_ResourceGroup, OSG_BatchSystems, OSG_ResourceCatalog with
pilot sections); they are built with classad2 from ClassAd text.
"""

from __future__ import annotations

import socket
from pathlib import Path

import classad2
import pytest

from gwms_core.entrygen.merge import Overrides, assemble
from gwms_core.entrygen.model import SourceError
from gwms_plugins.entry_sources.osg import OsgSource, entries_from_ads, plain, query_ce_ads

CE_AD = """[
  MyType = "Scheduler";
  Name = "hosted-ce22.opensciencegrid.org";
  CollectorHost = "hosted-ce22.opensciencegrid.org:9619";
  OSG_Resource = "UCHICAGO-CE22";
  OSG_ResourceGroup = "UChicago";
  OSG_BatchSystems = "SLURM";
  OSG_ResourceCatalog = {
    [ AllowedVOs = { "osg", "\\"CMS\\"" }; CPUs = 8; GPUs = 0; IsPilotEntry = true;
      MaxPilots = 500; MaxWallTime = 1440; Memory = 16000; Name = "main";
      OS = "rhel9"; Queue = "standard"; RequireSingularity = true; SendTests = true;
      WholeNode = false ],
    [ AllowedVOs = { "icecube" }; CPUs = 4; GPUs = 2; IsPilotEntry = true;
      MaxPilots = 20; MaxWallTime = 2880; Memory = 32000; Name = "gpu";
      RequireSingularity = false; WholeNode = false ],
    [ AllowedVOs = { "osg" }; EstimatedCPUs = 64; IsPilotEntry = true; MaxPilots = 5;
      MaxWallTime = 720; Name = "wholenode"; WholeNode = true ],
    [ AllowedVOs = { "ligo", "osg" }; CPUs = 20; MaxWallTime = 1440; Memory = 65536;
      Name = "subcluster-a"; Requirements = TARGET.RequestCPUs <= CPUs ],
    [ AllowedVOs = { "osg" }; CPUs = 6; MaxWallTime = 1000; Memory = 2000; Name = "rce-b" ]
  }
]"""


def ads() -> list[classad2.ClassAd]:
    return [classad2.ClassAd(CE_AD)]


def test_pilot_sections_become_entries() -> None:
    cands, notes = entries_from_ads(ads())
    assert notes == []
    by_name = {c.name: c for c in cands}
    assert sorted(by_name) == ["OSG_UChicago_hosted-ce22_gpu", "OSG_UChicago_hosted-ce22_main",
                               "OSG_UChicago_hosted-ce22_wholenode"]
    main = by_name["OSG_UChicago_hosted-ce22_main"]
    assert dict(main.data) == {
        "grid_type": "condor", "gatekeeper": "hosted-ce22.opensciencegrid.org:9619",
        "site": "UChicago", "cpus": 8, "memory_mb": 16000, "walltime_s": 1440 * 60,
        "queue": "standard", "os": "rhel9", "limits": {"max_glideins": 500},
        "attrs": {"GLIDEIN_ResourceName": "UCHICAGO-CE22", "OSG_BatchSystems": "SLURM",
                  "GLIDEIN_Supported_VOs": "cms,osg", "OSG_RequireSingularity": True},
    }
    assert main.vos == ("cms", "osg")  # case and stray quotes normalised
    gpu = by_name["OSG_UChicago_hosted-ce22_gpu"].data
    assert (gpu["gpus"], gpu["walltime_s"]) == (2, 2880 * 60)
    whole = by_name["OSG_UChicago_hosted-ce22_wholenode"].data
    assert whole["cpus"] == 64 and whole["submit_attrs"] == {"MY.WantWholeNode": "true"}
    assert "memory_mb" not in whole


def test_entries_validate_and_match_the_ads() -> None:
    cands, notes = entries_from_ads(ads())
    over = Overrides.from_dict({"frontends_by_vo": {"cms": ["cmsfe"], "osg": ["osgfe"]}})
    result = assemble(cands, over, skipped=notes)
    assert result.invalid == ()
    main = result.entries["OSG_UChicago_hosted-ce22_main"]
    assert main.allowed_frontends == ("cmsfe", "osgfe")
    assert main.limits.max_glideins == 500
    assert result.entries["OSG_UChicago_hosted-ce22_gpu"].allowed_frontends == ()
    assert result.entries["OSG_UChicago_hosted-ce22_wholenode"].submit_attrs == \
        {"MY.WantWholeNode": "true"}


def test_best_fit_from_non_pilot_sections() -> None:
    cands, _ = entries_from_ads(ads(), best_fit=True)
    fit = next(c for c in cands if c.name.endswith("_bestfit"))
    assert (fit.data["cpus"], fit.data["memory_mb"], fit.data["walltime_s"]) == \
        (2, 2000, 1000 * 60)  # gcd(20, 6), smallest memory and wall time
    assert fit.vos == ("osg",)


def test_plain_dicts_and_collector_host_gatekeeper() -> None:
    ad = plain(ads()[0])
    ad["CollectorHost"] = "cm.gwms.test:9618"
    ad["Name"] = "ce.gwms.test"
    cands, _ = entries_from_ads([ad], use_collector_host=True)
    assert {c.data["gatekeeper"] for c in cands} == {"ce.gwms.test cm.gwms.test:9618"}
    cands, _ = entries_from_ads([ad], ce_port=9620)
    assert {c.data["gatekeeper"] for c in cands} == {"ce.gwms.test:9620"}


def test_bad_ads_and_sections_are_skipped_with_the_field() -> None:
    bad_section = classad2.ClassAd(
        '[Name = "ce2.x.org"; OSG_ResourceGroup = "RG2"; OSG_ResourceCatalog = {'
        '[IsPilotEntry = true; Name = "a"; CPUs = "eight"],'
        '[IsPilotEntry = true; Name = "b"; CPUs = 4; WholeNode = "yes"],'
        '[IsPilotEntry = true; CPUs = 4],'
        '[IsPilotEntry = true; Name = "ok"; CPUs = 4; Memory = 8000]}]')
    no_group = classad2.ClassAd('[Name = "ce3.x.org"; OSG_ResourceCatalog = {}]')
    no_catalogue = classad2.ClassAd('[Name = "ce4.x.org"; OSG_ResourceGroup = "RG4"]')
    no_name = classad2.ClassAd('[OSG_ResourceGroup = "RG5"]')
    cands, notes = entries_from_ads([bad_section, no_group, no_catalogue, no_name])
    assert [c.name for c in cands] == ["OSG_RG2_ce2_ok"]
    got = [(n.unit, n.field, n.reason) for n in notes]
    assert got == [
        ("ce2.x.org", "OSG_ResourceCatalog[0].CPUs", "expected an integer, got str 'eight'"),
        ("ce2.x.org", "OSG_ResourceCatalog[1].WholeNode", "expected a boolean, got str 'yes'"),
        ("ce2.x.org", "OSG_ResourceCatalog[2].Name", "is required but missing"),
        ("ce3.x.org", "OSG_ResourceGroup", "missing or not a string"),
        ("ce4.x.org", "OSG_ResourceCatalog", "expected a list, got missing"),
        ("#3", "Name", "missing or not a string"),
    ]
    assert str(notes[0]) == ("CE 'ce2.x.org' entry 'a': field 'OSG_ResourceCatalog[0].CPUs': "
                             "expected an integer, got str 'eight'")


def test_unreachable_collector_is_a_source_error(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(SourceError, match=f"collector 127.0.0.1:{port}: query failed"):
        query_ce_ads(f"127.0.0.1:{port}")
    with pytest.raises(SourceError):
        OsgSource().generate({"collector": f"127.0.0.1:{port}"}, tmp_path)
