"""JSON Web Token pieces shared by the ``idtokens`` and ``scitokens`` plugins.

Everything here is pure: strings and numbers in, dataclasses out. Every refusal is a
:class:`~gwms_core.types.CredentialError` whose ``check`` is one of :data:`CHECKS`; no
message ever contains the token, its signature or a key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gwms_core.types import CredentialError

#: The names a refusal's ``check`` can take, in the order the checks run.
CHECKS: tuple[str, ...] = (
    "malformed",       # not three base64url JSON parts, or a claim of the wrong type
    "unsigned",        # alg "none" or an empty signature
    "algorithm",       # an algorithm this method does not accept
    "key-id",          # no kid, or a kid naming a key we do not hold
    "issuer",          # iss missing or not the expected issuer
    "signature",       # the signature does not verify
    "expired",         # exp missing or in the past
    "not-yet-valid",   # nbf or iat in the future
    "audience",        # aud does not name the expected audience
    "scope",           # scope missing, too broad, or lacking a required authorization
)

#: Seconds of clock skew tolerated on exp/nbf/iat.
DEFAULT_LEEWAY_S = 60


def b64url_encode(data: bytes) -> str:
    """Base64url without padding (RFC 7515 section 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Inverse of :func:`b64url_encode`; raises ``ValueError`` on bad input."""
    if not text or any(c not in _B64URL for c in text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


@dataclass(frozen=True, slots=True)
class ParsedJwt:
    """A JWT split into its parts. ``repr`` shows the header and claims, never the
    signature or the signing input (which together are the secret)."""

    header: Mapping[str, Any]
    claims: Mapping[str, Any]
    signing_input: bytes = field(repr=False)
    signature: bytes = field(repr=False)


def parse(token: str) -> ParsedJwt:
    """Split and decode a compact JWS without verifying it.

    :raises CredentialError: ``malformed`` when the token is not three base64url
        parts whose first two are JSON objects.
    """
    if not isinstance(token, str):
        raise CredentialError("malformed", "token is not text")
    token = token.strip()
    parts = token.split(".")
    if len(parts) != 3:
        raise CredentialError("malformed", f"expected 3 dot-separated parts, found {len(parts)}")
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
        signature = b64url_decode(parts[2]) if parts[2] else b""
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise CredentialError("malformed", "a part is not base64url-encoded JSON") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise CredentialError("malformed", "header or claims are not JSON objects")
    return ParsedJwt(header=header, claims=claims,
                     signing_input=f"{parts[0]}.{parts[1]}".encode("ascii"),
                     signature=signature)


def encode_hs256(header: Mapping[str, Any], claims: Mapping[str, Any], key: bytes) -> str:
    """Serialise and sign a JWT with HMAC-SHA256."""
    head = b64url_encode(json.dumps(dict(header), separators=(",", ":")).encode())
    body = b64url_encode(json.dumps(dict(claims), separators=(",", ":")).encode())
    signing_input = f"{head}.{body}".encode("ascii")
    sig = hmac.new(key, signing_input, hashlib.sha256).digest()
    return f"{head}.{body}.{b64url_encode(sig)}"


def check_signed(jwt: ParsedJwt, accepted_algs: Iterable[str]) -> str:
    """Refuse unsigned tokens and algorithms outside ``accepted_algs``; return the alg."""
    alg = jwt.header.get("alg")
    if not isinstance(alg, str):
        raise CredentialError("malformed", "header has no alg")
    if alg.lower() == "none" or not jwt.signature:
        raise CredentialError("unsigned", "token carries no signature (alg none)")
    accepted = tuple(accepted_algs)
    if alg not in accepted:
        raise CredentialError("algorithm", f"alg {alg} is not one of {', '.join(accepted)}")
    return alg


def verify_hs256(jwt: ParsedJwt, key: bytes) -> None:
    """Verify an HMAC-SHA256 signature in constant time."""
    expected = hmac.new(key, jwt.signing_input, hashlib.sha256).digest()
    if not hmac.compare_digest(expected, jwt.signature):
        raise CredentialError("signature", "signature does not verify with the signing key")


def _number(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CredentialError("malformed", f"claim {name} is not a number")
    return float(value)


def check_issuer(claims: Mapping[str, Any], expected: str | Iterable[str]) -> str:
    """Refuse a token whose ``iss`` is missing or not (one of) ``expected``."""
    allowed = (expected,) if isinstance(expected, str) else tuple(expected)
    iss = claims.get("iss")
    if not isinstance(iss, str) or not iss:
        raise CredentialError("issuer", "token has no issuer")
    if iss not in allowed:
        raise CredentialError("issuer", f"issuer {iss!r} is not trusted "
                                        f"(expected {', '.join(repr(a) for a in allowed)})")
    return iss


def claim_times(claims: Mapping[str, Any]) -> tuple[float | None, float | None]:
    """``(iat, exp)`` of a token without judging them (``None`` when absent)."""
    return _number(claims, "iat"), _number(claims, "exp")


def check_times(claims: Mapping[str, Any], now: float, leeway: float = DEFAULT_LEEWAY_S,
                require_exp: bool = True) -> tuple[float | None, float | None]:
    """Refuse expired and not-yet-valid tokens; return ``(iat, exp)``."""
    exp = _number(claims, "exp")
    nbf = _number(claims, "nbf")
    iat = _number(claims, "iat")
    if exp is None and require_exp:
        raise CredentialError("expired", "token has no expiry (exp)")
    if exp is not None and now >= exp + leeway:
        raise CredentialError("expired", f"token expired {int(now - exp)} s ago")
    for name, value in (("nbf", nbf), ("iat", iat)):
        if value is not None and value > now + leeway:
            raise CredentialError("not-yet-valid",
                                  f"token {name} is {int(value - now)} s in the future")
    return iat, exp


def audiences(claims: Mapping[str, Any]) -> tuple[str, ...]:
    """The ``aud`` claim as a tuple (it may be a string or a list)."""
    aud = claims.get("aud")
    if aud is None:
        return ()
    if isinstance(aud, str):
        return (aud,)
    if isinstance(aud, list) and all(isinstance(a, str) for a in aud):
        return tuple(aud)
    raise CredentialError("malformed", "claim aud is neither a string nor a list of strings")


def check_audience(claims: Mapping[str, Any], expected: str | None,
                   wildcards: Iterable[str] = ()) -> None:
    """When ``expected`` is set, refuse a token whose ``aud`` does not name it.

    ``wildcards`` are audience values that match any audience (SciTokens' ``ANY``).
    A token with an ``aud`` while none is expected is refused too: it was meant for
    someone else.
    """
    auds = audiences(claims)
    if expected is None:
        if auds:
            raise CredentialError("audience",
                                  f"token is for audience {', '.join(auds)}; none expected")
        return
    if expected in auds or any(w in auds for w in wildcards):
        return
    if not auds:
        raise CredentialError("audience", f"token has no audience; expected {expected!r}")
    raise CredentialError("audience", f"token audience {', '.join(auds)} is not {expected!r}")


def scopes(claims: Mapping[str, Any]) -> tuple[str, ...]:
    """The space-separated ``scope`` claim as a tuple (``()`` when absent)."""
    scope = claims.get("scope")
    if scope is None:
        return ()
    if not isinstance(scope, str):
        raise CredentialError("malformed", "claim scope is not a string")
    return tuple(scope.split())


def check_scope(claims: Mapping[str, Any], allowed: Iterable[str],
                required: Iterable[str] = ()) -> tuple[str, ...]:
    """Least privilege: refuse a token with no scope (HTCondor reads that as *every*
    authorization), with a scope outside ``allowed``, or lacking one of ``required``."""
    have = scopes(claims)
    allowed_set = set(allowed)
    if not have:
        raise CredentialError("scope", "token has no scope limit (it would grant everything)")
    extra = sorted(set(have) - allowed_set)
    if extra:
        raise CredentialError("scope", f"token grants more than allowed: {' '.join(extra)}")
    missing = sorted(set(required) - set(have))
    if missing:
        raise CredentialError("scope", f"token lacks required scope: {' '.join(missing)}")
    return have
