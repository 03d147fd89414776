"""Registration dataclasses: names normalised, bad names and schemas refused, secrets hidden."""

from __future__ import annotations

import dataclasses

import pytest

from gwms_core.types import Credential, CredentialError, EntrySource, PluginDefinitionError


class _H:
    def load(self, options, base_dir):  # type: ignore[no-untyped-def]
        return []


def test_name_is_normalised() -> None:
    assert EntrySource(name="  MySource ", schema={"type": "object"}, handler=_H()).name == \
        "mysource"


@pytest.mark.parametrize("name", ["", "1abc", "a b", "a/b", "x" * 64])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(PluginDefinitionError, match="invalid"):
        EntrySource(name=name, schema={"type": "object"}, handler=_H())


def test_schema_must_be_object() -> None:
    with pytest.raises(PluginDefinitionError, match="type 'object'"):
        EntrySource(name="a", schema={"type": "array"}, handler=_H())


def test_frozen() -> None:
    src = EntrySource(name="a", schema={"type": "object"}, handler=_H())
    with pytest.raises(dataclasses.FrozenInstanceError):
        src.name = "b"  # type: ignore[misc]


def test_credential_never_shows_secret() -> None:
    cred = Credential(method="idtokens", secret=b"s3cr3t-value", subject="glidein@x")
    assert "s3cr3t" not in repr(cred)
    assert "s3cr3t" not in str(cred)


def test_credential_error_names_check() -> None:
    err = CredentialError("expired", "exp is 10 s in the past")
    assert err.check == "expired"
    assert str(err) == "expired: exp is 10 s in the past"
