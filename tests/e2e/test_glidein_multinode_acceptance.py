"""A multi-node glidein on the local grid's Slurm site (issue 6): one batch job, one
startd per node.

Runs on the deployed end-to-end grid (session fixture ``e2e_grid``). On the ``slurm``
host (slurmctld and the virtual nodes n1..n4) it builds a staging area from this source
tree's ``glidein/``, mints a pool token for ``glidein@gwms.test`` on ``cm`` and submits
``glidein_startup.sh`` itself with ``sbatch -N 2`` (what blahp does for a factory entry
asking for two hosts), without ``--nodes``: the pilot reads the node count from Slurm
(``SLURM_JOB_NUM_NODES``), launches one node pilot per node with ``srun`` (the pilot
copied to each node with ``--bcast``, the token passed in the environment), and waits.
The test checks that

* two startds of that one Slurm job appear in the user pool's collector, authenticated
  by IDTOKEN, with node indexes 0 and 1 and different Slurm nodes;
* a user job (alice on ``submit``) runs on one of them (it asks for 2 CPUs, which the
  test glideins have and the deployed entries do not, so the deployed frontend sees no
  demand for it and the factory submits no glidein of its own);
* once idle (``GLIDEIN_Max_Idle`` 30 s) both startds leave, the node pilots end, the
  leader ends and the Slurm job completes with exit code 0; the leader's JSON log says
  all node pilots ended; the broadcast copies of the pilot are gone.

Leaves the deployment as it found it: the job removed, the Slurm job gone, the startds
gone from the collector, the test directory removed (the ``mnpilot`` account stays).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from e2e_helpers import REPO, E2EGrid
from grid_jobs import condor_status

pytestmark = [pytest.mark.grid, pytest.mark.slow]

HOST = "slurm"
BASE = "/var/tmp/gwms-mn"
USER = "mnpilot"
ENTRY = "MN_accept"
FACTORY = "mn-test"
VENV = "/opt/gwms/venv"
IDLE = 30

STAGE = f"""set -e
rm -rf {BASE}/stage
{VENV}/bin/python - <<'EOF'
from pathlib import Path
from gwms_core import staging
files = staging.glidein_files(Path("{BASE}/glidein"),
                              params={{"GLIDEIN_Max_Idle": {IDLE}, "GLIDEIN_CPUS": 2,
                                      "GLIDEIN_MEMORY": 512}})
print(staging.build_staging(files, Path("{BASE}/stage")).digest)
EOF
chmod -R a+rX {BASE}/stage {BASE}/glidein
"""


@dataclass(frozen=True)
class MultiNode:
    """The submitted Slurm job."""

    job_id: str


def slurm_job(grid: E2EGrid, job_id: str) -> dict[str, str]:
    """``scontrol show job`` as a dict (empty once Slurm forgot the job)."""
    out = grid.out(HOST, f"scontrol -o show job {job_id} 2>/dev/null", check=False)
    fields: dict[str, str] = {}
    for word in out.split():
        key, sep, value = word.partition("=")
        if sep:
            fields.setdefault(key, value)
    return fields


MINE = f'GLIDEIN_Factory =?= "{FACTORY}"'


@pytest.fixture(scope="module")
def multinode(e2e_grid: E2EGrid) -> Iterator[MultiNode]:
    """Stage, mint the token, submit the 2-node glidein; clean everything up after."""
    g = e2e_grid
    g.run(HOST, f"id {USER} >/dev/null 2>&1 || useradd -m -s /bin/bash {USER}\n"
                f"rm -rf {BASE} && mkdir -p {BASE}/work {BASE}/tmp {BASE}/out\n"
                f"chown {USER} {BASE}/work {BASE}/tmp {BASE}/out")
    g.copy(HOST, REPO / "glidein", f"{BASE}/glidein")
    digest = g.out(HOST, STAGE).splitlines()[-1]
    token = g.out("cm", "condor_token_create -identity glidein@gwms.test -lifetime 3600")
    g.run(HOST, f"umask 077; cat > {BASE}/token; chown {USER} {BASE}/token",
          stdin=token + "\n")
    args = [f"{BASE}/stage/glidein_startup.sh",
            "--manifest-url", f"file://{BASE}/stage/manifest.sha256",
            "--manifest-sha256", digest, "--factory", FACTORY, "--entry", ENTRY,
            "--frontend", FACTORY, "--group", "main", "--site", "MN_Site",
            "--walltime", "900", "--collector", "cm.dns.podman",
            "--token-file", f"{BASE}/token", "--work-dir", f"{BASE}/work",
            "--keep-work-dir"]
    submit = (f"cd {BASE}/tmp && TMPDIR={BASE}/tmp sbatch --parsable -N 2 "
              f"--ntasks-per-node=1 -t 15 -J gwms-mn -o {BASE}/out/%j.out "
              f"{shlex.join(args)}")
    job_id = g.out(HOST, submit, user=USER).split(";")[0]
    assert job_id.isdigit(), job_id
    try:
        yield MultiNode(job_id)
    finally:
        g.run("submit", "condor_rm -const 'GwmsMnTest =?= true' >/dev/null 2>&1 || true",
              user="alice", check=False)
        g.run(HOST, f"scancel {job_id} 2>/dev/null; true", check=False)
        g.wait_for("the test glideins to leave the collector",
                   lambda: not condor_status(g, MINE, "Name"), timeout=180)
        g.wait_for("the Slurm job to end",
                   lambda: slurm_job(g, job_id).get("JobState", "COMPLETED")
                   not in ("PENDING", "RUNNING", "COMPLETING"), timeout=120)
        g.run(HOST, f"rm -rf {BASE}", check=False)


def test_two_nodes_give_two_startds_of_one_slurm_job(e2e_grid: E2EGrid,
                                                      multinode: MultiNode) -> None:
    g = e2e_grid
    attrs = "Name GLIDEIN_Node_Index GLIDEIN_Nodes GLIDEIN_Batch_Node AuthenticationMethod"
    constraint = f"{MINE} && PartitionableSlot =?= true"
    g.wait_for("two startds of the 2-node glidein",
               lambda: len(condor_status(g, constraint, "Name")) >= 2, timeout=180)
    rows = sorted(line.split() for line in condor_status(g, constraint, attrs))
    assert len(rows) == 2, rows
    assert {r[1] for r in rows} == {"0", "1"}
    assert {r[2] for r in rows} == {"2"}
    assert len({r[0] for r in rows}) == 2
    nodes = {r[3] for r in rows}
    assert len(nodes) == 2 and nodes <= {"n1", "n2", "n3", "n4"}, rows
    assert {r[4] for r in rows} == {"IDTOKENS"}
    job = slurm_job(g, multinode.job_id)
    assert job["JobState"] == "RUNNING" and job["NumNodes"] == "2", job


def test_a_user_job_runs_and_the_batch_job_ends_when_both_are_idle(
        e2e_grid: E2EGrid, multinode: MultiNode) -> None:
    g = e2e_grid
    g.run("submit", "id alice >/dev/null 2>&1 || useradd -m -s /bin/bash alice")
    sub = (f"universe = vanilla\nexecutable = /bin/hostname\n"
           f"requirements = (GLIDEIN_Factory =?= \"{FACTORY}\")\n"
           "request_cpus = 2\nrequest_memory = 64\nrequest_disk = 1024\n"
           "+GwmsMnTest = true\nlog = /tmp/gwms-mn.log\nqueue 1\n")
    cluster = g.out("submit", f"cat > /tmp/gwms-mn.sub <<'EOF'\n{sub}EOF\n"
                              "condor_submit -terse /tmp/gwms-mn.sub", user="alice")
    cluster = cluster.split(".")[0].strip()

    def done() -> bool:
        out = g.out("submit", f"condor_history {cluster} -af JobStatus ExitCode", user="alice",
                    check=False)
        return out.split()[:2] == ["4", "0"]

    g.wait_for(f"user job {cluster} to run on the multi-node glidein", done, timeout=180)
    remote = g.out("submit", f"condor_history {cluster} -af LastRemoteHost", user="alice")
    assert "glidein_n" in remote, remote
    # idle: both startds leave, the node pilots and then the leader end, Slurm completes
    g.wait_for("the Slurm job to complete",
               lambda: slurm_job(g, multinode.job_id).get("JobState") == "COMPLETED",
               timeout=IDLE + 180, interval=5)
    assert slurm_job(g, multinode.job_id)["ExitCode"] == "0:0"
    assert not condor_status(g, MINE, "Name")
    logs = g.out(HOST, f"cat {BASE}/work/glidein.*/log/glidein.jsonl")
    records = [json.loads(line) for line in logs.splitlines() if line.strip()]
    messages = [r["message"] for r in records]
    assert "multi-node glidein: all 2 node pilots ended" in messages
    starts = [m for m in messages if m.startswith("multi-node glidein: starting 2 node pilots")]
    assert len(starts) == 1 and "srun" in starts[0], messages
    assert sum(m == "condor_master ended normally" for m in messages) == 2, messages
    # node pilots log as glidein_startup.sh[n0] and [n1]
    assert {r["script"] for r in records} >= {"glidein_startup.sh[n0]", "glidein_startup.sh[n1]"}
    # the broadcast copies removed themselves; no token was left outside the work dirs
    assert g.out(HOST, f"ls -A {BASE}/tmp") == ""
