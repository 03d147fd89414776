"""Helpers the grid acceptance tests share: the user's jobs (alice on submit), the
frontend's configuration and request ads (cm), glidein counts and service processes.

Every function takes the deployed grid (:class:`e2e_helpers.E2EGrid`, the ``e2e_grid``
fixture) and runs real commands on its hosts.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Collection
from typing import Any, TypeVar

import yaml
from e2e_helpers import E2EGrid

#: The deployed frontend's configuration file (on cm) and its client name (group main).
FRONTEND_CONFIG = "/var/lib/gwms-frontend/frontend.yaml"
FRONTEND_CLIENT = "vofrontend.main"

#: The frontend group the acceptance tests run: the classic site-list match (the grid's
#: entries have 1-core glideins and the expression does not check cores), no reserve,
#: removal ``ALL`` once there has been no idle job for 2 cycles, defaults otherwise
#: (ramp-up 3, relative_to_queue 1.15).
SITE_LIST_GROUP: dict[str, Any] = {
    "match_expr": "stringListMember(glidein.GLIDEIN_Site, job.DESIRED_Sites)",
    "start_expr": "true",
    "running_glideins_per_entry": {"max": 50},
    "idle_glideins_per_entry": {"max": 100, "reserve": 0},
    "removal": {"type": "ALL", "wait": 1},
}

#: Live (neither removed nor completed) grid-universe jobs: the factory's glideins.
LIVE_GLIDEINS = "JobUniverse == 9 && JobStatus != 3 && JobStatus != 4"

K = TypeVar("K")


def now(grid: E2EGrid) -> float:
    """cm's clock (the frontend's ``GwmsCycleStarted`` is on it)."""
    return float(grid.out("cm", "date +%s.%N"))


def main_pid(grid: E2EGrid, host: str, unit: str) -> str:
    """A systemd unit's main process id on ``host`` ("0" when it is not running)."""
    return grid.out(host, f"systemctl show -p MainPID --value {unit}")


def invalidate_startd_ads(grid: E2EGrid, requirements: str) -> None:
    """Withdraw the startd ads matching ``requirements`` from cm's collector (those of
    glideins that died without withdrawing them; they would stay until CLASSAD_LIFETIME)."""
    grid.run("cm", "cat > /tmp/acceptance-invalidate.ad && "
             "condor_advertise INVALIDATE_STARTD_ADS /tmp/acceptance-invalidate.ad",
             stdin=f'MyType = "Query"\nTargetType = "Machine"\nRequirements = {requirements}\n')


# ------------------------------------------------------------------ the user's jobs

def submit_jobs(grid: E2EGrid, description: str, name: str) -> str:
    """``condor_submit`` a description as alice on submit (kept in /tmp/<name>.sub);
    the cluster id."""
    out = grid.out("submit", f"cat > /tmp/{name}.sub && condor_submit -terse /tmp/{name}.sub",
                   user="alice", stdin=description)
    return out.split(".", 1)[0]


def sleep_jobs(n: int, seconds: int, requirements: str, *, cpus: int = 1,
               extra: str = "") -> str:
    """A submit description of ``n`` sleep jobs of ``seconds`` (64 MB, 1 GB of disk) that
    only slots matching ``requirements`` run; ``extra``: more submit lines."""
    return f"""universe = vanilla
executable = /bin/sleep
arguments = {seconds}
request_cpus = {cpus}
request_memory = 64
request_disk = 1024
requirements = {requirements}
{extra}queue {n}
"""


def site_jobs(kind: str, cpus: int, sites: str, n: int, *, seconds: int, log: str) -> str:
    """A submit description of ``n`` sleep jobs for the site list ``sites`` (run only on
    glideins of those sites); ``RanAtEntry`` records the glidein's entry in the history."""
    return sleep_jobs(n, seconds, "stringListMember(TARGET.GLIDEIN_Site, MY.DESIRED_Sites)",
                      cpus=cpus, extra=f"""+DESIRED_Sites = "{sites}"
+GwmsTestKind = "{kind}"
+RanAtEntry = "$$(GLIDEIN_Entry_Name:none)"
log = {log}
""")


def remove_user_jobs(grid: E2EGrid) -> None:
    """Remove all of alice's jobs (none queued is fine)."""
    grid.run("submit", "condor_rm alice >/dev/null 2>&1 || true", user="alice")


def queued_user_jobs(grid: E2EGrid) -> int:
    """How many of alice's jobs are in the queue."""
    out = grid.out("submit", "condor_q alice -af ClusterId 2>/dev/null | wc -l", user="alice")
    return int(out or 0)


# ------------------------------------------------------------------ the frontend

def restart_frontend(grid: E2EGrid) -> float:
    """Restart the deployed frontend; return cm's clock just before (its first cycle
    after the restart started later)."""
    t = now(grid)
    grid.run("cm", "systemctl restart gwms-frontend && systemctl is-active -q gwms-frontend")
    return t


def install_frontend_config(grid: E2EGrid, config: dict[str, Any]) -> None:
    """Write the frontend's configuration and validate it as the service user (the
    service picks it up at its next restart)."""
    grid.run("cm", f"cat > {FRONTEND_CONFIG} && runuser -u vofrontend -- "
             f"/opt/gwms/venv/bin/gwms config validate {FRONTEND_CONFIG}",
             stdin=yaml.safe_dump(config, sort_keys=False))


def request_ads(grid: E2EGrid, client: str = FRONTEND_CLIENT) -> list[dict[str, Any]]:
    """The ``glideclient`` ads of one frontend client in the WMS collector (cm)."""
    raw = grid.out("cm", "condor_status -any -json -constraint " + shlex.quote(
        f'MyType == "glideclient" && ClientName == "{client}"'))
    return list(json.loads(raw)) if raw else []


def by_entry(ad: dict[str, Any]) -> str:
    """A request ad's short entry name (``ReqName`` up to the first ``@``)."""
    return str(ad["ReqName"]).split("@", 1)[0]


def requests_after(grid: E2EGrid, t: float, want: Collection[K],
                   key: Callable[[dict[str, Any]], K], timeout: float = 120,
                   client: str = FRONTEND_CLIENT) -> dict[K, dict[str, Any]]:
    """The first request ads, by ``key``, in which every key of ``want`` was made by a
    cycle that started after ``t`` (cm's clock); all of the client's ads are returned."""
    found: dict[K, dict[str, Any]] = {}

    def fresh() -> bool:
        ads = {key(ad): ad for ad in request_ads(grid, client)}
        if all(k in ads and ads[k]["GwmsCycleStarted"] > t for k in want):
            found.update(ads)
            return True
        return False

    grid.wait_for(f"request ads of a cycle after {t:.1f}", fresh, timeout=timeout, interval=1)
    return found


# ------------------------------------------------------------------ glideins

def condor_status(grid: E2EGrid, constraint: str, attrs: str) -> list[str]:
    """``condor_status -af attrs`` of the user pool's slots matching ``constraint`` (cm),
    a line per slot ([] when the command fails)."""
    out = grid.out("cm", f"condor_status -const {shlex.quote(constraint)} -af {attrs}",
                   check=False)
    return [line for line in out.splitlines() if line.strip()]


def pool_glideins(grid: E2EGrid) -> int:
    """Glidein slots in the user pool (cm's collector)."""
    return int(grid.out("cm", "condor_status -const '!isUndefined(GLIDEIN_Entry_Name)' "
                        "-af Name 2>/dev/null | wc -l"))


def factory_glideins(grid: E2EGrid, const: str = "true", attr: str = "ClusterId") -> list[str]:
    """``attr`` of each live glidein in the factory's queue (slurm) matching ``const``."""
    return grid.out("slurm", "condor_q -allusers -const "
                    + shlex.quote(f"{LIVE_GLIDEINS} && ({const})")
                    + f" -af {attr} 2>/dev/null").split()


def glideins_gone(grid: E2EGrid, sites: bool = False) -> bool:
    """No glidein in the user pool or the factory's queue; with ``sites``, also no job in
    Slurm's queue or the CE's schedd."""
    if pool_glideins(grid) or factory_glideins(grid):
        return False
    if not sites:
        return True
    return (grid.out("slurm", "squeue -h | wc -l") == "0"
            and grid.out("ce", "condor_q -allusers -af ClusterId 2>/dev/null | wc -l") == "0")
