"""Two credentials for one entry on the deployed grid (marked ``grid``): two request ads
per entry with the hand-computed split, glideins from Slurm for both credentials, each
tagged with its credential, and the user jobs run on them.

The deployed frontend (``gwms-frontend`` on cm) runs for this test with its one
``idtokens`` credential twice, as ``pilot`` (weight 2) and ``prod`` (weight 1): both mint
pool tokens from the pool key, so glideins of either join the pool. The group is
``grid_jobs.SITE_LIST_GROUP`` (site-list match, ramp-up 3, relative_to_queue 1.15,
removal ``ALL`` after ``wait: 1``), with 5 s cycles. Configuration restored and the
service restarted at the end, after the removal level ``ALL`` took the test's glideins
away.

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

import grid_jobs as gj
import pytest
import yaml
from e2e_helpers import E2EGrid

pytestmark = [pytest.mark.grid, pytest.mark.slow]

SLURM, CE = "SLURM_e2e", "CE_e2e"
CLIENT = gj.FRONTEND_CLIENT
EXPECTED = {
    (SLURM, "pilot"): (1, 5), (SLURM, "prod"): (1, 2),
    (CE, "pilot"): (0, 0), (CE, "prod"): (0, 0),
}
JOB = gj.site_jobs("cred", 1, "E2E_Slurm", 6, seconds=30, log="/tmp/cred-acceptance.log")


def _by_credential(ad: dict[str, Any]) -> tuple[str, str]:
    return gj.by_entry(ad), str(ad.get("GlideinCredentialIdentifier"))


def _factory_glideins(grid: E2EGrid) -> list[str]:
    """The credential id of each of this client's live glideins in the factory queue."""
    return gj.factory_glideins(grid, f'GlideinClient == "{CLIENT}"',
                               attr="GlideinCredentialIdentifier")


@pytest.fixture
def two_credentials(e2e_grid: E2EGrid) -> Iterator[E2EGrid]:
    grid = e2e_grid
    grid.run("cm", "systemctl is-active -q gwms-frontend")
    grid.run("slurm", "systemctl is-active -q gwms-factory")
    assert gj.queued_user_jobs(grid) == 0, "alice has jobs queued already"
    grid.wait_for("no glidein of the client left from before",
                  lambda: not _factory_glideins(grid), timeout=300, interval=5)
    original = grid.run("cm", f"cat {gj.FRONTEND_CONFIG}").stdout
    config = yaml.safe_load(original)
    (cred,) = config["credentials"]
    config["credentials"] = [{**cred, "id": "pilot", "weight": 2},
                             {**cred, "id": "prod", "weight": 1}]
    config["cycle_seconds"] = 5
    config["groups"] = {"main": gj.SITE_LIST_GROUP}
    try:
        gj.install_frontend_config(grid, config)
        gj.restart_frontend(grid)
        yield grid
    finally:
        gj.remove_user_jobs(grid)
        # the test configuration's removal (ALL with no idle job) takes the glideins away
        # while the requests still name the credentials; then the original comes back
        grid.wait_for("the test's glideins gone from the factory queue",
                      lambda: not _factory_glideins(grid), timeout=300, interval=5)
        grid.run("cm", f"cat > {gj.FRONTEND_CONFIG}", stdin=original)
        gj.restart_frontend(grid)
        assert grid.run("cm", f"cat {gj.FRONTEND_CONFIG}").stdout == original


def test_two_credentials_on_the_grid(two_credentials: E2EGrid) -> None:
    grid = two_credentials
    gj.submit_jobs(grid, JOB, "cred-acceptance")
    first = gj.requests_after(grid, gj.now(grid), EXPECTED, _by_credential)
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
