"""SciTokens from the plugin's issuer at a CE-like HTCondor schedd (real daemons).

A schedd (HTCondor from the Debian root) accepts only ``SCITOKENS`` authentication, maps
``<issuer>,<subject>`` of our issuer to ``gwmsfactory@ce.gwms.test`` with its
``CERTIFICATE_MAPFILE`` and fetches the issuer's keys over HTTPS from a server in this
test (test CA added to the root's trust store for the duration). The factory's submit
works with a token from the plugin's issuer; one from another issuer does not.
Skips without the Debian root (see ``tests/auth/trixie-condor.sh``).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import auth_condor_pool as acp
import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from gwms_core.credentials.leaks import assert_no_secret
from gwms_plugins.auth import scitokens as st
from gwms_plugins.auth.scitokens import COMPUTE_SCOPES, SciTokens

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "auth"))
import auth_pki

AUD = "https://ce.gwms.test:9619"
IDENTITY = "gwmsfactory@ce.gwms.test"
#: A plain HTCondor schedd grants a SciToken only its condor:/ scopes (none = DENY).
CE_SCOPES = (*COMPUTE_SCOPES, "condor:/READ", "condor:/WRITE")
CA_IN_ROOT = Path("usr/local/share/ca-certificates/gwms-auth-test.crt")


@dataclass
class Ce:
    ws: acp.Workspace
    pool: acp.Daemons
    issuer: str
    other_issuer: str
    key_file: Path
    other_key: st.IssuerKey
    address: str
    seen: list[str]


def _chroot(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["chroot", str(acp.ROOT), *argv], capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.fixture(scope="module")
def ce() -> Iterator[Ce]:
    reason = acp.unavailable()
    if reason:
        pytest.skip(reason)
    ws = acp.Workspace.create()
    ca = auth_pki.make_ca()
    (acp.ROOT / CA_IN_ROOT).parent.mkdir(parents=True, exist_ok=True)
    (acp.ROOT / CA_IN_ROOT).write_bytes(ca.cert_pem())
    assert _chroot("update-ca-certificates").returncode == 0
    if _chroot("id", "gwmsfactory").returncode != 0:  # roots built before the script made it
        assert _chroot("useradd", "--system", "--no-create-home", "--shell",
                       "/usr/sbin/nologin", "gwmsfactory").returncode == 0
    www = ws.host_dir / "www"
    try:
        with auth_pki.https_server(www, ca, ws.host_dir) as (base, seen):
            base = base.replace("localhost", "127.0.0.1")
            issuer, other_issuer = f"{base}/vo-issuer", f"{base}/other-issuer"
            key_file = ws.host_dir / "issuer.pem"
            key_file.write_bytes(st.generate_issuer_key("ec"))
            st.write_issuer_documents(www / "vo-issuer", issuer,
                                      [st.load_issuer_key(key_file, "gwms-1")])
            other_key = st.IssuerKey.from_pem(st.generate_issuer_key("ec"), "gwms-1")
            st.write_issuer_documents(www / "other-issuer", other_issuer, [other_key])
            pool = _start_ce(ws, ca, issuer)
            address = _wait_address(pool)
            yield Ce(ws, pool, issuer, other_issuer, key_file, other_key, address, seen)
    finally:
        (acp.ROOT / CA_IN_ROOT).unlink(missing_ok=True)
        _chroot("update-ca-certificates", "--fresh")
        ws.cleanup()


def _start_ce(ws: acp.Workspace, ca: auth_pki.Issued, issuer: str) -> acp.Daemons:
    d = ws.host_dir / "ce"
    d.mkdir(mode=0o755)
    host = auth_pki.issue(ca, x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]),
                          server_names=("localhost", "127.0.0.1", socket.gethostname()))
    (d / "host.pem").write_bytes(host.cert_pem())
    key = d / "host.key"
    key.write_bytes(host.key_pem())
    key.chmod(0o600)
    (d / "ca.pem").write_bytes(ca.cert_pem())
    # Without CERTIFICATE_MAPFILE_ASSUME_HASH_KEYS every principal is a regex written
    # without slashes ("/…/" would be matched literally, slashes included).
    (d / "mapfile").write_text(f"SCITOKENS ^{re.escape(issuer)},vofrontend$ {IDENTITY}\n")
    cp = ws.chroot_path
    extra = f"""
DAEMON_LIST = MASTER COLLECTOR SCHEDD
SEC_DEFAULT_AUTHENTICATION_METHODS = SCITOKENS
SEC_CLIENT_AUTHENTICATION_METHODS = SCITOKENS
AUTH_SSL_SERVER_CERTFILE = {cp(d / 'host.pem')}
AUTH_SSL_SERVER_KEYFILE = {cp(d / 'host.key')}
AUTH_SSL_CLIENT_CAFILE = {cp(d / 'ca.pem')}
CERTIFICATE_MAPFILE = {cp(d / 'mapfile')}
SCITOKENS_SERVER_AUDIENCE = {AUD}
SCHEDD_NAME = ce-schedd
SCHEDD_DEBUG = D_SECURITY
ALLOW_READ = {IDENTITY}
ALLOW_WRITE = {IDENTITY}
"""
    return acp.start_central_manager(ws, extra=extra, name="ce-pool")


def _wait_address(pool: acp.Daemons) -> str:
    path = pool.directory / "spool" / ".schedd_address"
    assert acp.wait_for(path.exists, 60), pool.log("Sched")[-2000:]
    return path.read_text().splitlines()[0]


def _token_file(ce: Ce, name: str, token: str) -> str:
    path = ce.ws.host_dir / f"token-{name}"
    path.write_text(token)
    path.chmod(0o600)
    os.chown(path, *acp.condor_ids())  # HTCondor tools read it as the condor user here
    return ce.ws.chroot_path(path)


def _env(ce: Ce, name: str, token: str) -> dict[str, str]:
    return {"_CONDOR_SCITOKENS_FILE": _token_file(ce, name, token),
            "_CONDOR_SEC_PASSWORD_DIRECTORY": "/nonexistent"}


def _ping(ce: Ce, name: str, token: str) -> dict[str, tuple[str, str]]:
    proc = ce.ws.run(["condor_ping", "-addr", ce.address, "-table", "READ", "WRITE",
                      "ADMINISTRATOR"], ce.pool.config, _env(ce, name, token))
    table = {}
    for line in proc.stdout.splitlines():
        cols = line.split()
        if cols and cols[0] in ("READ", "WRITE", "ADMINISTRATOR"):
            table[cols[0]] = (cols[4], cols[5]) if len(cols) >= 6 else ("FAIL", "")
    assert len(table) == 3, proc.stdout + proc.stderr
    return table


def _submit(ce: Ce, name: str, token: str) -> subprocess.CompletedProcess[str]:
    sub = ce.ws.host_dir / f"{name}.sub"
    sub.write_text("executable = /bin/true\nuniverse = vanilla\nqueue\n")
    return ce.ws.run(["condor_submit", "-addr", ce.address, "-spool", ce.ws.chroot_path(sub)],
                     ce.pool.config, _env(ce, name, token))


def _plugin_token(ce: Ce, **over: Any) -> str:
    opts = {"issuer": ce.issuer, "private_key": str(ce.key_file), "key_id": "gwms-1",
            "audience": AUD, "scopes": list(CE_SCOPES), **over}
    return SciTokens().issue("vofrontend", opts).secret.decode()


def test_plugin_token_lets_the_factory_submit(ce: Ce) -> None:
    token = _plugin_token(ce)
    table = _ping(ce, "good", token)
    assert table["READ"] == ("ALLOW", IDENTITY) and table["WRITE"] == ("ALLOW", IDENTITY)
    assert table["ADMINISTRATOR"][0] != "ALLOW"
    proc = _submit(ce, "good", token)
    assert proc.returncode == 0 and "1 job(s) submitted" in proc.stdout, proc.stderr
    # the schedd's own queue log records the job under the mapped owner
    queue = (ce.pool.directory / "spool" / "job_queue.log").read_text(errors="replace")
    assert 'Owner "gwmsfactory"' in queue
    # the schedd really fetched our issuer's keys over HTTPS
    assert "/vo-issuer/jwks.json" in ce.seen
    assert_no_secret({"SchedLog": ce.pool.log("Sched"), "job_queue.log": queue}, [token])


def test_token_from_another_issuer_is_refused(ce: Ce) -> None:
    token = st.mint(ce.other_key, issuer=ce.other_issuer, subject="vofrontend", audience=AUD,
                    scopes=CE_SCOPES, now=time.time(), lifetime_s=600, jti="other")
    assert _ping(ce, "other", token)["WRITE"][0] != "ALLOW"
    assert _submit(ce, "other", token).returncode != 0


@pytest.mark.parametrize("case", ["expired", "wrong-audience", "compute-scopes-only"])
def test_bad_tokens_are_refused_by_the_schedd(ce: Ce, case: str) -> None:
    key = st.load_issuer_key(ce.key_file, "gwms-1")
    args: dict[str, Any] = {"issuer": ce.issuer, "subject": "vofrontend", "audience": AUD,
                            "scopes": CE_SCOPES, "now": time.time(), "lifetime_s": 600,
                            "jti": case}
    if case == "expired":
        args["now"] = time.time() - 7200
    elif case == "wrong-audience":
        args["audience"] = "https://other-ce.gwms.test:9619"
    else:
        # HTCondor 23.9 logs "Found SciToken condor authorization: DENY": a plain schedd
        # grants a SciToken nothing without condor:/ scopes
        args["scopes"] = COMPUTE_SCOPES
    table = _ping(ce, case, st.mint(key, **args))
    assert table["READ"][0] != "ALLOW" and table["WRITE"][0] != "ALLOW", table


def test_nothing_the_daemons_wrote_holds_a_secret(ce: Ce) -> None:
    # last in the module: SchedLog, job queue, spooled files, ...
    texts, secrets, findings = ce.ws.scan_for_secrets()
    assert texts >= 5 and secrets >= 3, (texts, secrets)
    assert findings == []
