"""Frontend-to-factory trust through a real HTCondor 23.9 collector.

A frontend authenticates with a plugin-minted IDTOKEN and advertises a request ad whose
pool token is sealed to the factory key; the factory reads the ad back from the
collector, trusts only ``AuthenticatedIdentity`` (which the collector sets, overwriting
whatever the sender wrote) and unseals with it. Skips without the Debian 13 root.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import auth_condor_pool as acp

from gwms_core.credentials import sealing, selection, trust
from gwms_core.credentials.leaks import assert_no_secret
from gwms_core.entries import Entry
from gwms_core.factory import intake
from gwms_plugins.auth.idtokens import IdTokens

FRONTEND = f"vofrontend@{acp.TRUST_DOMAIN}"


def _token(cm: acp.Daemons, subject: str, scopes: list[str]) -> str:
    opts = {"signing_key": str(cm.directory / "passwords.d" / "POOL"),
            "trust_domain": acp.TRUST_DOMAIN, "lifetime_s": 3600, "scopes": scopes}
    return IdTokens().issue(subject, opts).secret.decode()


def _client(ws: acp.Workspace, cm: acp.Daemons, subject: str, scopes: list[str]) -> Path:
    d = ws.host_dir / "clients" / subject
    acp.install_token(d, "token", _token(cm, subject, scopes))
    return d


def _advertise(ws: acp.Workspace, cm: acp.Daemons, client: Path, ad: dict[str, Any],
               name: str) -> Any:
    path = ws.host_dir / f"{name}.ad"
    path.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in ad.items()))
    return cm.tool(["condor_advertise", "-pool", f"127.0.0.1:{cm.port}", "UPDATE_AD_GENERIC",
                    ws.chroot_path(path)], client)


def _requests(cm: acp.Daemons, reader: Path) -> list[dict[str, Any]]:
    proc = cm.tool(["condor_status", "-pool", f"127.0.0.1:{cm.port}", "-any", "-json",
                    "-constraint", 'MyType == "glideclient"'], reader)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout or "[]")


def test_request_ads_need_daemon_authorization(ws: acp.Workspace, cm: acp.Daemons) -> None:
    ad = {"MyType": "glideclient", "Name": "probe@x", "ReqName": "entry1"}
    for scope in ("condor:/ADVERTISE_MASTER", "condor:/ADVERTISE_SCHEDD", "condor:/WRITE"):
        client = _client(ws, cm, f"probe-{scope[8:].lower()}", ["condor:/READ", scope])
        assert _advertise(ws, cm, client, ad, "probe").returncode != 0, scope
    client = _client(ws, cm, "probe-daemon", ["condor:/READ", "condor:/DAEMON"])
    assert _advertise(ws, cm, client, ad, "probe").returncode == 0


def test_sealed_request_through_the_collector(ws: acp.Workspace, cm: acp.Daemons) -> None:
    factory_key = sealing.generate_factory_key()
    public = sealing.public_key_pem(factory_key)
    frontend = _client(ws, cm, "vofrontend", ["condor:/READ", "condor:/DAEMON"])
    pool_token = _token(cm, "glidein-e1", ["condor:/READ", "condor:/ADVERTISE_STARTD",
                                           "condor:/ADVERTISE_MASTER"])
    entry = Entry(name="entry1", grid_type="condor", gatekeeper="ce:9619", site="S",
                  allowed_frontends=(FRONTEND,))
    plan = selection.plan_credentials(entry, [{"type": "idtokens"}])
    sealed = sealing.seal_params({selection.PARAM_POOL_TOKEN: pool_token.encode()}, public,
                                 FRONTEND)
    ad = {"MyType": "glideclient", "Name": "entry1@vofrontend.main", "ReqName": "entry1",
          "ClientName": "vofrontend.main", "ReqIdleGlideins": 3, "ReqMaxGlideins": 10,
          # a forged identity: the collector must replace it
          "AuthenticatedIdentity": "factory-admin@gwms-auth.test",
          **{f"GlideinParam{k}": v for k, v in plan.clear_params().items()},
          **{f"GlideinEncParam{k}": v for k, v in sealed.items()}}
    assert _advertise(ws, cm, frontend, ad, "request").returncode == 0
    reader = _client(ws, cm, "factory", ["condor:/READ"])
    (got,) = [a for a in _requests(cm, reader) if a["Name"] == "entry1@vofrontend.main"]
    assert got["AuthenticatedIdentity"] == FRONTEND
    assert got["AuthenticationMethod"] == "IDTOKENS"
    assert trust.check_request_identity(got, [FRONTEND]).accepted
    assert not trust.check_request_identity(got, ["factory-admin@gwms-auth.test"]).accepted
    dec = sealing.FactoryKeyDecryptor([factory_key])
    result = intake.read_requests([got], {"entry1": entry}, "fac", "gl", dec)
    assert result.secrets[("entry1", FRONTEND, "vofrontend.main", "default")] == {
        "PoolIdToken": pool_token}

    # another frontend copies the sealed value into its own ad: it does not open
    evil = _client(ws, cm, "evilfrontend", ["condor:/READ", "condor:/DAEMON"])
    replay = {**ad, "Name": "entry1@evil.main", "ClientName": "evil.main",
              "AuthenticatedIdentity": FRONTEND}
    assert _advertise(ws, cm, evil, replay, "replay").returncode == 0
    (copied,) = [a for a in _requests(cm, reader) if a["Name"] == "entry1@evil.main"]
    assert copied["AuthenticatedIdentity"] == f"evilfrontend@{acp.TRUST_DOMAIN}"
    both = Entry(name="entry1", grid_type="condor", gatekeeper="ce:9619", site="S",
                 allowed_frontends=(FRONTEND, copied["AuthenticatedIdentity"]))
    refused = intake.read_requests([copied], {"entry1": both}, "fac", "gl", dec)
    assert refused.refused[0].reason == "credential refused: decrypt"

    # nothing secret reached the collector's log or the ads in clear
    ads_text = json.dumps(_requests(cm, reader))
    assert_no_secret({"CollectorLog": cm.log("Collector"), "request ads": ads_text},
                     [pool_token, factory_key])


def test_nothing_the_daemons_wrote_holds_a_secret(ws: acp.Workspace) -> None:
    # last in the module: every log, spool file and ad dump written above
    texts, secrets, findings = ws.scan_for_secrets()
    assert texts >= 5 and secrets >= 3, (texts, secrets)
    assert findings == []
