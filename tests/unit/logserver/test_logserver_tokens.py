"""Upload tokens: mint/verify, each refusal names its check, key files."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gwms_core.logserver.tokens import (
    KeyRing,
    SigningKey,
    TokenError,
    TokenFailure,
    load_keyring,
    mint,
    parse_keyring,
    verify,
    write_keyring,
)

RING = KeyRing((SigningKey("k1", b"a" * 32),))
NOW = 1_764_000_000.0


def _fail(token: str, entry: str = "ce1", glidein: str = "g1", ring: KeyRing = RING,
          now: float = NOW) -> TokenFailure:
    with pytest.raises(TokenError) as info:
        verify(ring, token, entry, glidein, now=now)
    if token:
        assert token not in str(info.value)
    return info.value.failure


def _b64(obj: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def test_round_trip() -> None:
    token = mint(RING, "ce1", "g1", now=NOW, lifetime=100)
    claims = verify(RING, token, "ce1", "g1", now=NOW + 50)
    assert (claims.entry, claims.glidein, claims.expires_at) == ("ce1", "g1", NOW + 100)
    assert claims.scope == "logs:write:ce1/g1"


def test_header_and_claims_are_a_standard_jwt() -> None:
    header, claims, _sig = mint(RING, "ce1", "g1", now=NOW).split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    assert json.loads(base64.urlsafe_b64decode(pad(header))) == \
        {"alg": "HS256", "typ": "JWT", "kid": "k1"}
    c = json.loads(base64.urlsafe_b64decode(pad(claims)))
    assert c["scope"] == "logs:write:ce1/g1" and c["sub"] == "ce1/g1"


def test_expired() -> None:
    token = mint(RING, "ce1", "g1", now=NOW, lifetime=100)
    assert verify(RING, token, "ce1", "g1", now=NOW + 100 + 59)  # within leeway
    assert _fail(token, now=NOW + 100 + 61) is TokenFailure.EXPIRED


def test_issued_in_future() -> None:
    token = mint(RING, "ce1", "g1", now=NOW + 3600)
    assert _fail(token) is TokenFailure.NOT_YET_VALID


def test_foreign_key_and_unknown_kid() -> None:
    other = KeyRing((SigningKey("k1", b"b" * 32),))
    assert _fail(mint(other, "ce1", "g1", now=NOW)) is TokenFailure.FOREIGN
    unknown = KeyRing((SigningKey("zz", b"a" * 32),))
    assert _fail(mint(unknown, "ce1", "g1", now=NOW)) is TokenFailure.FOREIGN


def test_foreign_is_reported_before_expired() -> None:
    other = KeyRing((SigningKey("k1", b"b" * 32),))
    old = mint(other, "ce1", "g1", now=NOW - 10**6, lifetime=1)
    assert _fail(old) is TokenFailure.FOREIGN


@pytest.mark.parametrize(("entry", "glidein"), [("ce1", "g2"), ("ce2", "g1"), ("ce", "1/g1")])
def test_wrong_scope(entry: str, glidein: str) -> None:
    assert _fail(mint(RING, "ce1", "g1", now=NOW), entry, glidein) is TokenFailure.WRONG_SCOPE


def test_tampered_claims_are_foreign() -> None:
    h, _claims, s = mint(RING, "ce1", "g1", now=NOW).split(".")
    forged = _b64({"iss": "x", "entry": "ce1", "glidein": "g2", "iat": int(NOW),
                   "exp": int(NOW) + 10, "scope": "logs:write:ce1/g2"})
    assert _fail(f"{h}.{forged}.{s}", "ce1", "g2") is TokenFailure.FOREIGN


@pytest.mark.parametrize("token", [
    "", "abc", "a.b", "a.b.c.d", "!!!.???.***", "x" * 5000, "é.é.é",
    _b64({"alg": "none", "kid": "k1"}) + "." + _b64({}) + ".",
    _b64({"alg": "HS256"}) + "." + _b64({}) + ".AAAA",
    _b64([1]) + "." + _b64({}) + ".AAAA",
])
def test_malformed(token: str) -> None:
    assert _fail(token) is TokenFailure.MALFORMED


def test_signed_but_claims_missing_is_malformed() -> None:
    import hashlib
    import hmac
    h = _b64({"alg": "HS256", "kid": "k1"})
    c = _b64({"entry": "ce1", "glidein": "g1"})
    sig = hmac.new(b"a" * 32, f"{h}.{c}".encode(), hashlib.sha256).digest()
    token = f"{h}.{c}." + base64.urlsafe_b64encode(sig).rstrip(b"=").decode()
    assert _fail(token) is TokenFailure.MALFORMED


@given(st.text(max_size=300))
def test_garbage_never_verifies_and_never_crashes(garbage: str) -> None:
    with pytest.raises(TokenError):
        verify(RING, garbage, "ce1", "g1", now=NOW)


def test_rotation_old_key_still_verifies() -> None:
    old = KeyRing((SigningKey("k1", b"a" * 32),))
    rotated = KeyRing((SigningKey("k2", b"c" * 32), SigningKey("k1", b"a" * 32)))
    token_old = mint(old, "ce1", "g1", now=NOW)
    assert verify(rotated, token_old, "ce1", "g1", now=NOW).key_id == "k1"
    assert verify(rotated, mint(rotated, "ce1", "g1", now=NOW), "ce1", "g1",
                  now=NOW).key_id == "k2"


@pytest.mark.parametrize("name", ["", "../x", "a/b", ".hidden", "a b", "x" * 200])
def test_mint_refuses_non_plain_names(name: str) -> None:
    with pytest.raises(ValueError):
        mint(RING, name, "g1", now=NOW)


def test_secret_not_in_repr() -> None:
    assert "aaaa" not in repr(RING)


def test_short_key_refused() -> None:
    with pytest.raises(ValueError, match="shorter than 32"):
        SigningKey("k", b"short")


def test_key_file_round_trip_and_permissions(tmp_path: Path) -> None:
    path = tmp_path / "logs.key"
    ring = KeyRing((SigningKey("k2", os.urandom(32)), SigningKey("k1", os.urandom(32))))
    write_keyring(path, ring)
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_keyring(path) == ring
    path.chmod(0o644)
    with pytest.raises(PermissionError, match="chmod 600"):
        load_keyring(path)


def test_key_file_errors_name_the_line() -> None:
    with pytest.raises(ValueError, match="keys:2:"):
        parse_keyring("# comment\nk1 !!!\n", "keys")
    with pytest.raises(ValueError, match="no key"):
        parse_keyring("# nothing\n", "keys")
