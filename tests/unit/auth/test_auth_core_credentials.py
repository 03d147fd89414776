"""gwms_core.credentials: sealing to the factory key, trust in the authenticated identity,
the credential plan per entry, and the leak scanner."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gwms_core.credentials import leaks, sealing, selection, trust
from gwms_core.credentials.leaks import assert_no_secret
from gwms_core.entries import Entry
from gwms_core.factory import intake
from gwms_core.types import Credential, CredentialError

FRONTEND = "vofrontend@pool.gwms.test"
TOKEN = (b"eyJhbGciOiJIUzI1NiIsImtpZCI6IlBPT0wifQ.eyJzdWIiOiJnbGlkZWluIn0."
         b"7L7WKsT_lpx-WFQp4n_NTPkD8IUXZ9r4rguI_JII37s")


@pytest.fixture(scope="module")
def factory_key() -> bytes:
    return sealing.generate_factory_key(2048)


@pytest.fixture(scope="module")
def public(factory_key: bytes) -> bytes:
    return sealing.public_key_pem(factory_key)


# --------------------------------------------------------------------------- sealing


def test_seal_and_unseal_round_trip(factory_key: bytes, public: bytes) -> None:
    sealed = sealing.seal(TOKEN, public, sender_identity=FRONTEND, name="PoolIdToken")
    assert sealed.startswith(f"gwms1.{sealing.key_id(public)}.")
    assert sealing.unseal(sealed, factory_key, sender_identity=FRONTEND,
                          name="PoolIdToken") == TOKEN
    assert_no_secret([sealed], [TOKEN])


def test_each_seal_is_fresh(public: bytes) -> None:
    a = sealing.seal(TOKEN, public, sender_identity=FRONTEND, name="P")
    b = sealing.seal(TOKEN, public, sender_identity=FRONTEND, name="P")
    assert a != b


@pytest.mark.parametrize(("identity", "name", "check"), [
    ("otherfrontend@pool.gwms.test", "PoolIdToken", "decrypt"),  # replayed by another
    (FRONTEND, "SubmitCredential", "decrypt"),                     # moved to another param
])
def test_sealed_value_is_bound_to_sender_and_name(factory_key: bytes, public: bytes,
                                                  identity: str, name: str,
                                                  check: str) -> None:
    sealed = sealing.seal(TOKEN, public, sender_identity=FRONTEND, name="PoolIdToken")
    with pytest.raises(CredentialError) as err:
        sealing.unseal(sealed, factory_key, sender_identity=identity, name=name)
    assert err.value.check == check


def test_tampering_is_detected(factory_key: bytes, public: bytes) -> None:
    sealed = sealing.seal(TOKEN, public, sender_identity=FRONTEND, name="P")
    head, kid, blob = sealed.split(".")
    raw = bytearray(base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4)))
    raw[-1] ^= 1
    bad = f"{head}.{kid}.{base64.urlsafe_b64encode(bytes(raw)).decode().rstrip('=')}"
    with pytest.raises(CredentialError) as err:
        sealing.unseal(bad, factory_key, sender_identity=FRONTEND, name="P")
    assert err.value.check == "decrypt"


def test_value_sealed_to_another_key(factory_key: bytes) -> None:
    other = sealing.public_key_pem(sealing.generate_factory_key(2048))
    sealed = sealing.seal(TOKEN, other, sender_identity=FRONTEND, name="P")
    with pytest.raises(CredentialError) as err:
        sealing.unseal(sealed, factory_key, sender_identity=FRONTEND, name="P")
    assert err.value.check == "key-id"


@pytest.mark.parametrize("value", ["", "plain text", "gwms1.abc", "gwms2.x.y",
                                   "gwms1.{kid}.!!!", "gwms1.{kid}.AAAA"])
def test_malformed_sealed_values(factory_key: bytes, public: bytes, value: str) -> None:
    with pytest.raises(CredentialError) as err:
        sealing.unseal(value.format(kid=sealing.key_id(public)), factory_key,
                       sender_identity=FRONTEND, name="P")
    assert err.value.check == "malformed"


def test_key_rotation(factory_key: bytes, public: bytes) -> None:
    new_key = sealing.generate_factory_key(2048)
    dec = sealing.FactoryKeyDecryptor([new_key, factory_key])
    old_sealed = sealing.seal(TOKEN, public, sender_identity=FRONTEND, name="P")
    new_sealed = sealing.seal(b"x", sealing.public_key_pem(new_key),
                              sender_identity=FRONTEND, name="Q")
    assert dec.decrypt(FRONTEND, {"P": old_sealed, "Q": new_sealed}) == {
        "P": TOKEN.decode(), "Q": "x"}
    assert dec.key_ids[1] == sealing.key_id(public)
    assert_no_secret([repr(dec), str(dec)], [factory_key, new_key])


def test_public_key_travels_in_the_factory_ad(public: bytes) -> None:
    attrs = sealing.public_key_attrs(public)
    assert attrs["PubKeyType"] == "RSA" and attrs["PubKeyID"] == sealing.key_id(public)
    assert sealing.public_key_from_ad(attrs) == public
    escaped = {**attrs, "PubKeyValue": attrs["PubKeyValue"].replace("\n", "\\n")}
    assert sealing.public_key_from_ad(escaped) == public
    with pytest.raises(CredentialError) as err:
        sealing.public_key_from_ad({**attrs, "PubKeyID": "0" * 16})
    assert err.value.check == "key-id"
    with pytest.raises(CredentialError) as err:
        sealing.public_key_from_ad({"PubKeyType": "DSA"})
    assert err.value.check == "malformed"


def test_decryptor_from_files(tmp_path: Path, factory_key: bytes) -> None:
    (tmp_path / "k.pem").write_bytes(factory_key)
    dec = sealing.FactoryKeyDecryptor.from_files([tmp_path / "k.pem"])
    assert len(dec.key_ids) == 1
    with pytest.raises(CredentialError) as err:
        sealing.FactoryKeyDecryptor.from_files([tmp_path / "missing.pem"])
    assert err.value.check == "key-id"


def _request_ad(**over: Any) -> dict[str, Any]:
    ad: dict[str, Any] = {"MyType": "glideclient", "ReqName": "entry1", "ClientName": "vo.main",
                          "AuthenticatedIdentity": FRONTEND, "ReqIdleGlideins": 2,
                          "ReqMaxGlideins": 10}
    ad.update(over)
    return ad


def test_decryptor_plugs_into_factory_intake(factory_key: bytes, public: bytes) -> None:
    entry = Entry(name="entry1", grid_type="condor", gatekeeper="ce:9619", site="S",
                  allowed_frontends=(FRONTEND,))
    sealed = sealing.seal_params({"PoolIdToken": TOKEN}, public, FRONTEND)
    ad = _request_ad(**{f"GlideinEncParam{k}": v for k, v in sealed.items()})
    dec = sealing.FactoryKeyDecryptor([factory_key])
    got = intake.read_requests([ad], {"entry1": entry}, "fac", "gl", dec)
    assert got.secrets[("entry1", FRONTEND, "vo.main", "default")] == {
        "PoolIdToken": TOKEN.decode()}
    # the same sealed value advertised by another (allowed) frontend does not open
    other = "evil@pool.gwms.test"
    entry2 = Entry(name="entry1", grid_type="condor", gatekeeper="ce:9619", site="S",
                   allowed_frontends=(FRONTEND, other))
    replay = {**ad, "AuthenticatedIdentity": other, "ClientName": "evil.main"}
    got = intake.read_requests([replay], {"entry1": entry2}, "fac", "gl", dec)
    assert not got.requests and got.refused[0].reason == "credential refused: decrypt"
    assert_no_secret([repr(got)], [TOKEN])


# --------------------------------------------------------------------------- trust


@pytest.mark.parametrize(("identity", "accepted", "reason"), [
    (FRONTEND, True, "allowed"),
    (None, False, "no AuthenticatedIdentity"),
    ("", False, "non-empty"),
    (42, False, "non-empty"),
    ("vofrontend", False, "user@domain"),
    ("@pool.gwms.test", False, "user@domain"),
    ("unauthenticated@unmapped", False, "not authenticated as a frontend"),
    ("condor@family", False, "not authenticated as a frontend"),
    ("VOFRONTEND@pool.gwms.test", False, "not allowed"),      # exact match only
    ("vofrontend@other.domain", False, "not allowed"),         # user part is not enough
])
def test_request_identity_decision(identity: Any, accepted: bool, reason: str) -> None:
    ad = _request_ad(AuthenticatedIdentity=identity, ClientName=FRONTEND,
                     FrontendName=FRONTEND)
    if identity is None:
        del ad["AuthenticatedIdentity"]
    decision = trust.check_request_identity(ad, [FRONTEND])
    assert decision.accepted is accepted and reason in decision.reason


def test_empty_allow_list_accepts_nobody() -> None:
    assert not trust.check_request_identity(_request_ad(), []).accepted


# --------------------------------------------------------------------------- selection


def _entry(auth: str) -> Entry:
    return Entry(name="e1", grid_type="condor", gatekeeper="ce:9619", site="S",
                 auth_method=auth)


CREDS = [{"type": "scitokens", "issuer": "https://i"}, {"type": "idtokens", "trust_domain": "p"},
         {"type": "gsi", "proxy": "/p"}, {"type": "idtokens", "trust_domain": "second"}]


@pytest.mark.parametrize(("auth", "submit_index", "method"), [
    ("idtokens", None, "idtokens"),
    ("scitokens", 0, "scitokens"),
    ("gsi", 2, "gsi"),
    ("SciTokens", 0, "scitokens"),
])
def test_plan_follows_the_entry_auth_method(auth: str, submit_index: int | None,
                                            method: str) -> None:
    plan = selection.plan_credentials(_entry(auth), CREDS)
    assert plan.pool.index == 1 and plan.pool.method == "idtokens"
    assert (plan.submit.index if plan.submit else None) == submit_index
    assert plan.clear_params() == {"SubmitCredentialMethod": method}


@pytest.mark.parametrize(("auth", "creds", "words"), [
    ("scitokens", [{"type": "idtokens"}], "needs a scitokens credential"),
    ("idtokens", [{"type": "scitokens"}], "need an idtokens credential"),
    ("gsi", [], "configured: none"),
])
def test_plan_refuses_missing_credentials(auth: str, creds: list[dict[str, Any]],
                                          words: str) -> None:
    with pytest.raises(CredentialError) as err:
        selection.plan_credentials(_entry(auth), creds)
    assert err.value.check == "no-credential" and words in str(err.value)


def test_plan_repr_hides_options() -> None:
    plan = selection.plan_credentials(_entry("gsi"), [{"type": "idtokens", "secretish": "S3"},
                                                      {"type": "gsi", "proxy": "/x"}])
    assert "S3" not in repr(plan) and "/x" not in repr(plan)


def _issuer(choice: selection.CredentialChoice) -> Credential:
    return Credential(method=choice.method, secret=f"{choice.method}#{choice.index}".encode())


@pytest.mark.parametrize(("auth", "expected"), [
    ("idtokens", {"PoolIdToken": b"idtokens#1"}),
    ("scitokens", {"PoolIdToken": b"idtokens#1", "SubmitCredential": b"scitokens#0"}),
    ("gsi", {"PoolIdToken": b"idtokens#1", "SubmitCredential": b"gsi#2"}),
])
def test_request_secrets_follow_the_plan(auth: str, expected: dict[str, bytes]) -> None:
    plan = selection.plan_credentials(_entry(auth), CREDS)
    assert selection.request_secrets(plan, _issuer) == expected


def test_request_secrets_refuse_a_credential_of_another_method() -> None:
    plan = selection.plan_credentials(_entry("scitokens"), CREDS)

    def wrong(choice: selection.CredentialChoice) -> Credential:
        return Credential(method="idtokens", secret=b"S3CRET-VALUE")

    with pytest.raises(CredentialError) as err:
        selection.request_secrets(plan, wrong)
    assert err.value.check == "method" and "SubmitCredential" in str(err.value)
    assert "S3CRET" not in str(err.value)


# --------------------------------------------------------------------------- leaks


@pytest.mark.parametrize(("text", "form"), [
    (TOKEN.decode(), "as is"),
    ("sig=" + TOKEN.decode().split(".")[2], "JWT signature"),
    (base64.b64encode(TOKEN).decode(), "base64"),
    ("HEX " + TOKEN.hex().upper(), "hex"),
])
def test_leak_scanner_finds_every_form(text: str, form: str) -> None:
    found = leaks.find_leaks({"log": text}, [TOKEN])
    assert any(x.form == form and x.source == "log" for x in found), found
    with pytest.raises(AssertionError) as err:
        assert_no_secret({"log": text}, [TOKEN])
    assert TOKEN.decode() not in str(err.value)  # the report never repeats the secret


def test_leak_scanner_finds_a_pem_body_line(factory_key: bytes) -> None:
    lines = factory_key.decode().splitlines()
    for line in lines[2:-2]:
        assert leaks.find_leaks([f"oops: {line}"], [factory_key])
    # the first body line is the same for every RSA key of a size: not a finding
    assert not leaks.find_leaks([lines[1]], [factory_key])


def test_leak_scanner_has_no_false_positive() -> None:
    assert leaks.find_leaks(["eyJhbGciOiJIUzI1NiIsImtpZCI6IlBPT0wifQ (a JWT header)"],
                            [TOKEN]) == []
    assert leaks.find_leaks(["short"], [b"abc"]) == []


@given(st.binary(min_size=16, max_size=64), st.text(max_size=50), st.text(max_size=50))
@settings(max_examples=100)
def test_embedded_secret_is_always_found(secret: bytes, before: str, after: str) -> None:
    text = before + base64.b64encode(secret).decode() + after
    assert leaks.find_leaks([text], [secret])
