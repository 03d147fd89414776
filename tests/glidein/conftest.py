"""Fixtures for running the real pilot: a staging area, a real HTTP server, a log server.

The staging area is built by :mod:`gwms_core.staging` and served by a real
``python -m http.server`` on 127.0.0.1 at a free port. The log server is a real HTTP
server (http.server in a thread) that stores what the pilot POSTs, with its headers.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from glidein_helpers import GLIDEIN

from gwms_core import staging


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    """A staging directory served over HTTP."""

    dir: Path
    url: str
    manifest: staging.Manifest


@pytest.fixture
def stage(tmp_path: Path, serve: Any) -> Any:
    """``stage(scripts=..., params=..., extra=...) -> Served``: build and serve a staging area."""

    def _stage(scripts: tuple[staging.Script, ...] = staging.BUILTIN_SCRIPTS,
               params: Mapping[str, str | int] | None = None,
               extra: Mapping[str, Path | bytes] | None = None) -> Served:
        out = tmp_path / "stage"
        files = staging.glidein_files(GLIDEIN, scripts=scripts,
                                      params={"GLIDEIN_MIN_DISK_MB": 1, **(params or {})},
                                      extra=extra)
        manifest = staging.build_staging(files, out)
        return Served(out, serve(out), manifest)

    return _stage


@dataclass
class Upload:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class LogServer:
    url: str
    uploads: list[Upload] = field(default_factory=list)

    def records(self) -> list[dict[str, Any]]:
        out = []
        for up in self.uploads:
            out += [json.loads(line) for line in up.body.decode().splitlines()]
        return out


@pytest.fixture
def logserver() -> Iterator[LogServer]:
    """A real HTTP server that stores POSTed bodies and headers, answering 204."""
    server_state = LogServer(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            server_state.uploads.append(
                Upload(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server_state.url = f"http://127.0.0.1:{httpd.server_address[1]}/logs/glidein-1"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield server_state
    httpd.shutdown()
    httpd.server_close()


@dataclass
class PilotRun:
    returncode: int
    stdout: str
    stderr: str
    work_parent: Path

    def work_dirs(self) -> list[Path]:
        return sorted(self.work_parent.glob("glidein.*"))

    def log_records(self) -> list[dict[str, Any]]:
        (work,) = self.work_dirs()
        return [json.loads(line) for line in
                (work / "log" / "glidein.jsonl").read_text().splitlines()]


@pytest.fixture
def run_pilot(tmp_path: Path) -> Any:
    """``run_pilot(served, *args, pilot=path, env=...) -> PilotRun``: run the real pilot.

    The pilot is the bundled single-file ``glidein_startup.sh`` from the staging area
    (what a factory submits) unless ``pilot`` is given; TMPDIR is a fresh directory
    whose name contains a space.
    """

    def _run(served: Served, *args: str, pilot: Path | None = None,
             env: Mapping[str, str] | None = None, timeout: float = 120) -> PilotRun:
        parent = tmp_path / "tmp dir"
        parent.mkdir(exist_ok=True)
        exe = pilot or served.dir / "glidein_startup.sh"
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("GWMS_")}
        full_env.update({"TMPDIR": str(parent), "GWMS_FETCH_DELAY": "0",
                         "GWMS_FETCH_TRIES": "2"})
        full_env.update(env or {})
        proc = subprocess.run(
            [str(exe), "--manifest-url", f"{served.url}/{staging.MANIFEST_NAME}",
             "--manifest-sha256", served.manifest.digest, *args],
            capture_output=True, text=True, env=full_env, timeout=timeout,
            cwd=tmp_path)
        return PilotRun(proc.returncode, proc.stdout, proc.stderr, parent)

    return _run
