"""The factory trusts the identity the collector authenticated, and nothing the ad says.

The WMS collector stamps every ad it accepts with ``AuthenticatedIdentity``, the identity
its security layer authenticated for the connection that carried the update (checked on
HTCondor 23.9: a value the sender puts in that attribute is replaced). So the only name a
factory may act on is that attribute: not ``ClientName``, ``FrontendName`` or any claim
inside the request. :func:`check_request_identity` is the pure decision.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

#: The attribute the collector sets.
ATTR_AUTHENTICATED_IDENTITY = "AuthenticatedIdentity"
#: Identities HTCondor gives connections that did not really authenticate, or that came
#: from a daemon's own family (never a frontend's request).
UNTRUSTED_DOMAINS: tuple[str, ...] = ("unmapped", "family")
UNTRUSTED_USERS: tuple[str, ...] = ("unauthenticated", "anonymous")


@dataclass(frozen=True, slots=True)
class TrustDecision:
    """Whether a request is accepted, the identity decided on, and why (no secret)."""

    accepted: bool
    identity: str
    reason: str


def check_request_identity(ad: Mapping[str, Any], allowed: Iterable[str]) -> TrustDecision:
    """Accept a request ad only when its ``AuthenticatedIdentity`` is a real authenticated
    ``user@domain`` and exactly one of ``allowed`` (case-sensitive, no wildcards).

    ``allowed`` is the entry's (or factory's) list of frontend identities; an empty list
    accepts nobody.
    """
    raw = ad.get(ATTR_AUTHENTICATED_IDENTITY)
    if raw is None:
        return TrustDecision(False, "", "not authenticated (no AuthenticatedIdentity)")
    if not isinstance(raw, str) or not raw.strip():
        return TrustDecision(False, "", "AuthenticatedIdentity is not a non-empty string")
    identity = raw.strip()
    user, sep, domain = identity.partition("@")
    if not sep or not user or not domain:
        return TrustDecision(False, identity, "AuthenticatedIdentity is not user@domain")
    if domain in UNTRUSTED_DOMAINS or user in UNTRUSTED_USERS:
        return TrustDecision(False, identity,
                             f"identity {identity!r} was not authenticated as a frontend")
    allowed_set = set(allowed)
    if identity not in allowed_set:
        return TrustDecision(False, identity, f"identity {identity!r} is not allowed")
    return TrustDecision(True, identity, "authenticated and allowed")


__all__ = ["ATTR_AUTHENTICATED_IDENTITY", "TrustDecision", "check_request_identity"]
