"""Factory acceptance on the deployed podman grid (issue 5).

The deployed factory (host slurm, systemd unit ``gwms-factory``, cycle 10 s) serves two
entries: ``SLURM_e2e`` (``batch slurm``, the Slurm site on the same host: 4 nodes of one
CPU; limits 8 glideins, 4 idle) and ``CE_e2e`` (``condor`` to the CE-like schedd on host
ce; limits 4 glideins, 2 idle). The deployed frontend (host cm) is stopped for the test;
the test advertises its own request ads (client ``vofrontend.acceptance``) as the
frontend's authenticated identity (``vofrontend@gwms.test``, the frontend's token on cm),
carrying the frontend's sealed parameters (the pool token the glideins need), so the
glideins it gets are real ones that join the user pool.

1. A request for N idle glideins (and at most N) at each entry: N glideins enter the
   factory queue in one submission batch (one cycle) and N jobs appear at the site
   (``squeue`` on slurm, ``condor_q`` on ce).
2. A request far above the limits (10^6): over several cycles the factory never has more
   than ``max_idle`` waiting or ``max_glideins`` in total per entry, nor the site more
   than ``max_glideins`` jobs; the step ends when each entry has running and waiting
   glideins at once (Slurm and the CE run 4 and 2 glideins at a time). User jobs (alice
   on submit, one per Slurm node and CE slot, only for this client's glideins) are there
   so that glideins that join the pool get claimed and keep running; a glidein that
   finds no job leaves after GLIDEIN_Max_Idle (60 s here).
3. The request lowered to 0 idle and at most 0 glideins at removal level ``IDLE``: every
   waiting glidein is removed (factory queue and site queue); no glidein that was running
   is removed: it is still running, or it ended by itself (``JobStatus`` 4, never 3).

Then everything is put back: the request goes to 0 at level ``ALL`` (running glideins
removed too), alice's jobs are removed, the test's ads are withdrawn, the frontend is
restarted, and the test waits until no glidein of its client is left anywhere.
Figures (times, counts) are printed; run with ``-s`` to see them.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grid_jobs as gj
import pytest
from e2e_helpers import E2EGrid

pytestmark = [pytest.mark.grid, pytest.mark.slow]

IDENTITY = "vofrontend@gwms.test"
FRONTEND_USER = "vofrontend"
GROUP = "acceptance"
CLIENT = f"{FRONTEND_USER}.{GROUP}"
FACTORY = "e2e-factory"
WMS = "cm.dns.podman"
PY = "/opt/gwms/venv/bin/python"
FRONTEND_CONFIG = "/var/lib/gwms-frontend/frontend.yaml"


@dataclass(frozen=True)
class Site:
    """One entry of the deployed factory and its limits (tests/e2e/inventory)."""

    entry: str
    max_glideins: int
    max_idle: int
    #: glideins that can run at once at the site
    slots: int
    #: N of step 1
    n: int


SLURM = Site("SLURM_e2e", max_glideins=8, max_idle=4, slots=4, n=3)
CE = Site("CE_e2e", max_glideins=4, max_idle=2, slots=2, n=2)
SITES = (SLURM, CE)

# Runs on cm as the frontend's account: its IDTOKEN (~/.condor/tokens.d) authenticates it
# to the WMS collector as vofrontend@gwms.test. ``params`` builds, for each entry ad, the
# parameters the frontend itself would send (gwms_core.frontend.credentials: a pool token
# minted with the frontend's signing key, sealed to the entry's factory key for this
# identity), from the deployed frontend.yaml.
WMS_TOOL = r"""
import json, sys
from gwms_core.factory.collector import WmsCollector
op = json.load(sys.stdin)
c = WmsCollector(op["collector"])
if op["op"] == "advertise":
    c.advertise(op["ads"], lifetime_s=op["lifetime"])
elif op["op"] == "invalidate":
    c.invalidate("glideclient", op["names"])
elif op["op"] == "params":
    from gwms_core.config import load_config
    from gwms_core.frontend.credentials import credential_params
    from gwms_core.frontend.service import entry_from_ad
    from gwms_core.frontend.settings import settings_from_config
    st = settings_from_config(load_config(op["config"], expect_kind="frontend").data)
    params = credential_params(st.credentials, op["identity"])
    out = {}
    for ad in c.query("glidefactory"):
        p = dict(params(entry_from_ad(ad)))
        p["GlideinParamGLIDEIN_Collector"] = st.user_pools[0].collector
        out[str(ad["Name"])] = p
    print(json.dumps(out))
else:
    print(json.dumps(c.query(op["mytype"]), default=str))
"""


def reqname(entry: str) -> str:
    return f"{entry}@{FACTORY}@{FACTORY}"


class Wms:
    """The WMS collector, seen from cm as the frontend."""

    def __init__(self, grid: E2EGrid) -> None:
        self.grid = grid

    def _call(self, op: dict[str, Any]) -> str:
        op = {"collector": WMS, **op}
        return self.grid.out("cm", f"{PY} -c '{WMS_TOOL}'", user=FRONTEND_USER,
                             stdin=json.dumps(op))

    def query(self, mytype: str) -> list[dict[str, Any]]:
        return list(json.loads(self._call({"op": "query", "mytype": mytype}) or "[]"))

    def advertise(self, ads: list[dict[str, Any]], lifetime: int = 600) -> None:
        self._call({"op": "advertise", "ads": ads, "lifetime": lifetime})

    def invalidate(self, names: list[str]) -> None:
        self._call({"op": "invalidate", "names": names})

    def params(self) -> dict[str, dict[str, str]]:
        """Entry ad name -> the request parameters the frontend would send there."""
        return dict(json.loads(self._call({"op": "params", "identity": IDENTITY,
                                           "config": FRONTEND_CONFIG})))


def glideins(grid: E2EGrid, entry: str, client: str | None = CLIENT) -> list[dict[str, Any]]:
    """Live glideins of one entry in the factory queue: this client's (or every client's
    with ``client=None``)."""
    mine = f'GlideinClient == "{client}" && ' if client else ""
    raw = grid.out("slurm", (
        "condor_q -allusers -json -attributes ClusterId,ProcId,JobStatus,GridJobId,"
        f"GridJobStatus,GwmsSubmissionId -const 'JobUniverse == 9 && {mine}"
        f"GlideinEntryName == \"{entry}\" && JobStatus != 3 && JobStatus != 4'"))
    return list(json.loads(raw)) if raw else []


def slurm_jobs(grid: E2EGrid) -> dict[str, str]:
    """Slurm job id -> state (PENDING, RUNNING, ...) for every job in squeue."""
    out = grid.out("slurm", "squeue -h -o '%i %T'")
    return dict(line.split(None, 1) for line in out.splitlines() if line.strip())


#: CE copies the gridmanager left held at "Spooling input data files" (HoldReasonCode 16)
#: when the factory removed their glidein while HTCondor-C was still submitting it: they
#: never run and no client removes them (docs/factory.md); the cleanup removes them. The
#: ``ce`` role's SYSTEM_PERIODIC_REMOVE for them (condor_ce_spool_hold_remove_s) does not:
#: the schedd skips periodic expressions of jobs held for spooling input (seen on the grid:
#: such a job stayed held 5 minutes with the limit at 60 s).
CE_SPOOL_LEFTOVERS: set[str] = set()


def ce_jobs(grid: E2EGrid) -> dict[str, int]:
    """This client's jobs in the CE's schedd: job id -> JobStatus, without the copies left
    held in spooling (collected in ``CE_SPOOL_LEFTOVERS``)."""
    out = grid.out("ce", (
        "condor_q -allusers -af:j JobStatus HoldReasonCode "
        f"-const 'GlideinClient == \"{CLIENT}\" && JobStatus != 3 && JobStatus != 4'"))
    jobs: dict[str, int] = {}
    for line in out.splitlines():
        if not line.strip():
            continue
        job, status, reason = line.split()[:3]
        if status == "5" and reason == "16":
            if job not in CE_SPOOL_LEFTOVERS:
                log(f"CE copy {job} left held in spooling by the gridmanager")
            CE_SPOOL_LEFTOVERS.add(job)
            continue
        jobs[job] = int(status)
    return jobs


def remove_ce_spool_leftovers(grid: E2EGrid) -> None:
    """Remove the CE copies left held in spooling (see ``CE_SPOOL_LEFTOVERS``)."""
    ce_jobs(grid)
    if CE_SPOOL_LEFTOVERS:
        ids = " ".join(sorted(CE_SPOOL_LEFTOVERS))
        grid.run("ce", f"condor_rm {ids} >/dev/null 2>&1; condor_rm -forcex {ids} "
                       ">/dev/null 2>&1 || true", check=False)
        log(f"removed {len(CE_SPOOL_LEFTOVERS)} CE copies left held in spooling: {ids}")
        CE_SPOOL_LEFTOVERS.clear()


def slurm_id(grid_job_id: str) -> str:
    """The Slurm job id in a blahp ``GridJobId`` (``batch slurm <date>/<id>``)."""
    return grid_job_id.split()[-1].rsplit("/", 1)[-1]


@dataclass
class Snapshot:
    """One entry's glideins in the factory queue and at the site."""

    factory: list[dict[str, Any]]
    #: site job id -> "running" / "waiting" (only the site jobs of this client's glideins)
    site: dict[str, str]

    @property
    def waiting(self) -> int:
        return sum(1 for g in self.factory if g["JobStatus"] == 1)

    @property
    def running_ids(self) -> set[str]:
        return {f"{g['ClusterId']}.{g['ProcId']}" for g in self.factory if g["JobStatus"] == 2}


def final_status(grid: E2EGrid, job_ids: set[str]) -> dict[str, int]:
    """JobStatus of factory jobs (queue or history), by ``cluster.proc``."""
    if not job_ids:
        return {}
    const = " || ".join(f"(ClusterId == {c} && ProcId == {p})"
                        for c, p in (j.split(".") for j in sorted(job_ids)))
    out = grid.out("slurm", f"condor_q -allusers -af:j JobStatus -const '{const}'; "
                            f"condor_history -af:j JobStatus -const '{const}'")
    return {line.split()[0]: int(line.split()[1]) for line in out.splitlines() if line.strip()}


#: Slurm job ids of this client's glideins seen during the test (the cleanup waits until
#: none is left in squeue, after the factory queue forgot them).
SEEN_SLURM: set[str] = set()


def snapshot(grid: E2EGrid, site: Site) -> Snapshot:
    fact = glideins(grid, site.entry)
    if site is SLURM:
        SEEN_SLURM.update(slurm_id(g["GridJobId"]) for g in fact if g.get("GridJobId"))
        state = {j: s for j, s in slurm_jobs(grid).items() if j in SEEN_SLURM}
        return Snapshot(fact, {j: "running" if s == "RUNNING" else "waiting"
                               for j, s in state.items()})
    return Snapshot(fact, {j: "running" if s == 2 else "waiting"
                           for j, s in ce_jobs(grid).items()})


def request(site: Site, idle: int, maxg: int, remove: str,
            params: dict[str, dict[str, str]]) -> dict[str, Any]:
    ad: dict[str, Any] = dict(params[reqname(site.entry)])
    ad.update({
        "MyType": "glideclient", "Name": f"{reqname(site.entry)}@{CLIENT}",
        "ReqName": reqname(site.entry), "ReqGlidein": reqname(site.entry),
        "ClientName": CLIENT, "FrontendName": FRONTEND_USER, "GroupName": GROUP,
        "ReqIdleGlideins": idle, "ReqMaxGlideins": maxg, "ReqRemoveExcess": remove,
    })
    return ad


def log(msg: str) -> None:
    print(f"[factory-acceptance {time.strftime('%H:%M:%S')}] {msg}", flush=True)


@pytest.fixture
def frontend_stopped(e2e_grid: E2EGrid) -> Iterator[tuple[Wms, dict[str, dict[str, str]]]]:
    """Stop the deployed frontend; yield the WMS collector and the request parameters per
    entry. The frontend's own request ads are withdrawn for the test. Afterwards: this
    client's request to 0 at level ALL, user jobs removed, ads withdrawn, frontend
    restarted (if it was running), and a wait until no glidein of this client is left in
    the factory queue or at a site."""
    grid = e2e_grid
    wms = Wms(grid)
    was_active = grid.run("cm", "systemctl is-active -q gwms-frontend", check=False).returncode == 0
    grid.run("cm", "systemctl stop gwms-frontend")
    params: dict[str, dict[str, str]] = {}
    try:
        params = wms.params()
        missing = [s.entry for s in SITES if reqname(s.entry) not in params]
        assert not missing, f"no entry ad for {missing}"
        assert all(any(k.startswith("GlideinEncParam") for k in params[reqname(s.entry)])
                   for s in SITES), "no sealed pool token for an entry"
        # The frontend's own request ads outlive it (the collector's ad lifetime): withdraw
        # them, so only this test asks; the restarted frontend advertises them again.
        theirs = [str(a["Name"]) for a in wms.query("glideclient")
                  if a.get("AuthenticatedIdentity") == IDENTITY
                  and a.get("ClientName") != CLIENT]
        if theirs:
            wms.invalidate(theirs)
        yield wms, params
    finally:
        t0 = time.monotonic()
        try:
            if params:
                wms.advertise([request(s, 0, 0, "ALL", params) for s in SITES])
            grid.run("submit", "condor_rm alice >/dev/null 2>&1 || true", check=False)
            grid.wait_for("this client's glideins removed from the factory queue",
                          lambda: all(not glideins(grid, s.entry) for s in SITES),
                          timeout=180)
        finally:
            wms.invalidate([f"{reqname(s.entry)}@{CLIENT}" for s in SITES])
            if was_active:
                grid.run("cm", "systemctl start gwms-frontend")
        remove_ce_spool_leftovers(grid)
        grid.wait_for("this client's jobs gone from Slurm and the CE",
                      lambda: not snapshot(grid, SLURM).site and not ce_jobs(grid),
                      timeout=180)
        log(f"restored in {time.monotonic() - t0:.0f} s")


def submit_user_jobs(grid: E2EGrid) -> None:
    """Jobs only this test's glideins can run, one per slot at each site: a glidein that
    starts gets claimed and stays running."""
    gj.submit_jobs(grid, gj.sleep_jobs(SLURM.slots + CE.slots, 900,
                                       f'TARGET.GLIDECLIENT_Group =?= "{GROUP}"'), "fa")


def test_factory_keeps_sites_at_the_request_within_limits(
        e2e_grid: E2EGrid, frontend_stopped: tuple[Wms, dict[str, dict[str, str]]]) -> None:
    grid = e2e_grid
    wms, params = frontend_stopped
    for s in SITES:
        assert not glideins(grid, s.entry), f"{s.entry}: glideins of {CLIENT} before the test"
    # Other clients' glideins would take part of the entries' limits: the earlier tests'
    # glideins retire (GLIDEIN_Max_Idle) once their requests are gone.
    grid.wait_for("no glidein of any client at the entries",
                  lambda: all(not glideins(grid, s.entry, None) for s in SITES), timeout=180)

    # 1. N idle glideins requested -> N jobs at the site, from one batch.
    t0 = time.monotonic()
    wms.advertise([request(s, s.n, s.n, "NO", params) for s in SITES])
    for s in SITES:
        dt = grid.wait_for(f"{s.n} glideins of {s.entry} in the factory queue",
                           lambda s=s: len(glideins(grid, s.entry)) >= s.n, timeout=60,
                           interval=1)
        log(f"{s.entry}: {s.n} requested, in the factory queue after {dt:.0f} s")
    for s in SITES:
        dt = grid.wait_for(f"{s.n} jobs of {s.entry} at the site",
                           lambda s=s: len(snapshot(grid, s).site) >= s.n, timeout=120,
                           interval=1)
        snap = snapshot(grid, s)
        log(f"{s.entry}: N={s.n} requested, jobs at the site={len(snap.site)} "
            f"{dict(Counter(snap.site.values()))}, {time.monotonic() - t0:.0f} s after the "
            "request")
        assert len(snap.factory) == s.n
        assert len(snap.site) == s.n
        assert len({g["GwmsSubmissionId"] for g in snap.factory}) == 1, snap.factory

    # 2. Far above the limits.
    submit_user_jobs(grid)
    wms.advertise([request(s, 10**6, 10**6, "NO", params) for s in SITES])
    t1 = time.monotonic()
    peak: dict[str, tuple[int, int, int]] = {}
    busy = False
    while time.monotonic() - t1 < 150:
        for s in SITES:
            snap = snapshot(grid, s)
            assert snap.waiting <= s.max_idle, (s.entry, snap.factory)
            assert len(snap.factory) <= s.max_glideins, (s.entry, snap.factory)
            assert len(snap.site) <= s.max_glideins, (s.entry, snap.site)
            p = peak.get(s.entry, (0, 0, 0))
            peak[s.entry] = (max(p[0], snap.waiting), max(p[1], len(snap.factory)),
                             max(p[2], len(snap.site)))
        snaps = {s.entry: snapshot(grid, s) for s in SITES}
        busy = all(snaps[s.entry].running_ids and snaps[s.entry].waiting for s in SITES)
        if busy and time.monotonic() - t1 > 30:
            break
        time.sleep(3)
    for s in SITES:
        w, t, site_n = peak[s.entry]
        log(f"{s.entry}: request 10^6; peak waiting={w} (max_idle {s.max_idle}) "
            f"total={t} (max_glideins {s.max_glideins}) site jobs={site_n}")
    assert busy, "no entry had both running and waiting glideins: " + repr(
        {k: (v.running_ids, v.waiting) for k, v in snaps.items()})

    # 3. Lowered: waiting glideins go, running ones stay.
    before = {s.entry: snapshot(grid, s) for s in SITES}
    wms.advertise([request(s, 0, 0, "IDLE", params) for s in SITES])
    for s in SITES:
        grid.wait_for(f"{s.entry}: waiting glideins removed",
                      lambda s=s: snapshot(grid, s).waiting == 0, timeout=60, interval=2)
        grid.wait_for(f"{s.entry}: waiting site jobs gone",
                      lambda s=s: "waiting" not in snapshot(grid, s).site.values(),
                      timeout=90, interval=2)
        after = snapshot(grid, s)
        log(f"{s.entry}: lowered to 0; running before={len(before[s.entry].running_ids)} "
            f"waiting before={before[s.entry].waiting}; after: running="
            f"{len(after.running_ids)} waiting={after.waiting} site={after.site}")
        # A running glidein may have ended by itself meanwhile (completed, JobStatus 4);
        # none may have been removed (JobStatus 3).
        left = before[s.entry].running_ids - after.running_ids
        ended = final_status(grid, left)
        log(f"{s.entry}: running before and not after: {ended or 'none'}")
        assert all(ended.get(j) == 4 for j in left), ended
        assert set(after.site.values()) <= {"running"}


def factory_pid(grid: E2EGrid) -> int:
    """MainPID of the deployed factory's unit on slurm (0 when not running)."""
    return int(grid.out("slurm", "systemctl show -p MainPID --value gwms-factory") or 0)


def schedd_address(grid: E2EGrid) -> str:
    """The factory schedd's address from its local address file ("" while it is down)."""
    return grid.out("slurm", "cat \"$(condor_config_val SCHEDD_ADDRESS_FILE)\" 2>/dev/null "
                             "| head -1", check=False)


def test_factory_serves_requests_after_its_condor_restarts(
        e2e_grid: E2EGrid, frontend_stopped: tuple[Wms, dict[str, dict[str, str]]]) -> None:
    """``systemctl restart condor`` on the factory host under the running factory: the
    schedd comes back at a new address (a new shared-port socket name) and the process's
    cached security sessions are stale. The same factory process (same MainPID) logs
    that it located the schedd again and serves a request within a few cycles."""
    grid = e2e_grid
    wms, params = frontend_stopped
    pid = factory_pid(grid)
    assert pid > 0, "the deployed factory is not running"
    before = schedd_address(grid)
    since = grid.out("slurm", "date '+%Y-%m-%d %H:%M:%S'")
    t0 = time.monotonic()
    grid.run("slurm", "systemctl restart condor")
    grid.wait_for("the factory schedd back at a new address",
                  lambda: schedd_address(grid) not in ("", before)
                  and grid.run("slurm", "condor_q -totals >/dev/null",
                               check=False).returncode == 0, timeout=120, interval=1)
    back = time.monotonic() - t0
    log(f"schedd back after {back:.0f} s: {before.split('sock=')[-1][:-1]} -> "
        f"{schedd_address(grid).split('sock=')[-1][:-1]}")
    wms.advertise([request(SLURM, 1, 1, "NO", params)])
    t1 = time.monotonic()
    # cycle_seconds is 10: a request served within three cycles of the schedd's return
    grid.wait_for(f"a glidein of {SLURM.entry} submitted after the restart",
                  lambda: len(glideins(grid, SLURM.entry)) >= 1, timeout=30, interval=1)
    log(f"request served {time.monotonic() - t1:.0f} s after it was advertised "
        f"({time.monotonic() - t0:.0f} s after the restart)")
    assert factory_pid(grid) == pid, "the factory process was restarted, not recovered"
    journal = grid.out("slurm", f"journalctl -u gwms-factory --no-pager --since '{since}' "
                                "-o cat")
    assert "schedd located again" in journal, journal[-3000:]
    log("factory log: " + " | ".join(line for line in journal.splitlines()
                                     if "schedd" in line)[:1500])
