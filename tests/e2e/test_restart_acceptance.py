"""A service host restarted during the scenario: the loop recovers, all jobs complete (grid).

Issue 8 asks that "the factory or frontend host restarted during the scenario: the loop
recovers and all jobs still complete". On the deployed end-to-end grid (session fixture
``e2e_grid``, see conftest.py) each test submits 6 jobs of 30 s as ``alice`` on submit,
waits until one runs on a glidein and restarts one container with ``podman restart``:

* ``slurm``: the factory, its schedd, the staging area and the Slurm site itself. The
  jobs may only run at the Slurm entry, so the glideins the restart killed (they ran
  under the site's slurmd in the same container) must be replaced: the restarted factory
  rebuilds its view from its schedd's queue and submits new glideins, which finish the
  jobs. The jobs ask for a 60 s job lease: the job whose glidein was killed goes back to
  idle when its shadow gives up reconnecting (with HTCondor's default 40 min lease it
  would wait that long).
* ``cm``: the user pool's and WMS collector and negotiator, the frontend and the log
  server. The container keeps its address (tests/grid/up.sh starts every host with a
  fixed ``--ip``); the schedds of submit and slurm advertise to it again and the jobs
  complete.

Each test then removes what is left of its jobs and waits until no glidein is left in the
pool, the factory's queue, Slurm or the CE, so the deployment is left as found. Timings
are printed (``-s``). Needs root and podman (``e2e_grid`` skips otherwise).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import grid_jobs as gj
import pytest
from e2e_helpers import CONTAINERS_CONF, E2EGrid

pytestmark = [pytest.mark.grid, pytest.mark.slow]

JOBS = 6
JOB_SECONDS = 30
#: A glidein killed with its host cannot tell the job's shadow; the shadow then tries to
#: reconnect for the job's lease (HTCondor's default 2400 s) before the job is idle again.
#: The jobs ask for a short lease, as a user or the schedd's JOB_DEFAULT_LEASE_DURATION can.
JOB_LEASE_S = 60
FACTORY_DIR = "/var/lib/gwms-factory"
SLURM_ENTRY = "SLURM_e2e"
#: Units each restarted host must bring back by itself (systemd, no playbook).
UNITS = {
    "slurm": ["condor", "munge", "slurmctld", "gwms-factory", "gwms-staging"],
    "cm": ["condor", "gwms-frontend", "gwms-logserver"],
}


def podman(*args: str, timeout: float = 300) -> str:
    proc = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout,
                          check=True, env=dict(os.environ, CONTAINERS_CONF=str(CONTAINERS_CONF)))
    return proc.stdout.strip()


def address(grid: E2EGrid, host: str) -> str:
    """The container's address on the grid's network."""
    return podman("container", "inspect", "--format",
                  "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
                  grid.container(host))


@dataclass(frozen=True)
class Counts:
    """Jobs of one cluster on the submit schedd (queue and history)."""

    idle: int
    running: int
    done: int


def counts(grid: E2EGrid, cluster: str) -> Counts:
    out = grid.out("submit", f"condor_q {cluster} -af JobStatus 2>/dev/null; "
                   f"condor_history {cluster} -af JobStatus 2>/dev/null", user="alice")
    status = out.split()
    return Counts(status.count("1"), status.count("2"), status.count("4"))


def glidein_census(grid: E2EGrid) -> dict[str, int]:
    """Glideins anywhere: startds in the pool, live jobs in the factory's queue, Slurm, CE."""
    def number(host: str, script: str) -> int:
        out = grid.run(host, script, check=False).stdout.strip()
        return int(out) if out.isdigit() else -1

    return {
        "pool": number("cm", "condor_status -const '!isUndefined(GLIDEIN_Entry_Name)' "
                             "-af Name 2>/dev/null | wc -l"),
        "factory": number("slurm", "condor_q -allusers -const 'JobUniverse == 9 && "
                                   "JobStatus != 3 && JobStatus != 4' -af ClusterId "
                                   "2>/dev/null | wc -l"),
        "slurm": number("slurm", "squeue -h 2>/dev/null | wc -l"),
        "ce": number("ce", "condor_q -allusers -af ClusterId 2>/dev/null | wc -l"),
    }


def clean(grid: E2EGrid) -> bool:
    return all(v == 0 for v in glidein_census(grid).values())


def submit(grid: E2EGrid, name: str, requirements: str) -> str:
    return gj.submit_jobs(grid, gj.sleep_jobs(
        JOBS, JOB_SECONDS, requirements, extra=f"""job_lease_duration = {JOB_LEASE_S}
+RanAtEntry = "$$(GLIDEIN_Entry_Name:none)"
log = /tmp/{name}.log
"""), name)


def units_active(grid: E2EGrid, host: str) -> bool:
    units = " ".join(UNITS[host])
    return grid.run(host, f"systemctl is-active -q {units}", check=False).returncode == 0


@dataclass
class Clock:
    """Seconds since the test's submission, printed as the test goes."""

    t0: float

    def mark(self, what: str) -> float:
        t = time.monotonic() - self.t0
        print(f"  +{t:5.0f} s  {what}")
        return t


@pytest.fixture
def quiet_grid(e2e_grid: E2EGrid) -> Iterator[E2EGrid]:
    """The grid with no glidein anywhere, before and after the test."""
    grid = e2e_grid
    grid.wait_for(lambda: f"no glidein left from earlier tests (now {glidein_census(grid)})",
                  lambda: clean(grid), timeout=420, interval=10)
    yield grid


def glidein_slots(grid: E2EGrid, machine: str, started_by: int | None = None) -> list[str]:
    """Names of the glidein startd ads in the pool collector from one machine (only those
    whose startd started at or before ``started_by``, when given)."""
    since = "" if started_by is None else f" && DaemonStartTime <= {started_by}"
    out = grid.out("cm", f"condor_status -const 'Machine == \"{machine}\" && "
                   f"!isUndefined(GLIDEIN_Entry_Name){since}' -af Name")
    return out.split()


def invalidate(grid: E2EGrid, names: list[str]) -> None:
    """Withdraw the startd ads of glideins that died with their host.

    A glidein killed with its container sends no last update; its ads stay in the
    collector until they expire (CLASSAD_LIFETIME, 900 s by default; seen: still there
    5 min later, never updated), and the next test would wait for them.
    """
    if names:
        gj.invalidate_startd_ads(grid, " || ".join(f'Name == "{n}"' for n in names))


def finish(grid: E2EGrid, cluster: str, clock: Clock, dead: list[str] | None = None) -> None:
    """Remove what is left of the cluster and wait until no glidein is left anywhere."""
    grid.run("submit", f"condor_rm {cluster} >/dev/null 2>&1 || true", user="alice")
    left = sorted(set(dead or []) & set(glidein_slots(grid, "slurm.dns.podman")))
    if left:
        print(f"  ads of glideins killed by the restart still in the collector: {left}")
        invalidate(grid, left)
    grid.wait_for(lambda: f"the glideins to leave (now {glidein_census(grid)})",
                  lambda: clean(grid), timeout=420, interval=10)
    clock.mark("no glidein left: pool, factory queue, Slurm and CE queues empty")


def test_factory_host_restart_while_jobs_run(quiet_grid: E2EGrid) -> None:
    grid = quiet_grid
    factory_pid = grid.out("slurm", "systemctl show -p MainPID --value gwms-factory")
    ip = address(grid, "slurm")
    print(f"\nfactory host restart: {JOBS} jobs of {JOB_SECONDS} s for {SLURM_ENTRY} only")
    clock = Clock(time.monotonic())
    cluster = submit(grid, "acceptance-restart-factory",
                     f'TARGET.GLIDEIN_Entry_Name =?= "{SLURM_ENTRY}"')
    dead: list[str] = []
    try:
        grid.wait_for("a job to run on a Slurm glidein",
                      lambda: counts(grid, cluster).running > 0, timeout=300, interval=5)
        clock.mark(f"first job running ({counts(grid, cluster)})")
        epoch = int(grid.out("slurm", "date +%s"))
        # The jobs running now, and where: their glideins die with the restart.
        running = dict(line.split() for line in grid.out(
            "submit", f"condor_q {cluster} -const 'JobStatus == 2' -af ProcId RemoteHost",
            user="alice").splitlines())
        podman("restart", grid.container("slurm"))
        t_restart = clock.mark(f"podman restart {grid.container('slurm')} returned")
        # Every glidein started before the restart died with it (they run in the
        # container), including one whose startd joined in the last second before it.
        dead = glidein_slots(grid, "slurm.dns.podman", started_by=epoch + 1)
        grid.wait_for("slurm's services back", lambda: units_active(grid, "slurm"),
                      timeout=180)
        clock.mark(f"active again: {', '.join(UNITS['slurm'])}")
        assert address(grid, "slurm") == ip
        assert grid.out("slurm", "systemctl show -p MainPID --value gwms-factory") != factory_pid

        # The restart killed the Slurm glideins (their slurmd ran in the container): the
        # evicted jobs can only finish on glideins the factory submits after it came back.
        def after_restart() -> int:
            out = grid.out("slurm", "{ condor_q -allusers -af QDate GlideinEntryName; "
                           "condor_history -af QDate GlideinEntryName; } 2>/dev/null")
            return sum(1 for line in out.splitlines()
                       if len(f := line.split()) == 2 and f[1] == SLURM_ENTRY
                       and int(f[0]) >= epoch)

        grid.wait_for("a glidein submitted by the restarted factory", lambda: after_restart() > 0,
                      timeout=180, interval=5)
        clock.mark(f"restarted factory submitted {after_restart()} glidein(s) for {SLURM_ENTRY}")
        grid.wait_for(f"all {JOBS} jobs to complete",
                      lambda: counts(grid, cluster).done == JOBS, timeout=360, interval=5)
        t_done = clock.mark(f"all {JOBS} jobs done")
        print(f"  jobs done {t_done - t_restart:.0f} s after the restart")
        # The jobs running at the restart lost their glidein and ran again, on Slurm, on
        # another glidein. (NumJobStarts is no proof: the shadow of a job whose glidein
        # died a few seconds after it started may never write it to the queue; seen.)
        print(f"  running at the restart (proc, slot): {running}")
        rows = grid.out("submit", f"condor_history {cluster} -af ProcId NumShadowStarts "
                        "MATCH_EXP_RanAtEntry LastRemoteHost", user="alice")
        print("  proc, shadow starts, entry, last slot:\n    " + rows.replace("\n", "\n    "))
        last = {r[0]: r for r in (line.split() for line in rows.splitlines())}
        assert {r[2] for r in last.values()} == {SLURM_ENTRY}, rows
        assert running, "no job was running at the restart"
        for proc, slot in running.items():
            assert int(last[proc][1]) >= 2 and last[proc][3] != slot, \
                f"job {cluster}.{proc} (on {slot} at the restart) did not run again:\n{rows}"
        assert units_active(grid, "slurm")
        errors = grid.out("slurm", "journalctl -u gwms-factory -b --no-pager -p err | "
                          "grep -v '^-- ' | tail -5")
        print(f"  factory errors since the restart: {errors or 'none'}")
        print(f"  factory restarts by systemd since boot: "
              f"{grid.out('slurm', 'systemctl show -p NRestarts --value gwms-factory')}")
    finally:
        finish(grid, cluster, clock, dead)


def test_central_manager_restart_while_jobs_run(quiet_grid: E2EGrid) -> None:
    grid = quiet_grid
    ip = address(grid, "cm")
    print(f"\ncentral manager restart: {JOBS} jobs of {JOB_SECONDS} s, any entry")
    clock = Clock(time.monotonic())
    cluster = submit(grid, "acceptance-restart-cm", "!isUndefined(TARGET.GLIDEIN_Entry_Name)")

    def schedds() -> set[str]:
        out = grid.run("cm", "condor_status -schedd -af Machine", check=False).stdout
        return {name.split(".")[0] for name in out.split()}

    try:
        grid.wait_for("a job to run on a glidein",
                      lambda: counts(grid, cluster).running > 0, timeout=300, interval=5)
        clock.mark(f"first job running ({counts(grid, cluster)})")
        assert {"submit", "slurm"} <= schedds()
        podman("restart", grid.container("cm"))
        t_restart = clock.mark(f"podman restart {grid.container('cm')} returned")
        # Same address: the other hosts' daemons, which resolved cm once, still reach it.
        assert address(grid, "cm") == ip
        grid.wait_for("cm's services back", lambda: units_active(grid, "cm"), timeout=180)
        clock.mark(f"active again: {', '.join(UNITS['cm'])}")
        grid.wait_for("the submit and factory schedds in the restarted collector",
                      lambda: {"submit", "slurm"} <= schedds(), timeout=120)
        clock.mark("schedds of submit and slurm advertised to the restarted collector")
        grid.wait_for(f"all {JOBS} jobs to complete",
                      lambda: counts(grid, cluster).done == JOBS, timeout=360, interval=5)
        t_done = clock.mark(f"all {JOBS} jobs done")
        print(f"  jobs done {t_done - t_restart:.0f} s after the restart")
        assert units_active(grid, "cm")
    finally:
        finish(grid, cluster, clock)


# --------------------------------------------------------------------------- cm moves

#: Last octet cm moves to: outside the grid's fixed octets (10-14, and 100-249 for other
#: host names, tests/grid/lib.sh).
MOVED_OCTET = 250
MOVE_JOB_SECONDS = 10


def move(grid: E2EGrid, host: str, ip: str) -> None:
    """Give ``host`` another address on the grid's network, keeping its DNS alias (what
    a central manager that comes back elsewhere looks like to the other hosts)."""
    network = grid.prefix.rstrip("-")
    podman("network", "disconnect", network, grid.container(host))
    podman("network", "connect", "--ip", ip, "--alias", host, network, grid.container(host))

    def resolved() -> bool:  # podman's DNS answers nothing for a moment after connect
        return all(grid.out(other, f"getent ahosts {host}.dns.podman | head -1",
                            check=False).split()[:1] == [ip] for other in ("submit", "slurm"))

    grid.wait_for(f"{host}.dns.podman to resolve to {ip}", resolved, timeout=60, interval=1)


def reconnect_pool(grid: E2EGrid) -> None:
    """What the condor role's handler does on the hosts whose recorded central-manager
    address changed (pool.yml, docs/ansible.md): cm's own daemons restart with the new
    address (a moved host boots with it), the others reload (condor_reconfig)."""
    grid.run("cm", "systemctl restart condor")
    for host in ("submit", "slurm"):
        grid.run(host, "systemctl reload condor")


def test_central_manager_moves_to_another_address(quiet_grid: E2EGrid) -> None:
    """cm comes back at another address; the factory process follows it (same MainPID,
    no restart): it logs the move, reads the new requests and a job runs on a glidein it
    submitted after the move. Then cm moves back and the grid is as it was."""
    grid = quiet_grid
    ip = address(grid, "cm").strip()
    moved = ".".join([*ip.split(".")[:3], str(MOVED_OCTET)])
    factory_pid = grid.out("slurm", "systemctl show -p MainPID --value gwms-factory")
    frontend_pid = grid.out("cm", "systemctl show -p MainPID --value gwms-frontend")

    def schedds() -> set[str]:
        out = grid.run("cm", "condor_status -schedd -af Machine", check=False).stdout
        return {name.split(".")[0] for name in out.split()}

    def factory_log(since: str, pattern: str) -> str:
        return grid.run("slurm", f"journalctl -u gwms-factory --no-pager -o cat "
                        f"--since @{since} | grep -F -- '{pattern}'", check=False).stdout

    print(f"\ncentral manager moves: {ip} -> {moved} -> {ip}")
    clock = Clock(time.monotonic())
    epoch = grid.out("slurm", "date +%s")
    cluster = ""
    try:
        move(grid, "cm", moved)
        assert address(grid, "cm").strip() == moved
        reconnect_pool(grid)
        clock.mark(f"cm at {moved}; its condor restarted, submit's and slurm's reloaded")
        grid.wait_for("the submit and factory schedds in the moved collector",
                      lambda: {"submit", "slurm"} <= schedds(), timeout=120)
        grid.wait_for("the factory to log the move",
                      lambda: f"now resolves to {moved}" in factory_log(epoch, "WMS collector"),
                      timeout=120)
        clock.mark("factory logged: " + factory_log(epoch, f"now resolves to {moved}")
                   .strip().splitlines()[0])
        grid.wait_for("the factory's entry ads in the moved collector", lambda: grid.out(
            "cm", "condor_status -any -const 'MyType == \"glidefactory\"' -af Name "
                  "| wc -l") == "2", timeout=120)
        cluster = grid.out("submit", f"""cat > /tmp/acceptance-cm-move.sub <<'SUB'
universe = vanilla
executable = /bin/sleep
arguments = {MOVE_JOB_SECONDS}
request_cpus = 1
request_memory = 64
request_disk = 1024
requirements = TARGET.GLIDEIN_Entry_Name =?= "{SLURM_ENTRY}"
+RanAtEntry = "$$(GLIDEIN_Entry_Name:none)"
queue 1
SUB
condor_submit -terse /tmp/acceptance-cm-move.sub | cut -d. -f1""", user="alice")
        grid.wait_for("the job to run on a glidein after the move",
                      lambda: counts(grid, cluster).running + counts(grid, cluster).done > 0,
                      timeout=240, interval=5)
        clock.mark(f"job running or done ({counts(grid, cluster)})")
        glideins = grid.out("slurm", "{ condor_q -allusers -af QDate GlideinEntryName; "
                            "condor_history -af QDate GlideinEntryName; } 2>/dev/null")
        after = [line for line in glideins.splitlines()
                 if len(f := line.split()) == 2 and f[1] == SLURM_ENTRY and int(f[0]) >= int(epoch)]
        assert after, f"no glidein submitted after the move:\n{glideins}"
        assert grid.out("slurm", "systemctl show -p MainPID --value gwms-factory") == factory_pid
        assert grid.out("cm", "systemctl show -p MainPID --value gwms-frontend") == frontend_pid
        grid.wait_for("the job to complete", lambda: counts(grid, cluster).done == 1,
                      timeout=120, interval=5)
        clock.mark(f"job done; {len(after)} glidein(s) submitted after the move, "
                   f"factory MainPID {factory_pid} unchanged")
    finally:
        if cluster:
            grid.run("submit", f"condor_rm {cluster} >/dev/null 2>&1 || true", user="alice")
        if address(grid, "cm").strip() != ip:
            move(grid, "cm", ip)
        reconnect_pool(grid)
        clock.mark(f"cm back at {ip}")
    assert address(grid, "cm").strip() == ip
    grid.wait_for("the submit and factory schedds back in the collector",
                  lambda: {"submit", "slurm"} <= schedds(), timeout=120)
    # A collector call in flight when cm's address vanished waits for HTCondor's query
    # timeout first (seen: 84 s without a cycle after the move back).
    grid.wait_for("the factory to log the move back",
                  lambda: f"now resolves to {ip}" in factory_log(epoch, "WMS collector"),
                  timeout=240)
    grid.wait_for("the glideins to leave", lambda: clean(grid), timeout=300, interval=10)
    clock.mark("no glidein left: pool, factory queue, Slurm and CE queues empty")
    assert grid.out("slurm", "systemctl show -p MainPID --value gwms-factory") == factory_pid
    assert units_active(grid, "slurm") and units_active(grid, "cm")
    errors = factory_log(epoch, "ERROR")
    print(f"  factory errors during the test: {errors.strip() or 'none'}")
