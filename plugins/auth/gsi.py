"""Auth method ``gsi``: X.509 proxies delivered to sites that still need them.

Placeholder handler: the minting and checking arrive with issue 7.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from gwms_core import hookimpl
from gwms_core.types import AuthMethod, Credential

SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "X.509 proxies for sites that still need them (credential delivery only).",
    "additionalProperties": False,
    "properties": {
        "proxy": {"type": "string", "description": "Proxy file."},
        "cert": {"type": "string", "description": "Certificate used to renew the proxy."},
        "key": {"type": "string", "description": "Key used to renew the proxy."},
        "min_remaining_s": {"type": "integer", "minimum": 0, "default": 86400},
        "renew_lifetime_s": {"type": "integer", "minimum": 3600, "default": 7 * 86400},
    },
}


class Gsi:
    """Mints and checks IDTOKENs (issue 7)."""

    def issue(self, subject: str, options: Mapping[str, Any]) -> Credential:
        """Not implemented yet."""
        raise NotImplementedError("gsi minting arrives with issue 7")

    def check(self, credential: Credential, options: Mapping[str, Any]) -> None:
        """Not implemented yet."""
        raise NotImplementedError("gsi checking arrives with issue 7")


@hookimpl
def gwms_auth_methods() -> Iterable[AuthMethod]:
    """Register ``gsi``."""
    yield AuthMethod(name="gsi", schema=SCHEMA, handler=Gsi(),
                     description="X.509 proxies delivered to sites (not daemon auth)")
