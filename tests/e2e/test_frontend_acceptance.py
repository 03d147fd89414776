"""Frontend acceptance on the deployed grid (marked ``grid``): request ads equal a hand
computation, unmatched jobs ask for nothing, removal follows, a busy glidein is spared.

The deployed frontend (``gwms-frontend`` on cm) runs for these tests with a test group in
its configuration (restored, and the service restarted, at the end):

* ``match_expr: stringListMember(glidein.GLIDEIN_Site, job.DESIRED_Sites)``: the classic
  site-list match. The grid's entries have 1-core glideins; the expression does not check
  cores, so that 2-core jobs match and show the counting in cores. Entries: SLURM_e2e
  (site E2E_Slurm) and CE_e2e (site E2E_CE), both ``GLIDEIN_CPUS`` 1.
* ``idle_glideins_per_entry: {max: 100, reserve: 0}``, ``running_glideins_per_entry:
  {max: 50}``, defaults otherwise (ramp-up 3, relative_to_queue 1.15).
* ``removal: {type: ALL, wait: 1}``: ALL once there has been no idle job for 2 cycles.
* ``cycle_seconds: 5``.

``test_requests_follow_the_jobs`` stops the factory so that the requests stay requests
(no glideins change the counts); its entry ads, which expire after three factory cycles,
are re-advertised unchanged but for a longer ``ClassAdLifetime`` under the factory's own
identity, and the factory is started again at the end. ``test_a_busy_glidein_is_never_
offered_for_removal`` runs with the factory: one job on a real glidein from Slurm.

Every check is on what the WMS collector holds (the ``glideclient`` ads) or what the
frontend's metrics endpoint serves, tied to cycles by ``GwmsCycleStarted`` (when the
cycle that made the ad started) and ``GlideinMonitorCyclesWithoutIdleJobs``, never by
timing. Needs root and podman; see conftest.py.
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

METRICS = "http://127.0.0.1:9120/metrics"
SLURM, CE = "SLURM_e2e", "CE_e2e"

# Four kinds of idle jobs (all submitted by alice to the user schedd on submit):
#   A: 7 jobs, 1 core, site E2E_Slurm          -> SLURM only (k = 1)
#   B: 5 jobs, 2 cores, sites E2E_Slurm,E2E_CE -> both (k = 2)
#   C: 3 jobs, 1 core, site E2E_CE             -> CE only
#   D: 4 jobs, 1 core, site Nowhere            -> no entry
# Hand computation (docs/frontend-decision.md), no glidein in the pool:
#   SLURM: cores 7*1 + 5*2/2 = 12 -> 12 glideins of 1 core; ReqIdle = floor(12/3) = 4;
#          ReqMax = int(12 * 1.15 + 1) = int(14.8) = 14; matched 12; Idle = ceil(7 + 2.5) = 10
#   CE:    cores 5*2/2 + 3*1 = 8 -> 8 glideins; ReqIdle = floor(8/3) = 2;
#          ReqMax = int(8 * 1.15 + 1) = int(10.2) = 10; matched 8; Idle = ceil(2.5 + 3) = 6
#   D:     4 idle jobs matching nothing: no change anywhere, 4 unmatched.
EXPECTED = {
    SLURM: {"ReqIdleGlideins": 4, "ReqMaxGlideins": 14, "GlideinMonitorMatchedIdle": 12,
            "GlideinMonitorIdle": 10, "GlideinMonitorIdleCores": 12,
            "ReqRemoveExcess": "NO"},
    CE: {"ReqIdleGlideins": 2, "ReqMaxGlideins": 10, "GlideinMonitorMatchedIdle": 8,
         "GlideinMonitorIdle": 6, "GlideinMonitorIdleCores": 8, "ReqRemoveExcess": "NO"},
}


def _job(name: str, cpus: int, sites: str, n: int, seconds: int = 600) -> str:
    return gj.site_jobs(name, cpus, sites, n, seconds=seconds, log="/tmp/fe-acceptance.log")


class Frontend:
    """Reads the deployed frontend's request ads and metrics; submits as alice."""

    def __init__(self, grid: E2EGrid) -> None:
        self.grid = grid

    def now(self) -> float:
        return gj.now(self.grid)

    def requests(self) -> dict[str, dict[str, Any]]:
        """The group's request ads by short entry name."""
        return {gj.by_entry(ad): ad for ad in gj.request_ads(self.grid)}

    def requests_after(self, t: float, timeout: float = 120) -> dict[str, dict[str, Any]]:
        """The first request ads (of both entries) made by a cycle that started after t."""
        return gj.requests_after(self.grid, t, (SLURM, CE), gj.by_entry, timeout=timeout)

    def metrics(self) -> dict[str, float]:
        text = self.grid.out("cm", "python3 -c " + shlex.quote(
            f"import urllib.request; print(urllib.request.urlopen('{METRICS}').read().decode())"))
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                out[name] = float(value)
        return out

    def metrics_when(self, name: str, value: float) -> dict[str, float]:
        """The first scrape in which ``name`` has ``value`` (the endpoint is updated just
        after the cycle advertised its ads, so a scrape can lag the collector a little)."""
        found: dict[str, float] = {}

        def ready() -> bool:
            found.clear()
            found.update(self.metrics())
            return found.get(name) == value

        self.grid.wait_for(f"{name} == {value} at {METRICS}", ready, timeout=60, interval=1)
        return found

    def submit(self, description: str) -> float:
        """Submit as alice; return the time (cm's clock) just after condor_submit returned."""
        gj.submit_jobs(self.grid, description, "fe-acceptance")
        return self.now()

    def remove_jobs(self) -> float:
        gj.remove_user_jobs(self.grid)
        return self.now()

    def glideins_gone(self) -> bool:
        return gj.glideins_gone(self.grid, sites=True)


@pytest.fixture(scope="module")
def fe(e2e_grid: E2EGrid) -> Iterator[Frontend]:
    """The deployed frontend running the test group; everything put back afterwards."""
    grid = e2e_grid
    f = Frontend(grid)
    grid.run("cm", "systemctl is-active -q gwms-frontend")
    grid.run("slurm", "systemctl is-active -q gwms-factory")
    assert gj.queued_user_jobs(grid) == 0, "alice has jobs queued already"
    grid.wait_for("no glidein left from before", f.glideins_gone, timeout=300, interval=5)
    original = grid.run("cm", f"cat {gj.FRONTEND_CONFIG}").stdout
    config = yaml.safe_load(original)
    config["cycle_seconds"] = 5
    config["groups"] = {"main": gj.SITE_LIST_GROUP}
    try:
        gj.install_frontend_config(grid, config)
        f.requests_after(gj.restart_frontend(grid))
        yield f
    finally:
        f.remove_jobs()
        grid.run("cm", f"cat > {gj.FRONTEND_CONFIG}", stdin=original)
        grid.run("slurm", "systemctl start gwms-factory")
        gj.restart_frontend(grid)
        grid.wait_for("the test's glideins gone", f.glideins_gone, timeout=420, interval=5)
        assert grid.run("cm", f"cat {gj.FRONTEND_CONFIG}").stdout == original


_ADVERTISE = """
import json, sys
import classad2, htcondor2
out = []
for ad in json.load(sys.stdin):
    c = classad2.ClassAd()
    for key, value in ad.items():
        if key not in ("AuthenticatedIdentity", "AuthenticationMethod", "LastHeardFrom",
                       "UpdateSequenceNumber"):
            c[key] = value
    c["ClassAdLifetime"] = 900
    out.append(c)
htcondor2.Collector().advertise(out, "UPDATE_AD_GENERIC")
print(len(out))
"""


def _stop_factory_keep_entry_ads(grid: E2EGrid) -> None:
    """Stop the factory; its entry ads (read just before) are re-advertised unchanged under
    its identity (as the factory does, with htcondor2) but with a 15-minute lifetime (the
    factory's next start replaces them)."""
    ads = grid.out("slurm", "condor_status -any -json -constraint "
                   + shlex.quote('MyType == "glidefactory"'))
    assert len(json.loads(ads)) == 2, ads
    grid.run("slurm", "systemctl stop gwms-factory")
    n = grid.out("slurm", "/opt/gwms/venv/bin/python -c " + shlex.quote(_ADVERTISE),
                 user="gwmsfact", stdin=ads)
    assert n == "2"


def _check(ads: dict[str, dict[str, Any]], expected: dict[str, dict[str, Any]]) -> None:
    seen = {e: {k: ads[e].get(k) for k in want} for e, want in expected.items()}
    print("observed:", json.dumps(seen, sort_keys=True))
    assert seen == expected


def test_requests_follow_the_jobs(fe: Frontend) -> None:
    grid = fe.grid
    _stop_factory_keep_entry_ads(grid)

    # D alone: idle jobs matching no entry ask for nothing
    t = fe.submit(_job("D", 1, "Nowhere", 4))
    ads = fe.requests_after(t)
    nothing = {"ReqIdleGlideins": 0, "ReqMaxGlideins": 0, "GlideinMonitorMatchedIdle": 0}
    _check(ads, {SLURM: nothing, CE: nothing})
    m = fe.metrics_when('gwms_frontend_idle_jobs{group="main"}', 4)
    assert m['gwms_frontend_unmatched_idle_jobs{group="main"}'] == 4
    assert m["gwms_frontend_entries"] == 2

    # A, B, C: the first cycle after the submission has the hand-computed requests
    t = fe.submit(_job("A", 1, "E2E_Slurm", 7) + _job("B", 2, "E2E_Slurm,E2E_CE", 5)
                  + _job("C", 1, "E2E_CE", 3))
    ads = fe.requests_after(t)
    _check(ads, EXPECTED)
    m = fe.metrics_when('gwms_frontend_idle_jobs{group="main"}', 19)
    assert m['gwms_frontend_unmatched_idle_jobs{group="main"}'] == 4
    slurm_entry = ads[SLURM]["ReqName"]
    assert m[f'gwms_frontend_requested_idle_glideins{{group="main",entry="{slurm_entry}"}}'] \
        == 4
    assert m[f'gwms_frontend_matched_idle_jobs{{group="main",entry="{slurm_entry}"}}'] == 12

    # removing the jobs: the next cycle asks for nothing, with no removal yet (one cycle
    # without idle jobs); from the second such cycle on, ALL
    t = fe.remove_jobs()
    levels: dict[int, str] = {}

    def raised() -> bool:
        ads = fe.requests()
        for entry in (SLURM, CE):
            ad = ads[entry]
            if ad["GwmsCycleStarted"] <= t:
                return False
            assert (ad["ReqIdleGlideins"], ad["ReqMaxGlideins"]) == (0, 0), ad
            levels[int(ad["GlideinMonitorCyclesWithoutIdleJobs"])] = ad["ReqRemoveExcess"]
        return any(n >= 2 for n in levels)

    grid.wait_for("the removal level to rise", raised, timeout=120, interval=1)
    print("removal level by cycles without idle jobs:", levels)
    assert all(level == ("NO" if n <= 1 else "ALL") for n, level in levels.items()), levels

    # the frontend restarts: the removal history is kept (state file), so the level stays
    # ALL; a fresh history would count 1 cycle and say NO
    before = max(levels)
    ads = fe.requests_after(gj.restart_frontend(grid))
    for entry in (SLURM, CE):
        assert ads[entry]["GlideinMonitorCyclesWithoutIdleJobs"] > before
        assert ads[entry]["ReqRemoveExcess"] == "ALL"
    grid.run("slurm", "systemctl start gwms-factory")


def test_a_busy_glidein_is_never_offered_for_removal(fe: Frontend) -> None:
    """One job on a real glidein from Slurm. While it runs there is no idle job, and the
    configured removal (ALL after 2 cycles) applies: the frontend must send IDLE instead
    (waiting glideins only) and keep room for the busy glidein, and the job must finish on
    its first start. Without the rule the requests would say ALL with the glidein busy."""
    grid = fe.grid
    grid.run("slurm", "systemctl is-active -q gwms-factory || systemctl start gwms-factory")
    fe.submit(_job("busy", 1, "E2E_Slurm", 1, seconds=45))
    grid.wait_for("the job to run on a glidein", lambda: grid.out(
        "submit", "condor_q alice -af JobStatus", user="alice") == "2", timeout=300,
        interval=3)
    observed: list[dict[str, Any]] = []

    def done() -> bool:
        ad = fe.requests().get(SLURM)
        if ad is not None and (not observed
                               or ad["GwmsCycleStarted"] != observed[-1]["GwmsCycleStarted"]):
            observed.append(ad)
        return grid.out("submit", "condor_q alice -af ClusterId", user="alice") == ""

    grid.wait_for("the job to finish", done, timeout=300, interval=2)
    hist = grid.out("submit", "condor_history alice -limit 1 -af JobCurrentStartDate "
                    "CompletionDate NumJobStarts ExitCode MATCH_EXP_RanAtEntry", user="alice")
    start, end, starts, code, entry = hist.split()
    assert (int(starts), int(code), entry) == (1, 0, SLURM), hist
    busy = [ad for ad in observed if int(start) < ad["GwmsCycleStarted"] < int(end)]
    summary = [(ad["GlideinMonitorCyclesWithoutIdleJobs"], ad["GlideinMonitorGlideinsRunning"],
                ad["ReqMaxGlideins"], ad["ReqRemoveExcess"]) for ad in busy]
    print("while the job ran (cycles without idle jobs, glideins running, ReqMax, level):",
          summary)
    assert busy
    for ad in busy:
        assert ad["ReqRemoveExcess"] != "ALL", ad
        assert ad["ReqMaxGlideins"] >= 1, ad
    # the rule was exercised: the configured ALL was due and lowered to IDLE
    assert any(ad["ReqRemoveExcess"] == "IDLE" for ad in busy), summary
