"""The playbooks on their own (grid): a change reaches only its service, bad input
changes nothing, an interrupted run converges.

Runs on the deployed end-to-end grid (the session fixture ``e2e_grid``, see conftest.py)
and drives the collection's playbooks the way an operator would (playbook_runs.py:
``tests/grid/converge.sh`` with a copy of ``tests/e2e/inventory``):

* a log server change (its retention) run through ``reconfigure.yml`` changes only its
  host (cm) and restarts only the log server;
* an invalid change (a limit ``"abc"``, a match expression that does not parse) fails
  before any file is written; files and service processes stay as they were;
* ``site.yml`` killed halfway and run again converges with one of each service and the
  same keys and tokens.

Reconfiguration and upgrade under a running job are in test_system_acceptance.py. Every
test puts the deployment back (original inventory). Needs root and podman (``e2e_grid``
skips otherwise).
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from e2e_helpers import E2EGrid
from grid_jobs import main_pid
from playbook_runs import (
    CONVERGE,
    FACTORY_DIR,
    FRONTEND_DIR,
    INVENTORY,
    LOGSERVER_CONF,
    VENV,
    edited_inventory,
    logserver_answers,
    original,
    playbook,
    playbook_env,
    secrets_fingerprints,
    sha256,
)

pytestmark = [pytest.mark.grid, pytest.mark.slow]


def test_logserver_change_reaches_only_the_log_server(e2e_grid: E2EGrid, tmp_path: Path) -> None:
    grid = e2e_grid
    days = original("gwms_logservers", "gwms_logserver_retention_days")
    conf = f"{LOGSERVER_CONF}/logserver.yaml"
    retention = f"grep '^retention_days:' {conf}"
    assert grid.out("cm", retention) == f"retention_days: {float(days)}"
    pids = {u: main_pid(grid, h, u) for h, u in (("slurm", "gwms-factory"),
                                                 ("cm", "gwms-frontend"),
                                                 ("cm", "gwms-logserver"))}
    files = {"slurm": sha256(grid, "slurm", f"{FACTORY_DIR}/factory.yaml",
                             f"{FACTORY_DIR}/entries.yaml"),
             "cm": sha256(grid, "cm", f"{FRONTEND_DIR}/frontend.yaml",
                          f"{LOGSERVER_CONF}/users", f"{LOGSERVER_CONF}/upload.key")}
    try:
        inv = edited_inventory(tmp_path, logservers={"gwms_logserver_retention_days": days + 2})
        run = playbook(grid, "reconfigure", inv)
        assert run.rc == 0, run.output[-3000:]
        assert run.changed("cm") > 0 and run.changed("slurm") == 0, run.lines()
        # nothing installed: reconfigure.yml skips the log server's install tasks
        assert "gwms_logserver : Install | Packages" not in run.output
        assert grid.out("cm", retention) == f"retention_days: {float(days + 2)}"
        assert main_pid(grid, "cm", "gwms-logserver") != pids["gwms-logserver"]
        assert main_pid(grid, "cm", "gwms-frontend") == pids["gwms-frontend"]
        assert main_pid(grid, "slurm", "gwms-factory") == pids["gwms-factory"]
        grid.wait_for("the log server to answer", lambda: logserver_answers(grid), timeout=60)
    finally:
        run = playbook(grid, "reconfigure")
    assert run.rc == 0, run.output[-3000:]
    assert run.changed("cm") > 0 and run.changed("slurm") == 0, run.lines()
    assert grid.out("cm", retention) == f"retention_days: {float(days)}"
    assert {"slurm": sha256(grid, "slurm", *files["slurm"]),
            "cm": sha256(grid, "cm", *files["cm"])} == files
    assert main_pid(grid, "cm", "gwms-frontend") == pids["gwms-frontend"]
    assert main_pid(grid, "slurm", "gwms-factory") == pids["gwms-factory"]
    grid.wait_for("the log server to answer", lambda: logserver_answers(grid), timeout=60)


@pytest.mark.parametrize("change", ["factory limit 'abc'", "frontend match_expr"])
def test_invalid_change_fails_before_anything_is_applied(e2e_grid: E2EGrid, change: str,
                                                         tmp_path: Path) -> None:
    grid = e2e_grid
    if change.startswith("factory"):
        entries = original("gwms_factories", "gwms_factory_entries")
        entries["SLURM_e2e"]["limits"]["max_glideins"] = "abc"
        inv = edited_inventory(tmp_path, factories={"gwms_factory_entries": entries})
        expect = "max_glideins: expected integer"
    else:
        groups = original("gwms_frontends", "gwms_frontend_groups")
        groups["main"]["match_expr"] = "glidein.GLIDEIN_CPUS >= job.RequestCpus &&"
        inv = edited_inventory(tmp_path, frontends={"gwms_frontend_groups": groups})
        expect = "does not parse"
    files = {"slurm": [f"{FACTORY_DIR}/entries.yaml", f"{FACTORY_DIR}/factory.yaml"],
             "cm": [f"{FRONTEND_DIR}/frontend.yaml"]}
    before = {h: sha256(grid, h, *p) for h, p in files.items()}
    pids = (main_pid(grid, "slurm", "gwms-factory"), main_pid(grid, "cm", "gwms-frontend"))

    run = playbook(grid, "reconfigure", inv)

    assert run.rc != 0, run.lines()
    assert expect in run.output, run.output[-3000:]
    assert all(r["changed"] == 0 for r in run.recap.values()), run.lines()
    assert {h: sha256(grid, h, *p) for h, p in files.items()} == before
    assert (main_pid(grid, "slurm", "gwms-factory"), main_pid(grid, "cm", "gwms-frontend")) == pids
    grid.run("slurm", "systemctl is-active -q gwms-factory gwms-staging")
    grid.run("cm", "systemctl is-active -q gwms-frontend")


def test_interrupted_site_playbook_converges_without_duplicates(e2e_grid: E2EGrid) -> None:
    grid = e2e_grid
    secrets = secrets_fingerprints(grid)
    tokens = {h: grid.out(h, "ls /etc/condor/tokens.d") for h in ("cm", "submit", "slurm", "ce")}
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen([str(CONVERGE)], stdout=log, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True,
                                env=playbook_env(grid, INVENTORY, "gwms.glideinwms.site", None))
        # Halfway: in the pool's security tasks (signing key, host tokens), with the
        # factory key, WMS tokens and services still ahead.
        t0 = time.monotonic()
        while proc.poll() is None and time.monotonic() - t0 < 900:
            log.seek(0)
            if "gwms.glideinwms.condor : Security | " in log.read():
                break
            time.sleep(1)
        assert proc.poll() is None, "site.yml ended before it could be interrupted"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        print(f"\nsite.yml killed after {time.monotonic() - t0:.0f} s")
    run = playbook(grid, "site")
    assert run.rc == 0, run.output[-3000:]
    assert set(run.recap) == {"cm", "submit", "slurm", "ce"}, run.lines()
    assert secrets_fingerprints(grid) == secrets
    assert {h: grid.out(h, "ls /etc/condor/tokens.d") for h in tokens} == tokens
    # one of each service process (anchored: not the bash -c that runs pgrep; the
    # glideins' condor_masters are children of their startup script), one ad per entry
    assert grid.out("slurm", f"pgrep -cf '^{VENV}/bin/python {VENV}/bin/gwms factory run'") == "1"
    assert grid.out("slurm", "pgrep -cf '^/usr/bin/python3 -m http.server 8080'") == "1"
    assert grid.out("cm", f"pgrep -cf '^{VENV}/bin/python {VENV}/bin/gwms frontend run'") == "1"
    assert grid.out("slurm", "pgrep -c -P 1 -x condor_master") == "1"
    assert grid.out("cm", "pgrep -c -P 1 -x condor_master") == "1"
    names = grid.out("cm", "condor_status -any -const 'MyType == \"glidefactory\"' -af Name")
    assert sorted(names.split()) == sorted(set(names.split())), names
    assert len(names.split()) == len(original("gwms_factories", "gwms_factory_entries"))
