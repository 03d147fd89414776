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
from gwms_plugins.auth import idtokens


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
