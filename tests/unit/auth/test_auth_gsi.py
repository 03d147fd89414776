"""GSI plugin: proxies made with ``cryptography``, read back, judged by real tools
(``openssl verify -allow_proxy_certs``, Globus ``grid-proxy-info``) where installed."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import time
from pathlib import Path

import auth_pki
import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from gwms_core.credentials.leaks import assert_no_secret
from gwms_core.manager import get_registry
from gwms_core.types import Credential, CredentialError, Family
from gwms_plugins.auth import gsi
from gwms_plugins.auth.gsi import Gsi

NAME = x509.Name([
    x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "org"),
    x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "example"),
    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Acme, Inc."),
    x509.NameAttribute(NameOID.COMMON_NAME, "Jane Doe 12345"),
])
RFC4514 = "CN=Jane Doe 12345,O=Acme\\, Inc.,DC=example,DC=org"
GLOBUS = "/DC=org/DC=example/O=Acme, Inc./CN=Jane Doe 12345"


@pytest.fixture(scope="module")
def ca() -> auth_pki.Issued:
    return auth_pki.make_ca()


@pytest.fixture(scope="module")
def eec(ca: auth_pki.Issued) -> auth_pki.Issued:
    return auth_pki.issue(ca, NAME, rsa_bits=2048)


def _proxy(eec: auth_pki.Issued, lifetime_s: int = 12 * 3600, now: float | None = None) -> bytes:
    return gsi.make_proxy(eec.cert_pem(), eec.key_pem(), lifetime_s=lifetime_s,
                          now=time.time() if now is None else now)


def _write(path: Path, data: bytes) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return path


def test_handler_is_registered() -> None:
    assert isinstance(get_registry().get(Family.AUTH, "gsi").handler, Gsi)


def test_identity_is_rfc4514_with_the_comma_escaped(eec: auth_pki.Issued) -> None:
    info = gsi.read_proxy(_proxy(eec)).info
    assert info.identity == RFC4514
    assert info.identity_globus == GLOBUS
    assert info.subject.endswith("," + RFC4514) and info.subject.startswith("CN=")
    assert gsi.parse_rfc4514(info.identity) == (
        ("CN", "Jane Doe 12345"), ("O", "Acme, Inc."), ("DC", "example"), ("DC", "org"))
    assert info.is_rfc3820 and info.chain_length == 2


def test_lifetime_and_remaining(eec: auth_pki.Issued) -> None:
    now = time.time()
    info = gsi.read_proxy(_proxy(eec, 3600, now=now)).info
    assert info.not_after == int(now) + 3600
    assert info.lifetime_s == 3600 + 300  # backdated five minutes for clock skew
    assert info.remaining_s(now + 600) == pytest.approx(3000, abs=1)


def test_proxy_never_outlives_its_certificate(ca: auth_pki.Issued) -> None:
    end = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    short = auth_pki.issue(ca, NAME, rsa_bits=2048, not_after=end)
    info = gsi.read_proxy(_proxy(short, 7 * 86400)).info
    assert info.not_after == pytest.approx(end.timestamp(), abs=1)


@given(st.lists(st.text(st.characters(min_codepoint=32, max_codepoint=0x24F),
                        min_size=1, max_size=12), min_size=1, max_size=5))
@settings(max_examples=200)
def test_rfc4514_parsing_round_trips(values: list[str]) -> None:
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, v) for v in values])
    parsed = gsi.parse_rfc4514(gsi.rfc4514(name))
    assert parsed == tuple(("OU", v) for v in reversed(values))


@pytest.mark.parametrize(("when", "margin", "check"), [
    (-3600, 0, "not-yet-valid"),
    (13 * 3600, 0, "expired"),
    (11 * 3600, 2 * 3600, "expiring"),
])
def test_lifetime_checks(eec: auth_pki.Issued, when: int, margin: int, check: str) -> None:
    now = time.time()
    pem = _proxy(eec, 12 * 3600, now=now)
    with pytest.raises(CredentialError) as err:
        Gsi(clock=lambda: now + when).check(Credential("gsi", pem),
                                             {"min_remaining_s": margin})
    assert err.value.check == check
    assert_no_secret([str(err.value), repr(err.value)], [pem])


def test_good_proxy_passes(eec: auth_pki.Issued) -> None:
    Gsi().check(Credential("gsi", _proxy(eec)), {"min_remaining_s": 3600})


def test_broken_chain_is_refused(ca: auth_pki.Issued, eec: auth_pki.Issued) -> None:
    impostor = auth_pki.issue(ca, NAME, rsa_bits=2048)  # same subject, other key
    pem = _proxy(impostor)
    cert_block = pem.split(b"-----END CERTIFICATE-----\n")[0] + b"-----END CERTIFICATE-----\n"
    key_block = pem[pem.index(b"-----BEGIN RSA PRIVATE KEY-----"):
                    pem.index(b"-----END RSA PRIVATE KEY-----\n") + 30]
    spliced = cert_block + key_block + eec.cert_pem()  # proxy of impostor, chain of eec
    with pytest.raises(CredentialError) as err:
        gsi.read_proxy(spliced)
    assert err.value.check == "chain"


@pytest.mark.parametrize("case", ["garbage", "no-key", "other-key"])
def test_malformed_proxies_are_refused(eec: auth_pki.Issued, case: str) -> None:
    good = _proxy(eec)
    pem = {"garbage": b"not a proxy",
           "no-key": good.replace(good[good.index(b"-----BEGIN RSA"):
                                       good.index(b"-----END RSA PRIVATE KEY-----\n") + 30], b""),
           "other-key": good.split(b"-----BEGIN RSA")[0] + eec.key_pem() + eec.cert_pem()}[case]
    with pytest.raises(CredentialError) as err:
        gsi.read_proxy(pem)
    assert err.value.check == "malformed"
    assert_no_secret([str(err.value)], [good, eec.key_pem()])


def test_issue_renews_on_schedule(tmp_path: Path, eec: auth_pki.Issued) -> None:
    opts = {"proxy": str(tmp_path / "x509up"),
            "cert": str(_write(tmp_path / "usercert.pem", eec.cert_pem())),
            "key": str(_write(tmp_path / "userkey.pem", eec.key_pem())),
            "min_remaining_s": 3600, "renew_lifetime_s": 4 * 3600}
    t0 = time.time()
    first = Gsi(clock=lambda: t0).issue("ignored", opts)
    assert (tmp_path / "x509up").stat().st_mode & 0o777 == 0o600
    assert first.subject == RFC4514 and first.expires == int(t0) + 4 * 3600
    # still 3 h left: no renewal
    again = Gsi(clock=lambda: t0 + 3600).issue("ignored", opts)
    assert again.secret == first.secret
    # 30 min left (< 1 h margin): renewed
    later = Gsi(clock=lambda: t0 + 3.5 * 3600).issue("ignored", opts)
    assert later.secret != first.secret and later.expires == int(t0 + 3.5 * 3600) + 4 * 3600
    texts = {"reprs": repr(first) + str(first) + repr(gsi.read_proxy(later.secret)),
             "describe": "\n".join(gsi.describe([gsi.read_proxy(later.secret).info], t0))}
    assert_no_secret(texts, [first.secret, later.secret, eec.key_pem()])


def test_issue_without_cert_refuses_an_expiring_proxy(tmp_path: Path,
                                                      eec: auth_pki.Issued) -> None:
    now = time.time()
    path = _write(tmp_path / "x509up", _proxy(eec, 1800, now=now))
    with pytest.raises(CredentialError) as err:
        Gsi(clock=lambda: now).issue("x", {"proxy": str(path), "min_remaining_s": 3600})
    assert err.value.check == "expiring"


def test_renewal_due() -> None:
    info = gsi.ProxyInfo("a", "/a", "b", 0.0, 1000.0, True, 2)
    assert gsi.renewal_due(None, 0, 0)
    assert not gsi.renewal_due(info, 100, 800)
    assert gsi.renewal_due(info, 300, 800)


# --------------------------------------------------------------------------- real tools


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_openssl_verifies_the_proxy_chain(tmp_path: Path, ca: auth_pki.Issued,
                                          eec: auth_pki.Issued) -> None:
    _write(tmp_path / "ca.pem", ca.cert_pem())
    _write(tmp_path / "eec.pem", eec.cert_pem())
    _write(tmp_path / "proxy.pem", _proxy(eec))
    ok = subprocess.run(["openssl", "verify", "-allow_proxy_certs", "-CAfile", "ca.pem",
                         "-untrusted", "eec.pem", "proxy.pem"], cwd=tmp_path,
                        capture_output=True, text=True, check=False)
    assert ok.returncode == 0 and "proxy.pem: OK" in ok.stdout, ok.stderr
    # control: without -allow_proxy_certs OpenSSL refuses a proxy certificate
    no = subprocess.run(["openssl", "verify", "-CAfile", "ca.pem", "-untrusted", "eec.pem",
                         "proxy.pem"], cwd=tmp_path, capture_output=True, text=True,
                        check=False)
    assert no.returncode != 0


@pytest.mark.skipif(shutil.which("grid-proxy-info") is None,
                    reason="grid-proxy-info not installed (Debian: globus-proxy-utils)")
def test_grid_proxy_info_agrees(tmp_path: Path, ca: auth_pki.Issued,
                                eec: auth_pki.Issued) -> None:
    now = time.time()
    proxy = _write(tmp_path / "proxy.pem", _proxy(eec, 6 * 3600, now=now))
    out = subprocess.run(["grid-proxy-info", "-file", str(proxy), "-identity", "-type",
                          "-timeleft", "-strength"], capture_output=True, text=True,
                         check=False, env={**os.environ, "X509_CERT_DIR": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    identity, kind, timeleft, strength = out.stdout.splitlines()
    info = gsi.read_proxy(proxy.read_bytes()).info
    assert identity == info.identity_globus == GLOBUS
    assert kind == "RFC 3820 compliant impersonation proxy"
    assert abs(int(timeleft) - info.remaining_s(time.time())) <= 5
    assert strength == "2048"
