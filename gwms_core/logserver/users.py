"""Viewer logins: a users file with PBKDF2 password hashes, and server-side sessions.

Users file, one user a line (``#`` comments)::

    alice:admin:pbkdf2_sha256$600000$<salt b64>$<hash b64>
    bob:viewer:pbkdf2_sha256$600000$<salt b64>$<hash b64>

Roles: ``viewer`` reads everything (pages, API, downloads); ``admin`` may also delete
a glidein's logs. Neither can upload: uploads take a factory-issued bearer token.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

ROLES = ("viewer", "admin")
PBKDF2_ITERATIONS = 600_000
SESSION_SECONDS = 8 * 3600
_USER_RE = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")


@dataclass(frozen=True)
class User:
    """One account of the users file; the hash never shows in ``repr``."""

    name: str
    role: str
    password_hash: str = field(repr=False)


def hash_password(password: str, *, iterations: int = PBKDF2_ITERATIONS,
                  salt: bytes | None = None) -> str:
    """``pbkdf2_sha256$<iterations>$<salt>$<hash>`` of ``password``."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    return (f"pbkdf2_sha256${iterations}${base64.b64encode(salt).decode()}$"
            f"{base64.b64encode(digest).decode()}")


def check_password(password: str, encoded: str) -> bool:
    """True if ``password`` matches the encoded hash (constant-time compare)."""
    try:
        algo, iterations, salt, digest = encoded.split("$")
        if algo != "pbkdf2_sha256":
            return False
        got = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"),
                                  base64.b64decode(salt), int(iterations))
        return hmac.compare_digest(got, base64.b64decode(digest))
    except ValueError:
        return False


def parse_users(text: str, source: str = "users file") -> dict[str, User]:
    """Parse users file text; errors name the line."""
    users: dict[str, User] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(":", 2)
        if len(parts) != 3:
            raise ValueError(f"{source}:{lineno}: expected NAME:ROLE:HASH")
        name, role, encoded = parts
        if not _USER_RE.match(name):
            raise ValueError(f"{source}:{lineno}: bad user name")
        if role not in ROLES:
            raise ValueError(f"{source}:{lineno}: role must be one of {', '.join(ROLES)}")
        if not encoded.startswith("pbkdf2_sha256$") or encoded.count("$") != 3:
            raise ValueError(f"{source}:{lineno}: hash must be pbkdf2_sha256$N$SALT$HASH")
        if name in users:
            raise ValueError(f"{source}:{lineno}: duplicate user {name!r}")
        users[name] = User(name, role, encoded)
    return users


def load_users(path: str | Path) -> dict[str, User]:
    """Read the users file."""
    p = Path(path)
    return parse_users(p.read_text(encoding="utf-8"), str(p))


def user_line(name: str, role: str, password: str, *,
              iterations: int = PBKDF2_ITERATIONS) -> str:
    """A users file line for a new account."""
    if not _USER_RE.match(name):
        raise ValueError("bad user name")
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    return f"{name}:{role}:{hash_password(password, iterations=iterations)}"


@dataclass(frozen=True)
class Session:
    """A logged-in browser."""

    user: str
    role: str
    expires: float


class Sessions:
    """Server-side sessions keyed by a random cookie value (only its hash is kept)."""

    def __init__(self, lifetime: float = SESSION_SECONDS, max_sessions: int = 10000) -> None:
        self.lifetime = lifetime
        self.max_sessions = max_sessions
        self._by_hash: dict[str, Session] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(cookie: str) -> str:
        return hashlib.sha256(cookie.encode("ascii", "replace")).hexdigest()

    def create(self, user: User, now: float | None = None) -> str:
        """Start a session; return the cookie value."""
        t = time.time() if now is None else now
        cookie = secrets.token_urlsafe(32)
        with self._lock:
            if len(self._by_hash) >= self.max_sessions:
                self._expire(t)
                if len(self._by_hash) >= self.max_sessions:
                    oldest = min(self._by_hash, key=lambda k: self._by_hash[k].expires)
                    del self._by_hash[oldest]
            self._by_hash[self._key(cookie)] = Session(user.name, user.role,
                                                       t + self.lifetime)
        return cookie

    def get(self, cookie: str, now: float | None = None) -> Session | None:
        """The live session for a cookie value, or None."""
        t = time.time() if now is None else now
        with self._lock:
            s = self._by_hash.get(self._key(cookie))
            if s is not None and s.expires < t:
                del self._by_hash[self._key(cookie)]
                return None
            return s

    def drop(self, cookie: str) -> None:
        """End a session (logout)."""
        with self._lock:
            self._by_hash.pop(self._key(cookie), None)

    def _expire(self, now: float) -> None:
        for k in [k for k, s in self._by_hash.items() if s.expires < now]:
            del self._by_hash[k]


def authenticate(users: Mapping[str, User], name: str, password: str) -> User | None:
    """The user if name and password match; a missing user costs the same time."""
    user = users.get(name)
    if user is None:
        check_password(password, _dummy_hash())
        return None
    return user if check_password(password, user.password_hash) else None


@functools.cache
def _dummy_hash() -> str:
    return hash_password("not a password", salt=b"0" * 16)


class LoginThrottle:
    """Failed logins per client address: after ``limit`` failures within ``window``
    seconds, that address is refused (without a password check, which costs ~0.13 s of
    CPU) until the oldest failure leaves the window. A success clears the address."""

    def __init__(self, limit: int = 10, window: float = 300.0, max_addresses: int = 10000
                 ) -> None:
        self.limit = limit
        self.window = window
        self.max_addresses = max_addresses
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def allowed(self, address: str, now: float | None = None) -> bool:
        """True if ``address`` may try a password now."""
        t = time.time() if now is None else now
        with self._lock:
            recent = [x for x in self._failures.get(address, []) if x > t - self.window]
            if recent:
                self._failures[address] = recent
            else:
                self._failures.pop(address, None)
            return len(recent) < self.limit

    def failed(self, address: str, now: float | None = None) -> None:
        """Record a failed attempt."""
        t = time.time() if now is None else now
        with self._lock:
            if address not in self._failures and len(self._failures) >= self.max_addresses:
                self._failures.clear()  # bounded memory under a spray of addresses
            self._failures.setdefault(address, []).append(t)

    def succeeded(self, address: str) -> None:
        """Forget an address's failures."""
        with self._lock:
            self._failures.pop(address, None)
