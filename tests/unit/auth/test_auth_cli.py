"""``gwms credentials``: factory key, ad attributes, and the secret scan of files."""

from __future__ import annotations

from pathlib import Path

import pytest

from gwms_core.cli import main
from gwms_core.credentials import sealing
from gwms_core.credentials.cli import DEFAULT_KEY_BITS


def test_default_key_size_matches_sealing() -> None:
    assert DEFAULT_KEY_BITS == sealing.DEFAULT_KEY_BITS


def test_factory_key_and_its_attributes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = tmp_path / "factory.pem"
    assert main(["credentials", "factory-key", str(key), "--bits", "2048"]) == 0
    out = capsys.readouterr().out
    assert key.stat().st_mode & 0o777 == 0o600
    kid = sealing.key_id(sealing.public_key_pem(key.read_bytes()))
    assert out.strip() == f'PubKeyID = "{kid}"'
    assert key.read_bytes().decode() not in out
    # refuses to overwrite without --force
    assert main(["credentials", "factory-key", str(key)]) == 1
    assert main(["credentials", "pubkey-attrs", str(key)]) == 0
    attrs = dict(line.split(" = ", 1) for line in capsys.readouterr().out.splitlines())
    assert attrs["PubKeyType"] == '"RSA"' and attrs["PubKeyID"] == f'"{kid}"'
    value = attrs["PubKeyValue"].strip('"').replace("\\n", "\n").encode()
    assert sealing.public_key_from_ad({"PubKeyType": "RSA", "PubKeyID": kid,
                                       "PubKeyValue": value.decode()}) == value
    assert b"PRIVATE" not in value


def test_scan_finds_secrets_in_a_tree(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    secret = tmp_path / "token"
    secret.write_text("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJnIn0.c2lnbmF0dXJlLXRoYXQtbWF0dGVycw\n")
    logs = tmp_path / "logs"
    (logs / "sub").mkdir(parents=True)
    (logs / "clean.log").write_text("nothing here\n")
    (logs / "sub" / "StartLog").write_text("sig c2lnbmF0dXJlLXRoYXQtbWF0dGVycw leaked\n")
    assert main(["credentials", "scan", "--secret", str(secret), str(logs)]) == 1
    out = capsys.readouterr().out
    assert "StartLog" in out and "JWT signature" in out and "clean.log" not in out
    assert "c2lnbmF0dXJl" not in out
    (logs / "sub" / "StartLog").write_text("clean now\n")
    assert main(["credentials", "scan", "--secret", str(secret), str(logs)]) == 0
    assert main(["credentials", "scan", "--secret", str(tmp_path / "nope"), str(logs)]) == 2
