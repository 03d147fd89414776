"""Acceptance on a real Slurm: ``batch slurm`` glideins through blahp (personal HTCondor 23.9
and Slurm 24.11 from Debian 13, in the same trixie root; one node with 2 cores).

A request for N idle glideins puts N jobs in Slurm's queue within one cycle; lowering the
request (level IDLE) removes the pending ones and never the running ones; a request far
above the limits stays within them.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import factory_driver as fd  # noqa: E402
import personal_condor as pcmod  # noqa: E402
from personal_condor import wait_for  # noqa: E402
from test_factory_daemons import live, queue, request_ad  # noqa: E402

pytestmark = pytest.mark.slow

FRONTEND = "vofrontend"
GLIDEIN = "/var/tmp/gwms-test-glidein.sh"


@pytest.fixture(scope="module")
def slurm(condor: pcmod.PersonalCondor) -> Iterator[pcmod.SlurmSite]:
    # Glideins other tests left in the queue (batch slurm ones would go to this Slurm and
    # take its cores): remove every job first and wait until the queue is empty.
    import htcondor2

    schedd = htcondor2.Schedd(htcondor2.Collector(condor.collector).locate(
        htcondor2.DaemonType.Schedd))
    schedd.act(htcondor2.JobAction.Remove, "true")
    # Removed grid jobs linger while their gridmanager cleans up, and a `batch slurm` one
    # still reached Slurm once it came up (seen here: 41 extra Slurm jobs). Force them out
    # of the queue (condor_rm -forcex) and wait until it is empty.
    wait_for(lambda: not schedd.query(constraint="JobStatus != 3", projection=["ProcId"]),
             "no live job left before starting Slurm")
    schedd.act(htcondor2.JobAction.RemoveX, "JobStatus == 3")
    wait_for(lambda: not schedd.query(constraint="true", projection=["ProcId"]),
             "an empty queue before starting Slurm")
    try:
        site = pcmod.start_slurm(cpus=2)
    except pcmod.Unavailable as exc:
        pytest.skip(f"Slurm unavailable: {exc}")
    # The glidein: sleeps, so that started ones stay running. Same path on the host (the
    # submit side checks it) and in the root (the schedd and blahp read it).
    for base in (Path("/"), condor.root):
        p = base / GLIDEIN.lstrip("/")
        p.write_text("#!/bin/sh\nsleep 600\n")
        p.chmod(0o755)
    try:
        yield site
    finally:
        site.stop()


def slurm_spec(pc: pcmod.PersonalCondor, name: str, tmp: Path, **limits: int) -> dict[str, Any]:
    return {"collector": pc.collector, "name": name, "work_dir": str(tmp),
            "executable": GLIDEIN, "initialdir": "/var/tmp", "max_submit_per_cycle": 100,
            "entries": [{"name": "SLURM", "grid_type": "batch", "gatekeeper": "local",
                         **limits}]}


def test_batch_slurm_request_lower_and_limits(condor: pcmod.PersonalCondor,
                                              slurm: pcmod.SlurmSite, factory_name: str,
                                              frontend: Any, tmp_path: Path) -> None:
    f, entries = fd.make_factory(slurm_spec(condor, factory_name, tmp_path))
    f.start()
    frontend(FRONTEND, [request_ad("SLURM", factory_name, 4, 4)])
    report = f.cycle(entries)
    assert report.errors == []
    assert sum(report.submitted.values()) == 4
    # N jobs at the site after one cycle (the gridmanager hands them to blahp/sbatch)
    wait_for(lambda: len(slurm.jobs()) == 4, "4 jobs in Slurm's queue")
    # 2 cores: 2 run, 2 pend; HTCondor sees the running ones through blahp's status
    wait_for(lambda: sorted(slurm.jobs().values()) == ["PENDING", "PENDING", "RUNNING",
                                                        "RUNNING"],
             lambda: f"2 running, 2 pending (Slurm: {slurm.jobs()})")
    wait_for(lambda: sorted(j["JobStatus"] for j in live(queue(factory_name, condor)))
             == [1, 1, 2, 2], "HTCondor to see 2 running")
    running_ids = {f"{j['ClusterId']}.{j['ProcId']}" for j in queue(factory_name, condor)
                   if j["JobStatus"] == 2}
    assert f.cycle(entries).submitted == {}
    # lower the request to nothing at level IDLE: the pending ones go, the running stay
    frontend(FRONTEND, [request_ad("SLURM", factory_name, 0, 0, remove="IDLE")])
    report = f.cycle(entries)
    assert sum(report.removed.values()) == 2
    assert all(a.glidein.job_id not in running_ids for p in report.plans for a in p.remove)
    wait_for(lambda: sorted(slurm.jobs().values()) == ["RUNNING", "RUNNING"],
             "the pending Slurm jobs to be cancelled")
    still = {f"{j['ClusterId']}.{j['ProcId']}" for j in live(queue(factory_name, condor))}
    assert still == running_ids
    slurm.run("scancel", "--user", pcmod.USER)
    wait_for(lambda: not live(queue(factory_name, condor)), "the glideins to leave")


def test_batch_slurm_limits_under_a_huge_request(condor: pcmod.PersonalCondor,
                                                 slurm: pcmod.SlurmSite, factory_name: str,
                                                 frontend: Any, tmp_path: Path) -> None:
    f, entries = fd.make_factory(slurm_spec(condor, factory_name, tmp_path, max_glideins=5,
                                            max_idle=3, per_frontend_max_idle=3))
    f.start()
    frontend(FRONTEND, [request_ad("SLURM", factory_name, 10**6, 10**6)])
    wait_for(lambda: f.cycle(entries) is not None and len(slurm.jobs()) == 5
             and sorted(slurm.jobs().values()).count("RUNNING") == 2,
             lambda: f"5 glideins (2 running, 3 pending) at the site (Slurm: {slurm.jobs()}, "
                     f"queue: {[j['JobStatus'] for j in queue(factory_name, condor)]})",
             timeout=180)
    for _ in range(3):
        f.cycle(entries)
        jobs = live(queue(factory_name, condor))
        assert len(jobs) <= 5
        assert sum(1 for j in jobs if j["JobStatus"] == 1) <= 3
    assert len(slurm.jobs()) == 5
    slurm.run("scancel", "--user", pcmod.USER)
    wait_for(lambda: not live(queue(factory_name, condor)), "the glideins to leave")


def test_batch_slurm_glideins_in_pool_are_not_removed(condor: pcmod.PersonalCondor,
                                                      slurm: pcmod.SlurmSite,
                                                      factory_name: str, frontend: Any,
                                                      tmp_path: Path) -> None:
    """GlideinsInPool on real queue ads: the glideins learn their factory job on the command
    line (schedd Name = the head of GlobalJobId, $(Cluster).$(Process) expanded), and a
    lowered request that lists a glidein keeps it; without the list it goes."""
    import htcondor2

    from gwms_core.factory import attrs as A
    from gwms_core.factory.inpool import schedd_of
    from gwms_core.factory.schedd import FactorySchedd

    f, entries = fd.make_factory(slurm_spec(condor, factory_name, tmp_path))
    coll = htcondor2.Collector(condor.collector)
    name = str(coll.locate(htcondor2.DaemonType.Schedd)["Name"])
    f.schedd = FactorySchedd.connect(factory_name, factory_name, name, condor.collector)
    assert f.schedd.name == name
    f.start()
    frontend(FRONTEND, [request_ad("SLURM", factory_name, 4, 4)])
    assert f.cycle(entries).errors == []
    wait_for(lambda: sorted(j["JobStatus"] for j in live(queue(factory_name, condor)))
             == [1, 1, 2, 2], lambda: f"HTCondor to see 2 running (Slurm: {slurm.jobs()})")
    schedd = htcondor2.Schedd(coll.locate(htcondor2.DaemonType.Schedd))
    jobs = schedd.query(constraint=f'{A.FACTORY} == "{factory_name}"',
                        projection=["ClusterId", "ProcId", "GlobalJobId", "Arguments",
                                    "JobStatus"])
    for j in jobs:
        assert schedd_of(str(j["GlobalJobId"])) == name
        assert (f"--schedd {name} --cluster {j['ClusterId']} --proc {j['ProcId']} "
                "--credential-id default") in str(j["Arguments"])
    waiting = sorted(f"{j['ClusterId']}.{j['ProcId']}" for j in jobs if j["JobStatus"] == 1)
    running = {f"{j['ClusterId']}.{j['ProcId']}" for j in jobs if j["JobStatus"] == 2}
    kept = waiting[0]
    # The frontend says one of the glideins the factory sees idle joined its pool.
    lowered = request_ad("SLURM", factory_name, 0, 4, remove="IDLE")
    lowered[A.IN_POOL] = f"{name}#{kept},{name}#{sorted(running)[0]}"
    frontend(FRONTEND, [lowered])
    report = f.cycle(entries)
    assert {a.glidein.job_id for p in report.plans for a in p.remove} == {waiting[1]}
    wait_for(lambda: len(slurm.jobs()) == 3, "the unlisted pending Slurm job cancelled")
    assert {f"{j['ClusterId']}.{j['ProcId']}" for j in live(queue(factory_name, condor))} \
        == running | {kept}
    assert f.cycle(entries).submitted == {}  # counted as running: nothing more submitted
    # The control: the same request without the list removes it.
    del lowered[A.IN_POOL]
    frontend(FRONTEND, [lowered])
    report = f.cycle(entries)
    assert {a.glidein.job_id for p in report.plans for a in p.remove} == {kept}
    wait_for(lambda: sorted(slurm.jobs().values()) == ["RUNNING", "RUNNING"],
             "the listed glidein removed once no longer listed")
    slurm.run("scancel", "--user", pcmod.USER)
    wait_for(lambda: not live(queue(factory_name, condor)), "the glideins to leave")
