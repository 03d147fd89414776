"""Sanitiser and the record parser (pure functions)."""

from __future__ import annotations

import base64
import gzip
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gwms_core.logserver.records import UploadError, parse_upload, read_stored
from gwms_core.logserver.sanitize import Sanitizer

S = Sanitizer()
JWT = ("eyJhbGciOiJIUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJhbGljZUBleGFtcGxlIn0."
       "c2lnbmF0dXJlLXZhbHVlLTEyMzQ")


@pytest.mark.parametrize(("text", "secret", "kind"), [
    (f"token is {JWT} ok", JWT, "jwt"),
    ("Authorization: Bearer abcDEF0123456789_-.~+/=", "abcDEF0123456789", "bearer"),
    ("authorization: bearer s3cr3tT0k3nValue", "s3cr3tT0k3nValue", "bearer"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nIBAAK\n-----END RSA PRIVATE KEY-----",
     "MIIEow", "pem"),
    ("-----BEGIN CERTIFICATE-----\nMIIBxz\n-----END CERTIFICATE-----", "MIIBxz", "pem"),
    ("-----BEGIN PRIVATE KEY-----\nMIIEtruncated", "MIIEtruncated", "pem"),
    ("password=hunter2hunter2", "hunter2hunter2", "assignment"),
    ("export GLIDEIN_TOKEN: abcd1234", "abcd1234", "assignment"),
])
def test_builtin_patterns(text: str, secret: str, kind: str) -> None:
    out, n = S.clean(text)
    assert secret not in out and f"[REDACTED:{kind}]" in out and n >= 1


def test_prefix_of_assignment_is_kept() -> None:
    out, _ = S.clean("mysql --password=topsecret1 db")
    assert out == "mysql --password=[REDACTED:assignment] db"


def test_plain_text_untouched() -> None:
    text = "df: /scratch 1 GB free; condor_startup.sh exited 0 after 12 s"
    assert S.clean(text) == (text, 0)


def test_configured_patterns() -> None:
    s = Sanitizer(("SITE-[0-9]{4}",))
    assert s.clean("use SITE-1234 now") == ("use [REDACTED:pattern] now", 1)


def test_bad_configured_pattern_is_reported() -> None:
    with pytest.raises(ValueError, match="pattern #1"):
        Sanitizer(("(unclosed",))


def test_binary_attachment_bytes_survive_except_secret() -> None:
    data = bytes(range(256)) + b" password=zq9x7w3v " + bytes(range(256))
    out, n = S.clean_bytes(data)
    assert n == 1 and b"zq9x7w3v" not in out
    assert out == bytes(range(256)) + b" password=[REDACTED:assignment] " + bytes(range(256))


@given(st.text(max_size=200))
def test_clean_is_idempotent(text: str) -> None:
    once, _ = S.clean(text)
    assert S.clean(once) == (once, 0)


# --------------------------------------------------------------------------- records


def rec(**kw: object) -> bytes:
    base: dict[str, object] = {"time": 1.0e9, "script": "s.sh", "severity": "info",
                               "message": "m"}
    base.update(kw)
    return (json.dumps({k: v for k, v in base.items() if v is not None}) + "\n").encode()


def attach(data: bytes, name: str = "out.txt") -> dict[str, str]:
    return {"name": name, "encoding": "gzip+base64",
            "data": base64.b64encode(gzip.compress(data)).decode()}


def test_parse_fields_and_aliases() -> None:
    body = rec(severity="WARN", pid=5, event="end", exit_code=3,
               attrs={"GLIDEIN_Factory": "f", "n": 1}, time="2026-11-24T20:00:00Z")
    (r,) = parse_upload(body, S).records
    assert r.severity == "warning" and r.pid == 5 and r.exit_code == 3
    assert r.time == 1795550400.0 and dict(r.attrs) == {"GLIDEIN_Factory": "f", "n": "1"}


def test_attachment_decoded_and_stored_reencoded() -> None:
    body = rec(message=None, file=attach(b"hello token=abcdefgh\n"))
    p = parse_upload(body, S)
    assert p.records[0].file is not None
    assert p.records[0].file.data == b"hello token=[REDACTED:assignment]\n"
    (again,) = read_stored(p.stored)
    assert again.file is not None and again.file.data == p.records[0].file.data


def test_unknown_keys_kept_and_sanitised() -> None:
    p = parse_upload(rec(extra={"cmd": "curl -H 'Authorization: Bearer abcdefghijk'"}), S)
    stored = json.loads(p.stored)
    assert stored["extra"]["cmd"] == "curl -H 'Authorization: Bearer [REDACTED:bearer]'"


@pytest.mark.parametrize(("body", "status"), [
    (b"\xff", 400), (b"nope\n", 400), (b"", 422), (b"\n\n", 422), (b"[]\n", 422),
    (rec(time=True), 422), (rec(time="2026-11-24T20:00:00"), 422), (rec(time=-5), 422),
    (rec(script=""), 422), (rec(severity=3), 422), (rec(pid="5"), 422),
    (rec(exit_code=1.5), 422), (rec(event="boom"), 422), (rec(attrs=[1]), 422),
    (rec(attrs={"a": {"b": 1}}), 422), (rec(message=5), 422),
    (rec(file={"name": "x", "encoding": "zip", "data": ""}), 422),
    (rec(message=None, file={"name": "x", "encoding": "gzip+base64", "data": "###"}), 422),
])
def test_refusals_with_status(body: bytes, status: int) -> None:
    with pytest.raises(UploadError) as info:
        parse_upload(body, S)
    assert info.value.status == status


def test_inflation_budget_is_shared_by_attachments() -> None:
    one = rec(message=None, file=attach(b"a" * 600))
    parse_upload(one * 1, S, max_inflated=1000)
    with pytest.raises(UploadError) as info:
        parse_upload(one * 2, S, max_inflated=1000)
    assert info.value.status == 413


@given(st.binary(max_size=300))
def test_random_bytes_never_crash(body: bytes) -> None:
    try:
        parse_upload(body, S)
    except UploadError as exc:
        assert exc.status in (400, 413, 422)


@pytest.mark.parametrize(("received", "offset", "body", "action", "rest"), [
    (0, 0, b"a\nb\n", "append", b"a\nb\n"),
    (4, 0, b"a\nb\n", "duplicate", b""),
    (4, 2, b"b\n", "duplicate", b""),
    (2, 0, b"a\nb\n", "append", b"b\n"),
    (4, 4, b"c\n", "append", b"c\n"),
    (4, 9, b"z\n", "gap", b"z\n"),
])
def test_resume_chunk(received: int, offset: int, body: bytes, action: str,
                      rest: bytes) -> None:
    from gwms_core.logserver.records import resume_chunk
    assert resume_chunk(received, offset, body) == (action, rest)


def test_resume_chunk_refuses_overlap_inside_a_line() -> None:
    from gwms_core.logserver.records import resume_chunk
    with pytest.raises(UploadError) as info:
        resume_chunk(3, 0, b"abcdef\n")
    assert info.value.status == 409


def test_pilot_record_with_message_and_plain_base64_file() -> None:
    """The shape lib/log.sh's gwms_log_attach writes (message and file; base64 alone
    when the node has no gzip; size/truncated kept)."""
    line = json.dumps({
        "time": "2026-11-24T20:00:01.123Z", "script": "glidein_startup.sh", "pid": 7,
        "severity": "critical", "message": "script x.sh (group) failed validation (exit 1)",
        "file": {"name": "x.sh.out", "encoding": "base64", "size": 12, "truncated": False,
                 "data": base64.b64encode(b"disk full 42").decode()}}).encode()
    p = parse_upload(line + b"\n", S)
    (r,) = p.records
    assert r.severity == "fatal" and r.file is not None and r.file.data == b"disk full 42"
    assert r.text == "script x.sh (group) failed validation (exit 1)\ndisk full 42"
    stored = json.loads(p.stored)
    assert stored["file"]["size"] == 12 and stored["file"]["truncated"] is False
    assert stored["file"]["encoding"] == "gzip+base64"
