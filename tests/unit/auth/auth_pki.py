"""Test PKI made with ``cryptography``: a CA, TLS server certificates, user certificates,
and a real HTTPS server (``http.server`` + ``ssl``) on the loopback in a thread."""

from __future__ import annotations

import datetime as dt
import functools
import http.server
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

UTC = dt.UTC


@dataclass
class Issued:
    cert: x509.Certificate
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.TraditionalOpenSSL,
                                      serialization.NoEncryption())


def _name(*rdns: tuple[x509.ObjectIdentifier, str]) -> x509.Name:
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in rdns])


def make_ca(cn: str = "gwms test CA") -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name((NameOID.ORGANIZATION_NAME, "gwms tests"), (NameOID.COMMON_NAME, cn))
    now = dt.datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                         crl_sign=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    return Issued(cert, key)


def issue(ca: Issued, subject: x509.Name, *, server_names: tuple[str, ...] = (),
          rsa_bits: int = 0, not_before: dt.datetime | None = None,
          not_after: dt.datetime | None = None) -> Issued:
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    key = (rsa.generate_private_key(65537, rsa_bits) if rsa_bits
           else ec.generate_private_key(ec.SECP256R1()))
    now = dt.datetime.now(UTC)
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca.cert.subject)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(not_before or now - dt.timedelta(minutes=5))
         .not_valid_after(not_after or now + dt.timedelta(days=1))
         .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
             ca.key.public_key()), critical=False))
    if server_names:
        sans: list[x509.GeneralName] = []
        for n in server_names:
            try:
                sans.append(x509.IPAddress(IPv4Address(n)))
            except ValueError:
                sans.append(x509.DNSName(n))
        b = (b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
             .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                            critical=False))
    else:
        b = b.add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=True,
                                          content_commitment=False, data_encipherment=False,
                                          key_agreement=False, key_cert_sign=False,
                                          crl_sign=False, encipher_only=False,
                                          decipher_only=False), critical=True)
    return Issued(b.sign(ca.key, hashes.SHA256()), key)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    requests_seen: list[str]

    def log_message(self, format: str, *args: object) -> None:
        self.requests_seen.append(self.path)


@contextmanager
def https_server(root: Path, ca: Issued, workdir: Path) -> Iterator[tuple[str, list[str]]]:
    """Serve ``root`` over HTTPS on 127.0.0.1 with a certificate for ``localhost``.

    Yields ``(base URL, list of request paths seen)``.
    """
    server_cert = issue(ca, _name((NameOID.COMMON_NAME, "localhost")),
                        server_names=("localhost", "127.0.0.1"))
    cert_file, key_file = workdir / "server.pem", workdir / "server.key"
    cert_file.write_bytes(server_cert.cert_pem() + ca.cert_pem())
    key_file.write_bytes(server_cert.key_pem())
    seen: list[str] = []
    handler = functools.partial(type("H", (_QuietHandler,), {"requests_seen": seen}),
                                directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_file, key_file)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://localhost:{httpd.server_address[1]}", seen
    finally:
        httpd.shutdown()
        httpd.server_close()
