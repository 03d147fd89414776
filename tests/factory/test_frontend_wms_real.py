"""The frontend's WMS client against a real collector (the factory tests' personal
HTCondor): request ads carry their lifetime, and a clean stop withdraws them.

Skips, with the reason, when the personal HTCondor cannot run (see conftest.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any

import personal_condor as pcmod

FRONTEND_USER = "vofrontend"

# Runs as the frontend (authenticated by the collector as FRONTEND_USER@gwms.test).
CLIENT = textwrap.dedent("""
    import json, sys
    from gwms_core.frontend.service import HTCondorWms
    wms = HTCondorWms(sys.argv[1], lifetime_s=int(sys.argv[2]))
    if sys.argv[3] == "advertise":
        wms.advertise(json.loads(sys.argv[4]))
    else:
        wms.withdraw(json.loads(sys.argv[4]))
""")


def _client(pc: pcmod.PersonalCondor, verb: str, payload: Any) -> None:
    subprocess.run([sys.executable, "-c", CLIENT, pc.collector, "120", verb,
                    json.dumps(payload)], env=pcmod.client_env(FRONTEND_USER), check=True,
                   timeout=60)


def _requests(pc: pcmod.PersonalCondor, client: str) -> list[dict[str, Any]]:
    import htcondor2

    ads = htcondor2.Collector(pc.collector).query(
        htcondor2.AdType.Any, constraint=f'MyType == "glideclient" && ClientName == "{client}"')
    return [dict(a) for a in ads]


def test_request_ads_carry_a_lifetime_and_are_withdrawn(condor: pcmod.PersonalCondor) -> None:
    client = "wmsreal.main"
    ads = [{"MyType": "glideclient", "Name": f"{e}@g@f@{client}", "ClientName": client,
            "ReqName": f"{e}@g@f", "ReqIdleGlideins": 2, "ReqMaxGlideins": 4}
           for e in ("E1", "E2")]
    other = {"MyType": "glideclient", "Name": "E1@g@f@other.main", "ClientName": "other.main",
             "ReqName": "E1@g@f", "ReqIdleGlideins": 1, "ReqMaxGlideins": 1}
    _client(condor, "advertise", [*ads, other])
    seen = _requests(condor, client)
    assert sorted(a["Name"] for a in seen) == sorted(a["Name"] for a in ads)
    assert {a["ClassAdLifetime"] for a in seen} == {120}
    assert {a["AuthenticatedIdentity"] for a in seen} == {f"{FRONTEND_USER}@gwms.test"}
    _client(condor, "withdraw", [a["Name"] for a in ads])
    assert _requests(condor, client) == []
    # only the named ads go: another client's request stays
    assert [a["Name"] for a in _requests(condor, "other.main")] == [other["Name"]]
    _client(condor, "withdraw", [other["Name"]])
