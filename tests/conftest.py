"""Shared fixtures: a fresh plugin registry and no plugin env vars for every test; a real
HTTP server for a directory (``serve``)."""

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

from gwms_core import manager

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _fresh_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("GWMS_DISABLE_PLUGINS", raising=False)
    monkeypatch.delenv("GWMS_NO_EXTERNAL_PLUGINS", raising=False)
    manager.clear_cache()
    yield
    manager.clear_cache()


@pytest.fixture
def repo_root() -> Path:
    return ROOT


@pytest.fixture
def serve() -> Iterator[Any]:
    """``serve(directory) -> base URL``: a real python -m http.server, stopped at teardown."""
    procs: list[subprocess.Popen[bytes]] = []

    def _serve(directory: Path) -> str:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        proc = subprocess.Popen(
            [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
             "--directory", str(directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                urllib.request.urlopen(url + "/", timeout=1).close()
                return url
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("http.server did not start")

    yield _serve
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)
