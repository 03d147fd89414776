"""Auth method ``scitokens``: SciTokens (JWT, RS256/ES256) for CE submission.

Placeholder handler: the minting and checking arrive with issue 7.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from gwms_core import hookimpl
from gwms_core.types import AuthMethod, Credential

SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "SciTokens from an issuer key pair, for submission to CEs.",
    "additionalProperties": False,
    "properties": {
        "issuer": {"type": "string", "pattern": "^https://"},
        "private_key": {"type": "string", "description": "PEM private key file."},
        "key_id": {"type": "string"},
        "audience": {"type": "string"},
        "lifetime_s": {"type": "integer", "minimum": 60, "default": 3600},
        "scopes": {"type": "array", "items": {"type": "string"},
                   "default": ["compute.create", "compute.read", "compute.modify",
                               "compute.cancel"]},
    },
}


class SciTokens:
    """Mints and checks IDTOKENs (issue 7)."""

    def issue(self, subject: str, options: Mapping[str, Any]) -> Credential:
        """Not implemented yet."""
        raise NotImplementedError("scitokens minting arrives with issue 7")

    def check(self, credential: Credential, options: Mapping[str, Any]) -> None:
        """Not implemented yet."""
        raise NotImplementedError("scitokens checking arrives with issue 7")


@hookimpl
def gwms_auth_methods() -> Iterable[AuthMethod]:
    """Register ``scitokens``."""
    yield AuthMethod(name="scitokens", schema=SCHEMA, handler=SciTokens(),
                     description="SciTokens for submission to CEs")
