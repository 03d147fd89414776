"""Auth method ``idtokens``: HTCondor IDTOKENs minted for glideins on the frontend host.

An IDTOKEN is a JWT signed with HMAC-SHA256. HTCondor derives the HMAC key from a
signing key file in ``SEC_PASSWORD_DIRECTORY`` (``POOL`` by default):

1. the whole file is read (HTCondor 9.0+; with ``SEC_TOKEN_POOL_SIGNING_KEY_IS_PASSWORD =
   True``, the 8.x behaviour, the ``POOL`` file is cut at its first NUL byte first),
2. each byte is XOR-ed with ``de ad be ef`` repeated (HTCondor's "simple scramble"),
3. the ``POOL`` key, and only it, is concatenated with itself (a leftover of the
   PASSWORD method's two-party secret),
4. the HMAC key is ``HKDF-SHA256(ikm, salt=b"htcondor", info=b"master jwt", 32 bytes)``.

Header ``{"alg": "HS256", "kid": <key file name>, "typ": "JWT"}``; claims ``iss`` (the
pool's ``TRUST_DOMAIN``), ``sub`` (``name@trust-domain``), ``iat``, ``exp``, ``jti`` and
``scope`` (``condor:/READ condor:/ADVERTISE_STARTD condor:/ADVERTISE_MASTER`` for a
glidein: what a startd needs and nothing more). Checked against real HTCondor 23.9 daemons
by ``tests/auth/test_idtokens_condor.py``.

The signing key never leaves the frontend host: only minted tokens go into requests,
encrypted to the factory's key (:mod:`gwms_core.credentials.sealing`).
"""

from __future__ import annotations

import os
import secrets
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from gwms_core import defaults, hookimpl
from gwms_core.fileio import write_private
from gwms_core.types import AuthMethod, Credential, CredentialError
from gwms_plugins.auth import _jwt

#: The least privilege of a glidein's startd: read the pool, advertise itself and its master.
STARTD_SCOPES: tuple[str, ...] = (
    "condor:/READ",
    "condor:/ADVERTISE_STARTD",
    "condor:/ADVERTISE_MASTER",
)
#: Key file name HTCondor treats specially (doubled before HKDF).
POOL_KEY_NAME = "POOL"
_SCRAMBLE = bytes((0xDE, 0xAD, 0xBE, 0xEF))
_HKDF_SALT = b"htcondor"
_HKDF_INFO = b"master jwt"
#: Default refresh policy: refresh after half the lifetime, or one hour before expiry.
DEFAULT_REFRESH_FRACTION = 0.5
DEFAULT_MIN_REMAINING_S = 3600

SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "HTCondor IDTOKENs signed with a pool signing key on the frontend host.",
    "additionalProperties": False,
    "properties": {
        "signing_key": {"type": "string", "default": "/etc/condor/passwords.d/POOL",
                        "description": "Pool signing key file (never leaves this host). "
                                       "Its file name is the token's kid."},
        "trust_domain": {"type": "string", "description": "Token issuer (TRUST_DOMAIN)."},
        "lifetime_s": {"type": "integer", "minimum": 60,
                       "default": defaults.IDTOKEN_LIFETIME_SECONDS},
        "scopes": {"type": "array", "items": {"type": "string", "pattern": "^condor:/[A-Z_]+$"},
                   "minItems": 1, "uniqueItems": True,
                   "default": list(STARTD_SCOPES)},
        "refresh_fraction": {"type": "number", "exclusiveMinimum": 0, "maximum": 1,
                             "default": DEFAULT_REFRESH_FRACTION,
                             "description": "Refresh once this fraction of the lifetime "
                                            "has passed."},
        "min_remaining_s": {"type": "integer", "minimum": 0,
                            "default": DEFAULT_MIN_REMAINING_S,
                            "description": "Refresh when less than this many seconds of "
                                           "validity remain."},
    },
}


# --------------------------------------------------------------------------- signing key


def scramble(data: bytes) -> bytes:
    """HTCondor's simple scramble: XOR with ``de ad be ef`` repeated (its own inverse)."""
    return bytes(b ^ _SCRAMBLE[i % 4] for i, b in enumerate(data))


def _cstring(data: bytes) -> bytes:
    nul = data.find(b"\0")
    return data if nul < 0 else data[:nul]


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A derived IDTOKEN signing key. ``repr`` shows its name only."""

    name: str
    jwt_key: bytes = field(repr=False)


def derive_signing_key(file_content: bytes, name: str, *,
                       truncate_at_nul: bool = False) -> SigningKey:
    """The HMAC key HTCondor derives from a signing key file's bytes (see module doc).

    ``truncate_at_nul`` mirrors ``SEC_TOKEN_POOL_SIGNING_KEY_IS_PASSWORD = True`` (only
    for the ``POOL`` key): cut the file at its first NUL, and the clear key at its first
    NUL, as HTCondor 8.x did.

    :raises CredentialError: ``key-id`` when the key is empty (it would sign with a
        guessable secret).
    """
    is_pool = name == POOL_KEY_NAME
    if is_pool and truncate_at_nul:
        password = _cstring(scramble(_cstring(file_content)))
    else:
        password = scramble(file_content)
    if not password:
        raise CredentialError("key-id", f"signing key {name} is empty")
    ikm = password + password if is_pool else password
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=_HKDF_SALT, info=_HKDF_INFO)
    return SigningKey(name=name, jwt_key=hkdf.derive(ikm))


def load_signing_key(path: str | os.PathLike[str]) -> SigningKey:
    """Read and derive a signing key file; the key's name (kid) is the file name.

    :raises CredentialError: ``key-id`` when the file cannot be read (the message names
        the file, never its content).
    """
    p = Path(path)
    try:
        content = p.read_bytes()
    except OSError as exc:
        raise CredentialError("key-id", f"cannot read signing key {p}: {exc.strerror}") from None
    return derive_signing_key(content, p.name)


def generate_signing_key_file(length: int = 64) -> bytes:
    """Random signing key file content (scrambled as HTCondor stores it).

    Neither the stored nor the clear bytes contain NUL, so the key means the same to
    HTCondor with or without ``SEC_TOKEN_POOL_SIGNING_KEY_IS_PASSWORD``.
    """
    if length < 32:
        raise ValueError("a signing key needs at least 32 bytes")
    clear = bytearray()
    while len(clear) < length:
        b = secrets.randbits(8)
        if b != 0 and b != _SCRAMBLE[len(clear) % 4]:
            clear.append(b)
    return scramble(bytes(clear))


def write_signing_key_file(path: str | os.PathLike[str], content: bytes) -> None:
    """Write key file content atomically with mode 0600 (as HTCondor requires)."""
    write_private(path, content)


# --------------------------------------------------------------------------- minting


def full_identity(subject: str, trust_domain: str) -> str:
    """``name@trust-domain`` unless ``subject`` already names a domain."""
    return subject if "@" in subject else f"{subject}@{trust_domain}"


def mint(key: SigningKey, *, issuer: str, subject: str, scopes: Sequence[str],
         now: float, lifetime_s: int, jti: str) -> str:
    """Mint an IDTOKEN (pure: the clock and the unique id are arguments)."""
    if not issuer:
        raise CredentialError("issuer", "no trust domain to issue tokens for")
    if not scopes:
        raise CredentialError("scope", "refusing to mint a token without a scope limit")
    if lifetime_s <= 0:
        raise CredentialError("expired", "lifetime must be positive")
    iat = int(now)
    claims = {
        "iss": issuer,
        "sub": subject,
        "iat": iat,
        "exp": iat + int(lifetime_s),
        "jti": jti,
        "scope": " ".join(scopes),
    }
    return _jwt.encode_hs256({"alg": "HS256", "kid": key.name, "typ": "JWT"}, claims,
                             key.jwt_key)


@dataclass(frozen=True, slots=True)
class IdTokenClaims:
    """The claims of a token that passed every check."""

    issuer: str
    subject: str
    key_id: str
    issued_at: float | None
    expires_at: float | None
    jti: str
    scopes: tuple[str, ...]


def verify(token: str, keys: Mapping[str, SigningKey] | SigningKey, *, issuer: str,
           scopes: Iterable[str], now: float, audience: str | None = None,
           leeway: float = _jwt.DEFAULT_LEEWAY_S) -> IdTokenClaims:
    """Check an IDTOKEN the way a careful daemon would; pure.

    Checks, in order: malformed, unsigned, algorithm (HS256 only), key-id, issuer,
    signature, expired, not-yet-valid, audience (refused when present and not
    ``audience``), scope (exactly ``scopes``: nothing missing, nothing extra).
    """
    jwt = _jwt.parse(token)
    _jwt.check_signed(jwt, ("HS256",))
    kid = jwt.header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise CredentialError("key-id", "token header has no kid")
    keyring = {keys.name: keys} if isinstance(keys, SigningKey) else dict(keys)
    if kid not in keyring:
        raise CredentialError("key-id", f"token is signed with key {kid!r}, which is not held")
    iss = _jwt.check_issuer(jwt.claims, issuer)
    _jwt.verify_hs256(jwt, keyring[kid].jwt_key)
    iat, exp = _jwt.check_times(jwt.claims, now, leeway)
    _jwt.check_audience(jwt.claims, audience)
    wanted = tuple(scopes)
    have = _jwt.check_scope(jwt.claims, wanted, wanted)
    sub = jwt.claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise CredentialError("malformed", "token has no subject")
    jti = jwt.claims.get("jti", "")
    return IdTokenClaims(issuer=iss, subject=sub, key_id=kid, issued_at=iat, expires_at=exp,
                         jti=str(jti), scopes=have)


# --------------------------------------------------------------------------- refresh


@dataclass(frozen=True, slots=True)
class RefreshDecision:
    """Whether to mint a new token now, and from when the current one is due."""

    refresh: bool
    due_at: float
    reason: str


def refresh_decision(issued_at: float | None, expires_at: float | None, now: float, *,
                     fraction: float = DEFAULT_REFRESH_FRACTION,
                     min_remaining_s: float = DEFAULT_MIN_REMAINING_S) -> RefreshDecision:
    """Decide whether a token must be replaced before it is handed out again (pure).

    A token is due at ``min(issued + fraction * lifetime, expires - min_remaining_s)``.
    A token without an expiry, or issued in the future (the clock went back), is due now.
    """
    if expires_at is None:
        return RefreshDecision(True, now, "token has no expiry")
    if issued_at is None or issued_at > now:
        return RefreshDecision(True, now, "token issue time unknown or in the future")
    lifetime = max(0.0, expires_at - issued_at)
    due = min(issued_at + fraction * lifetime, expires_at - min_remaining_s)
    if now >= expires_at:
        return RefreshDecision(True, due, "token expired")
    if now >= due:
        return RefreshDecision(True, due, f"{int(expires_at - now)} s of validity left")
    return RefreshDecision(False, due, f"valid; due in {int(due - now)} s")


def credential_times(credential: Credential) -> tuple[float | None, float | None]:
    """``(iat, exp)`` of a JWT credential, read without verifying it."""
    jwt = _jwt.parse(credential.secret.decode("ascii", "replace"))
    return _jwt.claim_times(jwt.claims)


# --------------------------------------------------------------------------- handler


def _option(options: Mapping[str, Any], name: str) -> Any:
    if name in options:
        return options[name]
    return SCHEMA["properties"][name].get("default")


class IdTokens:
    """Mints IDTOKENs for glideins and checks them."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        """``clock`` returns the current time in epoch seconds (injected in tests)."""
        self._clock = clock

    def issue(self, subject: str, options: Mapping[str, Any]) -> Credential:
        """Mint a token for ``subject`` (``name`` or ``name@domain``)."""
        trust_domain = str(options.get("trust_domain") or "")
        if not trust_domain:
            raise CredentialError("issuer", "idtokens: trust_domain is not configured")
        key = load_signing_key(_option(options, "signing_key"))
        scopes = tuple(_option(options, "scopes"))
        sub = full_identity(subject, trust_domain)
        lifetime = int(_option(options, "lifetime_s"))
        now = float(self._clock())
        token = mint(key, issuer=trust_domain, subject=sub, scopes=scopes, now=now,
                     lifetime_s=lifetime, jti=uuid.uuid4().hex)
        return Credential(method="idtokens", secret=token.encode("ascii"), subject=sub,
                          expires=float(int(now) + lifetime), scopes=scopes)

    def check(self, credential: Credential, options: Mapping[str, Any]) -> None:
        """Refuse ``credential`` with a :class:`CredentialError` naming the failed check."""
        trust_domain = str(options.get("trust_domain") or "")
        key = load_signing_key(_option(options, "signing_key"))
        verify(credential.secret.decode("ascii", "replace"), key, issuer=trust_domain,
               scopes=_option(options, "scopes"), now=float(self._clock()),
               audience=options.get("audience"))

    def needs_refresh(self, credential: Credential, options: Mapping[str, Any]) -> RefreshDecision:
        """Apply :func:`refresh_decision` to a token minted earlier."""
        iat, exp = credential_times(credential)
        return refresh_decision(iat, exp, float(self._clock()),
                                fraction=float(_option(options, "refresh_fraction")),
                                min_remaining_s=float(_option(options, "min_remaining_s")))


@hookimpl
def gwms_auth_methods() -> Iterable[AuthMethod]:
    """Register ``idtokens``."""
    yield AuthMethod(name="idtokens", schema=SCHEMA, handler=IdTokens(),
                     description="HTCondor IDTOKENs (HS256) for glideins")
