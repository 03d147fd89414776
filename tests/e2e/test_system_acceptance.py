"""The whole system from one inventory: reconfigure and upgrade under a running job (grid).

Runs on the deployed end-to-end grid (the session fixture ``e2e_grid``, see conftest.py)
and drives the collection's playbooks the way an operator would (playbook_runs.py:
``tests/grid/converge.sh`` with a copy of ``tests/e2e/inventory``), while one user job
runs on a glidein all along (the module's ``long_job``):

* an inventory change (a limit, a new entry, a new frontend group) run through
  ``reconfigure.yml`` changes only the affected host, and the live services show it (the
  factory's entry ads in the WMS collector, the frontend's request ads), while the job
  keeps running on its glidein;
* ``upgrade.yml`` from the previous version (the same sources with a lower version
  number) to the current wheel keeps the factory key, tokens and state, the log server's
  key, certificate and stored logs, and the job on its glidein runs on through both
  upgrades and completes.

A log server change, invalid changes and an interrupted ``site.yml`` are in
test_playbooks_acceptance.py; host restarts (factory host, central manager) in
test_restart_acceptance.py.

Every test puts the deployment back (original inventory and wheel, jobs gone); at the end
of the module the glideins are waited out. Needs root and podman (``e2e_grid`` skips
otherwise).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from e2e_helpers import E2EGrid
from grid_jobs import glideins_gone, main_pid
from playbook_runs import (
    FACTORY_DIR,
    FRONTEND_DIR,
    LOGSERVER_VENV,
    edited_inventory,
    installed_version,
    logserver_answers,
    logserver_data,
    logserver_kept,
    original,
    playbook,
    previous_wheelhouse,
    secrets_fingerprints,
    sha256,
)

pytestmark = [pytest.mark.grid, pytest.mark.slow]

# The long job waits for this file on its worker node (slurm or ce).
RELEASE = "/etc/gwms-acceptance.release"


def entry_ads(grid: E2EGrid) -> dict[str, dict[str, str]]:
    """The factory's entry ads in the WMS collector (cm): entry -> a few attributes."""
    attrs = ["EntryName", "GlideinConfigPerEntryMaxGlideins", "GlideinConfigPerEntryMaxIdle"]
    out = grid.out("cm", "condor_status -any -const 'MyType == \"glidefactory\"' -af "
                   + " ".join(attrs))
    return {f[0]: dict(zip(attrs[1:], f[1:], strict=True))
            for f in (line.split() for line in out.splitlines()) if len(f) == len(attrs)}


def request_groups(grid: E2EGrid) -> set[str]:
    """Groups named by the frontend's request ads in the WMS collector."""
    out = grid.out("cm", "condor_status -any -const 'MyType == \"glideclient\"' -af GroupName")
    return set(out.split())


def job_state(grid: E2EGrid, cluster: str) -> tuple[str, str, str, str]:
    """JobStatus, RemoteHost, JobCurrentStartDate, NumJobStarts (queue, else history)."""
    attrs = "JobStatus RemoteHost JobCurrentStartDate NumJobStarts"
    out = grid.out("submit", f"condor_q {cluster} -af {attrs} 2>/dev/null", user="alice")
    if not out:
        out = grid.out("submit", f"condor_history {cluster} -limit 1 -af {attrs}", user="alice")
    fields = [*out.split(), "", "", "", ""][:4]
    return fields[0], fields[1], fields[2], fields[3]


def assert_same_run(grid: E2EGrid, cluster: str, before: tuple[str, str, str, str]) -> None:
    """The job still runs its first run: same status, slot and start time as ``before``.
    NumJobStarts may have gone from 0 to 1 meanwhile (the shadow sends it to the schedd
    with its periodic update, SHADOW_QUEUE_UPDATE_INTERVAL, 15 min by default); a
    restart would make it 2 or change the start time."""
    after = job_state(grid, cluster)
    assert after[:3] == before[:3] and after[3] in ("0", "1"), (before, after)


@pytest.fixture(scope="module")
def long_job(e2e_grid: E2EGrid) -> Iterator[str]:
    """One user job held running on a glidein until the module ends (then released).

    It waits for RELEASE on its worker node; the tests check it keeps its glidein (same
    slot, same start time) through reconfiguration and upgrade. At the end it must
    complete having started once (NumJobStarts 1 in the history), and
    the glideins must retire.
    """
    grid = e2e_grid
    for host in ("slurm", "ce"):
        grid.run(host, f"rm -f {RELEASE}")
    script = (f"#!/bin/sh\ni=0\nwhile [ ! -e {RELEASE} ] && [ \"$i\" -lt 1200 ]; do\n"
              "  sleep 2; i=$((i + 1))\ndone\n")
    grid.run("submit", "cat > /tmp/acceptance-long.sh && chmod 755 /tmp/acceptance-long.sh",
             user="alice", stdin=script)
    sub = """universe = vanilla
executable = /tmp/acceptance-long.sh
request_cpus = 1
request_memory = 64
request_disk = 1024
requirements = !isUndefined(TARGET.GLIDEIN_Entry_Name)
log = /tmp/acceptance-long.log
queue 1
"""
    cluster = grid.out("submit", "cat > /tmp/acceptance-long.sub && "
                       "condor_submit -terse /tmp/acceptance-long.sub | cut -d. -f1",
                       user="alice", stdin=sub)
    try:
        grid.wait_for("the long job to run on a glidein",
                      lambda: job_state(grid, cluster)[0] == "2", timeout=600, interval=5)
        yield cluster
        for host in ("slurm", "ce"):
            grid.run(host, f"touch {RELEASE}")
        grid.wait_for("the long job to complete", lambda: job_state(grid, cluster)[0] == "4",
                      timeout=300, interval=5)
        assert job_state(grid, cluster)[3] == "1", "the long job was restarted"
    finally:
        grid.run("submit", f"condor_rm {cluster} >/dev/null 2>&1 || true", user="alice")
        for host in ("slurm", "ce"):
            grid.run(host, f"touch {RELEASE}")
        grid.wait_for("the glideins to retire", lambda: glideins_gone(grid), timeout=900,
                      interval=10)
        for host in ("slurm", "ce"):
            grid.run(host, f"rm -f {RELEASE}")


def test_inventory_changes_reach_only_the_affected_service(e2e_grid: E2EGrid,
                                                            long_job: str,
                                                            tmp_path: Path) -> None:
    grid = e2e_grid
    job_before = job_state(grid, long_job)
    factory_pid = main_pid(grid, "slurm", "gwms-factory")
    frontend_files = sha256(grid, "cm", f"{FRONTEND_DIR}/frontend.yaml")
    entries = original("gwms_factories", "gwms_factory_entries")
    groups = original("gwms_frontends", "gwms_frontend_groups")
    assert entry_ads(grid)["SLURM_e2e"]["GlideinConfigPerEntryMaxGlideins"] == "8"

    # 1. A factory change: one limit lowered, one entry added -> slurm only.
    changed_entries = yaml.safe_load(yaml.safe_dump(entries))
    changed_entries["SLURM_e2e"]["limits"]["max_glideins"] = 7
    changed_entries["SLURM_e2e_extra"] = {**entries["SLURM_e2e"], "site": "E2E_Slurm_extra"}
    try:
        inv = edited_inventory(tmp_path, factories={"gwms_factory_entries": changed_entries})
        run = playbook(grid, "reconfigure", inv)
        assert run.rc == 0, run.output[-3000:]
        assert run.changed("slurm") > 0 and run.changed("cm") == 0, run.lines()
        grid.wait_for("the new limit and entry in the WMS collector", lambda: (
            (ads := entry_ads(grid)).get("SLURM_e2e", {}).get("GlideinConfigPerEntryMaxGlideins")
            == "7" and "SLURM_e2e_extra" in ads), timeout=120)
        assert main_pid(grid, "slurm", "gwms-factory") == factory_pid, "factory restarted"
        assert sha256(grid, "cm", f"{FRONTEND_DIR}/frontend.yaml") == frontend_files

        # 2. A new frontend group, factory back to the original -> both hosts.
        changed_groups = {**groups, "extra": {**groups["main"], "start_expr": "true"}}
        inv = edited_inventory(tmp_path, frontends={"gwms_frontend_groups": changed_groups})
        run = playbook(grid, "reconfigure", inv)
        assert run.rc == 0, run.output[-3000:]
        assert run.changed("slurm") > 0 and run.changed("cm") > 0, run.lines()
        assert "extra:" in grid.out("cm", f"cat {FRONTEND_DIR}/frontend.yaml")
        grid.wait_for("requests of the new group in the WMS collector",
                      lambda: "extra" in request_groups(grid), timeout=120)
        grid.wait_for("the removed entry to leave the WMS collector", lambda: (
            (ads := entry_ads(grid)).get("SLURM_e2e", {}).get("GlideinConfigPerEntryMaxGlideins")
            == "8" and "SLURM_e2e_extra" not in ads), timeout=120)
        assert main_pid(grid, "slurm", "gwms-factory") == factory_pid, "factory restarted"
    finally:
        # 3. The original inventory -> the frontend host only.
        run = playbook(grid, "reconfigure")
    assert run.rc == 0, run.output[-3000:]
    assert run.changed("cm") > 0 and run.changed("slurm") == 0, run.lines()
    assert sha256(grid, "cm", f"{FRONTEND_DIR}/frontend.yaml") == frontend_files
    # The job kept its glidein all along: same slot, same start, started once.
    assert_same_run(grid, long_job, job_before)
    assert job_before[0] == "2", job_before


def test_upgrade_from_previous_version_keeps_state_and_glideins(e2e_grid: E2EGrid,
                                                                long_job: str,
                                                                tmp_path: Path) -> None:
    grid = e2e_grid
    new = installed_version(grid, "slurm")
    house, old = previous_wheelhouse(grid, tmp_path)
    secrets = secrets_fingerprints(grid)
    job_before = job_state(grid, long_job)
    state = f"{FACTORY_DIR}/factory-state.json"
    submitted = (f"python3 -c 'import json; "
                 f"print(json.load(open(\"{state}\"))[\"counters\"][\"submitted\"])'")
    before = int(grid.out("slurm", submitted))
    assert before > 0
    logs = logserver_data(grid)
    print(f"\nlog server before: {len(logs[0])} stored files, index rows {logs[1]}")
    try:
        down = playbook(grid, "upgrade", wheelhouse=house)
        assert down.rc == 0, down.output[-3000:]
        assert installed_version(grid, "slurm") == old and installed_version(grid, "cm") == old
        assert installed_version(grid, "cm", LOGSERVER_VENV) == old
    finally:
        up = playbook(grid, "upgrade")
    assert up.rc == 0, up.output[-3000:]
    assert up.changed("slurm") > 0 and up.changed("cm") > 0, up.lines()
    assert installed_version(grid, "slurm") == new and installed_version(grid, "cm") == new
    assert installed_version(grid, "cm", LOGSERVER_VENV) == new
    grid.run("slurm", "systemctl is-active -q gwms-factory gwms-staging")
    grid.run("cm", "systemctl is-active -q gwms-frontend gwms-logserver")
    assert secrets_fingerprints(grid) == secrets
    # the log server kept what it stored (glideins that ended meanwhile added to it)
    logserver_kept(grid, logs)
    assert logserver_answers(grid)
    # the factory's state was kept (its counters count on), the job's glidein still runs it
    assert int(grid.out("slurm", submitted)) >= before
    assert_same_run(grid, long_job, job_before)
    slot = job_before[1]
    assert grid.out("cm", f"condor_status -const 'Name == \"{slot}\"' -af State") == "Claimed"
