"""The factory side: log URL, pilot arguments, token file."""

from __future__ import annotations

from pathlib import Path

import pytest

from gwms_core.logserver.factory import log_url, pilot_args, prepare_glidein_log
from gwms_core.logserver.tokens import KeyRing, SigningKey, verify

RING = KeyRing((SigningKey("k1", b"a" * 32),))


def test_log_url() -> None:
    assert log_url("https://logs.example.org:8443/", "ce1", "12.0") == \
        "https://logs.example.org:8443/logs/ce1/12.0/glidein.jsonl"
    assert log_url("https://h/prefix", "ce1", "g@x") == "https://h/prefix/logs/ce1/g%40x/glidein.jsonl"


@pytest.mark.parametrize(("base", "entry", "glidein"), [
    ("http://h", "ce1", "g"), ("https://h?x=1", "ce1", "g"), ("https://h", "../x", "g"),
    ("https://h", "ce1", "a/b"), ("h:8443", "ce1", "g"),
])
def test_log_url_refuses(base: str, entry: str, glidein: str) -> None:
    with pytest.raises(ValueError):
        log_url(base, entry, glidein)


def test_prepare_writes_a_private_token_for_exactly_that_glidein(tmp_path: Path) -> None:
    setup = prepare_glidein_log("https://h:8443", RING, "ce1", "12.0", tmp_path, now=1e9)
    assert setup.token_file == tmp_path / "ce1" / "12.0" / "gwms_log.token"
    assert setup.token_file.stat().st_mode & 0o777 == 0o600
    token = setup.token_file.read_text().strip()
    assert verify(RING, token, "ce1", "12.0", now=1e9 + 10).glidein == "12.0"
    assert setup.pilot_args == pilot_args(setup.log_url)
    assert token not in " ".join(setup.pilot_args)  # never on the command line
    assert [p.name for p in setup.token_file.parent.iterdir()] == ["gwms_log.token"]
