"""Fixtures for entry generation: a throw-away PKI and a real local HTTPS server."""

from __future__ import annotations

import datetime
import http.server
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from entrygen_support import TOKEN


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write(path: Path, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> None:
    path.write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()))


@dataclass
class Pki:
    """A CA, a server certificate for localhost/127.0.0.1 and a client certificate."""

    ca: Path
    server: Path
    client: Path
    other_ca: Path


def _make_pki(d: Path) -> Pki:
    now = datetime.datetime.now(datetime.UTC)

    def issue(subject: str, issuer_key: ec.EllipticCurvePrivateKey | None,
              issuer: x509.Name | None, *, ca: bool = False, server: bool = False
              ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (x509.CertificateBuilder().subject_name(_name(subject))
                   .issuer_name(issuer or _name(subject)).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None),
                                  critical=True)
                   # Python 3.13 verifies strictly (VERIFY_X509_STRICT): key identifiers needed
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                                  critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                       (issuer_key or key).public_key()), critical=False))
        if ca:
            builder = builder.add_extension(x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True,
                content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        if server:
            import ipaddress
            builder = builder.add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
        cert = builder.sign(issuer_key or key, hashes.SHA256())
        return key, cert

    ca_key, ca_cert = issue("gwms test CA", None, None, ca=True)
    _write(d / "ca.pem", ca_key, ca_cert)
    (d / "ca.crt").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    s_key, s_cert = issue("localhost", ca_key, ca_cert.subject, server=True)
    _write(d / "server.pem", s_key, s_cert)
    c_key, c_cert = issue("gwms factory", ca_key, ca_cert.subject)
    _write(d / "client.pem", c_key, c_cert)
    _o_key, o_cert = issue("another CA", None, None, ca=True)
    (d / "other-ca.crt").write_bytes(o_cert.public_bytes(serialization.Encoding.PEM))
    return Pki(d / "ca.crt", d / "server.pem", d / "client.pem", d / "other-ca.crt")


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return _make_pki(tmp_path_factory.mktemp("pki"))


@dataclass
class Served:
    """What the server serves, and what it saw."""

    body: bytes = b"{}"
    token: str | None = TOKEN
    requests: list[dict[str, str]] = field(default_factory=list)


def _handler(served: Served) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            served.requests.append({"path": self.path,
                                    "auth": self.headers.get("Authorization", "")})
            if served.token is not None and \
                    self.headers.get("Authorization") != f"Bearer {served.token}":
                self.send_response(401, "Unauthorized")
                self.send_header("WWW-Authenticate", "Bearer")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(served.body)))
            self.end_headers()
            self.wfile.write(served.body)

        def log_message(self, format: str, *args: object) -> None:
            return

    return Handler


@pytest.fixture
def https_server(pki: Pki) -> Iterator[Callable[..., tuple[str, Served]]]:
    """Start real HTTPS servers: ``start(require_client_cert=False) -> (base_url, served)``."""
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(*, require_client_cert: bool = False,
              token: str | None = TOKEN) -> tuple[str, Served]:
        served = Served(token=token)
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(served))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(pki.server))
        if require_client_cert:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(str(pki.ca))
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"https://127.0.0.1:{server.server_address[1]}", served

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
