"""Helpers of the log server tests: certificates, a running server handle, sample logs."""

from __future__ import annotations

import base64
import gzip
import http.client
import json
import shutil
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gwms_core.logserver.server import LogServer
from gwms_core.logserver.tokens import KeyRing, mint

VIEWER = ("viewer1", "viewer-password")
ADMIN = ("admin1", "admin-password")

# Headless Chromium (Debian's package) driven by Playwright: used by the browser tests
# here and by tests/e2e/test_logserver_acceptance.py against the grid's server.
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]


def browser_login(page: Any, base: str, user: str, password: str) -> None:
    """Open ``base``/ in a Playwright page, which must send it to the login form, log in
    and wait for the glidein list."""
    page.goto(base + "/")
    assert "/login" in page.url, page.url
    page.fill("#username", user)
    page.fill("#password", password)
    page.click("#login")
    page.wait_for_selector("#glideins")


def make_cert(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1/localhost (openssl, else cryptography)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    if shutil.which("openssl"):
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
             "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
             "-keyout", str(key), "-out", str(cert)],
            check=True, capture_output=True)
        return cert, key
    crypto = pytest.importorskip("cryptography", reason="neither openssl nor cryptography")
    del crypto
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    pk = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    c = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
         .public_key(pk.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - dt.timedelta(hours=1))
         .not_valid_after(now + dt.timedelta(days=2))
         .add_extension(x509.SubjectAlternativeName(
             [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
             critical=False)
         .sign(pk, hashes.SHA256()))
    cert.write_bytes(c.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(pk.private_bytes(serialization.Encoding.PEM,
                                     serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()))
    return cert, key


@dataclass
class Running:
    """A started server and how to talk to it."""

    server: LogServer
    cafile: Path
    data_dir: Path

    def conn(self) -> http.client.HTTPSConnection:
        ctx = ssl.create_default_context(cafile=str(self.cafile))
        return http.client.HTTPSConnection("127.0.0.1", self.server.port, context=ctx,
                                           timeout=30)

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        c = self.conn()
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    def stored_files(self) -> list[Path]:
        """Every file under the log directory (temporary files included)."""
        return sorted(p for p in (self.data_dir / "logs").rglob("*") if p.is_file())


def gz64(data: bytes) -> str:
    return base64.b64encode(gzip.compress(data)).decode()


def jsonl(records: list[dict[str, Any]]) -> bytes:
    return ("\n".join(json.dumps(r) for r in records) + "\n").encode()


def failing_log(t0: float = 1_764_000_000.0, word: str = "quasarflux",
                attrs: dict[str, str] | None = None) -> bytes:
    """A glidein log whose validation script fails and prints ``word``."""
    a = {"factory": "fact1", "frontend": "fe-cms", "node": "wn042.example.org",
         "job_id": "1234.0"}
    a.update(attrs or {})
    return jsonl([
        {"time": t0, "script": "glidein_startup.sh", "pid": 100, "severity": "info",
         "message": "glidein starting", "event": "start", "attrs": a},
        {"time": t0 + 1, "script": "validate_node.sh", "pid": 101, "severity": "info",
         "message": "checking scratch space", "event": "script_start"},
        {"time": t0 + 2, "script": "validate_node.sh", "pid": 101, "severity": "error",
         "file": {"name": "validate_node.out", "encoding": "gzip+base64",
                  "data": gz64(f"df: /scratch 1 GB free\n{word}: need 10 GB\n".encode())}},
        {"time": t0 + 3, "script": "validate_node.sh", "pid": 101, "severity": "error",
         "message": "validation failed", "event": "script_end", "exit_code": 2},
        {"time": t0 + 4, "script": "glidein_startup.sh", "pid": 100, "severity": "info",
         "message": "glidein ending", "event": "end", "exit_code": 2},
    ])


def good_log(t0: float = 1_764_000_100.0) -> bytes:
    return jsonl([
        {"time": t0, "script": "glidein_startup.sh", "pid": 200, "severity": "info",
         "message": "glidein starting", "event": "start",
         "attrs": {"factory": "fact1", "frontend": "fe-atlas", "node": "wn007"}},
        {"time": t0 + 50, "script": "condor_startup.sh", "pid": 201, "severity": "info",
         "message": "startd joined the pool"},
        {"time": t0 + 90, "script": "glidein_startup.sh", "pid": 200, "severity": "info",
         "message": "glidein ending", "event": "end", "exit_code": 0},
    ])


def bearer(keyring: KeyRing, entry: str, glidein: str, **kw: Any) -> dict[str, str]:
    return {"Authorization": "Bearer " + mint(keyring, entry, glidein, **kw),
            "Content-Type": "application/x-ndjson"}


# --------------------------------------------------------------------------- real pilot

GLIDEIN = Path(__file__).resolve().parents[2] / "glidein"
SCRIPT_FAIL = b"""#!/bin/bash
printf 'scratch is read-only: zorblatt quota exceeded\\n'
printf 'PASSWORD=hunter2hunter2 leaked by a careless script\\n' >&2
exit 1
"""


def pilot_available() -> str | None:
    """None when the real pilot can run here, else why not."""
    if not (GLIDEIN / "glidein_startup.sh").exists():
        return "glidein sources absent"
    for tool in ("bash", "curl"):
        if shutil.which(tool) is None:
            return f"{tool} absent"
    try:
        import gwms_core.staging  # noqa: F401
    except ImportError:
        return "gwms_core.staging absent"
    return None


def run_real_pilot(server: Running, keyring: KeyRing, staged: tuple[str, Any],
                   tmp_path: Path, entry: str, glidein: str
                   ) -> tuple[subprocess.CompletedProcess[str], Path]:
    """Run glidein_startup.sh --validate-only with its log flushed to ``server``.

    Returns the finished process and the directory its work directory is kept in.
    """
    import os

    from gwms_core import staging
    from gwms_core.logserver.factory import prepare_glidein_log
    url, manifest = staged
    # as the factory does: token file in its spool, transferred into the job's sandbox
    setup = prepare_glidein_log(server.server.url, keyring, entry, glidein,
                                tmp_path / "factory-spool")
    sandbox = tmp_path / f"sandbox-{glidein}"
    sandbox.mkdir()
    shutil.copy2(setup.token_file, sandbox / setup.token_file.name)
    work_parent = tmp_path / f"pilot-{glidein}"
    work_parent.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GWMS_")}
    env.update({"TMPDIR": str(work_parent), "GWMS_FETCH_DELAY": "0", "GWMS_FETCH_TRIES": "2",
                "CURL_CA_BUNDLE": str(server.cafile)})
    run = subprocess.run(
        [str(tmp_path / "stage" / "glidein_startup.sh"),
         "--manifest-url", f"{url}/{staging.MANIFEST_NAME}",
         "--manifest-sha256", manifest.digest,
         "--factory", "fact-test", "--frontend", "vofe-test", "--site", "T2_TEST",
         "--validate-only", "--failure-sleep", "0", "--keep-work-dir", *setup.pilot_args],
        capture_output=True, text=True, env=env, timeout=180, cwd=sandbox)
    return run, work_parent
