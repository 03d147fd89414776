"""Two credentials for one entry on the deployed grid (marked ``grid``): two request ads
per entry with the hand-computed split, glideins from Slurm for both credentials, each
tagged with its credential, and the user jobs run on them.

The deployed frontend (``gwms-frontend`` on cm) runs for this test with its one
``idtokens`` credential twice, as ``pilot`` (weight 2) and ``prod`` (weight 1): both mint
pool tokens from the pool key, so glideins of either join the pool. The group is the
frontend acceptance test's (site-list match, ramp-up 3, relative_to_queue 1.15, removal
``ALL`` after ``wait: 1``, 5 s cycles). Configuration restored and the service restarted at
the end, after the removal level ``ALL`` took the test's glideins away.

Hand computation, 6 one-core jobs for E2E_Slurm, no glidein yet (docs/frontend.md):
ReqIdle = floor(6/3) = 2, ReqMax = int(6 * 1.15 + 1) = 7; split 2:1 by largest remainder:
idle 2 -> quotas 1.33 / 0.67 -> floors 1 / 0, the spare unit to the larger remainder
(prod) -> 1 / 1; max 7 -> 4.67 / 2.33 -> 4 / 2, spare to pilot -> 5 / 2. CE_e2e: 0 / 0.
Needs root and podman; see conftest.py.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from e2e_helpers import E2EGrid

pytestmark = [pytest.mark.grid, pytest.mark.slow]

CONFIG = "/var/lib/gwms-frontend/frontend.yaml"
SLURM, CE = "SLURM_e2e", "CE_e2e"
CLIENT = "vofrontend.main"
GROUP = {
    "match_expr": "stringListMember(glidein.GLIDEIN_Site, job.DESIRED_Sites)",
    "start_expr": "true",
    "running_glideins_per_entry": {"max": 50},
    "idle_glideins_per_entry": {"max": 100, "reserve": 0},
    "removal": {"type": "ALL", "wait": 1},
}
EXPECTED = {
    (SLURM, "pilot"): (1, 5), (SLURM, "prod"): (1, 2),
    (CE, "pilot"): (0, 0), (CE, "prod"): (0, 0),
}
JOB = """executable = /bin/sleep
arguments = 30
request_cpus = 1
request_memory = 64
request_disk = 1024
+DESIRED_Sites = "E2E_Slurm"
requirements = stringListMember(TARGET.GLIDEIN_Site, MY.DESIRED_Sites)
+RanAtEntry = "$$(GLIDEIN_Entry_Name:none)"
log = /tmp/cred-acceptance.log
queue 6
"""
FACTORY_GLIDEINS = ("condor_q -allusers -const " + shlex.quote(
    f'JobUniverse == 9 && GlideinClient == "{CLIENT}" && JobStatus != 3 && JobStatus != 4')
    + " -af GlideinCredentialIdentifier 2>/dev/null")


def _now(grid: E2EGrid) -> float:
    return float(grid.out("cm", "date +%s.%N"))


def _requests(grid: E2EGrid) -> dict[tuple[str, str], dict[str, Any]]:
    raw = grid.out("cm", "condor_status -any -json -constraint " + shlex.quote(
        f'MyType == "glideclient" && ClientName == "{CLIENT}"'))
    ads = json.loads(raw) if raw else []
    return {(str(a["ReqName"]).split("@", 1)[0], str(a.get("GlideinCredentialIdentifier"))): a
            for a in ads}


def _factory_glideins(grid: E2EGrid) -> list[str]:
    return grid.out("slurm", FACTORY_GLIDEINS).split()


def _restart_frontend(grid: E2EGrid) -> float:
    t = _now(grid)
    grid.run("cm", "systemctl restart gwms-frontend && systemctl is-active -q gwms-frontend")
    return t


@pytest.fixture
def two_credentials(e2e_grid: E2EGrid) -> Iterator[E2EGrid]:
    grid = e2e_grid
    grid.run("cm", "systemctl is-active -q gwms-frontend")
    grid.run("slurm", "systemctl is-active -q gwms-factory")
    assert grid.out("submit", "condor_q alice -af ClusterId 2>/dev/null | wc -l",
                    user="alice") == "0", "alice has jobs queued already"
    grid.wait_for("no glidein of the client left from before",
                  lambda: not _factory_glideins(grid), timeout=300, interval=5)
    original = grid.run("cm", f"cat {CONFIG}").stdout
    config = yaml.safe_load(original)
    (cred,) = config["credentials"]
    config["credentials"] = [{**cred, "id": "pilot", "weight": 2},
                             {**cred, "id": "prod", "weight": 1}]
    config["cycle_seconds"] = 5
    config["groups"] = {"main": GROUP}
    try:
        grid.run("cm", f"cat > {CONFIG} && runuser -u vofrontend -- "
                 f"/opt/gwms/venv/bin/gwms config validate {CONFIG}",
                 stdin=yaml.safe_dump(config, sort_keys=False))
        _restart_frontend(grid)
        yield grid
    finally:
        grid.run("submit", "condor_rm alice >/dev/null 2>&1 || true", user="alice")
        # the test configuration's removal (ALL with no idle job) takes the glideins away
        # while the requests still name the credentials; then the original comes back
        grid.wait_for("the test's glideins gone from the factory queue",
                      lambda: not _factory_glideins(grid), timeout=300, interval=5)
        grid.run("cm", f"cat > {CONFIG}", stdin=original)
        _restart_frontend(grid)
        assert grid.run("cm", f"cat {CONFIG}").stdout == original


def test_two_credentials_on_the_grid(two_credentials: E2EGrid) -> None:
    grid = two_credentials
    grid.run("submit", "cat > /tmp/cred-acceptance.sub && condor_submit -terse "
             "/tmp/cred-acceptance.sub", user="alice", stdin=JOB)
    t = _now(grid)
    first: dict[tuple[str, str], dict[str, Any]] = {}

    def fresh() -> bool:
        ads = _requests(grid)
        if set(EXPECTED) <= set(ads) and all(ads[k]["GwmsCycleStarted"] > t
                                             for k in EXPECTED):
            first.update(ads)
            return True
        return False

    grid.wait_for("request ads of a cycle after the submission", fresh, timeout=120,
                  interval=1)
    seen = {k: (first[k]["ReqIdleGlideins"], first[k]["ReqMaxGlideins"]) for k in EXPECTED}
    print("observed (ReqIdle, ReqMax):", seen)
    assert set(first) == set(EXPECTED)  # no default-id ad beside the credentials' ads
    assert seen == EXPECTED
    assert {first[k]["Name"] for k in EXPECTED} == {
        f"{first[k]['ReqName']}@{CLIENT}@{k[1]}" for k in EXPECTED}
    assert {first[k]["GlideinMonitorMatchedIdle"] for k in EXPECTED if k[0] == SLURM} == {6}

    creds: dict[str, int] = {}

    def both() -> bool:
        creds.clear()
        for c in _factory_glideins(grid):
            creds[c] = creds.get(c, 0) + 1
        return {"pilot", "prod"} <= set(creds)

    grid.wait_for("glideins of both credentials in the factory queue", both, timeout=180,
                  interval=2)
    print("glideins in the factory queue by credential:", creds)
    assert set(creds) == {"pilot", "prod"}
    clients = json.loads(grid.out("slurm", "condor_status -any -json -constraint " + shlex.quote(
        f'MyType == "glidefactoryclient" && ReqClientName == "{CLIENT}" && '
        f'EntryName == "{SLURM}"')) or "[]")
    assert {a["GlideinCredentialIdentifier"] for a in clients} >= {"pilot", "prod"}
    grid.wait_for("the 6 jobs to finish", lambda: grid.out(
        "submit", "condor_q alice -af ClusterId", user="alice") == "", timeout=420,
        interval=5)
    hist = grid.out("submit", "condor_history alice -limit 6 -af NumJobStarts ExitCode "
                    "MATCH_EXP_RanAtEntry", user="alice").splitlines()
    assert len(hist) == 6
    assert {tuple(h.split()) for h in hist} == {("1", "0", SLURM)}, hist
