"""The factory service follows its WMS collector to a new IP address (real daemons).

A long-running ``gwms factory run`` names its collector by host name. When the central
manager comes back at another address, an ``htcondor2.Collector`` made before keeps the
address it resolved first; the factory's wake poller held one for its lifetime and never
woke the factory again. Here the name ``gwmscm.test`` lives in a hosts file that only the
factory process sees (a private mount namespace, ``unshare -m``, with the file bind-mounted
on /etc/hosts); the personal HTCondor runs at 127.0.0.2, serves a request, is stopped and
started again at 127.0.0.3 while the file is rewritten. The factory cycles only every
600 s, so the request made after the move is served only if its wake poller follows the
collector to the new address; the process must log the move and stay the same process.

Needs root, ``unshare`` and the trixie root of tests/factory/setup-condor-root.sh; skips
otherwise.
"""

from __future__ import annotations

import json
import shutil
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

NAME = "gwmscm.test"
OLD, NEW = "127.0.0.2", "127.0.0.3"
FACTORY = "movefact"
ENTRY = "SLURM_move"

ADVERTISE = textwrap.dedent("""
    import json, sys, classad2, htcondor2
    coll = htcondor2.Collector(sys.argv[1])
    coll.advertise([classad2.ClassAd(a) for a in json.loads(sys.argv[2])], "UPDATE_AD_GENERIC")
""")


def at(ip: str, port: int) -> str:
    """The daemons' addresses: every daemon listens on ``ip`` only."""
    return f"NETWORK_INTERFACE = {ip}\nCONDOR_HOST = {ip}\nCOLLECTOR_HOST = {ip}:{port}\n"


def write_hosts(path: Path, ip: str) -> None:
    """Rewrite the private hosts file in place (the bind mount follows the inode)."""
    base = Path("/etc/hosts").read_text()
    with path.open("r+") as fh:
        fh.seek(0)
        fh.truncate()
        fh.write(f"{ip} {NAME}\n{base}")


@pytest.fixture
def moving_condor() -> Iterator[tuple[pcmod.PersonalCondor, int]]:
    """A personal HTCondor at 127.0.0.2 (moved by the test); its collector port."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare not installed")
    port = pcmod.free_port()
    with pcmod.running(extra_config=at(OLD, port)) as pc:
        yield pc, port


def request(collector: str, idle: int) -> None:
    """Advertise the frontend's request for ``idle`` glideins (as ``vofrontend``)."""
    ad = {"MyType": "glideclient", "Name": f"{ENTRY}@{FACTORY}@{FACTORY}@vofe.main",
          "ReqName": f"{ENTRY}@{FACTORY}@{FACTORY}", "ClientName": "vofe.main",
          "ReqIdleGlideins": idle, "ReqMaxGlideins": idle, "ReqRemoveExcess": "NO"}
    subprocess.run([sys.executable, "-c", ADVERTISE, collector, json.dumps([ad])],
                   env=pcmod.client_env("vofrontend"), check=True, timeout=60)


def glideins(collector: str) -> int | None:
    """This factory's glideins in the queue (schedd located afresh); None if unreachable."""
    import htcondor2

    from gwms_core.factory.schedd import glidein_constraint

    try:
        ad = htcondor2.Collector(collector).locate(htcondor2.DaemonType.Schedd)
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


def move(pc: pcmod.PersonalCondor, hosts: Path, port: int) -> None:
    """Stop the daemons, start them again at 127.0.0.3, point the name there."""
    pc.condor("condor_off", "-master", "-fast")
    wait_for(lambda: not Path(f"/proc/{pc.master_pid}").exists()
             or Path(f"/proc/{pc.master_pid}/stat").read_text().split()[2] == "Z",
             "the master to stop", 60)
    cfg = pc.local / "condor_config"
    cfg.write_text(cfg.read_text() + at(NEW, port))
    write_hosts(hosts, NEW)
    pidfile = pc.local / "run" / "master.pid"
    pidfile.unlink(missing_ok=True)
    res = pc.condor("condor_master", "-pidfile", pc.chroot_path(pidfile))
    assert res.returncode == 0, res.stderr
    wait_for(lambda: pidfile.exists() and bool(pidfile.read_text().strip()), "the new master", 60)
    pc.master_pid = int(pidfile.read_text().split()[0])


def test_factory_follows_its_collector_to_a_new_address(
        moving_condor: tuple[pcmod.PersonalCondor, int], tmp_path: Path) -> None:
    pc, port = moving_condor
    import htcondor2

    from gwms_core.staging import build_staging

    old, new = f"{OLD}:{port}", f"{NEW}:{port}"
    schedd_name = htcondor2.Collector(old).locate(htcondor2.DaemonType.Schedd)["Name"]
    hosts = tmp_path / "hosts"
    hosts.touch()
    write_hosts(hosts, OLD)
    build_staging({"glidein_startup.sh": b"#!/bin/sh\n"}, tmp_path / "stage")
    (tmp_path / "entries.yaml").write_text(
        f"kind: entries\nentries:\n  {ENTRY}:\n    grid_type: batch\n    batch_system: slurm\n"
        "    gatekeeper: local\n    site: T2_XX_Move\n    allowed_frontends: [vofrontend]\n"
        "    limits: {max_idle: 20}\n")
    work = tmp_path / "work"
    work.mkdir(mode=0o755)
    (tmp_path / "factory.yaml").write_text(
        f"kind: factory\nname: {FACTORY}\nwms_collector: {NAME}:{port}\n"
        f"schedd: {schedd_name}\nwork_dir: {work}\ncycle_seconds: 600\n"
        f"staging: {{dir: {tmp_path / 'stage'}, url: 'http://web.gwms.test/stage'}}\n"
        "entry_sources:\n  - type: static\n    path: entries.yaml\n")
    log_path = tmp_path / "factory.log"
    request(old, 2)
    factory = (f"mount --bind {hosts} /etc/hosts && exec {sys.executable} -m gwms_core.cli "
               f"factory run --config {tmp_path / 'factory.yaml'} --wake-poll 1")
    with log_path.open("w") as log_file:
        svc = subprocess.Popen(["unshare", "-m", "bash", "-c", factory],
                               env=pcmod.client_env(), stdout=log_file, stderr=log_file)
    try:
        wait_for(lambda: glideins(old) == 2, "the first request served (2 glideins)", 90)
        move(pc, hosts, port)
        wait_for(lambda: glideins(new) is not None, "the moved schedd's queue", 90)
        # The restarted collector forgot the request: the frontend sends a new one. The
        # factory's next timed cycle is 600 s away: only its wake poller can serve this.
        request(new, 5)
        wait_for(lambda: glideins(new) == 5, "the new request served after the move", 120)
        assert svc.poll() is None, log_path.read_text()[-3000:]
        text = log_path.read_text()
        assert f"{NAME}:{port} now resolves to {NEW} (was {OLD})" in text, text[-3000:]
    finally:
        svc.send_signal(signal.SIGTERM)
        try:
            svc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            svc.kill()
            svc.wait()
    print(log_path.read_text()[-2500:])
