#!/usr/bin/env python3
"""Write a CRIC-shaped compute-unit document with a few hundred glidein entries.

Reproducible: a fixed seed, sorted keys, no clock. Usage:

    python3 tests/data/cric/make_fixture.py [OUT_DIR]   (default: this directory)

Writes OUT_DIR/computeunits.json (the CRIC-shaped document) and
OUT_DIR/expected.json: the entry names that must be generated, and the
(compute unit, field) of every entry that must be skipped as invalid or
ignored. The shapes follow CMS CRIC's compute-unit API as used by factory
operators (rebus-site.name, glideinentries[] with gridtype, gatekeeper,
queue_status, GLIDEIN_CPUS as a string, GLIDEIN_MaxMemMBs, ...); host names are
fictional (example.org).
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

SEED = 20261124
COUNTRIES = ("US", "DE", "IT", "FR", "ES", "UK", "CH", "BR", "IN", "KR")
OSES = ("any", "any", "rhel9", "rhel8", "")
WORKDIRS = ("Condor", "OSG", "TMPDIR", ".")
VOS = ("CMS", "CMS", "CMS,DUNE", "CMS,OSG")


def _good_entry(rng: random.Random, cms_site: str, inst: str, k: int) -> dict[str, Any]:
    kind = rng.choices(("condor", "arc", "batch"), weights=(8, 2, 1))[0]
    cpus = rng.choice((1, 4, 8, 8, 8, 16))
    host = f"{'ce' if kind != 'arc' else 'arc'}{k:02d}.{inst}.example.org"
    entry: dict[str, Any] = {
        "GLIDEIN_CMSSite": cms_site,
        "GLIDEIN_CPUS": str(cpus) if rng.random() < 0.8 else cpus,
        "GLIDEIN_MaxMemMBs": cpus * rng.choice((2000, 2500, 2700)),
        "GLIDEIN_Max_Walltime": rng.choice((86400, 172800, 129600)),
        "GLIDEIN_REQUIRED_OS": rng.choice(OSES),
        "GLIDEIN_Supported_VOs": rng.choice(VOS),
        "queue_status": "Production",
        "workdir": rng.choice(WORKDIRS),
        "rsl": "",
    }
    if kind == "condor":
        entry["gridtype"] = "condor"
        entry["gatekeeper"] = f"{host} {host}:9619"
    elif kind == "arc":
        entry["gridtype"] = "arc"
        entry["gatekeeper"] = f"{host}:443"
        entry["rsl"] = f"(queue=grid{k})(runtimeenvironment=ENV/PROXY)"
    else:
        entry["gridtype"] = "batch slurm"
        entry["gatekeeper"] = f"pilot@login{k:02d}.{inst}.example.org"
        entry["queue"] = "cms"
    prefix = "CMS" if cpus == 1 else "CMSHTPC"
    entry["cr_name"] = f"{prefix}_{cms_site}_{host.split('.')[0]}"
    return entry


# (description, field under glideinentries[i], kind, mutation)
_ENTRY_CASES: list[tuple[str, str, str, Any]] = [
    ("missing gatekeeper", "gatekeeper", "invalid", lambda e: e.pop("gatekeeper")),
    ("gatekeeper not a string", "gatekeeper", "invalid", lambda e: e.update(gatekeeper=9619)),
    ("empty cpus", "GLIDEIN_CPUS", "invalid", lambda e: e.update(GLIDEIN_CPUS="")),
    ("cpus in words", "GLIDEIN_CPUS", "invalid", lambda e: e.update(GLIDEIN_CPUS="eight")),
    ("cpus zero", "GLIDEIN_CPUS", "invalid", lambda e: e.update(GLIDEIN_CPUS=0)),
    ("memory text", "GLIDEIN_MaxMemMBs", "invalid",
     lambda e: e.update(GLIDEIN_MaxMemMBs="lots")),
    ("memory negative", "GLIDEIN_MaxMemMBs", "invalid",
     lambda e: e.update(GLIDEIN_MaxMemMBs=-5)),
    ("walltime too short", "GLIDEIN_Max_Walltime", "invalid",
     lambda e: e.update(GLIDEIN_Max_Walltime=30)),
    ("walltime boolean", "GLIDEIN_Max_Walltime", "invalid",
     lambda e: e.update(GLIDEIN_Max_Walltime=True)),
    ("VOs a number", "GLIDEIN_Supported_VOs", "invalid",
     lambda e: e.update(GLIDEIN_Supported_VOs=5)),
    ("OS a list", "GLIDEIN_REQUIRED_OS", "invalid",
     lambda e: e.update(GLIDEIN_REQUIRED_OS=["rhel9"])),
    ("bad entry name", "cr_name", "invalid", lambda e: e.update(cr_name="9 bad name")),
    ("empty grid type", "gridtype", "invalid", lambda e: e.update(gridtype="")),
    ("unknown batch system", "batch_system", "invalid",
     lambda e: e.update(gridtype="batch torque", gatekeeper="pilot@login.x.example.org")),
    ("test queue", "queue_status", "ignored", lambda e: e.update(queue_status="Test")),
    ("disabled queue", "queue_status", "ignored", lambda e: e.update(queue_status="Disabled")),
    ("no queue status", "queue_status", "ignored", lambda e: e.pop("queue_status")),
    ("CREAM CE", "gridtype", "ignored", lambda e: e.update(gridtype="cream")),
    ("gridftp ARC CE", "gridtype", "ignored",
     lambda e: e.update(gridtype="nordugrid", gatekeeper="arc99.x.example.org:2811")),
]


def build() -> tuple[dict[str, Any], dict[str, Any]]:
    """The document and the expectations."""
    rng = random.Random(SEED)
    doc: dict[str, Any] = {}
    slots: list[tuple[str, int]] = []
    for i in range(110):
        tier = rng.choice((1, 2, 2, 2, 3))
        country = rng.choice(COUNTRIES)
        inst = f"inst{i:03d}"
        cms_site = f"T{tier}_{country}_Site{i:03d}"
        unit = f"{cms_site}_CU1"
        entries = [_good_entry(rng, cms_site, inst, k) for k in range(rng.randint(1, 4))]
        doc[unit] = {"name": unit, "rebus-site": {"name": f"{country}-SITE{i:03d}-LCG2"},
                     "glideinentries": entries}
        slots.extend((unit, k) for k in range(len(entries)))
    invalid: list[list[str]] = []
    ignored: list[list[str]] = []
    picks = rng.sample(slots, len(_ENTRY_CASES) + 4)
    for (unit, k), (_desc, field, kind, mutate) in zip(picks, _ENTRY_CASES, strict=False):
        mutate(doc[unit]["glideinentries"][k])
        (invalid if kind == "invalid" else ignored).append(
            [unit, f"glideinentries[{k}].{field}"])
    # Two entries in different units sharing one name: both are skipped.
    (u1, k1), (u2, k2) = picks[-4], picks[-3]
    doc[u2]["glideinentries"][k2]["cr_name"] = doc[u1]["glideinentries"][k1]["cr_name"]
    invalid += [[u1, f"glideinentries[{k1}].name"], [u2, f"glideinentries[{k2}].name"]]
    # An entry that is not an object.
    u3, k3 = picks[-2]
    doc[u3]["glideinentries"][k3] = "not an entry"
    invalid.append([u3, f"glideinentries[{k3}]"])
    # Broken compute units.
    doc["T2_XX_NoSite_CU1"] = {"name": "T2_XX_NoSite_CU1",
                               "glideinentries": [_good_entry(rng, "T2_XX_NoSite", "nosite", 1)]}
    invalid.append(["T2_XX_NoSite_CU1", "rebus-site.name"])
    doc["T2_XX_NotAList_CU1"] = {"name": "T2_XX_NotAList_CU1",
                                 "rebus-site": {"name": "XX-NOTALIST"},
                                 "glideinentries": {"oops": 1}}
    invalid.append(["T2_XX_NotAList_CU1", "glideinentries"])
    doc["T2_XX_List_CU1"] = ["not", "a", "unit"]
    invalid.append(["T2_XX_List_CU1", ""])
    bad = {(u, f) for u, f in invalid + ignored}
    names = sorted(
        e["cr_name"] for unit, cu in doc.items() if isinstance(cu, dict)
        and isinstance(cu.get("glideinentries"), list) and "rebus-site" in cu
        for k, e in enumerate(cu["glideinentries"])
        if isinstance(e, dict) and not any(u == unit and f.startswith(f"glideinentries[{k}].")
                                           for u, f in bad)
    )
    total = sum(len(cu["glideinentries"]) for cu in doc.values()
                if isinstance(cu, dict) and isinstance(cu.get("glideinentries"), list))
    expected = {"glidein_entries": total, "entries": names,
                "invalid": sorted(invalid), "ignored": sorted(ignored)}
    return doc, expected


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent
    out.mkdir(parents=True, exist_ok=True)
    doc, expected = build()
    (out / "computeunits.json").write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    (out / "expected.json").write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")
    print(f"{out}: {expected['glidein_entries']} glidein entries, "
          f"{len(expected['entries'])} good, {len(expected['invalid'])} invalid, "
          f"{len(expected['ignored'])} ignored")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
