"""Fixtures: a self-signed certificate, keys, users, and a real log server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from logserver_helpers import ADMIN, VIEWER, Running, make_cert

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


