"""The frontend's credential parameters: a pool token minted with the idtokens plugin,
sealed to the key an entry ad publishes, unsealed by the factory's decryptor."""

from __future__ import annotations

import time
from pathlib import Path

from gwms_core.credentials.sealing import (
    FactoryKeyDecryptor,
    generate_factory_key,
    public_key_attrs,
    public_key_pem,
)
from gwms_core.frontend.credentials import credential_params
from gwms_core.frontend.model import Entry
from gwms_plugins.auth import idtokens, scitokens


def _entry(attrs: dict[str, str]) -> Entry:
    return Entry(name="E@g@f", site="S", cpus=1, memory=1000, grid_type="batch",
                 in_downtime=False, attrs=attrs)


def test_pool_token_sealed_for_the_sender_and_reused(tmp_path: Path) -> None:
    key_file = tmp_path / "POOL"
    idtokens.write_signing_key_file(key_file, idtokens.generate_signing_key_file())
    creds = [{"type": "idtokens", "signing_key": str(key_file), "trust_domain": "gwms.test"}]
    private = generate_factory_key(bits=2048)
    attrs = public_key_attrs(public_key_pem(private))
    params = credential_params(creds, "vofrontend@gwms.test")
    first = params(_entry(attrs))
    assert first["GlideinParamSubmitCredentialMethod"] == "idtokens"
    sealed = {k.removeprefix("GlideinEncParam"): v for k, v in first.items()
              if k.startswith("GlideinEncParam")}
    assert list(sealed) == ["PoolIdToken"]
    clear = FactoryKeyDecryptor([private]).decrypt("vofrontend@gwms.test", sealed)
    claims = idtokens.verify(clear["PoolIdToken"], idtokens.load_signing_key(key_file),
                             issuer="gwms.test", scopes=idtokens.STARTD_SCOPES,
                             now=time.time())
    assert claims.subject == "glidein@gwms.test"
    # the same token (not yet due for refresh) is sealed again for the next request
    again = FactoryKeyDecryptor([private]).decrypt("vofrontend@gwms.test", {
        "PoolIdToken": params(_entry(attrs))["GlideinEncParamPoolIdToken"]})
    assert again == clear
    assert clear["PoolIdToken"] not in repr(first)


def test_entry_without_key_gets_no_credential(tmp_path: Path) -> None:
    params = credential_params([{"type": "idtokens", "trust_domain": "gwms.test",
                                 "signing_key": str(tmp_path / "none")}], "fe@gwms.test")
    assert params(_entry({})) == {}


def test_scitokens_entry_gets_the_pool_token_and_a_scitoken_for_the_subject(
        tmp_path: Path) -> None:
    key_file = tmp_path / "POOL"
    idtokens.write_signing_key_file(key_file, idtokens.generate_signing_key_file())
    issuer_key = tmp_path / "issuer.pem"
    issuer_key.write_bytes(scitokens.generate_issuer_key())
    creds = [{"type": "idtokens", "signing_key": str(key_file), "trust_domain": "gwms.test"},
             {"type": "scitokens", "issuer": "https://issuer.gwms.test",
              "private_key": str(issuer_key), "audience": "ANY", "subject": "vo-pilot"}]
    private = generate_factory_key(bits=2048)
    attrs = public_key_attrs(public_key_pem(private))
    attrs["GLIDEIN_SupportedAuthenticationMethod"] = "scitokens"
    out = credential_params(creds, "vofrontend@gwms.test")(_entry(attrs))
    assert out["GlideinParamSubmitCredentialMethod"] == "scitokens"
    sealed = {k.removeprefix("GlideinEncParam"): v for k, v in out.items()
              if k.startswith("GlideinEncParam")}
    assert sorted(sealed) == ["PoolIdToken", "SubmitCredential"]
    clear = FactoryKeyDecryptor([private]).decrypt("vofrontend@gwms.test", sealed)
    token = clear["SubmitCredential"]
    assert token not in repr(out)
    claims = scitokens.precheck(token, issuer="https://issuer.gwms.test",
                                audience="ANY", scopes=scitokens.COMPUTE_SCOPES,
                                now=time.time()).claims
    assert claims["sub"] == "vo-pilot"
    pool = idtokens.verify(clear["PoolIdToken"], idtokens.load_signing_key(key_file),
                           issuer="gwms.test", scopes=idtokens.STARTD_SCOPES, now=time.time())
    assert pool.subject == "glidein@gwms.test"


def test_scitokens_entry_without_a_scitokens_credential_gets_nothing(tmp_path: Path) -> None:
    key_file = tmp_path / "POOL"
    idtokens.write_signing_key_file(key_file, idtokens.generate_signing_key_file())
    attrs = public_key_attrs(public_key_pem(generate_factory_key(bits=2048)))
    attrs["GLIDEIN_SupportedAuthenticationMethod"] = "scitokens"
    params = credential_params([{"type": "idtokens", "signing_key": str(key_file),
                                 "trust_domain": "gwms.test"}], "fe@gwms.test")
    assert params(_entry(attrs)) == {}
