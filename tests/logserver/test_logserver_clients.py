"""Real clients against the real server: curl (what the glidein uses), the factory's
Python uploader, and the command line (keygen, user, token, serve, reindex)."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from logserver_helpers import VIEWER, Running, failing_log, good_log, make_cert

from gwms_core.logserver.client import attachment_record, encode, upload
from gwms_core.logserver.index import GlideinQuery, SqliteIndex, rebuild
from gwms_core.logserver.tokens import KeyRing, mint

DATA = Path(__file__).resolve().parents[1] / "data" / "logserver"
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{VIEWER[0]}:{VIEWER[1]}".encode())
        .decode()}


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl absent")
def test_curl_upload_as_the_glidein_does(logserver: Running, keyring: KeyRing,
                                         tmp_path: Path) -> None:
    log = tmp_path / "glidein.jsonl"
    log.write_bytes(failing_log())
    token_file = tmp_path / "token"
    token_file.write_text(mint(keyring, "ce1", "g-0001"))
    url = f"{logserver.server.url}/logs/ce1/g-0001/glidein.jsonl"
    # the token goes in a header file, never on the command line (ps would show it)
    header = tmp_path / "auth.header"
    header.write_text(f"Authorization: Bearer {token_file.read_text()}\n")
    out = subprocess.run(
        ["curl", "--silent", "--show-error", "--fail-with-body", "--cacert",
         str(logserver.cafile), "-H", f"@{header}", "-H", "Content-Type: application/x-ndjson",
         "-X", "PUT", "--data-binary", f"@{log}", url],
        capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["status"] == "failed"
    # and a refusal is a non-zero curl exit with the reason in the body
    out = subprocess.run(
        ["curl", "--silent", "--fail-with-body", "--cacert", str(logserver.cafile),
         "-X", "PUT", "--data-binary", f"@{log}", url],
        capture_output=True, text=True, timeout=60)
    assert out.returncode == 22 and json.loads(out.stdout)["reason"] == "no_token"


def test_factory_uploads_collected_condor_log(logserver: Running, keyring: KeyRing) -> None:
    base, ca = logserver.server.url, str(logserver.cafile)
    ans = upload(base, mint(keyring, "ce1", "g-0001"), "ce1", "g-0001", "glidein.jsonl",
                 good_log(), cafile=ca)
    assert ans.ok and ans.body["status"] == "succeeded"
    body = encode([attachment_record("job.3.0.log",
                                     (DATA / "condor-event-sig.log").read_bytes()),
                   attachment_record("job.3.0.err", b"killed\n", severity="warning")])
    ans = upload(base, mint(keyring, "ce1", "g-0001"), "ce1", "g-0001", "factory.jsonl",
                 body, cafile=ca)
    assert ans.ok, ans.body
    g = json.loads(logserver.request("GET", "/api/v1/glideins/ce1/g-0001", None, AUTH)[2])
    # the glidein's own log said exit 0; HTCondor says it was killed by signal 9 and
    # outranks it; the node keeps the glidein's own name for it
    assert (g["exit_status"], g["status"], g["node"]) == (137, "failed", "wn007")
    assert sorted(f["name"] for f in g["files"]) == ["factory.jsonl", "glidein.jsonl"]
    ans = upload(base, mint(keyring, "ce1", "g-0002"), "ce1", "g-0001", "x.jsonl", body,
                 cafile=ca)
    assert (ans.status, ans.body["reason"]) == (403, "wrong_scope")


def test_factory_log_alone_gives_exit_status_and_node(logserver: Running,
                                                      keyring: KeyRing) -> None:
    body = encode([attachment_record("job.3.0.log",
                                     (DATA / "condor-event-sig.log").read_bytes())])
    assert upload(logserver.server.url, mint(keyring, "ce1", "g-0009"), "ce1", "g-0009",
                  "factory.jsonl", body, cafile=str(logserver.cafile)).ok
    g = json.loads(logserver.request("GET", "/api/v1/glideins/ce1/g-0009", None, AUTH)[2])
    assert (g["exit_status"], g["node"], g["job_id"], g["status"]) == \
        (137, "wn-rec.example.org", "3.0", "failed")


def test_reindex_rebuilds_the_same_index(logserver: Running, keyring: KeyRing) -> None:
    for i in range(3):
        body = failing_log() if i == 1 else good_log()
        assert upload(logserver.server.url, mint(keyring, "ce1", f"g-{i}"), "ce1", f"g-{i}",
                      "glidein.jsonl", body, cafile=str(logserver.cafile)).ok
    before = logserver.server.index.glideins(GlideinQuery())[0]
    logserver.server.stop()
    for p in logserver.data_dir.glob("index.sqlite*"):
        p.unlink()
    assert rebuild(logserver.data_dir) == (3, 3)
    index = SqliteIndex(logserver.data_dir / "index.sqlite")
    try:
        after = index.glideins(GlideinQuery())[0]
        assert [r.facts for r in after] == [r.facts for r in before]
        assert [r.facts.glidein for r in index.glideins(GlideinQuery(text="quasarflux"))[0]] \
            == ["g-1"]
    finally:
        index.close()
    logserver.server.start = lambda: None  # type: ignore[method-assign]
    logserver.server.stop = lambda: None  # type: ignore[method-assign]


def test_command_line_end_to_end(tmp_path: Path) -> None:
    gwms = [sys.executable, "-m", "gwms_core.cli", "logserver"]
    key_file, users = tmp_path / "logs.key", tmp_path / "users"
    run = lambda *a, **kw: subprocess.run([*gwms, *a], capture_output=True, text=True,  # noqa: E731
                                          timeout=120, **kw)
    assert run("keygen", "--key-file", str(key_file)).returncode == 0
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert run("keygen", "--key-file", str(key_file)).returncode == 1
    assert run("keygen", "--key-file", str(key_file), "--rotate", "--kid",
               "logs-2").returncode == 0
    r = run("user", "--users-file", str(users), "--name", "ops", "--role", "viewer",
            "--password-stdin", input="long-enough-pw\n")
    assert r.returncode == 0, r.stderr
    assert "long-enough-pw" not in users.read_text()
    token = run("token", "--key-file", str(key_file), "--entry", "ce1", "--glidein",
                "g1").stdout.strip()
    cert, key = make_cert(tmp_path)
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = tmp_path / "data"
    server = subprocess.Popen(
        [*gwms, "serve", "--data-dir", str(data), "--key-file", str(key_file),
         "--users-file", str(users), "--cert", str(cert), "--cert-key", str(key),
         "--listen", f"127.0.0.1:{port}"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        base = f"https://127.0.0.1:{port}"
        for _ in range(100):
            try:
                ans = upload(base, token, "ce1", "g1", "glidein.jsonl", good_log(),
                             cafile=str(cert))
                break
            except OSError:
                time.sleep(0.1)
        assert ans.status == 201
    finally:
        server.terminate()
        out, _ = server.communicate(timeout=30)
    assert server.returncode == 0  # SIGTERM is a clean stop
    log = out.decode()
    assert "log server stopped" in log
    assert "PUT /logs/ce1/g1/glidein.jsonl 201" in log
    assert token not in log and token.split(".")[2] not in log
    r = run("reindex", "--data-dir", str(data))
    assert r.returncode == 0 and "indexed 1 file(s) of 1 glidein(s)" in r.stdout
    r = run("retention", "--data-dir", str(data), "--retention-days", "0",
            "--retention-bytes", "1")  # over 1 byte in all: the only glidein goes
    assert r.returncode == 0 and "deleted the logs of 1 glidein(s)" in r.stdout
    assert not (data / "logs" / "ce1" / "g1").exists()
    r = run("serve", "--data-dir", str(data), "--key-file", str(key_file))
    assert r.returncode == 1 and "--cert is required" in r.stderr


def test_config_file_validate_and_hash_password(tmp_path: Path) -> None:
    """What the Ansible role relies on: a YAML configuration checked by ``validate``
    (every file it names read, the TLS pair loaded) before it is written, hashes for the
    users file made from stdin, and ``serve --config`` serving with it."""
    gwms = [sys.executable, "-m", "gwms_core.cli", "logserver"]
    run = lambda *a, **kw: subprocess.run([*gwms, *a], capture_output=True, text=True,  # noqa: E731
                                          timeout=120, **kw)
    key_file, users = tmp_path / "logs.key", tmp_path / "users"
    assert run("keygen", "--key-file", str(key_file)).returncode == 0
    r = run("hash-password", input="a-viewer-password\n")
    assert r.returncode == 0 and "a-viewer-password" not in r.stdout
    from gwms_core.logserver.users import check_password
    assert check_password("a-viewer-password", r.stdout.strip())
    assert run("hash-password", input="short\n").returncode == 1
    users.write_text(f"ops:viewer:{r.stdout.strip()}\n")
    assert run("validate", "--users-file", str(users)).returncode == 0
    bad_users = tmp_path / "bad-users"
    bad_users.write_text("ops:root:x\n")
    r = run("validate", "--users-file", str(bad_users))
    assert r.returncode == 1 and "bad-users:1" in r.stderr
    cert, key = tmp_path / "tls" / "cert.pem", tmp_path / "tls" / "key.pem"
    cert.parent.mkdir()
    r = run("cert", "--cert", str(cert), "--cert-key", str(key), "--name", "localhost",
            "--name", "127.0.0.1", "--days", "2")
    assert r.returncode == 0, r.stderr
    assert key.stat().st_mode & 0o777 == 0o600
    r = run("cert", "--cert", str(cert), "--cert-key", str(tmp_path / "k2"), "--name", "x")
    assert r.returncode == 1 and "exists" in r.stderr  # made once, kept
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = {"listen": f"127.0.0.1:{port}", "data_dir": str(tmp_path / "data"),
              "key_file": str(key_file), "users_file": str(users), "cert": str(cert),
              "cert_key": str(key), "retention_days": 7, "redact": ["site-secret-[0-9]+"],
              "public_metrics": True}
    good = tmp_path / "logserver.yaml"
    good.write_text(json.dumps(config))  # JSON is YAML
    r = run("validate", "--config", str(good))
    assert r.returncode == 0, r.stderr
    for change, message in [({"listen": 8443}, "listen: wrong type"),
                            ({"colour": "blue"}, "unknown key 'colour'"),
                            ({"cert_key": str(cert)}, "TLS certificate/key unusable"),
                            ({"users_file": str(bad_users)}, "bad-users:1"),
                            ({"key_file": str(tmp_path / "none")}, "none"),
                            ({"redact": ["("]}, "redact pattern"),
                            ({"cert": None}, "--cert is required")]:
        bad = tmp_path / "bad.yaml"
        bad.write_text(json.dumps({**config, **change}))
        r = run("validate", "--config", str(bad))
        assert r.returncode == 1 and message in r.stderr, (change, r.stderr)
    server = subprocess.Popen([*gwms, "serve", "--config", str(good)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        import ssl
        import urllib.request
        ctx = ssl.create_default_context(cafile=str(cert))
        body = ""
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"https://127.0.0.1:{port}/metrics",
                                            context=ctx, timeout=10) as resp:
                    body = resp.read().decode()
                break
            except OSError:
                time.sleep(0.1)
        assert "gwms_logserver_uploads_total" in body  # public_metrics from the file
    finally:
        server.terminate()
        server.communicate(timeout=30)
