"""One request ad per (entry, credential): the split rule, the ids, and each ad carrying
only its own credential's sealed secrets."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gwms_core.config import ConfigError, load_config
from gwms_core.credentials.sealing import (
    FactoryKeyDecryptor,
    generate_factory_key,
    public_key_attrs,
    public_key_pem,
)
from gwms_core.credentials.selection import (
    credential_ids,
    plan_all_credentials,
    plan_credentials,
)
from gwms_core.entries import Entry as CoreEntry
from gwms_core.frontend.credentials import credential_params
from gwms_core.frontend.credsplit import apportion, split_request
from gwms_core.frontend.demand import Decision, decide
from gwms_core.frontend.model import Entry, JobGroup, RemovalLevel, Request
from gwms_core.frontend.service import entry_from_ad, request_ads
from gwms_core.frontend.settings import FrontendSettings, GroupSettings, settings_from_config
from gwms_core.types import CredentialError
from gwms_plugins.auth import idtokens, scitokens

ROOT = Path(__file__).resolve().parents[3]
IDENT = "vofrontend@gwms.test"

# --------------------------------------------------------------------------- the rule


@pytest.mark.parametrize(("total", "weights", "expected"), [
    (10, [1], [10]),
    (10, [1, 1], [5, 5]),
    (1, [1, 1], [1, 0]),          # ties go to the credential listed first
    (3, [1, 1, 1, 1], [1, 1, 1, 0]),
    (7, [2, 1], [5, 2]),          # 4.67 / 2.33: the larger remainder gets the spare unit
    (7, [1, 2], [2, 5]),
    (14, [3, 1], [11, 3]),        # 10.5 / 3.5: tie of remainders, first listed wins
    (5, [0, 1], [0, 5]),          # weight 0 asks for none
    (5, [0, 0], [0, 0]),          # every weight 0: nothing
    (0, [3, 1], [0, 0]),
    (100, [1, 1, 1], [34, 33, 33]),
])
def test_apportion_table(total: int, weights: list[int], expected: list[int]) -> None:
    assert apportion(total, weights) == expected


def test_apportion_refuses_negative_input() -> None:
    with pytest.raises(ValueError):
        apportion(-1, [1])
    with pytest.raises(ValueError):
        apportion(3, [1, -1])


@given(total=st.integers(0, 10**6), weights=st.lists(st.integers(0, 1000), min_size=1,
                                                     max_size=8))
def test_apportion_properties(total: int, weights: list[int]) -> None:
    shares = apportion(total, weights)
    assert len(shares) == len(weights)
    assert all(s >= 0 for s in shares)
    whole = sum(weights)
    if whole == 0:
        assert shares == [0] * len(weights)
        return
    assert sum(shares) == total
    for s, w in zip(shares, weights, strict=True):
        exact = total * w / whole
        assert exact - 1 < s < exact + 1  # within one of the exact quota
        if w == 0:
            assert s == 0


@given(idle=st.integers(0, 5000), maxg=st.integers(0, 5000),
       weights=st.lists(st.integers(1, 50), min_size=1, max_size=6))
def test_split_keeps_totals_and_everything_else(idle: int, maxg: int,
                                                weights: list[int]) -> None:
    whole = Request(entry="E", req_idle_glideins=idle, req_max_glideins=maxg,
                    req_remove_excess=RemovalLevel.IDLE, req_remove_excess_margin=2,
                    monitor={"MatchedIdle": 9.0})
    parts = split_request(whole, weights)
    assert sum(p.req_idle_glideins for p in parts) == idle
    assert sum(p.req_max_glideins for p in parts) == maxg
    assert all(p.req_idle_glideins >= 0 and p.req_max_glideins >= 0 for p in parts)
    assert {(p.req_remove_excess, p.req_remove_excess_margin, p.entry) for p in parts} == {
        (RemovalLevel.IDLE, 2, "E")}
    assert split_request(whole, [1]) == [whole]


# --------------------------------------------------------------------------- ids and plans


def _core(auth: str) -> CoreEntry:
    return CoreEntry(name="E", grid_type="condor", gatekeeper="ce", site="S", auth_method=auth)


CREDS = [{"type": "idtokens", "trust_domain": "a"},
         {"type": "scitokens", "id": "pilot", "weight": 3},
         {"type": "idtokens", "trust_domain": "b"},
         {"type": "scitokens"}]


def test_credential_ids_default_to_type_and_position() -> None:
    assert credential_ids(CREDS) == ["idtokens-0", "pilot", "idtokens-1", "scitokens-1"]


def test_every_credential_of_the_entry_method_gets_a_plan() -> None:
    sci = plan_all_credentials(_core("scitokens"), CREDS)
    assert [(p.credential_id, p.weight, p.pool.index, p.submit and p.submit.index)
            for p in sci] == [("pilot", 3, 0, 1), ("scitokens-1", 1, 0, 3)]
    idt = plan_all_credentials(_core("idtokens"), CREDS)
    assert [(p.credential_id, p.pool.index, p.submit) for p in idt] == [
        ("idtokens-0", 0, None), ("idtokens-1", 2, None)]
    # the single plan of before is the first one
    assert plan_credentials(_core("scitokens"), CREDS) == sci[0]
    assert plan_credentials(_core("scitokens"), CREDS).credential_id == "pilot"
    with pytest.raises(CredentialError):
        plan_all_credentials(_core("gsi"), CREDS)


def _frontend_yaml(tmp_path: Path, creds: str) -> Path:
    text = (ROOT / "docs/examples/frontend.yaml").read_text()
    head, _, _ = text.partition("credentials:")
    path = tmp_path / "frontend.yaml"
    path.write_text(head + "credentials:\n" + creds)
    return path


def test_duplicate_credential_ids_are_refused_with_file_and_line(tmp_path: Path) -> None:
    creds = ("  - type: idtokens\n    trust_domain: gwms.test\n    id: same\n"
             "  - type: idtokens\n    trust_domain: gwms.test\n    id: same\n")
    with pytest.raises(ConfigError) as err:
        load_config(_frontend_yaml(tmp_path, creds))
    assert "credential id 'same' is also credentials[0]'s" in str(err.value)
    ok = load_config(_frontend_yaml(tmp_path, creds.replace("id: same\n", "id: one\n", 1)))
    assert [c.get("weight") for c in ok.data["credentials"]] == [1, 1]  # default filled in


# --------------------------------------------------------------------------- the ads


def _two_pool_keys(tmp_path: Path) -> tuple[list[dict[str, object]], list[Path]]:
    keys = []
    for name in ("A", "B"):
        key = tmp_path / name
        idtokens.write_signing_key_file(key, idtokens.generate_signing_key_file())
        keys.append(key)
    creds: list[dict[str, object]] = [
        {"type": "idtokens", "id": "pilot", "weight": 2, "signing_key": str(keys[0]),
         "trust_domain": "gwms.test"},
        {"type": "idtokens", "id": "prod", "weight": 1, "signing_key": str(keys[1]),
         "trust_domain": "gwms.test"}]
    return creds, keys


def test_two_credentials_give_two_ads_each_with_only_its_own_secret(tmp_path: Path) -> None:
    creds, keys = _two_pool_keys(tmp_path)
    private = generate_factory_key(bits=2048)
    entry_ad = {"Name": "E1@gwms-factory@gwms-factory", "GLIDEIN_Site": "T2_XX_A",
                "GLIDEIN_CPUS": 1, "GLIDEIN_GridType": "batch slurm",
                **public_key_attrs(public_key_pem(private))}
    entry = entry_from_ad(entry_ad)
    settings = settings_from_config(load_config(ROOT / "docs/examples/frontend.yaml").data)
    group = settings.groups[0]
    groups = [JobGroup(key=("T2_XX_A", 1), attrs={"DESIRED_Sites": "T2_XX_A",
                                                  "RequestCpus": 1},
                       cpus=1, memory=2000, idle=90)]
    decision = decide(groups, [entry], [], group.match, group.config)
    (single,) = request_ads(settings, group, decision, {entry.name: entry}, "cm:9618")
    ads = request_ads(settings, group, decision, {entry.name: entry}, "cm:9618",
                      credential_params(creds, IDENT))
    assert [ad["GlideinCredentialIdentifier"] for ad in ads] == ["pilot", "prod"]
    assert [ad["Name"] for ad in ads] == [
        "E1@gwms-factory@gwms-factory@vofrontend.main@pilot",
        "E1@gwms-factory@gwms-factory@vofrontend.main@prod"]
    assert single["ReqIdleGlideins"] > 1  # the split is visible
    for attr in ("ReqIdleGlideins", "ReqMaxGlideins"):
        assert sum(ad[attr] for ad in ads) == single[attr]  # type: ignore[misc]
        assert ads[0][attr] >= ads[1][attr]  # type: ignore[operator]
    dec = FactoryKeyDecryptor([private])
    signing = [idtokens.load_signing_key(k) for k in keys]
    tokens = []
    for ad, own, other in zip(ads, signing, reversed(signing), strict=True):
        sealed = {k.removeprefix("GlideinEncParam"): str(v) for k, v in ad.items()
                  if k.startswith("GlideinEncParam")}
        assert list(sealed) == ["PoolIdToken"]
        token = dec.decrypt(IDENT, sealed)["PoolIdToken"]
        tokens.append(token)
        idtokens.verify(token, own, issuer="gwms.test", scopes=idtokens.STARTD_SCOPES,
                        now=time.time())
        with pytest.raises(CredentialError):
            idtokens.verify(token, other, issuer="gwms.test",
                            scopes=idtokens.STARTD_SCOPES, now=time.time())
        assert all(t not in repr(ad) for t in tokens)
    assert tokens[0] != tokens[1]


def test_scitokens_credentials_each_send_their_own_scitoken(tmp_path: Path) -> None:
    pool = tmp_path / "POOL"
    idtokens.write_signing_key_file(pool, idtokens.generate_signing_key_file())
    issuer_key = tmp_path / "issuer.pem"
    issuer_key.write_bytes(scitokens.generate_issuer_key())
    sci = {"type": "scitokens", "issuer": "https://issuer.gwms.test",
           "private_key": str(issuer_key), "audience": "ANY"}
    creds = [{"type": "idtokens", "signing_key": str(pool), "trust_domain": "gwms.test"},
             {**sci, "id": "pilot", "subject": "vo-pilot"},
             {**sci, "id": "production", "subject": "vo-prod"}]
    private = generate_factory_key(bits=2048)
    attrs = public_key_attrs(public_key_pem(private))
    attrs["GLIDEIN_SupportedAuthenticationMethod"] = "scitokens"
    entry = Entry(name="E@g@f", site="S", cpus=1, memory=1000, grid_type="condor",
                  in_downtime=False, attrs=attrs)
    items = credential_params(creds, IDENT).per_credential(entry)
    assert [(i.credential_id, i.weight) for i in items] == [("pilot", 1), ("production", 1)]
    dec = FactoryKeyDecryptor([private])
    subjects = []
    for item in items:
        sealed = {k.removeprefix("GlideinEncParam"): v for k, v in item.params.items()
                  if k.startswith("GlideinEncParam")}
        clear = dec.decrypt(IDENT, sealed)
        claims = scitokens.precheck(clear["SubmitCredential"], issuer="https://issuer.gwms.test",
                                    audience="ANY", scopes=scitokens.COMPUTE_SCOPES,
                                    now=time.time()).claims
        subjects.append(claims["sub"])
        assert clear["SubmitCredential"] not in repr(item)
    assert subjects == ["vo-pilot", "vo-prod"]


def _example_decision(
        idle: int) -> tuple[FrontendSettings, GroupSettings, Entry, Decision]:
    """docs/examples/frontend.yaml's first group, one entry at T2_XX_A and ``idle`` idle
    single-core jobs there: (settings, group, entry, the group's decision)."""
    settings = settings_from_config(load_config(ROOT / "docs/examples/frontend.yaml").data)
    group = settings.groups[0]
    entry = entry_from_ad({"Name": "E1@f@f", "GLIDEIN_Site": "T2_XX_A"})
    groups = [JobGroup(key=("T2_XX_A", 1), attrs={"DESIRED_Sites": "T2_XX_A",
                                                  "RequestCpus": 1},
                       cpus=1, memory=2000, idle=idle)]
    return settings, group, entry, decide(groups, [entry], [], group.match, group.config)


def test_no_credential_source_gives_one_default_ad() -> None:
    settings, group, entry, decision = _example_decision(30)
    (ad,) = request_ads(settings, group, decision, {entry.name: entry}, "cm:9618",
                        lambda e: {"GlideinParamX": "1"})
    assert (ad["GlideinCredentialIdentifier"], ad["GlideinParamX"]) == ("default", "1")


def test_metrics_sum_the_credentials_of_an_entry() -> None:
    from gwms_core.frontend.credentials import CredentialRequest
    from gwms_core.frontend.metrics import FrontendMetrics
    from gwms_core.frontend.service import CycleResult

    class Two:
        def per_credential(self, entry: Entry) -> list[CredentialRequest]:
            return [CredentialRequest("a", 1, {}), CredentialRequest("b", 3, {})]

        def __call__(self, entry: Entry) -> dict[str, str]:
            return {}

    settings, group, entry, decision = _example_decision(60)
    (single,) = request_ads(settings, group, decision, {entry.name: entry}, "cm:9618")
    ads = request_ads(settings, group, decision, {entry.name: entry}, "cm:9618", Two())
    assert [a["GlideinCredentialIdentifier"] for a in ads] == ["a", "b"]
    assert ads[1]["ReqIdleGlideins"] > ads[0]["ReqIdleGlideins"]  # type: ignore[operator]
    m = FrontendMetrics()
    m.observe(CycleResult(started=0.0, ads=ads))
    text = m.render()
    labels = 'group="main",entry="E1@f@f"'
    for name, attr in (("requested_idle_glideins", "ReqIdleGlideins"),
                       ("requested_max_glideins", "ReqMaxGlideins")):
        line = f"gwms_frontend_{name}{{{labels}}} "
        (value,) = [ln.split(" ")[-1] for ln in text.splitlines() if ln.startswith(line)]
        assert float(value) == single[attr]
