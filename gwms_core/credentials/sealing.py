"""Credentials in request ads are encrypted to the factory's public key.

The factory holds an RSA key pair (3072 bits by default) and advertises the public half
in its entry ads (``PubKeyType``, ``PubKeyID``, ``PubKeyValue``, the GlideinWMS names).
A frontend seals each secret request parameter on its own:

* a fresh AES-256 key and 96-bit nonce per value,
* ``ciphertext = AES-256-GCM(key, nonce, secret, aad)`` where ``aad`` binds the value to
  the sender's collector-authenticated identity and to the parameter's name, so a
  frontend cannot replay another frontend's sealed value under its own identity, nor move
  a value to another parameter,
* the AES key wrapped with RSA-OAEP (SHA-256, MGF1-SHA-256) to the factory's key,

and writes ``gwms1.<key id>.<base64url(wrapped key | nonce | ciphertext)>`` as the value
of ``GlideinEncParam<Name>``. :class:`FactoryKeyDecryptor` is the factory side (it
satisfies :class:`gwms_core.factory.intake.Decryptor`); it keeps old keys for rotation.

Every failure is a :class:`~gwms_core.types.CredentialError` naming the check
(``malformed``, ``key-id``, ``decrypt``), never a secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gwms_core.types import CredentialError

#: Version tag of the sealed format.
FORMAT = "gwms1"
#: ClassAd attributes of the factory's public key (GlideinWMS names).
ATTR_PUBKEY_TYPE = "PubKeyType"
ATTR_PUBKEY_ID = "PubKeyID"
ATTR_PUBKEY_VALUE = "PubKeyValue"
DEFAULT_KEY_BITS = 3072
_NONCE = 12
_OAEP = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()),
                     algorithm=hashes.SHA256(), label=None)


# --------------------------------------------------------------------------- keys


def generate_factory_key(bits: int = DEFAULT_KEY_BITS) -> bytes:
    """A new factory private key, PKCS#8 PEM, unencrypted (store it mode 0600)."""
    if bits < 2048:
        raise ValueError("an RSA factory key needs at least 2048 bits")
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _load_private(pem: bytes) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        raise CredentialError("malformed", "factory key is not an unencrypted PEM "
                                           "private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CredentialError("malformed", "factory key is not an RSA key")
    return key


def _load_public(pem: bytes) -> rsa.RSAPublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError):
        raise CredentialError("malformed", "factory public key is not a PEM public key") \
            from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise CredentialError("malformed", "factory public key is not an RSA key")
    return key


def public_key_pem(private_pem: bytes) -> bytes:
    """The public half (SubjectPublicKeyInfo PEM) of a factory private key."""
    return _load_private(private_pem).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def key_id(public_pem: bytes) -> str:
    """A short, stable id of a public key: the first 16 hex digits of SHA-256(DER)."""
    der = _load_public(public_pem).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()[:16]


def public_key_attrs(public_pem: bytes) -> dict[str, str]:
    """The factory ad attributes that publish ``public_pem``."""
    return {ATTR_PUBKEY_TYPE: "RSA", ATTR_PUBKEY_ID: key_id(public_pem),
            ATTR_PUBKEY_VALUE: public_pem.decode("ascii")}


def public_key_from_ad(ad: Mapping[str, object]) -> bytes:
    """The factory's public key from its ad; checks that ``PubKeyID`` matches it.

    :raises CredentialError: ``malformed`` (missing, not RSA), ``key-id`` (mismatch).
    """
    if str(ad.get(ATTR_PUBKEY_TYPE, "")) != "RSA" or not ad.get(ATTR_PUBKEY_VALUE):
        raise CredentialError("malformed", "factory ad has no RSA public key")
    pem = str(ad[ATTR_PUBKEY_VALUE]).replace("\\n", "\n").encode("ascii")
    if key_id(pem) != str(ad.get(ATTR_PUBKEY_ID, "")):
        raise CredentialError("key-id", "factory ad's PubKeyID does not match its key")
    return pem


# --------------------------------------------------------------------------- sealing


def _aad(sender_identity: str, name: str) -> bytes:
    return f"{FORMAT}\n{sender_identity}\n{name}".encode()


def seal(secret: bytes, public_pem: bytes, *, sender_identity: str, name: str) -> str:
    """Encrypt ``secret`` to the factory key, bound to ``sender_identity`` and ``name``.

    ``sender_identity`` is the identity the collector will authenticate the sender as
    (its ``AuthenticatedIdentity``); ``name`` the parameter (without the prefix).
    """
    if not sender_identity or not name:
        raise ValueError("seal needs the sender identity and the parameter name")
    public = _load_public(public_pem)
    data_key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(_NONCE)
    ciphertext = AESGCM(data_key).encrypt(nonce, secret, _aad(sender_identity, name))
    wrapped = public.encrypt(data_key, _OAEP)
    blob = base64.urlsafe_b64encode(wrapped + nonce + ciphertext).decode("ascii").rstrip("=")
    return f"{FORMAT}.{key_id(public_pem)}.{blob}"


@dataclass(frozen=True, slots=True)
class SealedValue:
    """A parsed sealed value (no secret in clear: ``repr`` shows the key id only)."""

    key_id: str
    wrapped_key: bytes = field(repr=False)
    nonce: bytes = field(repr=False)
    ciphertext: bytes = field(repr=False)


def parse_sealed(value: str, wrapped_len: int) -> SealedValue:
    """Split a sealed value; ``wrapped_len`` is the RSA modulus size in bytes."""
    parts = value.strip().split(".")
    if len(parts) != 3 or parts[0] != FORMAT:
        raise CredentialError("malformed", f"not a {FORMAT} sealed value")
    try:
        raw = base64.urlsafe_b64decode(parts[2] + "=" * (-len(parts[2]) % 4))
    except (ValueError, binascii.Error):
        raise CredentialError("malformed", "sealed value is not base64url") from None
    if len(raw) < wrapped_len + _NONCE + 16:
        raise CredentialError("malformed", "sealed value is too short")
    return SealedValue(parts[1], raw[:wrapped_len], raw[wrapped_len:wrapped_len + _NONCE],
                       raw[wrapped_len + _NONCE:])


def unseal(value: str, private_pem: bytes, *, sender_identity: str, name: str) -> bytes:
    """Decrypt a value made by :func:`seal` with the factory's private key.

    :raises CredentialError: ``malformed``, ``key-id`` (sealed to another key), or
        ``decrypt`` (wrong key, tampered, or a different sender identity or name).
    """
    return FactoryKeyDecryptor([private_pem]).unseal(value, sender_identity=sender_identity,
                                                     name=name)


class FactoryKeyDecryptor:
    """The factory's key holder: unseals request parameters (newest key first).

    Satisfies :class:`gwms_core.factory.intake.Decryptor`. ``repr`` shows key ids only.
    """

    def __init__(self, private_pems: Iterable[bytes]) -> None:
        self._keys: dict[str, rsa.RSAPrivateKey] = {}
        for pem in private_pems:
            key = _load_private(pem)
            public = key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            self._keys[key_id(public)] = key
        if not self._keys:
            raise ValueError("a decryptor needs at least one key")

    @classmethod
    def from_files(cls, paths: Iterable[str | os.PathLike[str]]) -> FactoryKeyDecryptor:
        """Load keys from files; errors name the file, never its content."""
        pems = []
        for p in paths:
            try:
                pems.append(Path(p).read_bytes())
            except OSError as exc:
                raise CredentialError("key-id", f"cannot read factory key {p}: "
                                                f"{exc.strerror}") from None
        return cls(pems)

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Ids of the keys held, in the order given."""
        return tuple(self._keys)

    def __repr__(self) -> str:
        return f"FactoryKeyDecryptor(key_ids={list(self._keys)})"

    def unseal(self, value: str, *, sender_identity: str, name: str) -> bytes:
        """Decrypt one sealed value (see :func:`unseal`)."""
        parts = value.strip().split(".")
        kid = parts[1] if len(parts) == 3 else ""
        key = self._keys.get(kid)
        if key is None:
            if len(parts) != 3 or parts[0] != FORMAT:
                raise CredentialError("malformed", f"not a {FORMAT} sealed value")
            raise CredentialError("key-id", f"sealed to key {kid!r}, which this factory "
                                            "does not hold")
        sealed = parse_sealed(value, key.key_size // 8)
        try:
            data_key = key.decrypt(sealed.wrapped_key, _OAEP)
            return AESGCM(data_key).decrypt(sealed.nonce, sealed.ciphertext,
                                            _aad(sender_identity, name))
        except (ValueError, InvalidTag):
            raise CredentialError("decrypt", f"parameter {name} does not decrypt for "
                                             f"sender {sender_identity}") from None

    def decrypt(self, identity: str, encrypted: Mapping[str, str]) -> Mapping[str, str]:
        """Unseal every parameter of a request from ``identity`` (its
        ``AuthenticatedIdentity``); the values must be UTF-8 text."""
        clear: dict[str, str] = {}
        for name, value in encrypted.items():
            raw = self.unseal(value, sender_identity=identity, name=name)
            try:
                clear[name] = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise CredentialError("malformed", f"parameter {name} is not text") from None
        return clear


def seal_params(secrets: Mapping[str, bytes], public_pem: bytes,
                sender_identity: str) -> dict[str, str]:
    """Seal several parameters: ``{name: secret}`` to ``{name: sealed value}``."""
    return {name: seal(value, public_pem, sender_identity=sender_identity, name=name)
            for name, value in secrets.items()}


__all__ = [
    "ATTR_PUBKEY_ID",
    "ATTR_PUBKEY_TYPE",
    "ATTR_PUBKEY_VALUE",
    "FORMAT",
    "FactoryKeyDecryptor",
    "SealedValue",
    "generate_factory_key",
    "key_id",
    "parse_sealed",
    "public_key_attrs",
    "public_key_from_ad",
    "public_key_pem",
    "seal",
    "seal_params",
    "unseal",
]
