"""The cric source: CRIC compute units -> entries, bad entries skipped one by one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from entrygen_support import CRIC_DIR, cric_doc, expected, glidein_entry

from gwms_core.config import load_config
from gwms_core.entrygen.model import SourceError
from gwms_plugins.entry_sources.cric import (
    CricSource,
    candidates_from_cric,
    normalise_gatekeeper,
    parse_rsl,
)
from gwms_plugins.entry_sources.static import StaticSource

SUPPORTED = frozenset({"condor", "batch", "arc"})
FIXTURE = {"path": str(CRIC_DIR / "computeunits.json")}


def _one(entry: dict, **kw):  # type: ignore[no-untyped-def]
    cands, notes = candidates_from_cric(cric_doc(entry), supported_grid_types=SUPPORTED, **kw)
    return cands, notes


def test_fixture_is_reproducible(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(CRIC_DIR / "make_fixture.py"), str(tmp_path)],
                   check=True, capture_output=True)
    for name in ("computeunits.json", "expected.json"):
        assert (tmp_path / name).read_bytes() == (CRIC_DIR / name).read_bytes(), name


def test_fixture_good_entries_kept_bad_ones_skipped_one_line_each() -> None:
    exp = expected()
    assert exp["glidein_entries"] >= 250
    result = CricSource().generate(FIXTURE, Path("."))
    assert sorted(result.entries) == exp["entries"]
    assert sorted([s.unit, s.field] for s in result.invalid) == exp["invalid"]
    assert sorted([s.unit, s.field] for s in result.ignored) == exp["ignored"]
    for note in result.skipped:
        line = str(note)
        assert "\n" not in line
        assert repr(note.unit) in line and note.reason in line
        if note.field:
            assert repr(note.field) in line


def test_good_entry_mapping() -> None:
    cands, notes = _one(glidein_entry(GLIDEIN_REQUIRED_OS="rhel9",
                                      GLIDEIN_Supported_VOs="CMS, DUNE"))
    assert notes == []
    (cand,) = cands
    assert cand.name == "CMSHTPC_T2_XY_Test_ce01"
    assert cand.vos == ("CMS", "DUNE")
    assert dict(cand.data) == {
        "grid_type": "condor", "gatekeeper": "ce01.test.example.org:9619", "site": "XY-TEST",
        "cpus": 8, "memory_mb": 20000, "walltime_s": 172800, "os": "rhel9",
        "attrs": {"CRIC_ComputeUnit": "T2_XY_Test_CU1", "GLIDEIN_CMSSite": "T2_XY_Test",
                  "GLIDEIN_Supported_VOs": "CMS,DUNE", "GLIDEIN_WorkDir": "Condor"},
    }


def test_arc_rsl_and_batch_grid_types() -> None:
    cands, _ = _one(glidein_entry(gridtype="arc", gatekeeper="arc1.x.org:443",
                                  rsl="(queue=gridlong)(runtimeenvironment=ENV/PROXY)"
                                      "(runtimeenvironment=ENV/GLITE)(count=8)"))
    data = cands[0].data
    assert data["queue"] == "gridlong"
    assert data["submit_attrs"] == {"arc_rte": "ENV/PROXY,ENV/GLITE"}
    cands, _ = _one(glidein_entry(gridtype="batch pbs", gatekeeper="pilot@login.x.org",
                                  queue="cms"))
    assert (cands[0].data["grid_type"], cands[0].data["batch_system"],
            cands[0].data["queue"]) == ("batch", "pbs", "cms")


def test_flavour_when_no_gridtype() -> None:
    cands, notes = _one(glidein_entry(gridtype=..., flavour="HTCONDOR-CE"))
    assert cands[0].data["grid_type"] == "condor" and notes == []
    cands, notes = _one(glidein_entry(gridtype=..., flavour="CREAM-CE"))
    assert cands == [] and notes[0].ignored and "'cream' is not supported" in notes[0].reason


def test_production_only_unless_asked() -> None:
    entry = glidein_entry(queue_status="Test")
    cands, notes = _one(entry)
    assert cands == [] and notes[0].ignored and notes[0].field.endswith("queue_status")
    cands, notes = _one(entry, include_non_production=True)
    assert len(cands) == 1 and notes == []


def test_derived_names_are_stable_and_ignore_cr_name() -> None:
    a, _ = _one(glidein_entry(queue="long"), naming="derived")
    b, _ = _one(glidein_entry(queue="long", cr_name="Other", GLIDEIN_CPUS="16"),
                naming="derived")
    assert a[0].name == b[0].name == "T2_XY_Test_ce01_long"


@pytest.mark.parametrize(("override", "field", "reason"), [
    ({"gatekeeper": ...}, "gatekeeper", "is required but missing"),
    ({"GLIDEIN_CPUS": ""}, "GLIDEIN_CPUS", "expected an integer, got ''"),
    ({"GLIDEIN_CPUS": 2.5}, "GLIDEIN_CPUS", "expected an integer, got float 2.5"),
    ({"GLIDEIN_MaxMemMBs": "16GB"}, "GLIDEIN_MaxMemMBs", "expected an integer"),
    ({"GLIDEIN_Max_Walltime": 10}, "GLIDEIN_Max_Walltime", "must be at least 60"),
    ({"cr_name": "has space"}, "cr_name", "is not a valid entry name"),
    ({"attrs": {"bad key": 1}}, "attrs.bad key", "is not a valid attribute name"),
    ({"submit_attrs": {"x": [1]}}, "submit_attrs.x", "expected a scalar"),
    ({"gridtype": "condor", "gatekeeper": "a b c"}, "gatekeeper", "unexpected form"),
])
def test_bad_fields_name_the_field(override: dict, field: str, reason: str) -> None:
    cands, notes = _one(glidein_entry(**override))
    assert cands == []
    (note,) = notes
    assert not note.ignored
    assert note.unit == "T2_XY_Test_CU1"
    assert note.field == f"glideinentries[0].{field}"
    assert reason in note.reason


def test_null_memory_falls_back_to_the_default_layer() -> None:
    cands, notes = _one(glidein_entry(GLIDEIN_MaxMemMBs=None))
    assert notes == [] and "memory_mb" not in cands[0].data


def test_document_that_is_not_an_object() -> None:
    with pytest.raises(SourceError, match="expected a JSON object of compute units, got list"):
        candidates_from_cric([], supported_grid_types=SUPPORTED)


def test_malformed_json_file_is_a_source_error(tmp_path: Path) -> None:
    (tmp_path / "c.json").write_text('{"x": ')
    with pytest.raises(SourceError, match=r"c.json:1:7: malformed JSON"):
        CricSource().generate({"path": "c.json"}, tmp_path)


def test_gatekeeper_forms() -> None:
    assert normalise_gatekeeper("condor", "CE.x.org ce.x.org:9619") == "ce.x.org:9619"
    assert normalise_gatekeeper("condor", "sched@a.org b.org:9618") == "sched@a.org b.org:9618"
    assert normalise_gatekeeper("arc", "arc.x.org:443") == "arc.x.org:443"
    assert parse_rsl('(queue="q1")(count=8)') == {"queue": ["q1"], "count": ["8"]}


def test_generated_file_validates_and_loads_with_static(tmp_path: Path) -> None:
    from gwms_core.cli import main

    out = tmp_path / "entries.yaml"
    rc = main(["entries", "generate", "--source", "cric", "--path", FIXTURE["path"],
               "--out", str(out)])
    assert rc == 3  # the fixture has invalid entries
    assert load_config(out).kind == "entries"
    assert main(["config", "validate", str(out)]) == 0
    static = StaticSource().load({"path": "entries.yaml"}, tmp_path)
    generated = CricSource().generate(FIXTURE, Path(".")).entries
    assert {e.name: e for e in static} == dict(generated)
    loaded = json.loads((CRIC_DIR / "expected.json").read_text())
    assert len(static) == len(loaded["entries"])
