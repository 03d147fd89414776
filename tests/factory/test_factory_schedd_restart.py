"""The factory service survives a restart of its HTCondor (real daemons, shared port).

A long-running ``gwms factory run`` keeps an ``htcondor2.Schedd`` (an address) and the
security sessions the bindings cached. Restarting the master restarts the schedd behind
the shared port daemon under a new socket name, so the old address and sessions lead
nowhere; without re-locating the schedd every later cycle failed. Here the personal
HTCondor runs with ``USE_SHARED_PORT`` (as deployed hosts do), the service cycles as a
separate process, the master is restarted, and the next cycles must read the queue and
serve a new request.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import personal_condor as pcmod  # noqa: E402

#: Shared port in front of the collector (its port becomes the shared port); the schedd
#: has no port of its own, so its address is ``...&sock=schedd_<pid>_<random>``.
SHARED_PORT = textwrap.dedent("""\
    USE_SHARED_PORT = True
    SHARED_PORT = /usr/libexec/condor/condor_shared_port
    SCHEDD_ARGS =
    """)

ADVERTISE = textwrap.dedent("""
    import json, sys, classad2, htcondor2
    coll = htcondor2.Collector(sys.argv[1])
    coll.advertise([classad2.ClassAd(a) for a in json.loads(sys.argv[2])], "UPDATE_AD_GENERIC")
""")

FACTORY = "restartfact"
ENTRY = "SLURM_restart"


@pytest.fixture
def shared_port_condor() -> Iterator[pcmod.PersonalCondor]:
    """A personal HTCondor of this test's own (it gets restarted), with shared port."""
    with pcmod.running(extra_config=SHARED_PORT) as pc:
        yield pc


def request(pc: pcmod.PersonalCondor, idle: int) -> None:
    """Advertise the frontend's request for ``idle`` glideins (as ``vofrontend``)."""
    ad = {"MyType": "glideclient", "Name": f"{ENTRY}@{FACTORY}@{FACTORY}@vofe.main",
          "ReqName": f"{ENTRY}@{FACTORY}@{FACTORY}", "ClientName": "vofe.main",
          "ReqIdleGlideins": idle, "ReqMaxGlideins": idle, "ReqRemoveExcess": "NO"}
    subprocess.run([sys.executable, "-c", ADVERTISE, pc.collector, json.dumps([ad])],
                   env=pcmod.client_env("vofrontend"), check=True, timeout=60)


def schedd_address(pc: pcmod.PersonalCondor) -> str:
    """The schedd's address as its ad in the collector gives it ("" when absent)."""
    out = pc.condor("condor_status", "-schedd", "-af", "MyAddress")
    return out.stdout.strip() if out.returncode == 0 else ""


def glideins(pc: pcmod.PersonalCondor) -> int | None:
    """This factory's glideins in the queue (located afresh); None if unreachable."""
    import htcondor2

    from gwms_core.factory.schedd import glidein_constraint

    try:
        ad = htcondor2.Collector(pc.collector).locate(htcondor2.DaemonType.Schedd)
        if ad is None:
            return None
        return len(htcondor2.Schedd(ad).query(constraint=glidein_constraint(FACTORY, FACTORY),
                                              projection=["ClusterId"]))
    except htcondor2.HTCondorException:
        return None


def wait_for(cond: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(1)
    raise AssertionError(f"gave up after {timeout:.0f} s waiting for {what}")


def test_service_recovers_from_a_restart_of_its_condor(shared_port_condor: pcmod.PersonalCondor,
                                                       tmp_path: Path) -> None:
    pc = shared_port_condor
    import htcondor2

    from gwms_core.staging import build_staging

    schedd_name = htcondor2.Collector(pc.collector).locate(htcondor2.DaemonType.Schedd)["Name"]
    build_staging({"glidein_startup.sh": b"#!/bin/sh\n"}, tmp_path / "stage")
    (tmp_path / "entries.yaml").write_text(
        f"kind: entries\nentries:\n  {ENTRY}:\n    grid_type: batch\n    batch_system: slurm\n"
        "    gatekeeper: local\n    site: T2_XX_Restart\n    allowed_frontends: [vofrontend]\n"
        "    limits: {max_idle: 20}\n")
    work = tmp_path / "work"
    work.mkdir(mode=0o755)
    (tmp_path / "factory.yaml").write_text(
        f"kind: factory\nname: {FACTORY}\nwms_collector: {pc.collector}\n"
        f"schedd: {schedd_name}\nwork_dir: {work}\ncycle_seconds: 2\n"
        f"staging: {{dir: {tmp_path / 'stage'}, url: 'http://web.gwms.test/stage'}}\n"
        "entry_sources:\n  - type: static\n    path: entries.yaml\n")
    log_path = tmp_path / "factory.log"
    request(pc, 2)
    with log_path.open("w") as log_file:
        svc = subprocess.Popen([sys.executable, "-m", "gwms_core.cli", "factory", "run",
                                "--config", str(tmp_path / "factory.yaml")],
                               env=pcmod.client_env(), stdout=log_file, stderr=log_file)
    try:
        wait_for(lambda: glideins(pc) == 2, "the first request served (2 glideins)", 90)
        before = schedd_address(pc)
        res = pc.condor("condor_restart", "-master")
        assert res.returncode == 0, res.stderr
        wait_for(lambda: schedd_address(pc) not in ("", before),
                 "the restarted schedd's new address in the collector", 120)
        # The point of the test: the old address leads nowhere now.
        assert "sock=schedd_" in before and schedd_address(pc) != before
        wait_for(lambda: glideins(pc) is not None, "the restarted schedd's queue", 60)
        # The restarted collector forgot the request: the frontend sends a new one.
        request(pc, 5)
        wait_for(lambda: glideins(pc) == 5, "the new request served after the restart", 120)
        assert svc.poll() is None, log_path.read_text()[-3000:]
        text = log_path.read_text()
        assert "schedd located again" in text, text[-3000:]
    finally:
        svc.send_signal(signal.SIGTERM)
        try:
            svc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            svc.kill()
            svc.wait()
    print(log_path.read_text()[-2000:])
