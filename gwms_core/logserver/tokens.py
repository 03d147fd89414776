"""Upload tokens: compact JWTs (HS256) that let one glidein write its own logs.

The factory mints one token per entry and glidein with a key that only the factory
and the log server hold; the log server verifies it on every upload. Both sides are
pure functions of (key ring, token, names, time): no I/O except :func:`load_keyring`.

A token's claims::

    {"iss": "gwms-factory", "sub": "<entry>/<glidein>", "entry": "<entry>",
     "glidein": "<glidein>", "iat": 1700000000, "exp": 1700172800,
     "jti": "<random>", "scope": "logs:write:<entry>/<glidein>"}

and its header ``{"alg": "HS256", "typ": "JWT", "kid": "<key id>"}``. :func:`verify`
raises :class:`TokenError` whose :attr:`TokenError.failure` names the check that
failed (:class:`TokenFailure`). Neither the token nor the key ever appears in an
exception message or a ``repr``.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import json
import os
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Issuer claim written by the factory.
ISSUER = "gwms-factory"
#: Scope prefix; the full scope is ``logs:write:<entry>/<glidein>``.
SCOPE_PREFIX = "logs:write:"
#: Default lifetime of an upload token: the longest glidein walltime plus a margin.
DEFAULT_LIFETIME_SECONDS = 3 * 24 * 3600
#: Clock skew tolerated between factory, glidein node and log server.
LEEWAY_SECONDS = 60
#: Longest token accepted at all (bytes); longer input is malformed without parsing.
MAX_TOKEN_LENGTH = 4096

#: Names of entries and glideins (and of uploaded files): no slash, no leading dot.
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")
_KID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class TokenFailure(enum.Enum):
    """Which check refused a token."""

    MALFORMED = "malformed"
    FOREIGN = "foreign"
    EXPIRED = "expired"
    NOT_YET_VALID = "not yet valid"
    WRONG_SCOPE = "wrong scope"

    def __str__(self) -> str:
        return self.value


class TokenError(Exception):
    """A token was refused; :attr:`failure` names the check, the message never the token."""

    def __init__(self, failure: TokenFailure, detail: str) -> None:
        super().__init__(f"{failure}: {detail}")
        self.failure = failure
        self.detail = detail


@dataclass(frozen=True)
class SigningKey:
    """One HMAC key with its id (``kid``). The secret never shows in ``repr``."""

    kid: str
    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not _KID_RE.match(self.kid):
            raise ValueError("key id must match [A-Za-z0-9._-]{1,64}")
        if len(self.secret) < 32:
            raise ValueError(f"key {self.kid!r} is shorter than 32 bytes")


@dataclass(frozen=True)
class KeyRing:
    """Keys accepted for verification; the first one signs (rotation: prepend a new key)."""

    keys: tuple[SigningKey, ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise ValueError("a key ring needs at least one key")
        kids = [k.kid for k in self.keys]
        if len(set(kids)) != len(kids):
            raise ValueError("duplicate key id in key ring")

    @property
    def signing(self) -> SigningKey:
        """The key new tokens are signed with."""
        return self.keys[0]

    def get(self, kid: str) -> SigningKey | None:
        """The key called ``kid``, or None."""
        for key in self.keys:
            if key.kid == kid:
                return key
        return None


@dataclass(frozen=True)
class UploadClaims:
    """The verified content of an upload token."""

    entry: str
    glidein: str
    issued_at: int
    expires_at: int
    token_id: str
    key_id: str

    @property
    def scope(self) -> str:
        """The one scope this token grants."""
        return scope_for(self.entry, self.glidein)


def scope_for(entry: str, glidein: str) -> str:
    """``logs:write:<entry>/<glidein>``."""
    return f"{SCOPE_PREFIX}{entry}/{glidein}"


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64d(text: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text) or len(text) % 4 == 1:
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _check_name(kind: str, value: str) -> None:
    if not NAME_RE.match(value):
        raise ValueError(f"{kind} name {value!r} is not a plain name "
                         "([A-Za-z0-9][A-Za-z0-9._@+-]{0,127})")


def mint(keyring: KeyRing, entry: str, glidein: str, *, now: float | None = None,
         lifetime: int = DEFAULT_LIFETIME_SECONDS, token_id: str | None = None) -> str:
    """Return a token that lets glidein ``glidein`` of ``entry`` upload its logs.

    :param keyring: the factory's keys; the first signs.
    :param now: issue time (seconds since the epoch); the current time if None.
    :param lifetime: seconds until the token expires.
    :param token_id: the ``jti`` claim; random if None.
    """
    _check_name("entry", entry)
    _check_name("glidein", glidein)
    if lifetime <= 0:
        raise ValueError("lifetime must be positive")
    iat = int(time.time() if now is None else now)
    key = keyring.signing
    header = {"alg": "HS256", "typ": "JWT", "kid": key.kid}
    claims = {
        "iss": ISSUER,
        "sub": f"{entry}/{glidein}",
        "entry": entry,
        "glidein": glidein,
        "iat": iat,
        "exp": iat + lifetime,
        "jti": token_id or secrets.token_hex(8),
        "scope": scope_for(entry, glidein),
    }
    signing_input = (_b64e(json.dumps(header, separators=(",", ":")).encode()) + "." +
                     _b64e(json.dumps(claims, separators=(",", ":")).encode()))
    sig = hmac.new(key.secret, signing_input.encode("ascii"), hashlib.sha256).digest()
    return signing_input + "." + _b64e(sig)


def _decode_json(part: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(_b64d(part))
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise TokenError(TokenFailure.MALFORMED, f"{what} is not base64url JSON") from exc
    if not isinstance(value, dict):
        raise TokenError(TokenFailure.MALFORMED, f"{what} is not a JSON object")
    return value


def _int_claim(claims: Mapping[str, Any], name: str) -> int:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise TokenError(TokenFailure.MALFORMED, f"claim {name!r} missing or not an integer")
    return value


def _str_claim(claims: Mapping[str, Any], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str):
        raise TokenError(TokenFailure.MALFORMED, f"claim {name!r} missing or not a string")
    return value


def verify(keyring: KeyRing, token: str, entry: str, glidein: str, *,
           now: float | None = None, leeway: int = LEEWAY_SECONDS) -> UploadClaims:
    """Check that ``token`` lets its bearer write logs of ``entry``/``glidein`` now.

    Checks in this order, raising :class:`TokenError` at the first that fails:
    structure (``malformed``), key id and signature (``foreign``), ``exp``
    (``expired``), ``iat`` (``not yet valid``), then that ``scope``, ``entry`` and
    ``glidein`` name exactly this entry and glidein (``wrong scope``).
    """
    if not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        raise TokenError(TokenFailure.MALFORMED, "empty, too long or not ASCII")
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenError(TokenFailure.MALFORMED, "a JWT has three dot-separated parts")
    header = _decode_json(parts[0], "header")
    claims = _decode_json(parts[1], "claims")
    if header.get("alg") != "HS256":
        raise TokenError(TokenFailure.MALFORMED, "algorithm is not HS256")
    kid = header.get("kid")
    if not isinstance(kid, str):
        raise TokenError(TokenFailure.MALFORMED, "header has no key id")
    try:
        sig = _b64d(parts[2])
    except (ValueError, binascii.Error) as exc:
        raise TokenError(TokenFailure.MALFORMED, "signature is not base64url") from exc
    key = keyring.get(kid)
    if key is None:
        raise TokenError(TokenFailure.FOREIGN, "signed with a key this server does not hold")
    expected = hmac.new(key.secret, (parts[0] + "." + parts[1]).encode("ascii"),
                        hashlib.sha256).digest()
    if not hmac.compare_digest(sig, expected):
        raise TokenError(TokenFailure.FOREIGN, "signature does not match the key")
    exp = _int_claim(claims, "exp")
    iat = _int_claim(claims, "iat")
    t = time.time() if now is None else now
    if t > exp + leeway:
        raise TokenError(TokenFailure.EXPIRED, f"expired {int(t - exp)} s ago")
    if iat > t + leeway:
        raise TokenError(TokenFailure.NOT_YET_VALID, "issued in the future")
    scope = _str_claim(claims, "scope")
    c_entry = _str_claim(claims, "entry")
    c_glidein = _str_claim(claims, "glidein")
    wanted = scope_for(entry, glidein)
    if wanted not in scope.split() or c_entry != entry or c_glidein != glidein:
        raise TokenError(TokenFailure.WRONG_SCOPE,
                         f"token is for {c_entry!r}/{c_glidein!r}, not {entry!r}/{glidein!r}")
    return UploadClaims(entry=entry, glidein=glidein, issued_at=iat, expires_at=exp,
                        token_id=str(claims.get("jti", "")), key_id=kid)


# --------------------------------------------------------------------------- key files


def new_key(kid: str) -> SigningKey:
    """A fresh random 32-byte key called ``kid``."""
    return SigningKey(kid=kid, secret=secrets.token_bytes(32))


def format_keyring(keyring: KeyRing) -> str:
    """Key file text: one ``<kid> <base64url secret>`` line per key, signing key first."""
    return "".join(f"{k.kid} {_b64e(k.secret)}\n" for k in keyring.keys)


def parse_keyring(text: str, source: str = "key file") -> KeyRing:
    """Parse key file text (see :func:`format_keyring`); ``#`` starts a comment."""
    keys = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        if len(fields) != 2:
            raise ValueError(f"{source}:{lineno}: expected '<key id> <base64url key>'")
        try:
            secret = _b64d(fields[1])
        except (ValueError, binascii.Error) as exc:
            raise ValueError(f"{source}:{lineno}: key is not base64url") from exc
        try:
            keys.append(SigningKey(kid=fields[0], secret=secret))
        except ValueError as exc:
            raise ValueError(f"{source}:{lineno}: {exc}") from exc
    if not keys:
        raise ValueError(f"{source}: no key")
    return KeyRing(tuple(keys))


def load_keyring(path: str | Path) -> KeyRing:
    """Read a key file; refuse one that group or others can read."""
    p = Path(path)
    mode = p.stat().st_mode
    if mode & 0o077:
        raise PermissionError(f"{p}: key file must not be readable by group or others "
                              f"(mode {mode & 0o777:o}); chmod 600 it")
    return parse_keyring(p.read_text(encoding="ascii"), str(p))


def write_keyring(path: str | Path, keyring: KeyRing) -> None:
    """Write a key file with mode 0600 (created atomically, never world-readable)."""
    p = Path(path)
    tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, format_keyring(keyring).encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, p)
