"""Authentication acceptance on the deployed podman grid (issue 7), marked ``grid``.

Runs against the deployment of ``tests/e2e/run.sh --jobs 0`` (the ``e2e_grid`` fixture)
and leaves it as it found it.

1. IDTOKENs for glideins: tokens minted on ``cm`` by the ``idtokens`` plugin from the
   frontend's copy of the pool signing key (as the frontend does). A glidein started by
   hand on ``slurm`` (``gwms glidein manual --run``, its own work directory, LOCAL_DIR
   and user) joins the user pool with a good token; the same glidein with an expired
   token, and with a token scoped to ``condor:/READ`` only, is refused by the collector:
   it never appears in ``condor_status`` and the CollectorLog says why.
2. SciTokens through the factory: a test CA and an HTTPS server on ``cm`` publish the
   ``scitokens`` plugin issuer's openid-configuration and JWKS (and those of a second,
   unrelated issuer); the CE's schedd is switched (drop-in, reverted at the end) to
   accept only SCITOKENS (and FS for local tools) for remote clients, mapping our issuer's
   subject to a local account. Frontend code on ``cm`` plans the credentials for a
   ``condor`` entry whose ``auth_method`` is ``scitokens``, mints the pool token and the
   SciToken, and seals both to the factory's public key from its entry ad; factory code
   on ``slurm`` unseals them, builds the submission with the ``condor`` backend
   (``scitokens_file``) and submits to the factory's schedd. The glidein lands in the
   CE's queue under the mapped account; with a token from the other issuer it does not
   (the CE's SchedLog records the failed SCITOKENS authentication).
3. The leak scan over what the daemons and services wrote: no token or key in clear.
"""

from __future__ import annotations

import base64
import json
import re
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from gwms_core.credentials.leaks import find_leaks

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "auth"))
import auth_pki

pytestmark = [pytest.mark.grid, pytest.mark.slow]

PY = "/opt/gwms/venv/bin/python"
GWMS = "/opt/gwms/venv/bin/gwms"
TRUST_DOMAIN = "gwms.test"
FRONTEND_DIR = "/var/lib/gwms-frontend"
FRONTEND_IDENTITY = f"vofrontend@{TRUST_DOMAIN}"
FACTORY_DIR = "/var/lib/gwms-factory"
STAGING_URL = "http://slurm.dns.podman:8080"
COLLECTOR = "cm.dns.podman"
COLLECTOR_LOG = "/var/log/condor/CollectorLog"
#: Test area on every host (removed at the end).
AREA = "/var/tmp/gwms-auth-acceptance"
#: Account that runs the hand-started glideins on slurm.
GLIDEIN_USER = "gwmsauth"
#: The CE-like schedd (its collector on the shared port) and what its SciTokens must say.
CE_HOST = "ce.dns.podman"
CE_AUDIENCE = f"https://{CE_HOST}:9618"
#: Configuration drop-in of the test on ce (schedd) and slurm (the factory's C-GAHP).
DROPIN = "/etc/condor/config.d/95-gwms-auth-acceptance.config"
#: The C-GAHP offers only SEC_CLIENT_AUTHENTICATION_METHODS (FS, IDTOKENS here): without
#: SCITOKENS in that list, a job's scitokens_file is never presented (checked on 23.9.6).
SLURM_CONFIG = """# gwms auth acceptance test (tests/e2e/test_auth_acceptance.py)
C_GAHP.SEC_CLIENT_AUTHENTICATION_METHODS = FS, IDTOKENS, SCITOKENS
C_GAHP_WORKER_THREAD.SEC_CLIENT_AUTHENTICATION_METHODS = FS, IDTOKENS, SCITOKENS
"""
CE_MAPFILE = "/etc/condor/gwms-auth-acceptance.mapfile"
#: The test CA in the system trust store of ce (scitokens-cpp fetching the issuer's keys)
#: and of slurm (the factory's C-GAHP checking the CE's TLS certificate).
CA_IN_STORE = "/usr/local/share/ca-certificates/gwms-auth-acceptance.crt"
#: SciTokens authentication runs inside TLS: the CE schedd's host certificate.
CE_TLS_DIR = "/etc/condor/gwms-auth-acceptance"
#: Local account on the CE our issuer's subject maps to (so the queue shows who got in).
CE_MAPPED_USER = "gwmsscitok"
#: A plain HTCondor schedd grants a SciToken only what its condor:/ scopes say.
CE_SCOPES = ["compute.create", "compute.read", "compute.modify", "compute.cancel",
             "condor:/READ", "condor:/WRITE"]
ISSUER_PORT = 8643
ISSUER_UNIT = "gwms-auth-acceptance-issuer"
#: The factory name of the test's own submissions: the deployed factory never touches them.
TEST_FACTORY = "auth-acceptance"


@dataclass
class Collected:
    """Secrets the test handled and the texts the grid wrote, for the final leak scan."""

    secrets: dict[str, str | bytes] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
def collected() -> Collected:
    return Collected()


def _json_out(grid, host: str, script: str, **kw: object) -> dict:  # type: ignore[no-untyped-def]
    """Run a script whose last stdout line is JSON that may hold secrets: never echo its
    stdout in a failure message."""
    proc = grid.run(host, script, check=False, **kw)
    assert proc.returncode == 0, f"{host}: exit {proc.returncode}: {proc.stderr[-2000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- 1. IDTOKENs

MINT_IDTOKENS = f"""
import json, time
from gwms_plugins.auth.idtokens import IdTokens
from gwms_core.frontend.credentials import GLIDEIN_SUBJECT
opts = {{"signing_key": "{FRONTEND_DIR}/POOL", "trust_domain": "{TRUST_DOMAIN}",
        "lifetime_s": 3600}}
now = time.time()
ok = IdTokens().issue(GLIDEIN_SUBJECT, opts)
expired = IdTokens(clock=lambda: now - 7200).issue(GLIDEIN_SUBJECT, opts)
read_only = IdTokens().issue(GLIDEIN_SUBJECT, {{**opts, "scopes": ["condor:/READ"]}})
print(json.dumps({{k: c.secret.decode() for k, c in
                  (("ok", ok), ("expired", expired), ("read_only", read_only))}}))
"""


def _start_glidein(grid, case: str, token: str) -> str:  # type: ignore[no-untyped-def]
    """Start a glidein by hand on slurm as GLIDEIN_USER (systemd unit); return the entry
    name it advertises."""
    entry = f"AUTH_{case}"
    ad = {"FactoryName": TEST_FACTORY, "EntryName": entry, "GLIDEIN_Site": "AUTH_Site",
          "GLIDEIN_Max_Walltime": 900, "GLIDEIN_CPUS": 1, "GLIDEIN_MaxMemMBs": 200}
    d = f"{AREA}/{case}"
    grid.run("slurm", f"""set -e
install -d -o {GLIDEIN_USER} -m 700 {d} {d}/work
umask 077; cat > {d}/token; chown {GLIDEIN_USER} {d}/token
printf '%s' '{json.dumps(ad)}' > {d}/ad.json; chmod 644 {d}/ad.json""", stdin=token)
    grid.run("slurm", f"""systemctl reset-failed gwms-auth-glidein-{case} 2>/dev/null || true
systemd-run --unit gwms-auth-glidein-{case} -p User={GLIDEIN_USER} -p WorkingDirectory={d} \
  {GWMS} glidein manual --entry-ad {d}/ad.json --staging-dir {FACTORY_DIR}/stage \
  --staging-url {STAGING_URL} --collector {COLLECTOR} --token-file {d}/token --run \
  -- --work-dir {d}/work --keep-work-dir""")
    return entry


def _stop_glidein(grid, case: str) -> None:  # type: ignore[no-untyped-def]
    grid.run("slurm", f"systemctl stop gwms-auth-glidein-{case} 2>/dev/null; "
                      f"systemctl reset-failed gwms-auth-glidein-{case} 2>/dev/null; true")


def _in_pool(grid, entry: str) -> list[str]:  # type: ignore[no-untyped-def]
    out = grid.out("cm", f"condor_status -any -const 'GLIDEIN_Entry_Name =?= \"{entry}\"' "
                         "-af MyType Name AuthenticatedIdentity 2>/dev/null", check=False)
    return [ln for ln in out.splitlines() if ln.strip()]


def _collector_log_since(grid, offset: int) -> str:  # type: ignore[no-untyped-def]
    return grid.out("cm", f"tail -c +{offset + 1} {COLLECTOR_LOG}")


def _collector_log_size(grid) -> int:  # type: ignore[no-untyped-def]
    return int(grid.out("cm", f"stat -c %s {COLLECTOR_LOG}"))


def _glidein_logs(grid, case: str) -> str:  # type: ignore[no-untyped-def]
    """Every log the hand-started glidein wrote (its own JSON log, its daemons' logs)."""
    return grid.out("slurm", f"find {AREA}/{case}/work -type f \\( -name '*Log*' -o "
                             f"-name '*.jsonl' -o -name '*.log' \\) -exec cat {{}} + "
                             f"2>/dev/null; journalctl -u gwms-auth-glidein-{case} "
                             "--no-pager -o cat 2>/dev/null", check=False)


#: The collector logs why it refused a token (expiry, limited scope) at D_SECURITY only.
CM_CONFIG = """# gwms auth acceptance test (tests/e2e/test_auth_acceptance.py)
COLLECTOR_DEBUG = D_SECURITY
"""


def test_idtokens_glidein_joins_and_bad_tokens_are_refused(e2e_grid, collected) -> None:  # type: ignore[no-untyped-def]
    grid = e2e_grid
    grid.run("slurm", f"id {GLIDEIN_USER} >/dev/null 2>&1 || useradd -m -s /bin/bash "
                      f"{GLIDEIN_USER}; install -d -m 755 {AREA}")
    slurm_ip = grid.out("slurm", "hostname -I").split()[0]
    tokens = _json_out(grid, "cm", f"{PY} - <<'EOF'\n{MINT_IDTOKENS}\nEOF", user="vofrontend")
    collected.secrets.update({f"idtoken-{k}": v for k, v in tokens.items()})
    grid.run("cm", f"cat > {DROPIN} && condor_reconfig -daemon collector >/dev/null",
             stdin=CM_CONFIG)
    try:
        # the good token: the glidein's startd and master join the user pool
        before = _collector_log_size(grid)
        entry = _start_glidein(grid, "ok", tokens["ok"])
        grid.wait_for("the glidein with a good token in condor_status",
                      lambda: any(ln.startswith("Machine ") for ln in _in_pool(grid, entry)),
                      timeout=180)
        # the collector stamped the ads with the identity it authenticated: the token's
        ads = _in_pool(grid, entry)
        assert all(ln.endswith(f" glidein@{TRUST_DOMAIN}") for ln in ads), ads
        # the glidein's master (named like its slots after "slotN@") advertised too
        master = next(ln for ln in ads if ln.startswith("Machine ")).split()[1].split("@", 1)[1]
        grid.wait_for("the glidein's master in condor_status", lambda: grid.out(
            "cm", f"condor_status -master -const 'Name == \"{master}\"' "
                  "-af AuthenticatedIdentity", check=False) == f"glidein@{TRUST_DOMAIN}",
            timeout=60)
        collected.texts["CollectorLog (good token)"] = _collector_log_since(grid, before)
        _stop_glidein(grid, "ok")
        grid.wait_for("the good glidein to leave the pool", lambda: not _in_pool(grid, entry),
                      timeout=120)
        collected.texts["glidein logs (good token)"] = _glidein_logs(grid, "ok")

        # an expired token: the collector refuses the authentication
        before = _collector_log_size(grid)
        entry = _start_glidein(grid, "expired", tokens["expired"])
        refused = f"required authentication of {slurm_ip} failed"

        def expired_refused() -> bool:
            log = _collector_log_since(grid, before)
            return "User token has been expired" in log and refused in log

        grid.wait_for("the collector to refuse the expired token", expired_refused,
                      timeout=180)
        grid.wait_for("the glidein's startd to report the failed authentication",
                      lambda: "Failed to authenticate using IDTOKENS"
                      in _glidein_logs(grid, "expired"), timeout=120)
        assert _in_pool(grid, entry) == []
        collected.texts["CollectorLog (expired token)"] = _collector_log_since(grid, before)
        _stop_glidein(grid, "expired")
        collected.texts["glidein logs (expired token)"] = _glidein_logs(grid, "expired")

        # a token scoped to READ only: authenticated, but not allowed to advertise
        before = _collector_log_size(grid)
        entry = _start_glidein(grid, "read_only", tokens["read_only"])
        denial = ("limited authorization which did not include this command "
                  "(0 UPDATE_STARTD_AD)")
        grid.wait_for("the collector to refuse the READ-only token's startd update",
                      lambda: denial in _collector_log_since(grid, before), timeout=180)
        log = _collector_log_since(grid, before)
        # ...from the glidein's host, after authenticating the token's subject
        assert re.search(rf"authentication of <{re.escape(slurm_ip)}:\d+> was successful "
                         rf"but resulted in a {re.escape(denial)}", log), log[-3000:]
        assert f"current FQU is 'glidein@{TRUST_DOMAIN}'" in log
        assert _in_pool(grid, entry) == []
        collected.texts["CollectorLog (READ-only token)"] = log
        _stop_glidein(grid, "read_only")
        collected.texts["glidein logs (READ-only token)"] = _glidein_logs(grid, "read_only")
    finally:
        for case in ("ok", "expired", "read_only"):
            _stop_glidein(grid, case)
        grid.run("cm", f"rm -f {DROPIN}; condor_reconfig -daemon collector >/dev/null",
                 check=False)
    grid.wait_for("no test glidein in the pool",
                  lambda: not any(_in_pool(grid, f"AUTH_{c}")
                                  for c in ("ok", "expired", "read_only")), timeout=120)


# --------------------------------------------------------------------------- 2. SciTokens

#: Frontend side on cm (as vofrontend): plan, mint, seal. Prints the sealed parameters
#: and, for the test's leak scan only, the clear secrets.
FRONTEND_SIDE = """
import json, sys
import htcondor2
from gwms_core.credentials.sealing import public_key_from_ad, seal_params
from gwms_core.credentials.selection import plan_credentials, request_secrets
from gwms_core.entries import Entry
from gwms_core.frontend.credentials import GLIDEIN_SUBJECT
from gwms_core.manager import get_registry
from gwms_core.types import Family
from gwms_plugins.auth import scitokens as st

cfg = json.loads(sys.argv[1])
ad = htcondor2.Collector(cfg["collector"]).query(
    htcondor2.AdType.Any, constraint='MyType == "glidefactory" && PubKeyValue =!= undefined')[0]
public = public_key_from_ad({k: ad.eval(k) for k in ad})
entry = Entry(name=cfg["entry"], grid_type="condor", gatekeeper=cfg["gatekeeper"],
              site="AUTH_CE", auth_method="scitokens")
plan = plan_credentials(entry, cfg["credentials"])
assert plan.submit is not None and plan.submit.method == "scitokens", plan

def issue(choice):
    handler = get_registry().get(Family.AUTH, choice.method).handler
    opts = {k: v for k, v in choice.options.items() if k != "type"}
    subject = GLIDEIN_SUBJECT if choice.method == "idtokens" else cfg["subject"]
    return handler.issue(subject, opts)

secrets = request_secrets(plan, issue)
if cfg.get("foreign_key"):
    # the other issuer's token replaces ours (same claims, another issuer and key)
    import time, uuid
    key = st.IssuerKey.from_pem(cfg["foreign_key"].encode(), "gwms-1")
    secrets["SubmitCredential"] = st.mint(
        key, issuer=cfg["foreign_issuer"], subject=cfg["subject"], audience=cfg["audience"],
        scopes=cfg["scopes"], now=time.time(), lifetime_s=1800,
        jti=uuid.uuid4().hex).encode()
sealed = seal_params(secrets, public, sender_identity=cfg["identity"])
print(json.dumps({"sealed": sealed, "method": plan.clear_params(),
                  "clear": {k: v.decode() for k, v in secrets.items()}}))
"""

#: Factory side on slurm (as gwmsfact): unseal, describe with the condor backend, submit.
FACTORY_SIDE = """
import json, sys
from pathlib import Path
from gwms_core.credentials.sealing import FactoryKeyDecryptor
from gwms_core.entries import Entry
from gwms_core.factory.model import Request
from gwms_core.factory.schedd import FactorySchedd
from gwms_core.factory.service import Factory, FactoryConfig
from gwms_core.manager import get_registry

cfg = json.loads(sys.argv[1])
work = Path(cfg["work_dir"])
(work / "log").mkdir(exist_ok=True)
fcfg = FactoryConfig(name=cfg["factory"], wms_collector=cfg["collector"], work_dir=work,
                     staging_dir=Path(cfg["staging_dir"]), staging_url=cfg["staging_url"],
                     log_dir=str(work / "log"))
schedd = FactorySchedd.connect(fcfg.name, fcfg.glidein)
factory = Factory(fcfg, schedd, collector=None, registry=get_registry())
secrets = FactoryKeyDecryptor.from_files([cfg["key"]]).decrypt(cfg["identity"], cfg["sealed"])
entry = Entry(name=cfg["entry"], grid_type="condor", gatekeeper=cfg["gatekeeper"],
              site="AUTH_CE", cpus=1, memory_mb=200, walltime_s=900,
              auth_method="scitokens")
request = Request(entry=entry.name, client=cfg["client"], frontend=cfg["identity"], idle=1,
                  max_glideins=1, name="auth-acceptance", params=cfg["params"])
desc = factory.description(entry, request, cfg["client"], factory.manifest(), secrets)
cluster = schedd.submit(desc, 1)
print(json.dumps({"cluster": cluster, "scitokens_file": desc.get("scitokens_file", ""),
                  "grid_resource": desc["grid_resource"]}))
"""

ISSUER_SERVER = f"""
import http.server, ssl
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain("{AREA}/issuer/host.pem", "{AREA}/issuer/host.key")
class H(http.server.SimpleHTTPRequestHandler):
    def log_message(self, fmt, *args):
        print("GET", self.path, args[1] if len(args) > 1 else "", flush=True)
srv = http.server.ThreadingHTTPServer(
    ("0.0.0.0", {ISSUER_PORT}),
    lambda *a, **k: H(*a, directory="{AREA}/issuer/www", **k))
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
"""


@dataclass
class Issuers:
    ours: str
    other: str
    other_key_pem: str


def _ce_config(ours: str) -> str:
    return f"""# gwms auth acceptance test (tests/e2e/test_auth_acceptance.py); removed at its end
SCHEDD.SEC_DEFAULT_AUTHENTICATION_METHODS = FS, SCITOKENS
SCHEDD.SEC_READ_AUTHENTICATION_METHODS = FS, SCITOKENS
SCHEDD.SEC_WRITE_AUTHENTICATION_METHODS = FS, SCITOKENS
SCHEDD.CERTIFICATE_MAPFILE = {CE_MAPFILE}
SCHEDD.AUTH_SSL_SERVER_CERTFILE = {CE_TLS_DIR}/host.pem
SCHEDD.AUTH_SSL_SERVER_KEYFILE = {CE_TLS_DIR}/host.key
SCHEDD.SCITOKENS_SERVER_AUDIENCE = {CE_AUDIENCE}
SCHEDD_DEBUG = D_SECURITY
"""


@pytest.fixture(scope="module")
def issuers(e2e_grid, collected) -> Iterator[Issuers]:  # type: ignore[no-untyped-def]
    """Our issuer and another one, served over HTTPS on cm; the CE trusts the CA and
    accepts SCITOKENS from our issuer (all reverted afterwards)."""
    grid = e2e_grid
    run_id = uuid.uuid4().hex[:8]
    base = f"https://{COLLECTOR}:{ISSUER_PORT}/{run_id}"
    ours, other = f"{base}/vo", f"{base}/other"
    ca = auth_pki.make_ca("gwms auth acceptance CA")
    host = auth_pki.issue(ca, x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, COLLECTOR)]),
                          server_names=(COLLECTOR,))
    try:
        # the issuer key lives with the frontend; the plugin writes its public documents
        grid.run("cm", f"""set -e
install -d -m 755 {AREA} {AREA}/issuer
install -d -o vofrontend -m 755 {AREA}/issuer/www
install -d -o vofrontend -m 700 {AREA}/frontend
umask 077; cat > {AREA}/issuer/host.key""", stdin=host.key_pem().decode())
        grid.run("cm", f"cat > {AREA}/issuer/host.pem", stdin=host.cert_pem().decode())
        keys = _json_out(grid, "cm", f"""{PY} - <<'EOF'
import json, os
from pathlib import Path
from gwms_plugins.auth import scitokens as st
from gwms_core.fileio import write_private
key = Path("{AREA}/frontend/issuer.pem")
write_private(key, st.generate_issuer_key("ec"))
other = st.generate_issuer_key("ec")
st.write_issuer_documents("{AREA}/issuer/www/{run_id}/vo", "{ours}",
                          [st.load_issuer_key(key, "gwms-1")])
st.write_issuer_documents("{AREA}/issuer/www/{run_id}/other", "{other}",
                          [st.IssuerKey.from_pem(other, "gwms-1")])
print(json.dumps({{"ours": key.read_text(), "other": other.decode()}}))
EOF""", user="vofrontend")
        collected.secrets["issuer key (ours)"] = keys["ours"]
        collected.secrets["issuer key (other)"] = keys["other"]
        collected.secrets["TLS host key"] = host.key_pem().decode()
        grid.run("cm", f"chmod -R a+rX {AREA}/issuer/www; chmod 600 {AREA}/issuer/host.key")
        grid.run("cm", f"""systemctl stop {ISSUER_UNIT} 2>/dev/null; \
systemctl reset-failed {ISSUER_UNIT} 2>/dev/null
systemd-run --unit {ISSUER_UNIT} /usr/bin/python3 -u -c '{ISSUER_SERVER}' >/dev/null""")
        # ce and slurm trust the test CA (system store)
        for h in ("ce", "slurm"):
            grid.run(h, f"cat > {CA_IN_STORE} && update-ca-certificates >/dev/null",
                     stdin=ca.cert_pem().decode())
        ce_ip = grid.out("ce", "hostname -I").split()[0]
        ce_tls = auth_pki.issue(ca, x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                                  CE_HOST)]),
                                server_names=(CE_HOST, "ce", ce_ip))
        collected.secrets["CE TLS key"] = ce_tls.key_pem().decode()
        grid.run("ce", f"install -d -m 755 {CE_TLS_DIR}; umask 077; "
                       f"cat > {CE_TLS_DIR}/host.key", stdin=ce_tls.key_pem().decode())
        grid.run("ce", f"cat > {CE_TLS_DIR}/host.pem", stdin=ce_tls.cert_pem().decode())
        fetch = ("python3 -c 'import sys, urllib.request; "
                 "urllib.request.urlopen(sys.argv[1], timeout=5).read()' ")
        grid.wait_for("the issuer's openid-configuration over HTTPS from the CE",
                      lambda: grid.run("ce", fetch + f"{ours}/.well-known/openid-configuration",
                                       check=False).returncode == 0, timeout=60)
        # the CE schedd: SCITOKENS for remote clients, our issuer's subject mapped
        grid.run("ce", f"id {CE_MAPPED_USER} >/dev/null 2>&1 || useradd -m -s /bin/bash "
                       f"{CE_MAPPED_USER}")
        # without CERTIFICATE_MAPFILE_ASSUME_HASH_KEYS the principal is a bare regex
        grid.run("ce", f"cat > {CE_MAPFILE}", stdin=f"SCITOKENS ^{re.escape(ours)},gwmsfact$ "
                                                  f"{CE_MAPPED_USER}@{TRUST_DOMAIN}\n")
        grid.run("ce", f"cat > {DROPIN} && condor_reconfig -daemon schedd >/dev/null",
                 stdin=_ce_config(ours))
        grid.run("slurm", f"cat > {DROPIN} && condor_reconfig >/dev/null", stdin=SLURM_CONFIG)
        yield Issuers(ours=ours, other=other, other_key_pem=keys["other"])
    finally:
        grid.run("ce", f"rm -rf {DROPIN} {CE_MAPFILE} {CE_TLS_DIR}; "
                       "condor_reconfig -daemon schedd >/dev/null", check=False)
        grid.run("slurm", f"rm -f {DROPIN}; condor_reconfig >/dev/null", check=False)
        for h in ("ce", "slurm"):
            grid.run(h, f"rm -f {CA_IN_STORE}; update-ca-certificates --fresh >/dev/null 2>&1",
                     check=False)
        grid.run("cm", f"systemctl stop {ISSUER_UNIT}; systemctl reset-failed {ISSUER_UNIT}",
                 check=False)
        collected.texts["issuer HTTPS server journal"] = grid.out(
            "cm", f"journalctl -u {ISSUER_UNIT} --no-pager -o cat", check=False)


def _submit_via_factory(grid, issuers: Issuers, case: str, *, foreign: bool,  # type: ignore[no-untyped-def]
                        collected: Collected) -> dict:
    entry = f"CE_auth_{case}"
    gatekeeper = f"{CE_HOST} {CE_HOST}:9618"
    credentials = [
        {"type": "idtokens", "signing_key": f"{FRONTEND_DIR}/POOL",
         "trust_domain": TRUST_DOMAIN, "lifetime_s": 3600},
        {"type": "scitokens", "issuer": issuers.ours,
         "private_key": f"{AREA}/frontend/issuer.pem", "audience": CE_AUDIENCE,
         "scopes": CE_SCOPES, "lifetime_s": 1800},
    ]
    fe_cfg = {"collector": COLLECTOR, "entry": entry, "gatekeeper": gatekeeper,
              "credentials": credentials, "identity": FRONTEND_IDENTITY,
              "subject": "gwmsfact", "audience": CE_AUDIENCE, "scopes": CE_SCOPES}
    if foreign:
        fe_cfg.update(foreign_key=issuers.other_key_pem, foreign_issuer=issuers.other)
    fe = _json_out(grid, "cm", f"{PY} - {_sh_quote(json.dumps(fe_cfg))} <<'EOF'\n"
                               f"{FRONTEND_SIDE}\nEOF", user="vofrontend")
    for name, value in fe["clear"].items():
        collected.secrets[f"{case} {name}"] = value
    assert set(fe["sealed"]) == {"PoolIdToken", "SubmitCredential"}
    assert fe["method"] == {"SubmitCredentialMethod": "scitokens"}
    fa_cfg = {"factory": TEST_FACTORY, "collector": COLLECTOR, "work_dir": f"{AREA}/factory",
              "staging_dir": f"{FACTORY_DIR}/stage", "staging_url": STAGING_URL,
              "key": f"{FACTORY_DIR}/factory.pem", "identity": FRONTEND_IDENTITY,
              "sealed": fe["sealed"], "entry": entry, "gatekeeper": gatekeeper,
              "client": f"vofrontend.{case}",
              "params": {f"{k}": v for k, v in fe["method"].items()}}
    proc = grid.run("slurm", f"{PY} - {_sh_quote(json.dumps(fa_cfg))} <<'EOF'\n"
                             f"{FACTORY_SIDE}\nEOF", user="gwmsfact", check=False)
    collected.texts[f"factory submission output ({case})"] = proc.stdout + proc.stderr
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["grid_resource"] == f"condor {gatekeeper}"
    assert out["scitokens_file"].startswith(f"{AREA}/factory/credentials/")
    return out


def _sh_quote(s: str) -> str:
    return "'" + s.replace("'", "'\\''") + "'"


def _factory_job(grid, cluster: int, attrs: str) -> str:  # type: ignore[no-untyped-def]
    return grid.out("slurm", f"condor_q {cluster}.0 -af {attrs} 2>/dev/null", check=False)


def _ce_jobs(grid, owner: str) -> list[str]:  # type: ignore[no-untyped-def]
    out = grid.out("ce", f"condor_q -allusers -const 'Owner == \"{owner}\"' "
                         "-af ClusterId Owner GlideinEntryName 2>/dev/null", check=False)
    return [ln for ln in out.splitlines() if ln.strip()]


def _remove_test_jobs(grid, clusters: list[int]) -> None:  # type: ignore[no-untyped-def]
    """Remove the test's glideins at the factory (the gridmanager removes the remote copy),
    then whatever the CE still holds for the mapped account (a completed HTCondor-C job
    stays in the remote queue until its stage-out; the test does not wait for that)."""
    if clusters:
        ids = " ".join(str(c) for c in clusters)
        grid.run("slurm", f"condor_rm {ids} >/dev/null 2>&1; true")
        try:
            grid.wait_for("the test's glideins to leave the factory schedd", lambda: not grid.out(
                "slurm", f"condor_q {ids} -af ClusterId 2>/dev/null", check=False), timeout=90)
        except AssertionError:
            grid.run("slurm", f"condor_rm -forcex {ids} >/dev/null 2>&1; true")
    owner = f"Owner == \"{CE_MAPPED_USER}\""
    grid.run("ce", f"condor_rm -const '{owner}' >/dev/null 2>&1; sleep 2; "
                   f"condor_rm -forcex -const '{owner}' >/dev/null 2>&1; true")


def test_scitoken_from_our_issuer_lets_the_factory_submit_to_the_ce(  # type: ignore[no-untyped-def]
        e2e_grid, issuers, collected) -> None:
    grid = e2e_grid
    grid.run("slurm", f"install -d -o gwmsfact -m 700 {AREA}/factory")
    clusters: list[int] = []
    sched_before = int(grid.out("ce", "stat -c %s /var/log/condor/SchedLog"))
    try:
        good = _submit_via_factory(grid, issuers, "ours", foreign=False, collected=collected)
        clusters.append(good["cluster"])
        # the glidein lands in the CE's queue, owned by the account our issuer maps to
        grid.wait_for("the glidein in the CE's queue",
                      lambda: bool(_ce_jobs(grid, CE_MAPPED_USER)), timeout=180)
        assert _factory_job(grid, good["cluster"], "GridJobId").startswith("condor ")

        bad = _submit_via_factory(grid, issuers, "other", foreign=True, collected=collected)
        clusters.append(bad["cluster"])

        # the CE fetched the other issuer's keys and validated the token, but our mapfile
        # has no principal for that issuer: authentication fails (no other method left)
        refusal = f"Failed to map SCITOKENS authenticated identity '{issuers.other},gwmsfact'"

        def refused() -> bool:
            log = grid.out("ce", f"tail -c +{sched_before + 1} /var/log/condor/SchedLog")
            return refusal in log

        grid.wait_for("the CE schedd to refuse the other issuer's token", refused,
                      timeout=180)
        # the other issuer's glidein never reached the CE: no remote job id, and the CE
        # queue holds only the one from our issuer
        assert _factory_job(grid, bad["cluster"], "GridJobId") in ("", "undefined")
        assert len(_ce_jobs(grid, CE_MAPPED_USER)) == 1
        collected.texts["CE SchedLog"] = grid.out(
            "ce", f"tail -c +{sched_before + 1} /var/log/condor/SchedLog")
        collected.texts["CE job ads"] = grid.out("ce", "condor_q -allusers -l", check=False)
        collected.texts["factory job ads"] = grid.out(
            "slurm", f"condor_q {' '.join(map(str, clusters))} -l", check=False)
        collected.texts["GridmanagerLog"] = grid.out(
            "slurm", "cat /var/log/condor/GridmanagerLog.gwmsfact 2>/dev/null", check=False)
    finally:
        _remove_test_jobs(grid, clusters)
    grid.wait_for("the CE queue to drop the test's glidein",
                  lambda: not _ce_jobs(grid, CE_MAPPED_USER), timeout=60)


# --------------------------------------------------------------------------- 3. leak scan


def test_nothing_the_grid_wrote_holds_a_secret(e2e_grid, collected) -> None:  # type: ignore[no-untyped-def]
    grid = e2e_grid
    # last in the module: add the daemons' and services' logs and the ads
    collected.secrets["pool signing key"] = base64.b64decode(
        grid.out("cm", "base64 -w0 /etc/condor/passwords.d/POOL"))
    sources = {
        "cm": ["journalctl -u gwms-frontend --no-pager -o cat",
               "cat /var/log/condor/CollectorLog /var/log/condor/NegotiatorLog "
               "/var/log/condor/MasterLog",
               "condor_status -any -l"],
        "slurm": ["journalctl -u gwms-factory -u gwms-staging --no-pager -o cat",
                  "cat /var/log/condor/SchedLog /var/log/condor/GridmanagerLog.* "
                  "/var/log/condor/MasterLog",
                  f"find {AREA} -name '*.out' -o -name '*.err' | xargs -r cat",
                  "condor_q -allusers -l; condor_history -l -limit 50"],
        "ce": ["cat /var/log/condor/SchedLog /var/log/condor/CollectorLog "
               "/var/log/condor/StartLog /var/log/condor/MasterLog",
               "condor_history -l -limit 50"],
    }
    for host, scripts in sources.items():
        for script in scripts:
            collected.texts[f"{host}: {script[:60]}"] = grid.out(host, script + " 2>/dev/null",
                                                                 check=False)
    texts = {k: v for k, v in collected.texts.items() if v}
    named = {k: v for k, v in collected.secrets.items() if v}
    names, secrets = list(named), list(named.values())
    assert len(texts) >= 15 and len(secrets) >= 8, (sorted(texts), names)
    # positive control: the factory's credential files (not logs) hold exactly what the
    # frontend minted, so the scan looks for the right values in the right forms
    files = grid.out("slurm", f"cat {AREA}/factory/credentials/*/submit.credential",
                     check=False)
    found = {names[x.secret_index] for x in find_leaks({"credential files": files}, secrets)}
    assert {"ours SubmitCredential", "other SubmitCredential"} <= found, sorted(found)
    leaks = find_leaks(texts, secrets)
    assert leaks == [], [f"{names[x.secret_index]} in {x.source} ({x.form})" for x in leaks]
    print(f"leak scan: {len(texts)} texts, {sum(len(t) for t in texts.values())} characters, "
          f"{len(secrets)} secrets, 0 findings")
    # tidy up the test area
    for host in ("cm", "slurm", "ce"):
        grid.run(host, f"rm -rf {AREA}", check=False)
