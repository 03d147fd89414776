"""A personal HTCondor 23.9 (collector + schedd) in a Debian 13 root, for the factory tests.

The daemons are Debian trixie's ``condor`` package, run with ``chroot`` inside the root
that ``tests/factory/setup-condor-root.sh`` builds. They run as an unprivileged user
(uid 4711, ``gwmsfact``, created on the host and in the root), listen on 127.0.0.1 at
free ports, and accept CLAIMTOBE authentication, so that the host's PyPI ``htcondor2``
(25.x) reaches them as ``gwmsfact`` (``SEC_CLAIMTOBE_USER``) and a test can play a
frontend by claiming another name from another process.

:func:`start` returns a :class:`PersonalCondor`, or raises :class:`Unavailable` with the
reason (not root, no root directory) so callers can skip; :func:`running` wraps it for
pytest fixtures (start, configure the client, stop; skip when unavailable).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(os.environ.get("GWMS_FACTORY_ROOT", "/var/tmp/gwms-factory-root"))
USER = "gwmsfact"
UID = 4711

CONFIG = """\
LOCAL_DIR = {local}
LOG = $(LOCAL_DIR)/log
SPOOL = $(LOCAL_DIR)/spool
EXECUTE = $(LOCAL_DIR)/execute
LOCK = $(LOCAL_DIR)/lock
RUN = $(LOCAL_DIR)/run
RELEASE_DIR = /usr
CONDOR_HOST = 127.0.0.1
COLLECTOR_HOST = 127.0.0.1:{collector_port}
NETWORK_INTERFACE = 127.0.0.1
BIND_ALL_INTERFACES = False
UID_DOMAIN = gwms.test
DAEMON_LIST = MASTER COLLECTOR SCHEDD
USE_SHARED_PORT = False
SCHEDD_ARGS = -p {schedd_port}
SEC_DEFAULT_AUTHENTICATION_METHODS = CLAIMTOBE
SEC_CLIENT_AUTHENTICATION_METHODS = CLAIMTOBE
SEC_DEFAULT_AUTHENTICATION = REQUIRED
SEC_DEFAULT_ENCRYPTION = OPTIONAL
SEC_DEFAULT_INTEGRITY = OPTIONAL
ALLOW_READ = *
ALLOW_WRITE = *
ALLOW_ADMINISTRATOR = *
ALLOW_DAEMON = *
ALLOW_ADVERTISE_MASTER = *
ALLOW_ADVERTISE_SCHEDD = *
ALLOW_ADVERTISE_STARTD = *
ALLOW_NEGOTIATOR = *
MASTER_UPDATE_INTERVAL = 5
SCHEDD_INTERVAL = 5
GRIDMANAGER_JOB_PROBE_INTERVAL = 5
INFN_JOB_POLL_INTERVAL = 5
CONDOR_JOB_POLL_INTERVAL = 5
MAX_JOBS_SUBMITTED = 100000
MAX_JOBS_PER_OWNER = 100000
GRIDMANAGER_MAX_SUBMITTED_JOBS_PER_RESOURCE = 100000
"""


class Unavailable(RuntimeError):
    """The personal HTCondor cannot run here; the message says why."""


def wait_for(cond: Callable[[], bool], what: str | Callable[[], str], timeout: float = 120,
             interval: float = 1.0) -> None:
    """Poll ``cond`` every ``interval`` seconds; after ``timeout`` seconds fail naming
    ``what`` (a callable is called then, to describe the state at the time)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(interval)
    raise AssertionError(f"gave up after {timeout:.0f} s waiting for "
                         f"{what() if callable(what) else what}")


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def client_env(user: str = USER) -> dict[str, str]:
    """Environment for a host process using htcondor2 as ``user`` against the daemons."""
    env = dict(os.environ)
    env.update({"CONDOR_CONFIG": "/dev/null",
                "_condor_SEC_CLIENT_AUTHENTICATION_METHODS": "CLAIMTOBE",
                "_condor_SEC_CLAIMTOBE_USER": user, "_condor_UID_DOMAIN": "gwms.test"})
    return env


def configure_client(user: str = USER) -> None:
    """Make this process's htcondor2 a CLAIMTOBE client claiming ``user``."""
    os.environ.update({k: v for k, v in client_env(user).items() if k.startswith(("_condor",
                                                                                  "CONDOR"))})
    import htcondor2

    htcondor2.reload_config()


def _ensure_user(root: Path) -> None:
    for prefix in ([], ["chroot", str(root)]):
        if subprocess.run([*prefix, "id", USER], capture_output=True).returncode != 0:
            subprocess.run([*prefix, "useradd", "-u", str(UID), "-M", "-d", "/nonexistent",
                            "-s", "/usr/sbin/nologin", USER], check=True)


def _mount(root: Path) -> None:
    for what, args in (("proc", ["-t", "proc", "proc"]), ("dev", ["--bind", "/dev"])):
        target = root / what
        if subprocess.run(["mountpoint", "-q", str(target)]).returncode != 0:
            subprocess.run(["mount", *args, str(target)], check=True)


@dataclass
class PersonalCondor:
    """A running personal HTCondor; :meth:`stop` ends it."""

    root: Path
    local: Path
    collector: str
    schedd_port: int
    master_pid: int

    def chroot_path(self, p: Path) -> str:
        """Path of ``p`` (under the root) as the daemons see it."""
        return "/" + str(p.relative_to(self.root))

    def condor(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run an HTCondor command inside the root as the factory user."""
        env = {"CONDOR_CONFIG": self.chroot_path(self.local / "condor_config"),
               "PATH": "/usr/bin:/usr/sbin:/bin:/sbin"}
        return subprocess.run(["chroot", f"--userspec={UID}:{UID}", str(self.root),
                               "env", *(f"{k}={v}" for k, v in env.items()), *args],
                              capture_output=True, text=True, timeout=60)

    def stop(self) -> None:
        """Stop the daemons (the master we started, then its children) and clean up."""
        self.condor("condor_off", "-master", "-fast")
        if self.master_pid > 0:  # never 0: os.kill(0, ...) would signal our own group
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and _alive(self.master_pid):
                time.sleep(0.2)
            if _alive(self.master_pid):
                os.kill(self.master_pid, 9)
        shutil.rmtree(self.local, ignore_errors=True)


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except OSError:
        return False


def start(root: Path = ROOT, timeout: float = 60.0, extra_config: str = "") -> PersonalCondor:
    """Start collector + schedd; return when the schedd's ad is in the collector.

    ``extra_config`` is appended to the configuration (later settings win).
    """
    if os.geteuid() != 0:
        raise Unavailable("needs root (chroot into the Debian 13 root)")
    if not (root / ".gwms-factory-ready").exists():
        raise Unavailable(f"no HTCondor root at {root}: run tests/factory/setup-condor-root.sh")
    _ensure_user(root)
    _mount(root)
    cport, sport = free_port(), free_port()
    local = root / "var" / "tmp" / f"gwms-pc-{os.getpid()}-{cport}"
    for sub in ("log", "spool", "execute", "lock", "run"):
        (local / sub).mkdir(parents=True, exist_ok=True)
    pc = PersonalCondor(root, local, f"127.0.0.1:{cport}", sport, 0)
    (local / "condor_config").write_text(CONFIG.format(
        local=pc.chroot_path(local), collector_port=cport, schedd_port=sport) + extra_config)
    subprocess.run(["chown", "-R", f"{UID}:{UID}", str(local)], check=True)
    pidfile = local / "run" / "master.pid"
    res = pc.condor("condor_master", "-pidfile", pc.chroot_path(pidfile))
    if res.returncode != 0:
        raise Unavailable(f"condor_master failed: {res.stderr.strip()}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pidfile.exists() and pidfile.read_text().strip():
            pc.master_pid = int(pidfile.read_text().split()[0])
        out = pc.condor("condor_status", "-schedd", "-af", "Name")
        if out.returncode == 0 and out.stdout.strip():
            pc.master_pid = _read_pid(pidfile)
            return pc
        time.sleep(0.5)
    pc.stop()
    raise Unavailable("the schedd did not appear in the collector within "
                      f"{timeout:.0f} s; see {local}/log")


@contextmanager
def running(extra_config: str = "") -> Iterator[PersonalCondor]:
    """A personal HTCondor (:func:`start`) with this process's client configured for it
    (:func:`configure_client`), stopped on exit. For pytest fixtures: skips the calling
    test, with the reason, when the ``htcondor2`` bindings or the daemons are unavailable.
    """
    import pytest

    pytest.importorskip("htcondor2", reason="htcondor2 bindings not installed")
    try:
        pc = start(extra_config=extra_config)
    except Unavailable as exc:
        pytest.skip(f"personal HTCondor unavailable: {exc}")
    configure_client()
    try:
        yield pc
    finally:
        pc.stop()


# --------------------------------------------------------------------------- Slurm

SLURM_CONF = """\
ClusterName=gwmsfactory
SlurmctldHost=localhost
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=slurm
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation={state}/state
SlurmdSpoolDir={state}/spool/%n
SlurmctldPidFile={state}/slurmctld.pid
SlurmdPidFile={state}/slurmd-%n.pid
SlurmctldLogFile={state}/log/slurmctld.log
SlurmdLogFile={state}/log/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobCompType=jobcomp/filetxt
JobCompLoc={state}/log/jobcomp.txt
AccountingStorageType=accounting_storage/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
NodeName=n1 NodeHostname=localhost NodeAddr=127.0.0.1 CPUs={cpus} RealMemory=16000 State=UNKNOWN
PartitionName=debug Nodes=n1 Default=YES MaxTime=INFINITE State=UP
"""

#: blahp 23.9.6 (Debian 13) calls ConfigParser.readfp, removed in Python 3.12, so it cannot
#: report job status; upstream 25.x calls read_file. The one-word fix, applied in the root.
BLAHP_FIX = ("/usr/libexec/blahp/blah.py", "self.readfp(vfile)", "self.read_file(vfile)")


@dataclass
class SlurmSite:
    """munged + slurmctld + one slurmd (node ``n1``) inside the root."""

    root: Path
    state: Path
    pids: list[int]

    def run(self, *args: str, user: str = "root") -> subprocess.CompletedProcess[str]:
        """Run a Slurm client command in the root."""
        spec = [] if user == "root" else [f"--userspec={UID}:{UID}"]
        return subprocess.run(["chroot", *spec, str(self.root), *args], capture_output=True,
                              text=True, timeout=60)

    def jobs(self) -> dict[str, str]:
        """Slurm job id -> state (``PENDING``, ``RUNNING``, ...) of every job in the queue."""
        out = self.run("squeue", "-h", "-o", "%i %T").stdout.split("\n")
        return dict(line.split(None, 1) for line in out if line.strip())

    def stop(self) -> None:
        """Cancel every job and stop the daemons we started."""
        self.run("scancel", "--user", USER)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and self.jobs():
            time.sleep(0.5)
        for pid in reversed(self.pids):
            if _alive(pid):
                os.kill(pid, 15)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(_alive(p) for p in self.pids):
            time.sleep(0.2)
        for pid in self.pids:
            if _alive(pid):
                os.kill(pid, 9)


def _read_pid(path: Path, timeout: float = 20.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return int(path.read_text().split()[0])
        time.sleep(0.2)
    raise Unavailable(f"no pid file {path}")


def start_slurm(root: Path = ROOT, cpus: int = 2) -> SlurmSite:
    """Start munged, slurmctld and one slurmd with ``cpus`` cores; fix blahp's status."""
    if os.geteuid() != 0:
        raise Unavailable("needs root")
    if not os.path.lexists(root / "usr" / "sbin" / "slurmctld"):  # an alternatives link
        raise Unavailable(f"no Slurm in {root}: run tests/factory/setup-condor-root.sh")
    _ensure_user(root)
    _mount(root)
    path, old, new = BLAHP_FIX
    blah = root / path.lstrip("/")
    text = blah.read_text()
    if old in text:
        blah.write_text(text.replace(old, new))
    state = root / "var" / "tmp" / f"gwms-slurm-{os.getpid()}"
    for sub in ("state", "spool", "log"):
        (state / sub).mkdir(parents=True, exist_ok=True)
    inner = "/" + str(state.relative_to(root))
    (root / "etc" / "slurm" / "slurm.conf").write_text(SLURM_CONF.format(
        ctld_port=free_port(), slurmd_port=free_port(), state=inner, cpus=cpus))
    (root / "etc" / "slurm" / "cgroup.conf").write_text("CgroupPlugin=disabled\n")
    for d in ("run/munge", "var/log/munge", "var/lib/munge"):
        (root / d).mkdir(parents=True, exist_ok=True)
    subprocess.run(["chroot", str(root), "sh", "-c",
                    "chown munge:munge /run/munge /var/log/munge /var/lib/munge "
                    "/etc/munge/munge.key && chmod 755 /run/munge && "
                    f"chown -R slurm:slurm {inner}"], check=True)
    pids: list[int] = []
    site = SlurmSite(root, state, pids)
    try:
        munge_pid = root / "run" / "munge" / "munged.pid"
        munge_pid.unlink(missing_ok=True)
        subprocess.run(["chroot", "--userspec=munge:munge", str(root), "munged"], check=True)
        pids.append(_read_pid(munge_pid))
        subprocess.run(["chroot", str(root), "slurmctld"], check=True)
        pids.append(_read_pid(state / "slurmctld.pid"))
        subprocess.run(["chroot", str(root), "slurmd", "-N", "n1"], check=True)
        pids.append(_read_pid(state / "slurmd-n1.pid"))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if "idle" in site.run("sinfo", "-h", "-o", "%T").stdout:
                return site
            time.sleep(0.5)
        raise Unavailable("Slurm node n1 did not become idle")
    except (Unavailable, subprocess.CalledProcessError) as exc:
        site.stop()
        raise Unavailable(f"Slurm did not start: {exc}") from exc
