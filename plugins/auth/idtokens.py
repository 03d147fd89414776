"""Auth method ``idtokens``: HTCondor IDTOKENs minted for glideins.

Placeholder handler: the minting and checking arrive with issue 7.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from gwms_core import defaults, hookimpl
from gwms_core.types import AuthMethod, Credential

SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "HTCondor IDTOKENs signed with a pool signing key on the frontend host.",
    "additionalProperties": False,
    "properties": {
        "signing_key": {"type": "string", "default": "/etc/condor/passwords.d/POOL",
                        "description": "Pool signing key file (never leaves this host)."},
        "trust_domain": {"type": "string", "description": "Token issuer (TRUST_DOMAIN)."},
        "lifetime_s": {"type": "integer", "minimum": 60,
                       "default": defaults.IDTOKEN_LIFETIME_SECONDS},
        "scopes": {"type": "array", "items": {"type": "string"},
                   "default": ["condor:/READ", "condor:/ADVERTISE_STARTD",
                               "condor:/ADVERTISE_MASTER"]},
    },
}


class IdTokens:
    """Mints and checks IDTOKENs (issue 7)."""

    def issue(self, subject: str, options: Mapping[str, Any]) -> Credential:
        """Not implemented yet."""
        raise NotImplementedError("idtokens minting arrives with issue 7")

    def check(self, credential: Credential, options: Mapping[str, Any]) -> None:
        """Not implemented yet."""
        raise NotImplementedError("idtokens checking arrives with issue 7")


@hookimpl
def gwms_auth_methods() -> Iterable[AuthMethod]:
    """Register ``idtokens``."""
    yield AuthMethod(name="idtokens", schema=SCHEMA, handler=IdTokens(),
                     description="HTCondor IDTOKENs (HS256) for glideins")
