"""A real HTCondor 23.9 pool (collector, negotiator, schedd) in a Debian 13 root, for
running real glideins against it.

The root is built by ``tests/glidein/setup-condor-root.sh``. The pool runs there as
``gwmspool`` (uid 4721) on 127.0.0.1 at free ports, with IDTOKENS: the collector's
signing key signs a token for ``glidein@gwms.test``, the only identity allowed to
advertise a startd. Glideins run in the same root as ``gwmsglide`` (uid 4722), so they
cannot use the pool user's FS authentication. :func:`start` raises :class:`Unavailable`
(not root, no root) so callers can skip.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(os.environ.get("GWMS_GLIDEIN_ROOT", "/var/tmp/gwms-glidein-root"))
POOL_UID = 4721
GLIDE_UID = 4722
PATH = "/usr/bin:/usr/sbin:/bin:/sbin"

CONFIG = """\
LOCAL_DIR = {local}
LOG = $(LOCAL_DIR)/log
SPOOL = $(LOCAL_DIR)/spool
EXECUTE = $(LOCAL_DIR)/execute
LOCK = $(LOCAL_DIR)/lock
RUN = $(LOCAL_DIR)/run
RELEASE_DIR = /usr
LOCAL_CONFIG_FILE =
LOCAL_CONFIG_DIR =
CONDOR_HOST = 127.0.0.1
COLLECTOR_HOST = 127.0.0.1:{collector_port}
NETWORK_INTERFACE = 127.0.0.1
BIND_ALL_INTERFACES = False
TRUST_DOMAIN = gwms.test
UID_DOMAIN = gwms.test
DAEMON_LIST = MASTER COLLECTOR NEGOTIATOR SCHEDD
USE_SHARED_PORT = False
SEC_PASSWORD_DIRECTORY = $(LOCAL_DIR)/passwords.d
SEC_TOKEN_SYSTEM_DIRECTORY = $(LOCAL_DIR)/tokens.d
SEC_TOKEN_DIRECTORY = $(LOCAL_DIR)/tokens.d
SEC_DEFAULT_AUTHENTICATION = REQUIRED
SEC_DEFAULT_AUTHENTICATION_METHODS = FS, IDTOKENS
SEC_CLIENT_AUTHENTICATION_METHODS = FS, IDTOKENS
SEC_DEFAULT_ENCRYPTION = REQUIRED
SEC_DEFAULT_INTEGRITY = REQUIRED
SEC_READ_AUTHENTICATION = OPTIONAL
SEC_CLIENT_AUTHENTICATION = OPTIONAL
ALLOW_READ = *
# the shadow accepts file transfer from the starter through the match session
ALLOW_WRITE = gwmspool@gwms.test execute-side@matchsession
ALLOW_DAEMON = gwmspool@gwms.test
ALLOW_NEGOTIATOR = gwmspool@gwms.test
ALLOW_ADMINISTRATOR = gwmspool@gwms.test
ALLOW_ADVERTISE_STARTD = glidein@gwms.test
ALLOW_ADVERTISE_MASTER = glidein@gwms.test gwmspool@gwms.test
ALLOW_ADVERTISE_SCHEDD = gwmspool@gwms.test
NEGOTIATOR_INTERVAL = 5
NEGOTIATOR_CYCLE_DELAY = 5
SCHEDD_INTERVAL = 5
"""


class Unavailable(RuntimeError):
    """The pool cannot run here; the message says why."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _mount(root: Path) -> None:
    for what, args in (("proc", ["-t", "proc", "proc"]), ("dev", ["--bind", "/dev"])):
        target = root / what
        if subprocess.run(["mountpoint", "-q", str(target)]).returncode != 0:
            subprocess.run(["mount", *args, str(target)], check=True)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except OSError:
        return False


@dataclass
class Pool:
    """A running pool; :meth:`stop` ends it."""

    root: Path
    local: Path
    collector: str
    master_pid: int = 0

    def inside(self, p: Path) -> str:
        """Path of ``p`` (under the root) as processes in the root see it."""
        return "/" + str(p.relative_to(self.root))

    def condor(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run an HTCondor command in the root as the pool user."""
        env = {"CONDOR_CONFIG": self.inside(self.local / "condor_config"), "PATH": PATH,
               "HOME": "/home/gwmspool"}
        return subprocess.run(["chroot", f"--userspec={POOL_UID}:{POOL_UID}", str(self.root),
                               "env", "-i", *(f"{k}={v}" for k, v in env.items()), *args],
                              capture_output=True, text=True, timeout=timeout,
                              cwd="/")

    def token(self, identity: str = "glidein@gwms.test") -> str:
        """A token signed by the pool's key, for ``identity``."""
        out = self.condor("condor_token_create", "-identity", identity, "-key", "POOL",
                          "-authz", "ADVERTISE_STARTD", "-authz", "ADVERTISE_MASTER",
                          "-authz", "READ")
        if out.returncode != 0:
            raise RuntimeError(f"condor_token_create failed: {out.stderr}")
        return out.stdout.strip()

    def stop(self) -> None:
        """Stop the daemons and remove the pool's directory."""
        self.condor("condor_off", "-master", "-fast")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and self.master_pid and _alive(self.master_pid):
            time.sleep(0.2)
        if self.master_pid and _alive(self.master_pid):
            os.kill(self.master_pid, 9)
        shutil.rmtree(self.local, ignore_errors=True)


def start(root: Path = ROOT, timeout: float = 60.0) -> Pool:
    """Start collector + negotiator + schedd; return once the schedd is in the collector
    and the pool's signing key exists."""
    if os.geteuid() != 0:
        raise Unavailable("needs root (chroot into the Debian 13 root)")
    if not (root / ".gwms-glidein-ready").exists():
        raise Unavailable(f"no HTCondor root at {root}: run tests/glidein/setup-condor-root.sh")
    _mount(root)
    cport = free_port()
    local = root / "var" / "tmp" / f"gwms-pool-{os.getpid()}-{cport}"
    for sub in ("log", "spool", "execute", "lock", "run", "passwords.d", "tokens.d"):
        (local / sub).mkdir(parents=True, exist_ok=True)
    pool = Pool(root, local, f"127.0.0.1:{cport}")
    (local / "condor_config").write_text(CONFIG.format(local=pool.inside(local),
                                                       collector_port=cport))
    subprocess.run(["chown", "-R", f"{POOL_UID}:{POOL_UID}", str(local)], check=True)
    os.chmod(local / "passwords.d", 0o700)
    os.chmod(local / "tokens.d", 0o700)
    pidfile = local / "run" / "master.pid"
    res = pool.condor("condor_master", "-pidfile", pool.inside(pidfile))
    if res.returncode != 0:
        raise Unavailable(f"condor_master failed: {res.stderr.strip()}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pidfile.exists() and pidfile.read_text().strip():
            pool.master_pid = int(pidfile.read_text().split()[0])
        out = pool.condor("condor_status", "-schedd", "-af", "Name")
        if (out.returncode == 0 and out.stdout.strip()
                and (local / "passwords.d" / "POOL").exists()):
            return pool
        time.sleep(0.5)
    pool.stop()
    raise Unavailable(f"the pool did not come up within {timeout:.0f} s; see {local}/log")
