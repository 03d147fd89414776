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

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import personal_condor as pcmod  # noqa: E402
import service_process as sp  # noqa: E402

#: Shared port in front of the collector (its port becomes the shared port); the schedd
#: has no port of its own, so its address is ``...&sock=schedd_<pid>_<random>``.
SHARED_PORT = textwrap.dedent("""\
    USE_SHARED_PORT = True
    SHARED_PORT = /usr/libexec/condor/condor_shared_port
    SCHEDD_ARGS =
    """)

FACTORY = "restartfact"
ENTRY = "SLURM_restart"


@pytest.fixture
def shared_port_condor() -> Iterator[pcmod.PersonalCondor]:
    """A personal HTCondor of this test's own (it gets restarted), with shared port."""
    with pcmod.running(extra_config=SHARED_PORT) as pc:
        yield pc


def schedd_address(pc: pcmod.PersonalCondor) -> str:
    """The schedd's address as its ad in the collector gives it ("" when absent)."""
    out = pc.condor("condor_status", "-schedd", "-af", "MyAddress")
    return out.stdout.strip() if out.returncode == 0 else ""


def glideins(pc: pcmod.PersonalCondor) -> int | None:
    return sp.glideins(pc.collector, FACTORY)


def request(pc: pcmod.PersonalCondor, idle: int) -> None:
    sp.request(pc.collector, FACTORY, ENTRY, idle)


def test_service_recovers_from_a_restart_of_its_condor(shared_port_condor: pcmod.PersonalCondor,
                                                       tmp_path: Path) -> None:
    pc = shared_port_condor
    import htcondor2

    schedd_name = htcondor2.Collector(pc.collector).locate(htcondor2.DaemonType.Schedd)["Name"]
    config = sp.write_config(tmp_path, factory=FACTORY, entry=ENTRY, site="T2_XX_Restart",
                             collector=pc.collector, schedd=schedd_name, cycle_seconds=2)
    log_path = tmp_path / "factory.log"
    request(pc, 2)
    with log_path.open("w") as log_file:
        svc = subprocess.Popen([sys.executable, "-m", "gwms_core.cli", "factory", "run",
                                "--config", str(config)],
                               env=pcmod.client_env(), stdout=log_file, stderr=log_file)
    try:
        pcmod.wait_for(lambda: glideins(pc) == 2, "the first request served (2 glideins)", 90)
        before = schedd_address(pc)
        res = pc.condor("condor_restart", "-master")
        assert res.returncode == 0, res.stderr
        pcmod.wait_for(lambda: schedd_address(pc) not in ("", before),
                    "the restarted schedd's new address in the collector", 120)
        # The point of the test: the old address leads nowhere now.
        assert "sock=schedd_" in before and schedd_address(pc) != before
        pcmod.wait_for(lambda: glideins(pc) is not None, "the restarted schedd's queue", 60)
        # The restarted collector forgot the request: the frontend sends a new one.
        request(pc, 5)
        pcmod.wait_for(lambda: glideins(pc) == 5, "the new request served after the restart", 120)
        assert svc.poll() is None, log_path.read_text()[-3000:]
        text = log_path.read_text()
        assert "schedd located again" in text, text[-3000:]
    finally:
        sp.stop(svc)
    print(log_path.read_text()[-2000:])
