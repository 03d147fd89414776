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

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import personal_condor as pcmod  # noqa: E402
import service_process as sp  # noqa: E402

NAME = "gwmscm.test"
OLD, NEW = "127.0.0.2", "127.0.0.3"
FACTORY = "movefact"
ENTRY = "SLURM_move"

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
    sp.request(collector, FACTORY, ENTRY, idle)


def glideins(collector: str) -> int | None:
    return sp.glideins(collector, FACTORY)


def move(pc: pcmod.PersonalCondor, hosts: Path, port: int) -> None:
    """Stop the daemons, start them again at 127.0.0.3, point the name there."""
    pc.condor("condor_off", "-master", "-fast")
    pcmod.wait_for(lambda: not Path(f"/proc/{pc.master_pid}").exists()
                   or Path(f"/proc/{pc.master_pid}/stat").read_text().split()[2] == "Z",
                   "the master to stop", 60)
    cfg = pc.local / "condor_config"
    cfg.write_text(cfg.read_text() + at(NEW, port))
    write_hosts(hosts, NEW)
    pidfile = pc.local / "run" / "master.pid"
    pidfile.unlink(missing_ok=True)
    res = pc.condor("condor_master", "-pidfile", pc.chroot_path(pidfile))
    assert res.returncode == 0, res.stderr
    pcmod.wait_for(lambda: pidfile.exists() and bool(pidfile.read_text().strip()),
                   "the new master", 60)
    pc.master_pid = int(pidfile.read_text().split()[0])


def test_factory_follows_its_collector_to_a_new_address(
        moving_condor: tuple[pcmod.PersonalCondor, int], tmp_path: Path) -> None:
    pc, port = moving_condor
    import htcondor2

    old, new = f"{OLD}:{port}", f"{NEW}:{port}"
    schedd_name = htcondor2.Collector(old).locate(htcondor2.DaemonType.Schedd)["Name"]
    hosts = tmp_path / "hosts"
    hosts.touch()
    write_hosts(hosts, OLD)
    config = sp.write_config(tmp_path, factory=FACTORY, entry=ENTRY, site="T2_XX_Move",
                             collector=f"{NAME}:{port}", schedd=schedd_name,
                             cycle_seconds=600)
    log_path = tmp_path / "factory.log"
    request(old, 2)
    factory = (f"mount --bind {hosts} /etc/hosts && exec {sys.executable} -m gwms_core.cli "
               f"factory run --config {config} --wake-poll 1")
    with log_path.open("w") as log_file:
        svc = subprocess.Popen(["unshare", "-m", "bash", "-c", factory],
                               env=pcmod.client_env(), stdout=log_file, stderr=log_file)
    try:
        pcmod.wait_for(lambda: glideins(old) == 2, "the first request served (2 glideins)", 90)
        move(pc, hosts, port)
        pcmod.wait_for(lambda: glideins(new) is not None, "the moved schedd's queue", 90)
        # The restarted collector forgot the request: the frontend sends a new one. The
        # factory's next timed cycle is 600 s away: only its wake poller can serve this.
        request(new, 5)
        pcmod.wait_for(lambda: glideins(new) == 5, "the new request served after the move", 120)
        assert svc.poll() is None, log_path.read_text()[-3000:]
        text = log_path.read_text()
        assert f"{NAME}:{port} now resolves to {NEW} (was {OLD})" in text, text[-3000:]
    finally:
        sp.stop(svc)
    print(log_path.read_text()[-2500:])
