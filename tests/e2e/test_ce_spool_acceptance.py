"""The ce host's gwms-ce-spool-cleanup timer and script, on the deployed grid.

HTCondor-C leaves a copy held at "Spooling input data files" (HoldReasonCode 16) on the CE
when the client removes its job while it is still submitting it. The schedd does not
evaluate ``SYSTEM_PERIODIC_REMOVE`` for such jobs, so the ``condor`` role's ``ce`` part
installs a systemd timer that removes them after ``condor_ce_spool_hold_remove_s``.

The test makes such a copy on purpose: ``Schedd.submit(..., spool=True)`` without the
spool call that would follow leaves the job held with code 16, exactly like an abandoned
HTCondor-C submission. A job submitted on hold (code 15) is the control: it must stay.
"""

from __future__ import annotations

import pytest
from e2e_helpers import E2EGrid

pytestmark = [pytest.mark.grid, pytest.mark.slow]

USER = "gwmsspool"
SUBMIT = r"""
import sys
import htcondor2
spool = sys.argv[1] == "spool"
sub = htcondor2.Submit({
    "executable": "/bin/true",
    "transfer_input_files": "/etc/hostname",
    "should_transfer_files": "YES",
    "hold": "false" if spool else "true",
    "+GwmsSpoolTest": "true",
})
print(htcondor2.Schedd().submit(sub, count=1, spool=spool).cluster())
"""


def job(grid: E2EGrid, cluster: str) -> str:
    """``JobStatus HoldReasonCode`` of a cluster's job on the CE, or "" once it left."""
    return grid.out("ce", f"condor_q {cluster}.0 -af JobStatus HoldReasonCode")


def test_ce_timer_removes_only_jobs_held_in_input_spooling(e2e_grid: E2EGrid) -> None:
    grid = e2e_grid
    # The role's timer and its unit, as deployed from the inventory (3600 s there).
    assert grid.out("ce", "systemctl is-enabled gwms-ce-spool-cleanup.timer") == "enabled"
    assert grid.out("ce", "systemctl is-active gwms-ce-spool-cleanup.timer") == "active"
    exec_start = grid.out("ce", "systemctl show -p ExecStart gwms-ce-spool-cleanup.service")
    assert "/usr/local/sbin/gwms-ce-spool-cleanup" in exec_start
    grid.run("ce", f"id {USER} >/dev/null 2>&1 || useradd --system --create-home {USER}")
    clusters: list[str] = []
    try:
        grid.run("ce", f"cat > /tmp/spool-submit.py <<'EOF'\n{SUBMIT}\nEOF\n"
                       "chmod 0644 /tmp/spool-submit.py")
        spooled = grid.out("ce", "python3 /tmp/spool-submit.py spool", user=USER)
        clusters.append(spooled)
        held = grid.out("ce", "python3 /tmp/spool-submit.py hold", user=USER)
        clusters.append(held)
        assert job(grid, spooled) == "5 16", "the spool-submitted job is not held for its input"
        assert job(grid, held) == "5 15"

        # The unit with the inventory's age (3600 s): both jobs are younger, both stay.
        grid.run("ce", "systemctl start gwms-ce-spool-cleanup.service")
        assert job(grid, spooled) == "5 16"
        assert job(grid, held) == "5 15"

        # The script with a 2 s age removes the spooling copy, and only it.
        grid.wait_for("the spooling copy to be older than 2 s", lambda: float(grid.out(
            "ce", f"condor_q {spooled}.0 -af 'time() - EnteredCurrentStatus'")) > 2,
            timeout=30, interval=1)
        out = grid.out("ce", "/usr/local/sbin/gwms-ce-spool-cleanup 2")
        assert f"{spooled}.0" in out and f"{held}.0" not in out, out
        grid.wait_for("the spooling copy to leave the CE queue",
                      lambda: job(grid, spooled) == "", timeout=60, interval=1)
        assert job(grid, held) == "5 15", "a job held for another reason was removed"
        assert grid.run("ce", "/usr/local/sbin/gwms-ce-spool-cleanup x",
                        check=False).returncode == 2
    finally:
        for c in clusters:
            grid.run("ce", f"condor_rm {c} >/dev/null 2>&1; "
                           f"condor_rm -forcex {c} >/dev/null 2>&1; true")
        grid.run("ce", "rm -f /tmp/spool-submit.py")
        grid.wait_for("the test's jobs to leave the CE queue", lambda: grid.out(
            "ce", "condor_q -allusers -constraint 'GwmsSpoolTest =?= true' -af ClusterId")
            == "", timeout=120, interval=2)
        grid.run("ce", f"userdel --remove {USER} >/dev/null 2>&1; true")
