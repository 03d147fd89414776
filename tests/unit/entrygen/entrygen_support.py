"""Constants and small builders shared by the entry-generation tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
CRIC_DIR = ROOT / "tests" / "data" / "cric"
TOKEN = "s3cr3t-token-value-0123456789"


def expected() -> dict[str, Any]:
    """tests/data/cric/expected.json."""
    data: dict[str, Any] = json.loads((CRIC_DIR / "expected.json").read_text())
    return data


def glidein_entry(**over: Any) -> dict[str, Any]:
    """One good CRIC glidein entry (HTCondor-CE), with ``over`` applied."""
    entry: dict[str, Any] = {
        "cr_name": "CMSHTPC_T2_XY_Test_ce01",
        "gridtype": "condor",
        "gatekeeper": "ce01.test.example.org ce01.test.example.org:9619",
        "queue_status": "Production",
        "GLIDEIN_CPUS": "8",
        "GLIDEIN_MaxMemMBs": 20000,
        "GLIDEIN_Max_Walltime": 172800,
        "GLIDEIN_REQUIRED_OS": "any",
        "GLIDEIN_Supported_VOs": "CMS",
        "GLIDEIN_CMSSite": "T2_XY_Test",
        "workdir": "Condor",
        "rsl": "",
    }
    entry.update(over)
    return {k: v for k, v in entry.items() if v is not ...}


def cric_doc(*entries: dict[str, Any], unit: str = "T2_XY_Test_CU1",
             site: str = "XY-TEST") -> dict[str, Any]:
    """A one-unit CRIC document."""
    return {unit: {"name": unit, "rebus-site": {"name": site},
                   "glideinentries": list(entries)}}
