"""End-to-end on the podman grid: tests/e2e/run.sh as a test (marked ``grid``).

The e2e_grid fixture (conftest.py) deploys gwms-e2e-{cm,submit,slurm,ce} with the
collection's site playbook once per session; this test then runs the 20-job workload on
it: jobs that only glideins can run, which must all complete, the glideins retire and the
sites' queues empty. Needs root and podman; skips otherwise (fails instead with
GWMS_GRID_REQUIRED=1).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from e2e_helpers import E2EGrid

pytestmark = [pytest.mark.grid, pytest.mark.slow]

RUN = Path(__file__).resolve().parent / "run.sh"


def test_jobs_run_on_glideins_from_slurm_and_glideins_retire(e2e_grid: E2EGrid) -> None:
    # e2e_grid deployed the hosts this session: no second converge.
    proc = subprocess.run([str(RUN), "--jobs", "20"], capture_output=True, text=True,
                          timeout=3600, check=False,
                          env=dict(os.environ, GWMS_E2E_PREFIX=e2e_grid.prefix,
                                   GWMS_E2E_SKIP_CONVERGE="1"))
    tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-40:])
    assert proc.returncode == 0, tail
    m = re.search(r"E2E RESULT jobs=(\d+) first_running_s=(\d+) last_done_s=(\d+) "
                  r"retired_s=(\d+) entries=(\S*)", proc.stdout)
    assert m, tail
    jobs, first, last, retired = (int(g) for g in m.groups()[:4])
    assert jobs == 20
    assert first <= last <= retired
    # every job ran on a glidein of some entry (the job ad records the glidein's entry)
    per_entry = dict(item.split("=") for item in m.group(5).split(",") if item)
    assert "none" not in per_entry, per_entry
    assert sum(int(n) for n in per_entry.values()) == 20, per_entry
    print(m.group(0))
