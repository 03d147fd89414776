"""SciTokens plugin: minting, and validation by the ``scitokens`` library against JWKS
documents served by a real HTTPS server on the loopback (test CA made here)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import auth_pki
import pytest

from gwms_core.credentials.leaks import assert_no_secret
from gwms_core.manager import get_registry
from gwms_core.types import Credential, CredentialError, Family
from gwms_plugins.auth import _jwt
from gwms_plugins.auth import scitokens as st
from gwms_plugins.auth.scitokens import COMPUTE_SCOPES, IssuerKey, SciTokens

AUD = "https://ce.gwms.test:9619"


@dataclass
class Issuers:
    url_a: str
    url_b: str
    key_a: IssuerKey
    key_b: IssuerKey
    key_file_a: Path
    seen: list[str]
    root: Path


@pytest.fixture
def issuers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Issuers]:
    import scitokens.utils.keycache as keycache

    ca = auth_pki.make_ca()
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem())
    # urllib's default context (used by the scitokens library) trusts only this CA
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    # Python 3.13's urllib keeps one opener (and its TLS context) once built: start afresh
    import urllib.request
    monkeypatch.setattr(urllib.request, "_opener", None)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(keycache, "KEYCACHE_INSTANCE", None)
    root = tmp_path / "www"
    key_b = IssuerKey.from_pem(st.generate_issuer_key("ec"), "key-a")  # same kid, other key
    key_file_a = tmp_path / "issuer-a.pem"
    key_file_a.write_bytes(st.generate_issuer_key("ec"))
    with auth_pki.https_server(root, ca, tmp_path) as (base, seen):
        url_a, url_b = f"{base}/issuer-a", f"{base}/issuer-b"
        file_key_a = st.load_issuer_key(key_file_a, "key-a")
        st.write_issuer_documents(root / "issuer-a", url_a, [file_key_a])
        st.write_issuer_documents(root / "issuer-b", url_b, [key_b])
        yield Issuers(url_a, url_b, file_key_a, key_b, key_file_a, seen, root)


def _opts(iss: Issuers, **over: Any) -> dict[str, Any]:
    return {"issuer": iss.url_a, "private_key": str(iss.key_file_a), "key_id": "key-a",
            "audience": AUD, **over}


def _mint(key: IssuerKey, issuer: str, **over: Any) -> str:
    args: dict[str, Any] = {"subject": "vofrontend", "audience": AUD,
                            "scopes": COMPUTE_SCOPES, "now": time.time(), "lifetime_s": 600,
                            "jti": "j-1"}
    args.update(over)
    return st.mint(key, issuer=issuer, **args)


def _cred(token: str) -> Credential:
    return Credential(method="scitokens", secret=token.encode())


def _refused(iss: Issuers, token: str, **opts: Any) -> CredentialError:
    with pytest.raises(CredentialError) as err:
        SciTokens().check(_cred(token), _opts(iss, **opts))
    assert_no_secret([str(err.value), repr(err.value)], [token])
    return err.value


def test_handler_is_registered() -> None:
    assert isinstance(get_registry().get(Family.AUTH, "scitokens").handler, SciTokens)


def test_issued_token_is_validated_by_the_library_over_https(issuers: Issuers,
                                                             caplog: Any) -> None:
    cred = SciTokens().issue("vofrontend", _opts(issuers))
    claims = _jwt.parse(cred.secret.decode()).claims
    assert claims["ver"] == "scitoken:2.0"
    assert claims["iss"] == issuers.url_a and claims["aud"] == AUD
    assert claims["scope"] == "compute.create compute.read compute.modify compute.cancel"
    assert cred.expires == claims["exp"] and cred.scopes == COMPUTE_SCOPES
    SciTokens().check(cred, _opts(issuers))
    # the key really came from the HTTPS server
    assert "/issuer-a/.well-known/openid-configuration" in issuers.seen
    assert "/issuer-a/jwks.json" in issuers.seen
    assert_no_secret({"log": caplog.text, "repr": repr(cred)},
                     [cred.secret, issuers.key_file_a.read_bytes()])


def test_rsa_issuer_key_works(issuers: Issuers, tmp_path: Path) -> None:
    key = IssuerKey.from_pem(st.generate_issuer_key("rsa"), "rsa-1")
    st.write_issuer_documents(issuers.root / "issuer-r", issuers.url_a[:-1] + "r", [key])
    token = _mint(key, issuers.url_a[:-1] + "r")
    claims = st.verify_with_library(token, issuer=issuers.url_a[:-1] + "r", audience=AUD,
                                    scopes=COMPUTE_SCOPES)
    assert claims.scopes == COMPUTE_SCOPES and _jwt.parse(token).header["alg"] == "RS256"


def test_token_from_another_issuer_is_refused_without_fetching(issuers: Issuers) -> None:
    token = _mint(issuers.key_b, issuers.url_b)
    # issuer b is a working issuer: the library alone would accept its token
    st.verify_with_library(token, issuer=issuers.url_b, audience=AUD, scopes=COMPUTE_SCOPES)
    issuers.seen.clear()
    assert _refused(issuers, token).check == "issuer"
    assert issuers.seen == []


def test_token_claiming_our_issuer_but_signed_elsewhere_is_refused(issuers: Issuers) -> None:
    token = _mint(issuers.key_b, issuers.url_a)  # same kid, wrong key
    assert _refused(issuers, token).check == "signature"


def test_unknown_kid_is_refused(issuers: Issuers) -> None:
    other = IssuerKey.from_pem(st.generate_issuer_key("ec"), "retired-key")
    assert _refused(issuers, _mint(other, issuers.url_a)).check == "key-id"


@pytest.mark.parametrize(("case", "check"), [
    ("expired", "expired"),
    ("not-yet-valid", "not-yet-valid"),
    ("wrong-audience", "audience"),
    ("no-audience-expected-one", "audience"),
    ("too-narrow-scope", "scope"),
    ("too-broad-scope", "scope"),
    ("malformed", "malformed"),
    ("unsigned", "unsigned"),
    ("hs256", "algorithm"),
    ("no-kid", "key-id"),
])
def test_bad_tokens_are_refused_naming_the_check(issuers: Issuers, case: str,
                                                 check: str) -> None:
    key, url, now = issuers.key_a, issuers.url_a, time.time()
    good = _jwt.parse(_mint(key, url))
    b64 = _jwt.b64url_encode
    token = {
        "expired": lambda: _mint(key, url, now=now - 7200),
        "not-yet-valid": lambda: _mint(key, url, now=now + 7200),
        "wrong-audience": lambda: _mint(key, url, audience="https://other-ce:9619"),
        "no-audience-expected-one": lambda: _mint(key, url, audience=[]),
        "too-narrow-scope": lambda: _mint(key, url, scopes=("compute.read",)),
        "too-broad-scope": lambda: _mint(key, url, scopes=(*COMPUTE_SCOPES, "storage.read:/")),
        "malformed": lambda: "not-a-token",
        "unsigned": lambda: (f"{b64(json.dumps({'alg': 'none', 'kid': 'key-a'}).encode())}."
                             f"{b64(json.dumps(dict(good.claims)).encode())}."),
        "hs256": lambda: _jwt.encode_hs256({"alg": "HS256", "kid": "key-a"},
                                           dict(good.claims), b"k" * 32),
        "no-kid": lambda: __import__("jwt").encode(dict(good.claims), key.private_key,
                                                   algorithm="ES256"),
    }[case]()
    assert _refused(issuers, token).check == check


def test_library_maps_its_own_expiry_failure(issuers: Issuers) -> None:
    # bypassing our precheck: the library's PyJWT refusal is named too
    token = _mint(issuers.key_a, issuers.url_a, now=time.time() - 7200)
    with pytest.raises(CredentialError) as err:
        st.verify_with_library(token, issuer=issuers.url_a, audience=AUD,
                               scopes=COMPUTE_SCOPES)
    assert err.value.check == "expired"


def test_enforcer_refuses_a_missing_compute_scope(issuers: Issuers) -> None:
    token = _mint(issuers.key_a, issuers.url_a, scopes=("compute.read",))
    with pytest.raises(CredentialError) as err:
        st.verify_with_library(token, issuer=issuers.url_a, audience=AUD,
                               scopes=("compute.read", "compute.create"))
    assert err.value.check == "scope" and "compute.create" in str(err.value)


def test_enforcer_accepts_any_audience_token(issuers: Issuers) -> None:
    token = _mint(issuers.key_a, issuers.url_a, audience="ANY")
    SciTokens().check(_cred(token), _opts(issuers))


def test_issuer_documents_publish_only_public_keys() -> None:
    key = IssuerKey.from_pem(st.generate_issuer_key("ec"), "k1")
    docs = st.issuer_documents("https://issuer.gwms.test/vo/", [key])
    assert docs[".well-known/openid-configuration"] == {
        "issuer": "https://issuer.gwms.test/vo",
        "jwks_uri": "https://issuer.gwms.test/vo/jwks.json"}
    (jwk,) = docs["jwks.json"]["keys"]
    assert jwk["kid"] == "k1" and jwk["kty"] == "EC" and jwk["alg"] == "ES256"
    assert "d" not in jwk  # the private scalar
    assert "k1" in repr(key) and "private" not in repr(key).lower().replace("private_key", "")


def test_issue_needs_key_and_audience(tmp_path: Path) -> None:
    with pytest.raises(CredentialError) as err:
        SciTokens().issue("x", {"issuer": "https://i.test"})
    assert err.value.check == "key-id"
    key = tmp_path / "k.pem"
    key.write_bytes(st.generate_issuer_key())
    with pytest.raises(CredentialError) as err:
        SciTokens().issue("x", {"issuer": "https://i.test", "private_key": str(key)})
    assert err.value.check == "audience"


def test_bad_key_file_message_has_no_key_material(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_bytes(b"-----BEGIN PRIVATE KEY-----\n"
                    b"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n")
    with pytest.raises(CredentialError) as err:
        st.load_issuer_key(bad, "k")
    assert err.value.check == "key-id"
    assert_no_secret([str(err.value)], [bad.read_bytes()])
