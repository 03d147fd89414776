"""Fixtures: a self-signed certificate, keys, users, and a real log server on 127.0.0.1."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
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
def staged(tmp_path: Path) -> Iterator[tuple[str, Any]]:
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
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind",
                             "127.0.0.1", "--directory", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(url + "/", timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield url, manifest
    finally:
        proc.terminate()
        proc.wait(timeout=10)
