"""IDTOKENS plugin: key derivation against recorded HTCondor output, minting, every check."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given
from hypothesis import strategies as st

from gwms_core.credentials.leaks import assert_no_secret
from gwms_core.manager import get_registry
from gwms_core.types import Credential, CredentialError, Family
from gwms_plugins.auth import _jwt, idtokens
from gwms_plugins.auth.idtokens import STARTD_SCOPES, IdTokens, SigningKey

DATA = Path(__file__).parent / "data"
ISS = "pool.gwms.test"
NOW = 1_800_000_000.0


def _hkdf(ikm: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"htcondor",
                info=b"master jwt").derive(ikm)


def _recorded(name: str) -> tuple[SigningKey, str]:
    key = idtokens.derive_signing_key((DATA / f"{name}.key").read_bytes(), name)
    return key, (DATA / f"condor_token_create.{name}.jwt").read_text().strip()


# --------------------------------------------------------------------------- key derivation


@given(st.binary(max_size=200))
def test_scramble_is_its_own_inverse(data: bytes) -> None:
    assert idtokens.scramble(idtokens.scramble(data)) == data


def test_scramble_is_xor_with_deadbeef() -> None:
    assert idtokens.scramble(b"\x00" * 6) == bytes.fromhex("deadbeefdead")


@pytest.mark.parametrize("name", ["POOL", "NAMED"])
def test_signature_matches_condor_token_create(name: str) -> None:
    # The recorded token was signed by HTCondor 23.9.6; our derivation must give the
    # very same HMAC over the very same header.payload bytes.
    key, token = _recorded(name)
    head, body, sig = token.split(".")
    ours = hmac.new(key.jwt_key, f"{head}.{body}".encode(), hashlib.sha256).digest()
    assert _jwt.b64url_encode(ours) == sig


def test_pool_key_is_doubled_and_named_key_is_not() -> None:
    raw = b"0123456789abcdefghijklmnopqrstuv"
    stored = idtokens.scramble(raw)
    assert idtokens.derive_signing_key(stored, "POOL").jwt_key == _hkdf(raw + raw)
    assert idtokens.derive_signing_key(stored, "other").jwt_key == _hkdf(raw)


def test_pool_key_with_nul_bytes_is_not_truncated() -> None:
    # POOL.key's stored bytes start "41 00": HTCondor 9+ uses all 42 bytes.
    stored = (DATA / "POOL.key").read_bytes()
    assert b"\0" in stored
    whole = idtokens.scramble(stored)
    assert idtokens.derive_signing_key(stored, "POOL").jwt_key == _hkdf(whole + whole)
    truncated = idtokens.derive_signing_key(stored, "POOL", truncate_at_nul=True)
    assert truncated.jwt_key == _hkdf(b"\x9f\x9f")  # "41" ^ "de", doubled


def test_empty_key_is_refused() -> None:
    with pytest.raises(CredentialError) as err:
        idtokens.derive_signing_key(b"", "POOL")
    assert err.value.check == "key-id"


def test_generated_key_survives_both_readings() -> None:
    stored = idtokens.generate_signing_key_file(64)
    assert len(stored) == 64 and b"\0" not in stored
    assert b"\0" not in idtokens.scramble(stored)
    assert (idtokens.derive_signing_key(stored, "POOL").jwt_key
            == idtokens.derive_signing_key(stored, "POOL", truncate_at_nul=True).jwt_key)


def test_signing_key_repr_hides_the_key() -> None:
    key, _ = _recorded("POOL")
    assert_no_secret([repr(key), str(key)], [key.jwt_key])


def test_write_signing_key_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "POOL"
    content = idtokens.generate_signing_key_file()
    idtokens.write_signing_key_file(path, content)
    assert path.read_bytes() == content
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["POOL"]


# --------------------------------------------------------------------------- minting


def _key() -> SigningKey:
    return idtokens.derive_signing_key(b"k" * 40, "POOL")


def _mint(**over: Any) -> str:
    args: dict[str, Any] = {"issuer": ISS, "subject": f"glidein@{ISS}",
                            "scopes": STARTD_SCOPES, "now": NOW, "lifetime_s": 3600,
                            "jti": "0123abcd"}
    args.update(over)
    return idtokens.mint(_key(), **args)


def test_minted_token_has_the_htcondor_shape() -> None:
    jwt = _jwt.parse(_mint())
    assert jwt.header == {"alg": "HS256", "kid": "POOL", "typ": "JWT"}
    assert jwt.claims == {
        "iss": ISS, "sub": f"glidein@{ISS}", "iat": int(NOW), "exp": int(NOW) + 3600,
        "jti": "0123abcd",
        "scope": "condor:/READ condor:/ADVERTISE_STARTD condor:/ADVERTISE_MASTER",
    }


def test_mint_refuses_an_unlimited_token() -> None:
    with pytest.raises(CredentialError) as err:
        _mint(scopes=())
    assert err.value.check == "scope"


def test_recorded_condor_tokens_pass_our_checks() -> None:
    key, token = _recorded("POOL")
    iat = _jwt.parse(token).claims["iat"]
    claims = idtokens.verify(token, key, issuer="fixture.gwms.test", scopes=STARTD_SCOPES,
                             now=iat)
    assert claims.subject == "glidein@fixture.gwms.test"
    assert claims.scopes == STARTD_SCOPES


# --------------------------------------------------------------------------- checks


def _b64(obj: dict[str, Any]) -> str:
    return _jwt.b64url_encode(json.dumps(obj).encode())


def _resign(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return _jwt.encode_hs256(header, claims, _key().jwt_key)


def _bad_tokens() -> dict[str, tuple[str, str]]:
    """{case: (token, expected check)}"""
    good = _jwt.parse(_mint())
    h, c = dict(good.header), dict(good.claims)
    return {
        "expired": (_mint(now=NOW - 7200), "expired"),
        "no expiry": (_resign(h, {k: v for k, v in c.items() if k != "exp"}), "expired"),
        "not yet valid (iat)": (_mint(now=NOW + 3600), "not-yet-valid"),
        "not yet valid (nbf)": (_resign(h, {**c, "nbf": NOW + 3600}), "not-yet-valid"),
        "wrong issuer": (_mint(issuer="other.test"), "issuer"),
        "no issuer": (_resign(h, {k: v for k, v in c.items() if k != "iss"}), "issuer"),
        "wrong audience": (_resign(h, {**c, "aud": "someone-else"}), "audience"),
        "wrong scope (too broad)": (_mint(scopes=(*STARTD_SCOPES, "condor:/WRITE")), "scope"),
        "wrong scope (too narrow)": (_mint(scopes=("condor:/READ",)), "scope"),
        "no scope": (_resign(h, {k: v for k, v in c.items() if k != "scope"}), "scope"),
        "malformed (two parts)": ("abc.def", "malformed"),
        "malformed (not base64)": ("a$b.c!d.e*f", "malformed"),
        "malformed (not JSON)": (f"{_jwt.b64url_encode(b'nope')}.{_b64(c)}.sig", "malformed"),
        "malformed (exp text)": (_resign(h, {**c, "exp": "tomorrow"}), "malformed"),
        "unsigned (alg none)": (f"{_b64({**h, 'alg': 'none'})}.{_b64(c)}.", "unsigned"),
        "unsigned (empty signature)": (f"{_b64(h)}.{_b64(c)}.", "unsigned"),
        "algorithm RS256": (f"{_b64({**h, 'alg': 'RS256'})}.{_b64(c)}.c2ln", "algorithm"),
        "no kid": (_resign({"alg": "HS256"}, c), "key-id"),
        "unknown kid": (_resign({**h, "kid": "OTHER"}, c), "key-id"),
        "bad signature": (_mint()[:-6] + "AAAAAA", "signature"),
        "other key": (idtokens.mint(idtokens.derive_signing_key(b"x" * 40, "POOL"),
                                    issuer=ISS, subject="g", scopes=STARTD_SCOPES, now=NOW,
                                    lifetime_s=3600, jti="j"), "signature"),
    }


@pytest.mark.parametrize("case", sorted(_bad_tokens()))
def test_bad_token_is_refused_naming_the_check(case: str) -> None:
    token, check = _bad_tokens()[case]
    with pytest.raises(CredentialError) as err:
        idtokens.verify(token, _key(), issuer=ISS, scopes=STARTD_SCOPES, now=NOW)
    assert err.value.check == check, str(err.value)
    assert str(err.value).startswith(f"{check}:")
    assert_no_secret([str(err.value), repr(err.value), err.value.detail], [token])


def test_good_token_passes() -> None:
    claims = idtokens.verify(_mint(), _key(), issuer=ISS, scopes=STARTD_SCOPES, now=NOW + 10)
    assert claims.expires_at == NOW + 3600


def test_expected_audience_is_checked() -> None:
    good = _jwt.parse(_mint())
    token = _resign(dict(good.header), {**good.claims, "aud": "pool.gwms.test:9618"})
    idtokens.verify(token, _key(), issuer=ISS, scopes=STARTD_SCOPES, now=NOW,
                    audience="pool.gwms.test:9618")
    with pytest.raises(CredentialError) as err:
        idtokens.verify(_mint(), _key(), issuer=ISS, scopes=STARTD_SCOPES, now=NOW,
                        audience="pool.gwms.test:9618")
    assert err.value.check == "audience"


# --------------------------------------------------------------------------- handler


def _options(tmp_path: Path, **over: Any) -> dict[str, Any]:
    key_file = tmp_path / "POOL"
    if not key_file.exists():
        idtokens.write_signing_key_file(key_file, idtokens.generate_signing_key_file())
    return {"signing_key": str(key_file), "trust_domain": ISS, "lifetime_s": 3600, **over}


def test_handler_is_registered() -> None:
    method = get_registry().get(Family.AUTH, "idtokens")
    assert isinstance(method.handler, IdTokens)


def test_handler_issues_and_checks(tmp_path: Path) -> None:
    handler = IdTokens(clock=lambda: NOW)
    cred = handler.issue("glidein_17", _options(tmp_path))
    assert cred.method == "idtokens"
    assert cred.subject == f"glidein_17@{ISS}"
    assert cred.expires == NOW + 3600
    assert cred.scopes == STARTD_SCOPES
    handler.check(cred, _options(tmp_path))
    later = IdTokens(clock=lambda: NOW + 7200)
    with pytest.raises(CredentialError) as err:
        later.check(cred, _options(tmp_path))
    assert err.value.check == "expired"
    key = (tmp_path / "POOL").read_bytes()
    texts = {"repr": repr(cred), "str": str(cred), "error": str(err.value)}
    assert_no_secret(texts, [cred.secret, key])


def test_handler_without_trust_domain_refuses(tmp_path: Path) -> None:
    opts = _options(tmp_path)
    del opts["trust_domain"]
    with pytest.raises(CredentialError) as err:
        IdTokens().issue("g", opts)
    assert err.value.check == "issuer"


def test_unreadable_key_names_the_file_not_the_content(tmp_path: Path) -> None:
    with pytest.raises(CredentialError) as err:
        IdTokens().issue("g", _options(tmp_path, signing_key=str(tmp_path / "missing")))
    assert err.value.check == "key-id" and "missing" in str(err.value)


def test_credential_times_reads_iat_and_exp() -> None:
    cred = Credential(method="idtokens", secret=_mint().encode())
    assert idtokens.credential_times(cred) == (NOW, NOW + 3600)


# --------------------------------------------------------------------------- refresh


@pytest.mark.parametrize(("now", "refresh", "reason"), [
    (NOW, False, "valid"),
    (NOW + 1799, False, "valid"),
    (NOW + 1800, True, "validity left"),      # half the lifetime
    (NOW + 3600, True, "expired"),
    (NOW - 10, True, "in the future"),
])
def test_refresh_decision_table(now: float, refresh: bool, reason: str) -> None:
    d = idtokens.refresh_decision(NOW, NOW + 3600, now, fraction=0.5, min_remaining_s=600)
    assert d.refresh is refresh and reason in d.reason


def test_refresh_margin_wins_when_it_is_earlier() -> None:
    d = idtokens.refresh_decision(NOW, NOW + 3600, NOW + 1000, fraction=0.9,
                                  min_remaining_s=3000)
    assert d.refresh and d.due_at == NOW + 600


def test_token_without_expiry_is_refreshed() -> None:
    assert idtokens.refresh_decision(NOW, None, NOW).refresh


@given(lifetime=st.integers(60, 10**7), fraction=st.floats(0.01, 1.0),
       margin=st.integers(0, 10**7), elapsed=st.floats(0, 2e7))
def test_refresh_properties(lifetime: int, fraction: float, margin: int,
                            elapsed: float) -> None:
    d = idtokens.refresh_decision(NOW, NOW + lifetime, NOW + elapsed, fraction=fraction,
                                  min_remaining_s=margin)
    # never later than expiry, never later than the fraction, monotone in time
    assert d.due_at <= NOW + lifetime
    assert d.due_at <= NOW + fraction * lifetime + 1e-6
    assert d.refresh == (NOW + elapsed >= d.due_at)


def test_handler_needs_refresh_uses_the_options(tmp_path: Path) -> None:
    cred = IdTokens(clock=lambda: NOW).issue("g", _options(tmp_path))
    opts = _options(tmp_path, refresh_fraction=0.5, min_remaining_s=60)
    assert not IdTokens(clock=lambda: NOW + 1000).needs_refresh(cred, opts).refresh
    assert IdTokens(clock=lambda: NOW + 1800).needs_refresh(cred, opts).refresh


def test_no_token_in_any_message_of_the_bad_token_table() -> None:
    # one sweep over every refusal, as the issue asks: nothing secret in any message
    messages: dict[str, str] = {}
    tokens = []
    for case, (token, _check) in _bad_tokens().items():
        tokens.append(token)
        try:
            idtokens.verify(token, _key(), issuer=ISS, scopes=STARTD_SCOPES, now=NOW)
        except CredentialError as exc:
            messages[case] = f"{exc!s} {exc!r}"
    assert len(messages) == len(tokens)
    assert_no_secret(messages, tokens)


def test_b64_helpers_round_trip() -> None:
    assert _jwt.b64url_decode(_jwt.b64url_encode(b"\xff\x00abc")) == b"\xff\x00abc"
    assert base64.urlsafe_b64decode("_w==") == b"\xff"
