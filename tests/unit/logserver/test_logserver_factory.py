"""The factory side: log URL, pilot arguments, token file."""

from __future__ import annotations

from pathlib import Path

import pytest

from gwms_core.logserver.factory import (
    GlideinLogIssuer,
    batch_glidein_names,
    batch_log_commands,
    log_url,
    pilot_args,
    prepare_glidein_log,
)
from gwms_core.logserver.tokens import KeyRing, SigningKey, TokenError, verify, write_keyring

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


# ------------------------------------------------------------------ batches of glideins

BATCH_DESC = {"arguments": '"--entry ce1 --site S"', "transfer_input_files": "/f/pool.idtoken",
              "environment": '"A=1"', "executable": "/stage/glidein_startup.sh"}


def test_batch_commands_give_each_job_its_own_token_and_url(tmp_path: Path) -> None:
    desc = batch_log_commands(BATCH_DESC, "https://logs:8443", "ce1", "1700-ab", tmp_path,
                              "/etc/gwms/logserver/ca.pem")
    assert desc["arguments"] == (
        '"--entry ce1 --site S --log-url https://logs:8443/logs/ce1/1700-ab.$(ProcId)/'
        'glidein.jsonl --log-token-file gwms_log.token"')
    assert desc["transfer_input_files"] == (
        f"/f/pool.idtoken,{tmp_path}/ce1/1700-ab.$(ProcId)/gwms_log.token,"
        "/etc/gwms/logserver/ca.pem")
    assert desc["environment"] == '"A=1 SSL_CERT_FILE=ca.pem"'
    assert desc["executable"] == BATCH_DESC["executable"]
    bare = batch_log_commands({"arguments": '"-x"'}, "https://logs:8443", "ce1", "s", tmp_path)
    assert "environment" not in bare
    assert bare["transfer_input_files"] == f"{tmp_path}/ce1/s.$(ProcId)/gwms_log.token"


@pytest.mark.parametrize(("base", "entry", "sid", "ca"), [
    ("http://logs", "ce1", "s", None), ("https://logs", "../x", "s", None),
    ("https://logs", "ce1", "a/b", None), ("https://logs", "ce1", "s", "/etc/my ca.pem"),
])
def test_batch_commands_refuse_bad_names(tmp_path: Path, base: str, entry: str, sid: str,
                                         ca: str | None) -> None:
    with pytest.raises(ValueError):
        batch_log_commands(BATCH_DESC, base, entry, sid, tmp_path, ca)


def test_issuer_writes_one_verifiable_token_per_glidein(tmp_path: Path) -> None:
    key = tmp_path / "upload.key"
    write_keyring(key, RING)
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    issuer = GlideinLogIssuer.from_options(
        {"url": "https://logs:8443", "key_file": str(key), "ca_file": str(ca)}, tmp_path / "w")
    assert issuer is not None and "secret" not in repr(issuer)
    desc = issuer.add_to_batch(BATCH_DESC, "ce1", "1700-ab", 3, now=1e9)
    names = sorted(p.name for p in (tmp_path / "w/glidein-logs/ce1").iterdir())
    assert names == batch_glidein_names("1700-ab", 3) == ["1700-ab.0", "1700-ab.1", "1700-ab.2"]
    for name in names:
        token = (tmp_path / "w/glidein-logs/ce1" / name / "gwms_log.token").read_text().strip()
        assert verify(RING, token, "ce1", name, now=1e9 + 5).glidein == name
        assert token not in str(desc)  # only paths in the job, never the token
        with pytest.raises(TokenError):  # and it is good for that glidein only
            verify(RING, token, "ce1", "1700-ab.9", now=1e9 + 5)
    # a day after the tokens expired, the next batch prunes their directories
    issuer.add_to_batch(BATCH_DESC, "ce1", "1800-cd", 1, now=1e9)
    late = 1e9 + issuer.lifetime + 2 * 86400
    import os
    for d in (tmp_path / "w/glidein-logs/ce1").iterdir():
        os.utime(d, (1e9, 1e9))
    assert issuer.prune(late) == 4


def test_issuer_options(tmp_path: Path) -> None:
    assert GlideinLogIssuer.from_options({}, tmp_path) is None
    assert GlideinLogIssuer.from_options({"url": ""}, tmp_path) is None
    with pytest.raises(ValueError, match="key_file"):
        GlideinLogIssuer.from_options({"url": "https://logs"}, tmp_path)
    with pytest.raises(OSError):
        GlideinLogIssuer.from_options({"url": "https://logs", "key_file": str(tmp_path / "no")},
                                      tmp_path)
    key = tmp_path / "k"
    write_keyring(key, RING)
    with pytest.raises(ValueError, match="ca_file"):
        GlideinLogIssuer.from_options({"url": "https://logs", "key_file": str(key),
                                       "ca_file": str(tmp_path / "none.pem")}, tmp_path)
