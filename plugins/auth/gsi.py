"""Auth method ``gsi``: X.509 proxies delivered to sites that still need them.

HTCondor 23 no longer authenticates daemons with GSI, so this plugin is **credential
delivery only**: a proxy travels with a glidein request (encrypted to the factory's key)
and the factory hands it to a site's CE or batch system that still asks for one. It never
configures HTCondor daemon security.

What it does, with ``cryptography`` only:

* read a proxy file (proxy certificate, its private key, then the issuing chain) and
  report the holder's identity (the end-entity certificate's subject, RFC 4514 string
  with commas escaped, plus the Globus ``/DC=…/CN=…`` form sites print), the proxy's
  total lifetime and the time left (the earliest ``notAfter`` in the chain);
* refuse expired, not-yet-valid and soon-expiring proxies, and chains that do not link up;
* renew: make a new RFC 3820 impersonation proxy (ProxyCertInfo, ``id-ppl-inheritAll``)
  from the certificate and key on the frontend host, no longer-lived than the certificate.
"""

from __future__ import annotations

import datetime as dt
import itertools
import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID, ObjectIdentifier

from gwms_core import hookimpl
from gwms_core.fileio import write_private  # proxies must not be readable by others
from gwms_core.types import AuthMethod, Credential, CredentialError

#: RFC 3820 ProxyCertInfo extension and the "inherit all" policy language.
OID_PROXY_CERT_INFO = ObjectIdentifier("1.3.6.1.5.5.7.1.14")
OID_PPL_INHERIT_ALL = ObjectIdentifier("1.3.6.1.5.5.7.21.1")
#: Check names a refusal can carry.
CHECKS: tuple[str, ...] = ("malformed", "chain", "not-yet-valid", "expired", "expiring")
DEFAULT_MIN_REMAINING_S = 86400
DEFAULT_RENEW_LIFETIME_S = 7 * 86400

SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "X.509 proxies for sites that still need them (credential delivery only; "
                   "HTCondor 23 dropped GSI for daemon authentication).",
    "additionalProperties": False,
    "properties": {
        "proxy": {"type": "string", "description": "Proxy file (written on renewal)."},
        "cert": {"type": "string", "description": "Certificate used to renew the proxy."},
        "key": {"type": "string", "description": "Key used to renew the proxy."},
        "min_remaining_s": {"type": "integer", "minimum": 0,
                            "default": DEFAULT_MIN_REMAINING_S,
                            "description": "Refuse, and renew, a proxy with less left."},
        "renew_lifetime_s": {"type": "integer", "minimum": 3600,
                             "default": DEFAULT_RENEW_LIFETIME_S},
    },
}


# --------------------------------------------------------------------------- names


def rfc4514(name: x509.Name) -> str:
    """RFC 4514 string (most specific RDN first; ``,`` ``+`` ``"`` ``\\`` ``<`` ``>`` ``;``
    escaped), e.g. ``CN=Jane Doe,O=Acme\\, Inc.,DC=example,DC=org``."""
    return name.rfc4514_string()


def globus_dn(name: x509.Name) -> str:
    """The OpenSSL/Globus one-line form sites print: ``/DC=org/DC=example/O=Acme, Inc./CN=…``
    (least specific first, nothing escaped; ambiguous when a value contains ``/``)."""
    parts = []
    for rdn in name.rdns:
        parts.append("+".join(f"{_short(a.oid)}={a.value!s}" for a in rdn))
    return "".join(f"/{p}" for p in parts)


_SHORT = {NameOID.COMMON_NAME: "CN", NameOID.ORGANIZATION_NAME: "O",
          NameOID.ORGANIZATIONAL_UNIT_NAME: "OU", NameOID.COUNTRY_NAME: "C",
          NameOID.LOCALITY_NAME: "L", NameOID.STATE_OR_PROVINCE_NAME: "ST",
          NameOID.DOMAIN_COMPONENT: "DC", NameOID.USER_ID: "UID",
          NameOID.EMAIL_ADDRESS: "emailAddress"}


def _short(oid: ObjectIdentifier) -> str:
    return _SHORT.get(oid, oid.dotted_string)


def parse_rfc4514(dn: str) -> tuple[tuple[str, str], ...]:
    """Split an RFC 4514 string into ``(type, value)`` pairs, honouring escapes, so that
    ``O=Acme\\, Inc.`` stays one attribute. Multi-valued RDNs (``+``) are flattened."""
    pairs: list[tuple[str, str]] = []
    buf: list[str] = []
    attr: str | None = None
    i = 0
    while i <= len(dn):
        c = dn[i] if i < len(dn) else ","
        if c == "\\" and i + 1 < len(dn):
            nxt = dn[i + 1]
            if nxt in "0123456789abcdefABCDEF" and i + 2 < len(dn) and \
                    dn[i + 2] in "0123456789abcdefABCDEF":
                buf.append(chr(int(dn[i + 1:i + 3], 16)))
                i += 3
                continue
            buf.append(nxt)
            i += 2
            continue
        if c == "=" and attr is None:
            attr, buf = "".join(buf).strip(), []
        elif c in ",+":
            if attr is None:
                if "".join(buf).strip() or i < len(dn):
                    raise ValueError("attribute without '='")
            else:
                pairs.append((attr, "".join(buf)))
            attr, buf = None, []
        else:
            buf.append(c)
        i += 1
    return tuple(pairs)


# --------------------------------------------------------------------------- reading


def _is_proxy(cert: x509.Certificate) -> bool:
    try:
        cert.extensions.get_extension_for_oid(OID_PROXY_CERT_INFO)
        return True
    except x509.ExtensionNotFound:
        return False


def _utc(t: dt.datetime) -> float:
    return t.replace(tzinfo=dt.UTC).timestamp() if t.tzinfo is None else t.timestamp()


@dataclass(frozen=True, slots=True)
class ProxyInfo:
    """What may be shown about a proxy (no key material)."""

    identity: str            # RFC 4514, end-entity certificate subject
    identity_globus: str     # /DC=…/CN=… form of the same
    subject: str             # RFC 4514, the proxy's own subject
    not_before: float        # latest notBefore in the chain (epoch seconds)
    not_after: float         # earliest notAfter in the chain
    is_rfc3820: bool
    chain_length: int

    @property
    def lifetime_s(self) -> float:
        """Total validity of the proxy as issued."""
        return self.not_after - self.not_before

    def remaining_s(self, now: float) -> float:
        """Seconds of validity left at ``now`` (negative once expired)."""
        return self.not_after - now


@dataclass(frozen=True, slots=True)
class Proxy:
    """A parsed proxy file. ``repr`` shows the :class:`ProxyInfo` only."""

    info: ProxyInfo
    certificates: tuple[x509.Certificate, ...] = field(repr=False)
    private_key: Any = field(repr=False)


def read_proxy(pem: bytes) -> Proxy:
    """Parse a proxy file's bytes and check that its chain links up.

    :raises CredentialError: ``malformed`` (no certificate, no or unmatched key) or
        ``chain`` (a proxy not signed by the next certificate, or with a subject that is
        not its issuer's plus one ``CN``).
    """
    try:
        certs = tuple(x509.load_pem_x509_certificates(pem))
    except ValueError:
        raise CredentialError("malformed", "no PEM certificate in the proxy") from None
    key = _load_key(pem)
    if key is None:
        raise CredentialError("malformed", "no private key in the proxy")
    if _public_der(key.public_key()) != _public_der(certs[0].public_key()):
        raise CredentialError("malformed", "the private key does not match the certificate")
    eec_index = next((i for i, c in enumerate(certs) if not _is_proxy(c)), None)
    if eec_index is None:
        raise CredentialError("chain", "the chain has no end-entity certificate")
    for child, parent in itertools.pairwise(certs[:eec_index + 1]):
        _check_link(child, parent)
    eec = certs[eec_index]
    chain = certs[:eec_index + 1]
    info = ProxyInfo(
        identity=rfc4514(eec.subject), identity_globus=globus_dn(eec.subject),
        subject=rfc4514(certs[0].subject),
        not_before=max(_utc(c.not_valid_before_utc) for c in chain),
        not_after=min(_utc(c.not_valid_after_utc) for c in chain),
        is_rfc3820=_is_proxy(certs[0]), chain_length=len(certs))
    return Proxy(info=info, certificates=certs, private_key=key)


def _load_key(pem: bytes) -> Any:
    for block in _pem_blocks(pem):
        if b"PRIVATE KEY" in block.split(b"\n", 1)[0]:
            try:
                return serialization.load_pem_private_key(block, password=None)
            except (ValueError, TypeError):
                raise CredentialError("malformed", "the private key cannot be read "
                                                   "(encrypted or damaged)") from None
    return None


def _pem_blocks(pem: bytes) -> list[bytes]:
    blocks, current = [], None
    for line in pem.splitlines(keepends=True):
        if line.startswith(b"-----BEGIN "):
            current = [line]
        elif current is not None:
            current.append(line)
            if line.startswith(b"-----END "):
                blocks.append(b"".join(current))
                current = None
    return blocks


def _public_der(key: Any) -> bytes:
    return bytes(key.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo))


def _check_link(child: x509.Certificate, parent: x509.Certificate) -> None:
    if child.issuer != parent.subject:
        raise CredentialError("chain", f"proxy issuer {rfc4514(child.issuer)} is not "
                                       f"{rfc4514(parent.subject)}")
    try:
        child.verify_directly_issued_by(parent)
    except (ValueError, TypeError, InvalidSignature):
        raise CredentialError("chain", "a proxy is not signed by the certificate it "
                                       "names as issuer") from None
    prefix, last = list(child.subject.rdns[:-1]), child.subject.rdns[-1]
    if prefix != list(parent.subject.rdns) or \
            [a.oid for a in last] != [NameOID.COMMON_NAME]:
        raise CredentialError("chain", "proxy subject is not its issuer's subject plus "
                                       "one CN")


# --------------------------------------------------------------------------- checking


def check_lifetime(info: ProxyInfo, now: float, min_remaining_s: float) -> None:
    """Refuse a proxy that is not yet valid, expired, or expiring within the margin."""
    if now < info.not_before:
        raise CredentialError("not-yet-valid", f"proxy valid from {int(info.not_before)}, "
                                               f"{int(info.not_before - now)} s from now")
    left = info.remaining_s(now)
    if left <= 0:
        raise CredentialError("expired", f"proxy of {info.identity} expired "
                                         f"{int(-left)} s ago")
    if left < min_remaining_s:
        raise CredentialError("expiring", f"proxy of {info.identity} has {int(left)} s "
                                          f"left, less than {int(min_remaining_s)} s")


def renewal_due(info: ProxyInfo | None, now: float, min_remaining_s: float) -> bool:
    """Renew when there is no proxy, or when less than ``min_remaining_s`` is left (pure)."""
    return info is None or info.remaining_s(now) < min_remaining_s


# --------------------------------------------------------------------------- renewal


def _proxy_cert_info_der() -> bytes:
    # ProxyCertInfo ::= SEQUENCE { proxyPolicy SEQUENCE { policyLanguage OID } }
    oid = bytes.fromhex("2b06010505071501")  # 1.3.6.1.5.5.7.21.1
    policy = b"\x30" + bytes([len(oid) + 2]) + b"\x06" + bytes([len(oid)]) + oid
    return b"\x30" + bytes([len(policy)]) + policy


def make_proxy(cert_pem: bytes, key_pem: bytes, *, lifetime_s: int, now: float,
               key_bits: int = 2048) -> bytes:
    """A new RFC 3820 impersonation proxy signed by ``cert``/``key``, as a proxy file:
    proxy certificate, proxy private key (PKCS#1), then the signer's certificate chain.

    Its ``notAfter`` is clipped to the signer's; its subject is the signer's plus
    ``CN=<serial number>``.
    """
    try:
        chain = x509.load_pem_x509_certificates(cert_pem)
        signer_key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        raise CredentialError("malformed", "cannot read the certificate or its key "
                                           "(an encrypted key needs a passphrase)") from None
    signer = chain[0]
    if not isinstance(signer_key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise CredentialError("malformed", "the signing key must be RSA or EC")
    if _public_der(signer_key.public_key()) != _public_der(signer.public_key()):
        raise CredentialError("malformed", "the key does not match the certificate")
    start = dt.datetime.fromtimestamp(int(now) - 300, dt.UTC)
    end = min(dt.datetime.fromtimestamp(int(now) + lifetime_s, dt.UTC),
              signer.not_valid_after_utc)
    if end <= dt.datetime.fromtimestamp(now, dt.UTC):
        raise CredentialError("expired", "the certificate used for renewal has expired")
    proxy_key = rsa.generate_private_key(public_exponent=65537, key_size=key_bits)
    serial = secrets.randbits(62) | (1 << 61)
    subject = x509.Name([*signer.subject.rdns,
                         x509.RelativeDistinguishedName(
                             [x509.NameAttribute(NameOID.COMMON_NAME, str(serial))])])
    builder = (x509.CertificateBuilder()
               .subject_name(subject).issuer_name(signer.subject)
               .public_key(proxy_key.public_key()).serial_number(serial)
               .not_valid_before(start).not_valid_after(end)
               .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=True,
                                            content_commitment=False, data_encipherment=False,
                                            key_agreement=False, key_cert_sign=False,
                                            crl_sign=False, encipher_only=False,
                                            decipher_only=False), critical=True)
               .add_extension(x509.UnrecognizedExtension(OID_PROXY_CERT_INFO,
                                                         _proxy_cert_info_der()),
                              critical=True))
    cert = builder.sign(signer_key, hashes.SHA256())
    parts = [cert.public_bytes(serialization.Encoding.PEM),
             proxy_key.private_bytes(serialization.Encoding.PEM,
                                     serialization.PrivateFormat.TraditionalOpenSSL,
                                     serialization.NoEncryption())]
    parts += [c.public_bytes(serialization.Encoding.PEM) for c in chain]
    return b"".join(parts)


# --------------------------------------------------------------------------- handler


def _option(options: Mapping[str, Any], name: str) -> Any:
    return options[name] if name in options else SCHEMA["properties"][name].get("default")


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise CredentialError("malformed", f"cannot read {what} {path}: "
                                           f"{exc.strerror}") from None


class Gsi:
    """Reads, checks and renews X.509 proxies for delivery to sites."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        """``clock`` returns the current time in epoch seconds (injected in tests)."""
        self._clock = clock

    def info(self, options: Mapping[str, Any]) -> ProxyInfo:
        """Read the configured proxy and describe it."""
        return read_proxy(_read(options["proxy"], "proxy")).info

    def issue(self, subject: str, options: Mapping[str, Any]) -> Credential:
        """Return the configured proxy, renewing it first from ``cert``/``key`` when
        it is missing or has less than ``min_remaining_s`` left. ``subject`` is unused:
        a proxy's identity is its certificate's."""
        now = float(self._clock())
        margin = float(_option(options, "min_remaining_s"))
        path = options.get("proxy")
        if not path:
            raise CredentialError("malformed", "gsi: proxy is not configured")
        current: Proxy | None = None
        if Path(path).exists():
            current = read_proxy(_read(path, "proxy"))
        if renewal_due(current.info if current else None, now, margin):
            if not (options.get("cert") and options.get("key")):
                if current is None:
                    raise CredentialError("malformed", f"no proxy at {path} and no cert/key "
                                                       "to make one")
                check_lifetime(current.info, now, margin)
            else:
                write_private(path, make_proxy(_read(options["cert"], "certificate"),
                                               _read(options["key"], "key"),
                                               lifetime_s=int(_option(options,
                                                                      "renew_lifetime_s")),
                                               now=now))
        pem = _read(path, "proxy")
        proxy = read_proxy(pem)
        check_lifetime(proxy.info, now, margin)
        return Credential(method="gsi", secret=pem, subject=proxy.info.identity,
                          expires=proxy.info.not_after)

    def check(self, credential: Credential, options: Mapping[str, Any]) -> None:
        """Refuse a proxy that is malformed, badly chained, not yet valid, expired or
        expiring within ``min_remaining_s``."""
        proxy = read_proxy(credential.secret)
        check_lifetime(proxy.info, float(self._clock()),
                       float(_option(options, "min_remaining_s")))


def describe(infos: Sequence[ProxyInfo], now: float) -> Iterable[str]:
    """One line per proxy for logs: identity, lifetime, time left (never key material)."""
    for i in infos:
        yield (f"{i.identity} lifetime={int(i.lifetime_s)}s left={int(i.remaining_s(now))}s "
               f"rfc3820={i.is_rfc3820}")


@hookimpl
def gwms_auth_methods() -> Iterable[AuthMethod]:
    """Register ``gsi``."""
    yield AuthMethod(name="gsi", schema=SCHEMA, handler=Gsi(),
                     description="X.509 proxies delivered to sites (not daemon auth)")
