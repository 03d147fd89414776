"""The real log server over HTTPS on 127.0.0.1: uploads, refusals, API, pages, metrics."""

from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path

import pytest
from logserver_helpers import (
    ADMIN,
    VIEWER,
    Running,
    bearer,
    failing_log,
    good_log,
    gz64,
    jsonl,
)

from gwms_core.logserver.tokens import KeyRing, SigningKey, mint

PATH = "/logs/ce1/g-0001/glidein.jsonl"


def basic(user: tuple[str, str]) -> dict[str, str]:
    return {"Authorization": "Basic " +
            base64.b64encode(f"{user[0]}:{user[1]}".encode()).decode()}


# --------------------------------------------------------------------------- stored


def test_upload_is_stored_durably_and_indexed(logserver: Running, keyring: KeyRing) -> None:
    status, _, body = logserver.request("PUT", PATH, failing_log(),
                                        bearer(keyring, "ce1", "g-0001"))
    assert status == 201, body
    result = json.loads(body)
    assert result["status"] == "failed" and result["records"] == 5
    files = logserver.stored_files()
    assert [p.relative_to(logserver.data_dir / "logs").as_posix() for p in files] == \
        ["ce1/g-0001/.glidein.jsonl.offset", "ce1/g-0001/glidein.jsonl"]
    assert all(os.stat(f).st_mode & 0o007 == 0 for f in files)
    status, _, body = logserver.request("GET", "/api/v1/glideins/ce1/g-0001", None,
                                        basic(VIEWER))
    assert status == 200
    g = json.loads(body)
    assert (g["failing_script"], g["exit_status"], g["node"], g["frontend"]) == \
        ("validate_node.sh", 2, "wn042.example.org", "fe-cms")


def test_put_replaces_own_file_post_appends(logserver: Running, keyring: KeyRing) -> None:
    hdr = bearer(keyring, "ce1", "g-0001")
    assert logserver.request("PUT", PATH, good_log(), hdr)[0] == 201
    assert logserver.request("PUT", PATH, good_log(), hdr)[0] == 200
    assert logserver.request("POST", PATH, failing_log(), hdr)[0] == 200
    data = (logserver.data_dir / "logs/ce1/g-0001/glidein.jsonl").read_bytes()
    assert len(data.splitlines()) == 3 + 5
    status, _, body = logserver.request("GET", "/api/v1/glideins/ce1/g-0001/records", None,
                                        basic(VIEWER))
    assert status == 200
    assert len(json.loads(body)["records"]) == 8


def test_same_name_of_another_glidein_is_a_separate_file(logserver: Running,
                                                        keyring: KeyRing) -> None:
    assert logserver.request("PUT", PATH, failing_log(),
                             bearer(keyring, "ce1", "g-0001"))[0] == 201
    other = "/logs/ce1/g-0002/glidein.jsonl"
    assert logserver.request("PUT", other, good_log(),
                             bearer(keyring, "ce1", "g-0002"))[0] == 201
    first = (logserver.data_dir / "logs/ce1/g-0001/glidein.jsonl").read_bytes()
    assert b"validate_node.sh" in first
    assert len([f for f in logserver.stored_files() if not f.name.startswith(".")]) == 2


def test_secrets_are_redacted_before_storing(logserver: Running, keyring: KeyRing) -> None:
    token = mint(keyring, "ce1", "g-0001")
    pem = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49\n-----END PRIVATE KEY-----"
    body = jsonl([
        {"time": 1.0e9, "script": "s.sh", "severity": "info",
         "message": f"curl -H 'Authorization: Bearer {token}' SITE-SECRET-4242"},
        {"time": 1.0e9, "script": "s.sh", "severity": "info",
         "file": {"name": "env.txt", "encoding": "gzip+base64", "data": gz64(pem.encode())}},
    ])
    status, _, resp = logserver.request("PUT", PATH, body, bearer(keyring, "ce1", "g-0001"))
    assert status == 201 and json.loads(resp)["redactions"] == 3
    stored = (logserver.data_dir / "logs/ce1/g-0001/glidein.jsonl").read_bytes()
    assert token.encode() not in stored and b"SITE-SECRET-4242" not in stored
    # the attachment is stored recompressed: decode it and look
    status, _, att = logserver.request(
        "GET", "/download/ce1/g-0001/glidein.jsonl?attachment=env.txt&seq=1", None,
        basic(VIEWER))
    assert status == 200 and b"MIGHAgEAMBMGByqGSM49" not in att and b"REDACTED:pem" in att
    index = (logserver.data_dir / "index.sqlite").read_bytes()
    assert b"SITE-SECRET-4242" not in index and token.encode() not in index


# --------------------------------------------------------------------------- refused


def _refused(logserver: Running, method: str, path: str, body: bytes,
             headers: dict[str, str], status: int, reason: str) -> dict[str, str]:
    got, hdrs, resp = logserver.request(method, path, body, headers)
    assert got == status, resp
    assert json.loads(resp)["reason"] == reason
    assert logserver.stored_files() == []
    assert logserver.server.index.glideins(
        __import__("gwms_core.logserver.index", fromlist=["GlideinQuery"]).GlideinQuery()
    )[1] == 0
    return hdrs


def test_no_token_is_401(logserver: Running) -> None:
    hdrs = _refused(logserver, "PUT", PATH, good_log(), {}, 401, "no_token")
    assert hdrs["www-authenticate"].startswith("Bearer")


def test_basic_auth_is_not_an_upload_credential(logserver: Running) -> None:
    _refused(logserver, "PUT", PATH, good_log(), basic(ADMIN), 401, "no_token")


def test_malformed_token_is_401(logserver: Running) -> None:
    _refused(logserver, "PUT", PATH, good_log(), {"Authorization": "Bearer not.a.jwt"},
             401, "malformed")


def test_expired_token_is_403(logserver: Running, keyring: KeyRing) -> None:
    hdr = bearer(keyring, "ce1", "g-0001", now=time.time() - 7200, lifetime=3600)
    _refused(logserver, "PUT", PATH, good_log(), hdr, 403, "expired")


def test_foreign_token_is_403(logserver: Running, foreign_keyring: KeyRing) -> None:
    _refused(logserver, "PUT", PATH, good_log(), bearer(foreign_keyring, "ce1", "g-0001"),
             403, "foreign")


def test_unknown_key_id_is_403(logserver: Running) -> None:
    other = KeyRing((SigningKey("other-key", b"k" * 32),))
    _refused(logserver, "PUT", PATH, good_log(), bearer(other, "ce1", "g-0001"),
             403, "foreign")


@pytest.mark.parametrize(("entry", "glidein"), [("ce1", "g-0002"), ("ce2", "g-0001")])
def test_token_of_another_glidein_is_403(logserver: Running, keyring: KeyRing,
                                        entry: str, glidein: str) -> None:
    _refused(logserver, "PUT", PATH, good_log(), bearer(keyring, entry, glidein),
             403, "wrong_scope")


@pytest.mark.parametrize("path", [
    "/logs/ce1/g-0001/..%2F..%2Fetc",
    "/logs/ce1/g-0001/a%2Fb",
    "/logs/ce1/g-0001/.hidden",
    "/logs/ce1/g-0001/../g-0002/x",
    "/logs/ce1/g-0001/sub/x.jsonl",
    "/logs/ce1/g-0001/",
    "/logs/..%2Fce1/g-0001/x",
])
def test_path_like_names_are_400(logserver: Running, keyring: KeyRing, path: str) -> None:
    _refused(logserver, "PUT", path, good_log(), bearer(keyring, "ce1", "g-0001"),
             400, "bad_name")


def test_oversize_body_is_413(logserver: Running, keyring: KeyRing) -> None:
    big = jsonl([{"time": 1.0e9, "script": "s", "severity": "info", "message": "x" * 70000}])
    _refused(logserver, "PUT", PATH, big, bearer(keyring, "ce1", "g-0001"), 413, "too_large")


def test_gzip_bomb_attachment_is_413(logserver: Running, keyring: KeyRing) -> None:
    body = jsonl([{"time": 1.0e9, "script": "s", "severity": "info",
                   "file": {"name": "z.out", "encoding": "gzip+base64",
                            "data": gz64(b"\0" * (2 * 1024 * 1024))}}])
    assert len(body) < 64 * 1024
    _refused(logserver, "PUT", PATH, body, bearer(keyring, "ce1", "g-0001"), 413, "too_large")


@pytest.mark.parametrize("body", [b"{not json}\n", b'{"time": 1}\n{', b"\xff\xfe\n"])
def test_invalid_json_is_400(logserver: Running, keyring: KeyRing, body: bytes) -> None:
    _refused(logserver, "PUT", PATH, body, bearer(keyring, "ce1", "g-0001"), 400, "bad_json")


@pytest.mark.parametrize("record", [
    [1, 2, 3],
    {"script": "s", "severity": "info", "message": "no time"},
    {"time": 1.0e9, "script": "s", "severity": "loud", "message": "m"},
    {"time": 1.0e9, "script": "s", "severity": "info"},
    {"time": 1.0e9, "script": "s", "severity": "info", "message": "m",
     "file": {"name": "x", "encoding": "gzip+base64", "data": "%%%"}},
    {"time": 1.0e9, "script": "s", "severity": "info",
     "file": {"name": "../x", "encoding": "gzip+base64", "data": "H4sI"}},
    {"time": 1.0e9, "script": "s", "severity": "info",
     "file": {"name": "x", "encoding": "gzip+base64", "data": "bm90IGd6aXA="}},
    {"time": "yesterday", "script": "s", "severity": "info", "message": "m"},
])
def test_invalid_records_are_422(logserver: Running, keyring: KeyRing, record: object) -> None:
    body = (json.dumps({"time": 1.0e9, "script": "ok", "severity": "info", "message": "ok"})
            + "\n" + json.dumps(record) + "\n").encode()
    _refused(logserver, "PUT", PATH, body, bearer(keyring, "ce1", "g-0001"), 422,
             "invalid_record")


def test_empty_body_is_422(logserver: Running, keyring: KeyRing) -> None:
    _refused(logserver, "PUT", PATH, b"", bearer(keyring, "ce1", "g-0001"), 422,
             "invalid_record")


def test_server_keeps_serving_after_refusals(logserver: Running, keyring: KeyRing) -> None:
    for _ in range(3):
        logserver.request("PUT", "/logs/ce1/g-0001/a%2Fb", b"x", {})
        logserver.request("PUT", PATH, b"\xff", bearer(keyring, "ce1", "g-0001"))
    assert logserver.request("PUT", PATH, good_log(),
                             bearer(keyring, "ce1", "g-0001"))[0] == 201
    status, _, body = logserver.request("GET", "/metrics", None, basic(VIEWER))
    assert status == 200
    text = body.decode()
    assert 'gwms_logserver_upload_refusals_total{reason="bad_name"} 3' in text
    assert 'gwms_logserver_upload_refusals_total{reason="no_token"}' not in text
    assert 'gwms_logserver_uploads_total{result="stored"} 1' in text


# --------------------------------------------------------------------------- reading


@pytest.fixture
def two_glideins(logserver: Running, keyring: KeyRing) -> Running:
    assert logserver.request("PUT", PATH, failing_log(),
                             bearer(keyring, "ce1", "g-0001"))[0] == 201
    assert logserver.request("PUT", "/logs/ce2/g-0002/glidein.jsonl", good_log(),
                             bearer(keyring, "ce2", "g-0002"))[0] == 201
    return logserver


def test_api_needs_login(two_glideins: Running) -> None:
    status, hdrs, _ = two_glideins.request("GET", "/api/v1/glideins")
    assert status == 401 and hdrs["www-authenticate"].startswith("Basic")
    assert two_glideins.request("GET", "/api/v1/glideins", None,
                                basic((VIEWER[0], "wrong")))[0] == 401


def test_api_filters(two_glideins: Running) -> None:
    def names(query: str) -> list[str]:
        status, _, body = two_glideins.request("GET", "/api/v1/glideins" + query, None,
                                               basic(VIEWER))
        assert status == 200, body
        return sorted(g["glidein"] for g in json.loads(body)["glideins"])

    assert names("") == ["g-0001", "g-0002"]
    assert names("?status=failed") == ["g-0001"]
    assert names("?status=succeeded") == ["g-0002"]
    assert names("?entry=ce2") == ["g-0002"]
    assert names("?frontend=fe-cms") == ["g-0001"]
    assert names("?q=quasarflux") == ["g-0001"]
    assert names("?since=1764000050") == ["g-0002"]
    assert names("?until=2025-11-24T16:00:00Z") == ["g-0001"]
    assert two_glideins.request("GET", "/api/v1/glideins?status=bogus", None,
                                basic(VIEWER))[0] == 400


def test_api_search_returns_the_line(two_glideins: Running) -> None:
    status, _, body = two_glideins.request("GET", "/api/v1/search?q=quasarflux", None,
                                           basic(VIEWER))
    hits = json.loads(body)["hits"]
    assert status == 200 and len(hits) == 1
    assert hits[0]["script"] == "validate_node.sh" and hits[0]["glidein"] == "g-0001"


def test_fts_operators_in_search_are_plain_words(two_glideins: Running) -> None:
    status, _, body = two_glideins.request("GET", '/api/v1/search?q=%22NEAR(%20OR*', None,
                                           basic(VIEWER))
    assert status == 200 and json.loads(body)["hits"] == []


def test_viewer_cannot_delete_admin_can(two_glideins: Running) -> None:
    url = "/api/v1/glideins/ce1/g-0001"
    assert two_glideins.request("DELETE", url, None, basic(VIEWER))[0] == 403
    assert (two_glideins.data_dir / "logs/ce1/g-0001/glidein.jsonl").exists()
    assert two_glideins.request("DELETE", url, None, basic(ADMIN))[0] == 200
    assert not (two_glideins.data_dir / "logs/ce1/g-0001").exists()
    assert two_glideins.request("GET", url, None, basic(ADMIN))[0] == 404


def test_pages_redirect_to_login_then_show_glidein(two_glideins: Running) -> None:
    status, hdrs, _ = two_glideins.request("GET", "/glidein/ce1/g-0001")
    assert status == 303 and hdrs["location"].startswith("/login?next=")
    status, hdrs, _ = two_glideins.request(
        "POST", "/login", f"username={VIEWER[0]}&password={VIEWER[1]}&next=/".encode(),
        {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 303
    cookie = hdrs["set-cookie"]
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=Strict" in cookie
    session = {"Cookie": cookie.split(";", 1)[0]}
    status, hdrs, page = two_glideins.request("GET", "/glidein/ce1/g-0001", None, session)
    assert status == 200 and "default-src 'none'" in hdrs["content-security-policy"]
    html = page.decode()
    assert "quasarflux: need 10 GB" in html and 'id="failing"' in html
    status, _, page = two_glideins.request("GET", "/?q=quasarflux", None, session)
    assert status == 200 and "g-0001" in page.decode() and "g-0002" not in page.decode()


def test_wrong_password_is_refused(two_glideins: Running) -> None:
    status, hdrs, _ = two_glideins.request(
        "POST", "/login", f"username={VIEWER[0]}&password=nope&next=/".encode(),
        {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 401 and "set-cookie" not in hdrs


def test_html_escapes_log_content(logserver: Running, keyring: KeyRing) -> None:
    body = jsonl([{"time": 1.0e9, "script": "<script>alert(1)</script>", "severity": "fatal",
                   "message": "<img src=x onerror=alert(1)>"}])
    assert logserver.request("PUT", PATH, body, bearer(keyring, "ce1", "g-0001"))[0] == 201
    _, _, page = logserver.request("GET", "/glidein/ce1/g-0001", None, basic(VIEWER))
    assert b"<img src=x" not in page and b"<script>alert" not in page
    assert b"&lt;img src=x onerror=alert(1)&gt;" in page


def test_retention_deletes_old_glideins(two_glideins: Running) -> None:
    srv = two_glideins.server
    object.__setattr__(srv.config.retention, "max_age_seconds", 60.0)
    assert srv.run_retention(now=time.time() + 30) == 0
    assert srv.run_retention(now=time.time() + 3600) == 2
    assert two_glideins.stored_files() == []


def test_plain_http_is_not_spoken_on_the_tls_port(logserver: Running) -> None:
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", logserver.server.port, timeout=10)
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        c.request("GET", "/healthz")
        r = c.getresponse()
        if r.status == 200:
            pytest.fail("plain HTTP answered on the TLS port")
        raise ConnectionError(r.status)


def test_metrics_expose_declared_names_only(two_glideins: Running) -> None:
    from gwms_core.metrics import declared_series
    _, _, body = two_glideins.request("GET", "/metrics", None, basic(VIEWER))
    names = {line.split("{")[0].split(" ")[0] for line in body.decode().splitlines()
             if line and not line.startswith("#")}
    assert names and names <= declared_series()
    assert 'gwms_logserver_glideins{status="failed"} 1' in body.decode()


def test_cli_token_is_accepted(logserver: Running, keyring: KeyRing, tmp_path: Path) -> None:
    from gwms_core.logserver.tokens import write_keyring
    key_file = tmp_path / "logs.key"
    write_keyring(key_file, keyring)
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-m", "gwms_core.cli", "logserver", "token",
                          "--key-file", str(key_file), "--entry", "ce1",
                          "--glidein", "g-0001"], capture_output=True, text=True, check=True)
    token = out.stdout.strip()
    assert logserver.request("PUT", PATH, good_log(), {"Authorization": f"Bearer {token}"}
                             )[0] == 201


def test_offset_header_makes_retries_idempotent(logserver: Running, keyring: KeyRing) -> None:
    a, b = failing_log().split(b"\n", 2)[:2]
    a, b = a + b"\n", b + b"\n"
    hdr = bearer(keyring, "ce1", "g-0001")

    def post(body: bytes, offset: int) -> dict[str, object]:
        status, _, resp = logserver.request(
            "POST", PATH, body, {**hdr, "X-GWMS-Log-Offset": str(offset)})
        assert status in (200, 201), resp
        return json.loads(resp)  # type: ignore[no-any-return]

    post(a, 0)
    assert post(a, 0).get("duplicate") is True          # lost answer, same chunk again
    assert post(a + b, 0)["records"] == 1               # retry that grew: only b is new
    assert post(b, len(a)).get("duplicate") is True
    stored = (logserver.data_dir / "logs/ce1/g-0001/glidein.jsonl").read_bytes()
    assert len(stored.splitlines()) == 2
    assert post(good_log(), 10_000).get("gap") is True  # bytes lost before: stored anyway
    status, _, resp = logserver.request("POST", PATH, b"{}\n",
                                        {**hdr, "X-GWMS-Log-Offset": "-1"})
    assert status == 400 and json.loads(resp)["reason"] == "bad_offset"


def test_refused_upload_keeps_the_connection_usable(logserver: Running, keyring: KeyRing,
                                                    foreign_keyring: KeyRing) -> None:
    conn = logserver.conn()
    try:
        conn.request("PUT", PATH, good_log(), bearer(foreign_keyring, "ce1", "g-0001"))
        r = conn.getresponse()
        assert r.status == 403 and r.getheader("Connection") != "close"
        r.read()
        conn.request("PUT", PATH, good_log(), bearer(keyring, "ce1", "g-0001"))
        assert conn.getresponse().status == 201
    finally:
        conn.close()


def test_huge_refused_body_closes_connection_server_survives(logserver: Running,
                                                             keyring: KeyRing) -> None:
    body = b"x" * (3 * 1024 * 1024)
    try:
        status, hdrs, _ = logserver.request("PUT", PATH, body, bearer(keyring, "ce1", "g-0001"))
        assert status == 413 and hdrs.get("connection") == "close"
    except (ConnectionError, OSError):
        pass  # the client was still sending when the server closed: also a refusal
    assert logserver.stored_files() == []
    assert logserver.request("PUT", PATH, good_log(),
                             bearer(keyring, "ce1", "g-0001"))[0] == 201


def test_login_next_is_never_an_open_redirect(logserver: Running) -> None:
    for nxt in ("/\\evil.example", "//evil.example", "https://evil.example", "/glidein/a/b"):
        status, hdrs, _ = logserver.request(
            "POST", "/login",
            f"username={VIEWER[0]}&password={VIEWER[1]}&next={nxt}".encode(),
            {"Content-Type": "application/x-www-form-urlencoded"})
        assert status == 303
        assert hdrs["location"] == ("/glidein/a/b" if nxt == "/glidein/a/b" else "/")


def test_unknown_paths_do_not_grow_metric_labels(logserver: Running) -> None:
    for i in range(3):
        assert logserver.request("GET", f"/nothing-{i}", None, basic(VIEWER))[0] == 404
    _, _, body = logserver.request("GET", "/metrics", None, basic(VIEWER))
    text = body.decode()
    assert 'route="other"' in text and "nothing-" not in text


def test_unexpected_error_is_500_and_server_goes_on(logserver: Running,
                                                    keyring: KeyRing) -> None:
    assert logserver.request("PUT", PATH, failing_log(),
                             bearer(keyring, "ce1", "g-0001"))[0] == 201
    # damage the stored file behind the server's back
    (logserver.data_dir / "logs/ce1/g-0001/glidein.jsonl").write_bytes(b"\xff garbage\n")
    status, _, body = logserver.request(
        "GET", "/download/ce1/g-0001/glidein.jsonl?attachment=validate_node.out&seq=2",
        None, basic(VIEWER))
    assert status == 500 and json.loads(body) == {"error": "internal error"}
    assert logserver.request("GET", "/api/v1/glideins", None, basic(VIEWER))[0] == 200


def test_connection_limit(tmp_path: Path, tls_files: tuple[Path, Path],
                          keyring: KeyRing) -> None:
    from gwms_core.logserver.retention import RetentionPolicy
    from gwms_core.logserver.server import LogServer, ServerConfig
    cert, key = tls_files
    server = LogServer(ServerConfig(data_dir=tmp_path / "d", keyring=keyring, users={},
                                    port=0, certfile=cert, keyfile=key, max_connections=1,
                                    retention=RetentionPolicy(None, None)))
    server.start()
    run = Running(server, cert, tmp_path / "d")
    try:
        first = run.conn()
        first.request("GET", "/healthz")
        assert first.getresponse().read() == b'{\n "ok": true\n}\n'  # holds the only slot
        with pytest.raises((ConnectionError, OSError)):
            run.request("GET", "/healthz")
        first.close()
        for _ in range(100):  # the slot frees when the server thread sees the close
            try:
                assert run.request("GET", "/healthz")[0] == 200
                break
            except (ConnectionError, OSError):
                time.sleep(0.05)
        else:
            pytest.fail("the connection slot was never released")
    finally:
        server.stop()


def test_repeated_failed_logins_are_throttled(logserver: Running) -> None:
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    for _ in range(10):
        assert logserver.request("POST", "/login",
                                 f"username={VIEWER[0]}&password=bad".encode(), form)[0] == 401
    status, hdrs, _ = logserver.request(
        "POST", "/login", f"username={VIEWER[0]}&password={VIEWER[1]}".encode(), form)
    assert status == 429 and "set-cookie" not in hdrs and hdrs["retry-after"] == "300"
    # Basic is throttled the same way (same address)
    assert logserver.request("GET", "/api/v1/glideins", None, basic(VIEWER))[0] == 401
