"""Reading a catalogue over HTTPS from a real local server (self-signed PKI)."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest
from entrygen_support import CRIC_DIR, TOKEN

from gwms_core.entrygen.fetch import parse_json, read_document, read_url, safe_url
from gwms_core.entrygen.model import SourceError
from gwms_plugins.entry_sources.cric import CricSource


def _token_file(tmp_path: Path, token: str = TOKEN) -> Path:
    path = tmp_path / "cric.token"
    path.write_text(f"# a comment\n{token}\n")
    return path


def test_token_auth_reads_the_document(https_server, pki, tmp_path: Path) -> None:
    base, served = https_server()
    served.body = b'{"a": 1}'
    data = read_url(f"{base}/api/cms/computeunit/query/?json", token_file=_token_file(tmp_path),
                    ca_file=pki.ca)
    assert json.loads(data) == {"a": 1}
    assert served.requests[-1] == {"path": "/api/cms/computeunit/query/?json",
                                   "auth": f"Bearer {TOKEN}"}


@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_unauthorised_is_a_source_error_without_the_token(https_server, pki, tmp_path: Path,
                                                          token: str | None) -> None:
    base, served = https_server()
    kwargs = {"token_file": _token_file(tmp_path, token)} if token else {}
    with pytest.raises(SourceError) as info:
        read_url(f"{base}/query?secret=abc", ca_file=pki.ca, **kwargs)
    text = str(info.value)
    assert "HTTP 401" in text and "check the token or certificate" in text
    assert TOKEN not in text and "wrong-token" not in text and "secret=abc" not in text
    assert served.requests, "the request reached the server"


def test_client_certificate_auth(https_server, pki) -> None:
    base, served = https_server(require_client_cert=True, token=None)
    served.body = b"[]"
    assert read_url(f"{base}/q", cert_file=pki.client, ca_file=pki.ca) == b"[]"
    with pytest.raises(SourceError, match=re.escape(base)):
        read_url(f"{base}/q", ca_file=pki.ca)  # no client certificate: handshake refused


def test_untrusted_server_is_refused(https_server, pki) -> None:
    base, _ = https_server(token=None)
    with pytest.raises(SourceError, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify"):
        read_url(f"{base}/q", ca_file=pki.other_ca)


def test_unreachable_and_plain_http(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(SourceError, match="cannot reach"):
        read_url(f"https://127.0.0.1:{port}/q", timeout=5)
    with pytest.raises(SourceError, match="only https"):
        read_url("http://127.0.0.1/q")
    with pytest.raises(SourceError, match="cannot read token file"):
        read_url("https://127.0.0.1/q", token_file=tmp_path / "missing")


def test_safe_url_drops_secrets() -> None:
    assert safe_url("https://user:pw@cric.example.org:8443/api/q?token=x#f") == \
        "https://cric.example.org:8443/api/q"


def test_malformed_json_names_line_and_column() -> None:
    with pytest.raises(SourceError, match=r"cric.json:2:5: malformed JSON"):
        parse_json(b'{"a":\n  1,, }', "cric.json")
    with pytest.raises(SourceError, match="not UTF-8"):
        parse_json(b"\xff\xfe", "x")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="cannot read"):
        read_document({"path": "nope.json"}, tmp_path)


def test_cric_source_over_https(https_server, pki, tmp_path: Path) -> None:
    base, served = https_server()
    served.body = (CRIC_DIR / "computeunits.json").read_bytes()
    expected = json.loads((CRIC_DIR / "expected.json").read_text())
    result = CricSource().generate(
        {"url": f"{base}/api/cms/computeunit/query/?json",
         "token_file": str(_token_file(tmp_path)), "ca_file": str(pki.ca)}, tmp_path)
    assert sorted(result.entries) == expected["entries"]
    assert result.source == f"cric {base}/api/cms/computeunit/query/"
