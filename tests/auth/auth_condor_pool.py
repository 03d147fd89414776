"""A personal HTCondor pool (Debian 13's condor 23.9) run under chroot, for the auth tests.

The Debian 13 root is built by ``tests/auth/trixie-condor.sh build``; this module only
starts daemons in it. :func:`unavailable` returns the reason tests must skip (no root
built, not root, no condor in the root) or ``None``.

Layout: every pool or glidein gets its own directory ``<root>/tmp/gwms-auth-XXXX/<name>``
with its config, logs and keys; tools run with ``chroot <root> env CONDOR_CONFIG=…``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "trixie-condor.sh"
SUITE = os.environ.get("GWMS_AUTH_SUITE", "trixie")
ROOT = Path(os.environ.get("GWMS_AUTH_ROOT", f"/var/tmp/gwms-{SUITE}-auth"))
READY_MARK = ROOT / ".gwms-auth-root-ready"
TRUST_DOMAIN = "gwms-auth.test"


def _script_env() -> dict[str, str]:
    return {**os.environ, "GWMS_AUTH_SUITE": SUITE, "GWMS_AUTH_ROOT": str(ROOT)}


def unavailable() -> str | None:
    """Why the real-daemon tests cannot run here, or ``None`` when they can."""
    if not READY_MARK.exists():
        return (f"no Debian 13 root with HTCondor at {ROOT}: run "
                f"`{SCRIPT.relative_to(HERE.parent.parent)} build` as root")
    if os.geteuid() != 0:
        return "needs root (chroot) to run HTCondor daemons from the Debian 13 root"
    try:
        out = subprocess.run([str(SCRIPT), "run", "condor_version"], capture_output=True,
                             text=True, timeout=60, check=False, env=_script_env())
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot run condor_version in {ROOT}: {exc}"
    if out.returncode != 0 or "CondorVersion" not in out.stdout:
        return f"condor_version failed in {ROOT}: {out.stderr.strip()[:200]}"
    return None


def condor_version() -> str:
    """``$CondorVersion: …`` of the root's HTCondor."""
    out = subprocess.run([str(SCRIPT), "run", "condor_version"], capture_output=True,
                         text=True, timeout=60, check=True, env=_script_env())
    return out.stdout.splitlines()[0]


def condor_ids() -> tuple[int, int]:
    """uid and gid of the condor user in the root."""
    for line in (ROOT / "etc" / "passwd").read_text().splitlines():
        parts = line.split(":")
        if parts[0] == "condor":
            return int(parts[2]), int(parts[3])
    raise RuntimeError("no condor user in the Debian 13 root")


def free_port() -> int:
    """A TCP port free on the loopback now (the chroot shares the host's network)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate, timeout: float, interval: float = 0.5) -> bool:  # type: ignore[no-untyped-def]
    """Poll ``predicate`` until it is true or ``timeout`` seconds passed."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


@dataclass
class Workspace:
    """A scratch directory inside the root, removed by :meth:`cleanup`."""

    host_dir: Path
    daemons: list[Daemons] = field(default_factory=list)

    @classmethod
    def create(cls) -> Workspace:
        """Make ``<root>/tmp/gwms-auth-XXXX``."""
        (ROOT / "tmp").mkdir(exist_ok=True)
        subprocess.run([str(SCRIPT), "mount"], check=True, timeout=60, env=_script_env())
        host_dir = Path(tempfile.mkdtemp(prefix="gwms-auth-", dir=ROOT / "tmp"))
        host_dir.chmod(0o755)  # the daemons run as the condor user and must traverse it
        return cls(host_dir)

    def chroot_path(self, host_path: Path) -> str:
        """The path of ``host_path`` as seen inside the chroot."""
        return "/" + str(host_path.relative_to(ROOT))

    def run(self, argv: Sequence[str], config: Path, env: Mapping[str, str] | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run an HTCondor tool in the root with ``config``."""
        envs = [f"CONDOR_CONFIG={self.chroot_path(config)}"]
        envs += [f"{k}={v}" for k, v in (env or {}).items()]
        return subprocess.run(["chroot", str(ROOT), "/usr/bin/env", "LC_ALL=C.UTF-8", *envs,
                               *argv], capture_output=True, text=True, timeout=timeout,
                              check=False)

    #: Directories and file names that hold secrets on purpose (token stores, keys).
    SECRET_DIRS = ("tokens.d", "passwords.d", "clients")
    SECRET_NAME_PREFIXES = ("token", "other-POOL")
    SECRET_SUFFIXES = (".key", ".pem")

    def _is_secret_store(self, path: Path) -> bool:
        rel = path.relative_to(self.host_dir)
        return (any(part in self.SECRET_DIRS for part in rel.parts[:-1])
                or path.name.startswith(self.SECRET_NAME_PREFIXES)
                or path.name.endswith(self.SECRET_SUFFIXES))

    def scan_for_secrets(self) -> tuple[int, int, list[str]]:
        """Look for every secret stored under the workspace (tokens, keys) in every other
        file the daemons and tools wrote there (logs, spools, queues, ads).

        Returns ``(texts scanned, secrets, findings)``; findings never show a secret.
        """
        from gwms_core.credentials.leaks import find_leaks

        files = [p for p in self.host_dir.rglob("*") if p.is_file() and not p.is_symlink()]
        secrets = [p.read_bytes().strip() for p in files if self._is_secret_store(p)]
        texts = {str(p.relative_to(self.host_dir)): p.read_bytes().decode("utf-8", "replace")
                 for p in files if not self._is_secret_store(p)}
        return len(texts), len(secrets), [str(x) for x in find_leaks(texts, secrets)]

    def cleanup(self) -> None:
        """Stop every daemon tree started here and remove the directory."""
        for d in self.daemons:
            d.stop()
        shutil.rmtree(self.host_dir, ignore_errors=True)
        # leave no bind mount of the host's /dev behind (an rm -rf of the root would
        # then delete device nodes)
        subprocess.run([str(SCRIPT), "umount"], check=False, timeout=60, env=_script_env())


@dataclass
class Daemons:
    """One ``condor_master`` and its children, configured by a file in its directory."""

    ws: Workspace
    name: str
    directory: Path
    config: Path
    port: int | None = None
    pid: int | None = None

    @property
    def log_dir(self) -> Path:
        return self.directory / "log"

    def log(self, daemon: str) -> str:
        """The text of ``<daemon>Log`` (``""`` when absent)."""
        path = self.log_dir / f"{daemon}Log"
        return path.read_text(errors="replace") if path.exists() else ""

    def tool(self, argv: Sequence[str], token_dir: Path | None = None,
             timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run a tool with this daemon tree's config, optionally with a token directory."""
        # A client holds tokens only: never the signing keys of the daemons' config
        # (HTCondor tools that can read a signing key use it).
        env = {"_CONDOR_SEC_PASSWORD_DIRECTORY": "/nonexistent",
               "_CONDOR_SEC_TOKEN_POOL_SIGNING_KEY_FILE": "/nonexistent/POOL"}
        if token_dir is not None:
            env["_CONDOR_SEC_TOKEN_DIRECTORY"] = self.ws.chroot_path(token_dir)
        return self.ws.run(argv, self.config, env, timeout)

    def start(self) -> None:
        """Start the master in the background and remember its pid."""
        pidfile = self.log_dir / "master.pid"  # written by the master as the condor user
        proc = self.ws.run(["condor_master", "-pidfile", self.ws.chroot_path(pidfile)],
                           self.config)
        if proc.returncode != 0:
            raise RuntimeError(f"condor_master failed: {proc.stderr.strip()[:500]}")
        if not wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), 30):
            raise RuntimeError(f"condor_master of {self.name} wrote no pid file")
        self.pid = int(pidfile.read_text().split()[0])
        self.ws.daemons.append(self)

    def stop(self) -> None:
        """SIGTERM the master (it stops its children), then SIGKILL what is left."""
        if self.pid is None:
            return
        pid, self.pid = self.pid, None
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        if not wait_for(lambda: not Path(f"/proc/{pid}").exists(), 30):
            os.kill(pid, signal.SIGKILL)


def _write_config(directory: Path, text: str) -> Path:
    uid, gid = condor_ids()
    directory.mkdir(mode=0o755, parents=True, exist_ok=True)
    for sub in ("log", "spool", "execute", "lock", "run"):
        (directory / sub).mkdir(parents=True, exist_ok=True)
        os.chown(directory / sub, uid, gid)
    for sub in ("passwords.d", "tokens.d"):
        (directory / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
    config = directory / "condor_config"
    config.write_text(text)
    return config


_COMMON = """\
# Debian's layout (from /etc/condor/condor_config, which these configs replace)
RELEASE_DIR = /usr
BIN = $(RELEASE_DIR)/bin
SBIN = $(RELEASE_DIR)/sbin
LIB = $(RELEASE_DIR)/lib/condor
LIBEXEC = $(RELEASE_DIR)/libexec/condor
SHARE = $(RELEASE_DIR)/share/condor
LOCAL_DIR = {dir}
LOG = $(LOCAL_DIR)/log
SPOOL = $(LOCAL_DIR)/spool
EXECUTE = $(LOCAL_DIR)/execute
LOCK = $(LOCAL_DIR)/lock
RUN = $(LOCAL_DIR)/run
COLLECTOR_HOST = 127.0.0.1:{port}
CONDOR_HOST = 127.0.0.1
NETWORK_INTERFACE = 127.0.0.1
USE_SHARED_PORT = False
MASTER_ADDRESS_FILE = $(LOG)/.master_address
TRUST_DOMAIN = {trust_domain}
UID_DOMAIN = {trust_domain}
SEC_DEFAULT_AUTHENTICATION = REQUIRED
SEC_DEFAULT_AUTHENTICATION_METHODS = IDTOKENS
SEC_CLIENT_AUTHENTICATION_METHODS = IDTOKENS
SEC_PASSWORD_DIRECTORY = $(LOCAL_DIR)/passwords.d
SEC_TOKEN_POOL_SIGNING_KEY_FILE = $(SEC_PASSWORD_DIRECTORY)/POOL
SEC_TOKEN_SYSTEM_DIRECTORY = $(LOCAL_DIR)/tokens.d
SEC_TOKEN_DIRECTORY = $(LOCAL_DIR)/tokens.d
MASTER_UPDATE_INTERVAL = 5
"""

_CENTRAL = """\
DAEMON_LIST = MASTER COLLECTOR
COLLECTOR_NAME = gwms-auth-test
COLLECTOR_DEBUG = D_SECURITY D_COMMAND
# The pool allows every identity of the trust domain everything: what a token may do
# is then limited by its scope alone, which is what these tests look at.
ALLOW_READ = *@{trust_domain}
ALLOW_WRITE = *@{trust_domain}
ALLOW_DAEMON = *@{trust_domain}
ALLOW_ADMINISTRATOR = *@{trust_domain}
ALLOW_ADVERTISE_STARTD = *@{trust_domain}
ALLOW_ADVERTISE_MASTER = *@{trust_domain}
ALLOW_ADVERTISE_SCHEDD = *@{trust_domain}
"""

_GLIDEIN = """\
DAEMON_LIST = MASTER STARTD
MASTER_NAME = {name}
STARTD_NAME = {name}
# A second master beside the pool's: its own family, so it must authenticate.
SEC_USE_FAMILY_SESSION = False
NUM_CPUS = 1
MEMORY = 256
START = False
UPDATE_INTERVAL = 5
UPDATE_OFFSET = 0
MOUNT_UNDER_SCRATCH =
USE_PID_NAMESPACES = False
STARTD_DEBUG = D_SECURITY
ALLOW_READ = *@{trust_domain}
ALLOW_WRITE = *@{trust_domain}
ALLOW_ADMINISTRATOR = *@{trust_domain}
ALLOW_DAEMON = *@{trust_domain}
"""


def start_central_manager(ws: Workspace, pool_key: bytes | None = None,
                          extra: str = "", name: str = "cm") -> Daemons:
    """Start a collector on a free loopback port.

    ``pool_key``: the POOL signing key file content to install; ``None`` lets the
    collector generate its own (HTCondor does when the file is missing).
    """
    directory = ws.host_dir / name
    port = free_port()
    text = _COMMON.format(dir=ws.chroot_path(directory), port=port, trust_domain=TRUST_DOMAIN)
    text += _CENTRAL.format(trust_domain=TRUST_DOMAIN) + extra
    config = _write_config(directory, text)
    if pool_key is not None:
        key = directory / "passwords.d" / "POOL"
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pool_key)
    cm = Daemons(ws, name, directory, config, port)
    cm.start()
    address = cm.log_dir / ".collector_address"
    key_file = directory / "passwords.d" / "POOL"
    if not wait_for(lambda: address.exists() and key_file.exists(), 30):
        raise RuntimeError("collector did not start:\n" + cm.log("Collector")[-2000:])
    return cm


def start_glidein(ws: Workspace, cm: Daemons, name: str, token: str,
                  extra: str = "") -> Daemons:
    """Start a master + startd that authenticates to ``cm`` with ``token`` only."""
    directory = ws.host_dir / name
    assert cm.port is not None
    text = _COMMON.format(dir=ws.chroot_path(directory), port=cm.port,
                          trust_domain=TRUST_DOMAIN)
    text += _GLIDEIN.format(name=name, trust_domain=TRUST_DOMAIN) + extra
    config = _write_config(directory, text)
    install_token(directory / "tokens.d", "glidein", token)  # root-owned, 0600
    g = Daemons(ws, name, directory, config, cm.port)
    g.start()
    return g


def install_token(directory: Path, name: str, token: str,
                  owner: tuple[int, int] | None = None) -> Path:
    """Write one token file (mode 0600) into ``directory``."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    if owner is not None:
        os.chown(directory, *owner)
        os.chown(path, *owner)
    return path


def ping_table(cm: Daemons, token_dir: Path, authz: Sequence[str]) -> dict[str, tuple[str, str]]:
    """``condor_ping -table`` against the collector: ``{AUTHZ: (decision, identity)}``."""
    assert cm.port is not None
    proc = cm.tool(["condor_ping", "-type", "collector", "-pool", f"127.0.0.1:{cm.port}",
                    "-table", *authz], token_dir)
    result: dict[str, tuple[str, str]] = {}
    for line in proc.stdout.splitlines():
        cols = line.split()
        if cols and cols[0] in authz:
            # Instruction Authentication Encryption Integrity Decision Identity
            result[cols[0]] = (cols[4], cols[5]) if len(cols) >= 6 else ("FAIL", "")
    missing = set(authz) - set(result)
    if missing:
        raise AssertionError(f"condor_ping printed no row for {missing}: {proc.stdout}"
                             f"{proc.stderr}")
    return result
