"""Fixtures: a self-signed certificate, keys, users, and a real log server on 127.0.0.1."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from logserver_helpers import (
    ADMIN,
    GLIDEIN,
    SCRIPT_FAIL,
    VIEWER,
    Running,
    make_cert,
    pilot_available,
)

from gwms_core.logserver.retention import RetentionPolicy
from gwms_core.logserver.server import LogServer, ServerConfig
from gwms_core.logserver.tokens import KeyRing, SigningKey
from gwms_core.logserver.users import parse_users, user_line


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def keyring() -> KeyRing:
    return KeyRing((SigningKey("test-1", b"k" * 32),))


@pytest.fixture(scope="session")
def foreign_keyring() -> KeyRing:
    return KeyRing((SigningKey("test-1", b"x" * 32),))


@pytest.fixture
def logserver(tmp_path: Path, tls_files: tuple[Path, Path], keyring: KeyRing
              ) -> Iterator[Running]:
    cert, key = tls_files
    users = parse_users("\n".join([
        user_line(VIEWER[0], "viewer", VIEWER[1], iterations=1000),
        user_line(ADMIN[0], "admin", ADMIN[1], iterations=1000)]))
    config = ServerConfig(data_dir=tmp_path / "data", keyring=keyring, users=users,
                          host="127.0.0.1", port=0, certfile=cert, keyfile=key,
                          max_upload_bytes=64 * 1024, max_inflated_bytes=256 * 1024,
                          retention=RetentionPolicy(None, None),
                          redact_patterns=(r"SITE-SECRET-[0-9]+",))
    server = LogServer(config)
    server.start()
    try:
        yield Running(server, cert, tmp_path / "data")
    finally:
        server.stop()


@pytest.fixture
def staged(tmp_path: Path, serve: Any) -> tuple[str, Any]:
    """A staging area (built-in scripts plus a failing group script) served over HTTP."""
    reason = pilot_available()
    if reason is not None:
        pytest.skip(reason)
    from gwms_core import staging
    files = staging.glidein_files(
        GLIDEIN, scripts=(*staging.BUILTIN_SCRIPTS,
                          staging.Script("vo/check_scratch.sh", "group", 10)),
        params={"GLIDEIN_MIN_DISK_MB": 1}, extra={"vo/check_scratch.sh": SCRIPT_FAIL})
    out = tmp_path / "stage"
    manifest = staging.build_staging(files, out)
    return serve(out), manifest


def _pg_bin(tool: str) -> str | None:
    import glob
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{tool}"))
    return found[-1] if found else None


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A private PostgreSQL cluster (Debian's binaries, trust auth, Unix socket only)
    started for the session; yields its libpq base URL."""
    import os
    import shutil
    import tempfile
    pytest.importorskip("psycopg", reason="pip package psycopg absent")
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if initdb is None or pg_ctl is None:
        pytest.skip("PostgreSQL server binaries absent (apt-get install postgresql)")
    as_user: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="gwms-pg-", dir="/tmp"))
    root.chmod(0o755)
    if os.geteuid() == 0:  # postgres refuses to run as root
        import pwd
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and no 'postgres' user to run the server as")
        os.chown(root, pw.pw_uid, pw.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data, sock = root / "data", root
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    subprocess.run([*as_user, initdb, "-D", str(data), "-A", "trust", "-U", "postgres",
                    "--no-sync", "-E", "UTF8"], check=True, capture_output=True)
    subprocess.run([*as_user, pg_ctl, "-D", str(data), "-l", str(root / "server.log"), "-w",
                    "-o", f"-p {port} -k {sock} -c listen_addresses='' -c fsync=off",
                    "start"], check=True, capture_output=True)
    try:
        yield f"postgresql://postgres@/?host={sock}&port={port}"
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A fresh database in the private cluster for one test."""
    import uuid

    import psycopg
    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(pg_server + "&dbname=postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield pg_server + f"&dbname={name}"
    finally:
        with psycopg.connect(pg_server + "&dbname=postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE {name} WITH (FORCE)")
