"""Auth method ``scitokens``: SciTokens (JWT, ES256/RS256) for submission to CEs.

The frontend (or factory) host holds an issuer's private key; its public keys are
published as a JWKS over HTTPS at the issuer URL (``<issuer>/.well-known/openid-
configuration`` names ``jwks_uri``), which is where HTCondor-CE and the ``scitokens``
library fetch them. :func:`issuer_documents` builds both JSON documents for any HTTPS
server to serve (the glidein staging web area does).

Tokens carry ``ver: scitoken:2.0``, ``aud``, ``sub``, ``jti`` and the ``compute.*``
scopes of the WLCG/SciTokens profile (``compute.create compute.read compute.modify
compute.cancel``); :meth:`SciTokens.issue` signs them with the ``scitokens`` library.
:meth:`SciTokens.check` runs our named checks and then the library's own validation
(key fetched from the issuer over HTTPS, ``scitokens.Enforcer``). A token whose issuer is
not the configured one is refused before anything is fetched from its URL.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt as pyjwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from gwms_core import hookimpl
from gwms_core.types import AuthMethod, Credential, CredentialError
from gwms_plugins.auth import _jwt

#: What a factory needs at a CE: submit, query, update and remove its pilots.
COMPUTE_SCOPES: tuple[str, ...] = ("compute.create", "compute.read", "compute.modify",
                                   "compute.cancel")
ALGORITHMS: tuple[str, ...] = ("ES256", "RS256")
SCITOKEN_VERSION = "scitoken:2.0"
DEFAULT_LIFETIME_S = 3600

SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "SciTokens from an issuer key pair, for submission to CEs.",
    "additionalProperties": False,
    "required": ["issuer"],
    "properties": {
        "issuer": {"type": "string", "pattern": "^https://",
                   "description": "Issuer URL; its JWKS is served under it over HTTPS."},
        "private_key": {"type": "string", "description": "PEM private key file (EC P-256 "
                                                         "or RSA) of the issuer."},
        "key_id": {"type": "string", "default": "gwms-1",
                   "description": "kid of the signing key in the JWKS."},
        "audience": {"type": "string", "description": "aud claim: the CE, e.g. "
                                                      "https://ce.example.org:9619, or ANY."},
        "lifetime_s": {"type": "integer", "minimum": 60, "default": DEFAULT_LIFETIME_S},
        "subject": {"type": "string", "minLength": 1,
                    "description": "sub claim of the tokens the frontend sends for "
                                   "submission (the CE maps issuer and subject to a local "
                                   "account); default: glidein."},
        "scopes": {"type": "array", "items": {"type": "string"}, "minItems": 1,
                   "uniqueItems": True, "default": list(COMPUTE_SCOPES)},
    },
}


# --------------------------------------------------------------------------- issuer keys


def generate_issuer_key(kind: str = "ec") -> bytes:
    """A new issuer private key as unencrypted PKCS#8 PEM (``ec`` = P-256, or ``rsa``)."""
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    if kind == "ec":
        key = ec.generate_private_key(ec.SECP256R1())
    elif kind == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    else:
        raise ValueError(f"unknown key kind {kind!r}: use 'ec' or 'rsa'")
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@dataclass(frozen=True, slots=True)
class IssuerKey:
    """An issuer's signing key. ``repr`` shows the kid and algorithm only."""

    key_id: str
    algorithm: str
    private_key: Any = field(repr=False)

    @classmethod
    def from_pem(cls, pem: bytes, key_id: str) -> IssuerKey:
        """Load a PEM private key; the algorithm follows from the key type."""
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError):
            raise CredentialError("key-id", f"issuer key {key_id} is not a PEM private "
                                            "key") from None
        if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1":
            return cls(key_id, "ES256", key)
        if isinstance(key, rsa.RSAPrivateKey) and key.key_size >= 2048:
            return cls(key_id, "RS256", key)
        raise CredentialError("algorithm", f"issuer key {key_id} must be EC P-256 or RSA "
                                           ">= 2048 bits")

    def public_jwk(self) -> dict[str, str]:
        """The public half as a JWK (RFC 7517) with ``kid``, ``alg`` and ``use``."""
        jwk = json.loads(pyjwt.algorithms.get_default_algorithms()[self.algorithm]
                         .to_jwk(self.private_key.public_key()))
        jwk.update({"kid": self.key_id, "alg": self.algorithm, "use": "sig"})
        return {k: str(v) for k, v in jwk.items()}


def load_issuer_key(path: str | Path, key_id: str) -> IssuerKey:
    """Read an issuer key file; errors name the file, never its content."""
    try:
        pem = Path(path).read_bytes()
    except OSError as exc:
        raise CredentialError("key-id", f"cannot read issuer key {path}: "
                                        f"{exc.strerror}") from None
    return IssuerKey.from_pem(pem, key_id)


def issuer_documents(issuer: str, keys: Sequence[IssuerKey],
                     jwks_path: str = "jwks.json") -> dict[str, dict[str, Any]]:
    """``{relative path: JSON document}`` to publish under the issuer URL over HTTPS."""
    base = issuer.rstrip("/")
    return {
        ".well-known/openid-configuration": {"issuer": base,
                                             "jwks_uri": f"{base}/{jwks_path}"},
        jwks_path: {"keys": [k.public_jwk() for k in keys]},
    }


def write_issuer_documents(directory: str | Path, issuer: str,
                           keys: Sequence[IssuerKey]) -> list[Path]:
    """Write :func:`issuer_documents` below ``directory`` (the issuer URL's web root)."""
    written = []
    for rel, doc in issuer_documents(issuer, keys).items():
        path = Path(directory) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc, indent=1) + "\n")
        written.append(path)
    return written


# --------------------------------------------------------------------------- minting


def mint(key: IssuerKey, *, issuer: str, subject: str, audience: str | Sequence[str],
         scopes: Sequence[str], now: float, lifetime_s: int, jti: str) -> str:
    """Mint a SciToken (pure: clock and unique id are arguments). Uses PyJWT."""
    if not scopes:
        raise CredentialError("scope", "refusing to mint a token without scopes")
    iat = int(now)
    claims: dict[str, Any] = {
        "ver": SCITOKEN_VERSION, "iss": issuer.rstrip("/"), "sub": subject,
        "aud": audience if isinstance(audience, str) else list(audience),
        "iat": iat, "nbf": iat, "exp": iat + int(lifetime_s), "jti": jti,
        "scope": " ".join(scopes),
    }
    return pyjwt.encode(claims, key.private_key, algorithm=key.algorithm,
                        headers={"kid": key.key_id, "typ": "JWT"})


def issue_with_library(key: IssuerKey, *, issuer: str, subject: str, audience: str,
                       scopes: Sequence[str], lifetime_s: int) -> str:
    """Mint with the ``scitokens`` library (its clock, its claims handling)."""
    import scitokens  # imported here: it reads its configuration on import

    token = scitokens.SciToken(key=key.private_key, key_id=key.key_id,
                               algorithm=key.algorithm)
    token.update_claims({"ver": SCITOKEN_VERSION, "sub": subject, "aud": audience,
                         "scope": " ".join(scopes)})
    raw = token.serialize(issuer=issuer.rstrip("/"), lifetime=int(lifetime_s))
    return raw.decode("ascii") if isinstance(raw, bytes) else str(raw)


# --------------------------------------------------------------------------- checking


@dataclass(frozen=True, slots=True)
class SciTokenClaims:
    """The claims of a token that passed every check."""

    issuer: str
    subject: str
    audiences: tuple[str, ...]
    expires_at: float | None
    scopes: tuple[str, ...]


def precheck(token: str, *, issuer: str, audience: str | None, scopes: Iterable[str],
             now: float, leeway: float = _jwt.DEFAULT_LEEWAY_S) -> _jwt.ParsedJwt:
    """Every check that needs no key (pure): malformed, unsigned, algorithm, key-id,
    issuer, expired, not-yet-valid, audience, scope."""
    parsed = _jwt.parse(token)
    _jwt.check_signed(parsed, ALGORITHMS)
    if not isinstance(parsed.header.get("kid"), str) or not parsed.header["kid"]:
        raise CredentialError("key-id", "token header has no kid")
    _jwt.check_issuer(parsed.claims, issuer.rstrip("/"))
    _jwt.check_times(parsed.claims, now, leeway)
    _jwt.check_audience(parsed.claims, audience, wildcards=("ANY",))
    wanted = tuple(scopes)
    _jwt.check_scope(parsed.claims, wanted, wanted)
    return parsed


_PYJWT_CHECKS: tuple[tuple[type[Exception], str], ...] = (
    (pyjwt.ExpiredSignatureError, "expired"),
    (pyjwt.ImmatureSignatureError, "not-yet-valid"),
    (pyjwt.InvalidAudienceError, "audience"),
    (pyjwt.InvalidIssuerError, "issuer"),
    (pyjwt.InvalidAlgorithmError, "algorithm"),
    (pyjwt.DecodeError, "signature"),
)


def verify_with_library(token: str, *, issuer: str, audience: str | None,
                        scopes: Iterable[str]) -> SciTokenClaims:
    """Verify with the ``scitokens`` library: fetch the issuer's key over HTTPS, check
    the signature, then ``Enforcer(issuer, audience).test`` for every scope.

    Call :func:`precheck` first: the library fetches keys from whatever ``iss`` says.
    """
    import scitokens
    from scitokens.utils.errors import SciTokensException

    try:
        tok = scitokens.SciToken.deserialize(token, insecure=False)
    except Exception as exc:  # the library raises many types; map, never echo the token
        check = next((c for t, c in _PYJWT_CHECKS if isinstance(exc, t)), None)
        if check is None:
            check = "key-id" if isinstance(exc, SciTokensException | OSError) else "signature"
        raise CredentialError(check, f"scitokens library: {type(exc).__name__}") from None
    enforcer = scitokens.Enforcer(issuer.rstrip("/"), audience=audience or "ANY")
    for scope in scopes:
        if not enforcer.test(tok, scope):
            raise CredentialError("scope", f"scitokens Enforcer refused {scope}: "
                                           f"{enforcer.last_failure or 'no reason given'}")
    claims = dict(tok.claims())
    return SciTokenClaims(issuer=str(claims.get("iss", "")), subject=str(claims.get("sub", "")),
                          audiences=_jwt.audiences(claims),
                          expires_at=float(claims["exp"]) if "exp" in claims else None,
                          scopes=_jwt.scopes(claims))


# --------------------------------------------------------------------------- handler


def _option(options: Mapping[str, Any], name: str) -> Any:
    if name in options:
        return options[name]
    return SCHEMA["properties"][name].get("default")


class SciTokens:
    """Mints SciTokens for CE submission and checks them."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        """``clock`` returns the current time in epoch seconds (injected in tests)."""
        self._clock = clock

    def issue(self, subject: str, options: Mapping[str, Any]) -> Credential:
        """Sign a token for ``subject`` with the issuer key (via the scitokens library)."""
        if not options.get("private_key"):
            raise CredentialError("key-id", "scitokens: private_key is not configured")
        if not options.get("audience"):
            raise CredentialError("audience", "scitokens: audience is not configured")
        key = load_issuer_key(options["private_key"], _option(options, "key_id"))
        scopes = tuple(_option(options, "scopes"))
        lifetime = int(_option(options, "lifetime_s"))
        token = issue_with_library(key, issuer=options["issuer"], subject=subject,
                                   audience=options["audience"], scopes=scopes,
                                   lifetime_s=lifetime)
        exp = _jwt.claim_times(_jwt.parse(token).claims)[1]
        return Credential(method="scitokens", secret=token.encode("ascii"), subject=subject,
                          expires=exp, scopes=scopes)

    def check(self, credential: Credential, options: Mapping[str, Any]) -> None:
        """Refuse ``credential`` with a :class:`CredentialError` naming the failed check."""
        token = credential.secret.decode("ascii", "replace")
        scopes = tuple(_option(options, "scopes"))
        precheck(token, issuer=options["issuer"], audience=options.get("audience"),
                 scopes=scopes, now=float(self._clock()))
        verify_with_library(token, issuer=options["issuer"],
                            audience=options.get("audience"), scopes=scopes)


@hookimpl
def gwms_auth_methods() -> Iterable[AuthMethod]:
    """Register ``scitokens``."""
    yield AuthMethod(name="scitokens", schema=SCHEMA, handler=SciTokens(),
                     description="SciTokens for submission to CEs")
