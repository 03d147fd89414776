"""Request intake, advertised ads, submit descriptions and the state file."""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import pytest

from gwms_core.entries import Entry, EntryLimits
from gwms_core.factory import ads as ADS
from gwms_core.factory import attrs as A
from gwms_core.factory import state as ST
from gwms_core.factory.intake import identity_allowed, read_requests, target_entry
from gwms_core.factory.model import Counts, RemovalLevel, Request
from gwms_core.manager import get_registry
from gwms_core.types import CredentialError, Family

ENTRY = Entry(name="E1", grid_type="batch", gatekeeper="local", site="T2_XX_A",
              batch_system="slurm", allowed_frontends=("vofrontend", "cms@other.org"),
              limits=EntryLimits(max_idle=7))
ENTRIES = {"E1": ENTRY}


def ad(**kw: object) -> dict[str, object]:
    base: dict[str, object] = {
        "MyType": "glideclient", "Name": "E1@fac@fac@vofe.main", "ReqName": "E1@fac@fac",
        "ClientName": "vofe.main", "ReqIdleGlideins": 4, "ReqMaxGlideins": 9,
        "ReqRemoveExcess": "WAIT", "ReqRemoveExcessMargin": 1,
        "AuthenticatedIdentity": "vofrontend@gwms.test", "AuthenticationMethod": "IDTOKENS",
    }
    base.update(kw)
    return {k: v for k, v in base.items() if v is not None}


def test_accepts_an_allowed_authenticated_request() -> None:
    got = read_requests([ad(GlideinParamGLIDEIN_Collector="cm:9618")], ENTRIES, "fac", "fac")
    assert got.refused == ()
    assert got.requests == (Request(entry="E1", client="vofe.main",
                                    frontend="vofrontend@gwms.test", idle=4, max_glideins=9,
                                    remove=RemovalLevel.WAIT, margin=1, name="E1@fac@fac",
                                    params={"GLIDEIN_Collector": "cm:9618"}),)


@pytest.mark.parametrize(("changes", "reason"), [
    ({"AuthenticatedIdentity": None}, "not authenticated"),
    ({"AuthenticatedIdentity": "intruder@gwms.test"}, "not allowed"),
    ({"AuthenticatedIdentity": "cms@gwms.test"}, "not allowed"),  # domain must match
    ({"AuthenticatedIdentity": "vofrontend@unmapped"}, "not authenticated as a frontend"),
    ({"AuthenticatedIdentity": "vofrontend"}, "not user@domain"),
    ({"AuthenticatedIdentity": 7}, "not a non-empty string"),
    ({"ReqName": "NOPE@fac@fac"}, "no such entry"),
    ({"ReqIdleGlideins": -1}, "non-negative"),
    ({"ReqMaxGlideins": "many"}, "non-negative"),
    ({"ClientName": None, "Name": None}, "no ClientName"),
    ({"GlideinEncParamToken": "c2VjcmV0LXZhbHVlLXNlY3JldA=="}, "credential refused"),
])
def test_refusals(changes: dict[str, object], reason: str) -> None:
    good = ad(ClientName="other.main", Name="E1@fac@fac@other.main")
    got = read_requests([ad(**changes), good], ENTRIES, "fac", "fac")
    assert len(got.refused) == 1
    assert reason in got.refused[0].reason
    # the entry keeps serving the other request
    assert [r.client for r in got.requests] == ["other.main"]
    # a refusal never carries the encrypted value
    assert "c2VjcmV0" not in repr(got.refused)


def test_ads_for_other_factories_and_types_are_ignored() -> None:
    got = read_requests([ad(ReqName="E1@g@otherfactory"), ad(MyType="glidefactory")],
                        ENTRIES, "fac", "fac")
    assert got.requests == () and got.refused == ()


class KeyHolder:
    def decrypt(self, identity: str, encrypted: Mapping[str, str]) -> Mapping[str, str]:
        if encrypted.get("Token") == "bad":
            raise CredentialError("decryption failed", "wrong key")
        return {k: v[::-1] for k, v in encrypted.items()}


def test_decryptor_seam_keeps_secrets_apart() -> None:
    got = read_requests([ad(GlideinEncParamToken="terces")], ENTRIES, "fac", "fac", KeyHolder())
    (r,) = got.requests
    assert got.secrets == {("E1", "vofrontend@gwms.test", "vofe.main", "default"):
                           {"Token": "secret"}}
    assert "secret" not in repr(got) and "secret" not in repr(r)
    bad = read_requests([ad(GlideinEncParamToken="bad")], ENTRIES, "fac", "fac", KeyHolder())
    assert bad.refused[0].reason == "credential refused: decryption failed"


def test_later_ad_for_same_client_wins() -> None:
    got = read_requests([ad(ReqIdleGlideins=1), ad(ReqIdleGlideins=2)], ENTRIES, "fac", "fac")
    assert [r.idle for r in got.requests] == [2]


@pytest.mark.parametrize(("value", "entry"), [
    ("E1@fac@fac", "E1"), ("E1", "E1"), ("E1@x@fac", None), ("E1@fac", None), ("", None),
])
def test_target_entry(value: str, entry: str | None) -> None:
    assert target_entry({"ReqName": value}, "fac", "fac") == entry


def test_identity_allowed() -> None:
    assert identity_allowed("vofrontend@any.domain", ["vofrontend"])
    assert identity_allowed("cms@other.org", ["cms@other.org"])
    assert not identity_allowed("cms@gwms.test", ["cms@other.org"])
    assert not identity_allowed("vofrontend2@x", ["vofrontend"])
    assert not identity_allowed("vofrontend@x", [])


# --------------------------------------------------------------------------- ads


def test_entry_ad_has_the_names_the_frontend_reads() -> None:
    e = ENTRY
    a = ADS.entry_ad(e, "fac", "fac", Counts(unsubmitted=1, idle=2, running=3, held=4),
                     "batch slurm")
    assert a["MyType"] == "glidefactory"
    assert a["Name"] == "E1@fac@fac"
    # gwms_core.frontend.model.Entry reads these:
    assert (a["EntryName"], a["GLIDEIN_Site"], a["GLIDEIN_CPUS"], a["GLIDEIN_MaxMemMBs"],
            a["GLIDEIN_GridType"], a["GLIDEIN_In_Downtime"]) == (
        "E1", "T2_XX_A", 1, 2000, "batch slurm", False)
    assert a["GlideinConfigPerEntryMaxIdle"] == 7
    assert (a["GlideinMonitorTotalStatusIdle"], a["GlideinMonitorTotalStatusRunning"],
            a["GlideinMonitorTotalStatusHeld"], a["GlideinMonitorTotalStatusTotal"]) == (
        3, 3, 4, 10)


def test_submit_description_tags_and_backend() -> None:
    reg = get_registry().get(Family.BACKEND, "batch")
    r = Request(entry="E1", client='vo"fe.main', frontend="vofrontend@gwms.test", idle=1,
                max_glideins=1, name="E1@fac@fac")
    d = ADS.submit_description(ENTRY, reg.handler, {}, r, factory="fac", glidein="fac",  # type: ignore[union-attr]
                               submission_id="sid-1", executable="/x/glidein_startup.sh",
                               arguments='"a b"')
    assert d["universe"] == "grid"
    assert d["grid_resource"] == "batch slurm"
    assert d["batch_runtime"] == "172800"
    assert d["+GlideinFactory"] == '"fac"'
    assert d["+GlideinClient"] == '"vo\\"fe.main"'
    assert d["+GwmsSubmissionId"] == '"sid-1"'
    assert d["+GlideinFrontendName"] == '"vofrontend@gwms.test"'
    assert set(A.TAGS) <= {k.lstrip("+") for k in d}


def test_glidein_arguments_round_trip() -> None:
    r = Request(entry="E1", client="vofe.main", frontend="x", idle=1, max_glideins=1,
                params={"GLIDEIN_Collector": "cm:9618", "Odd": "it's \"x y\""})
    text = ADS.glidein_arguments(ENTRY, r, "fac", "http://h/stage/manifest.sha256", "ab" * 32)
    assert text.startswith('"') and text.endswith('"')
    # HTCondor's new syntax: '' inside single quotes is a literal quote, "" a literal "
    inner = text[1:-1].replace('""', '"')
    args = [a.replace("''", "'") for a in shlex.split(inner.replace("''", "\x00"))]
    args = [a.replace("\x00", "'") for a in args]
    assert args[:4] == ["--manifest-url", "http://h/stage/manifest.sha256",
                        "--manifest-sha256", "ab" * 32]
    assert args[4:12] == ["--factory", "fac", "--entry", "E1", "--frontend", "vofe",
                          "--site", "T2_XX_A"]
    assert "--group" in args and args[args.index("--group") + 1] == "main"
    assert "GLIDEIN_Collector=cm:9618" in args
    assert "Odd=it's \"x y\"" in args


# --------------------------------------------------------------------------- state


def test_state_round_trip_and_atomic_write(tmp_path: Path) -> None:
    p = tmp_path / "s" / "state.json"
    s = ST.State()
    s.pending["sid"] = ST.Pending("E", "c", 3, 12.5)
    s.bump("submitted", 4)
    ST.save(p, s)
    back = ST.load(p)
    assert back.rebuilt == ""
    assert back.pending == s.pending and back.counters == {"submitted": 4}
    assert list(p.parent.iterdir()) == [p]  # no temporary left behind


@pytest.mark.parametrize("content", [b"", b"{", b"\xff\xfe", b"[]", b'{"version": 99}',
                                     b'{"version": 1, "pending": {"x": {"entry": 1}}}'])
def test_corrupt_state_is_rebuilt(tmp_path: Path, content: bytes) -> None:
    p = tmp_path / "state.json"
    p.write_bytes(content)
    s = ST.load(p)
    assert s.rebuilt.startswith("corrupt")
    assert s.pending == {}


def test_missing_state_and_stale_temporaries(tmp_path: Path) -> None:
    p = tmp_path / "state.json"
    assert ST.load(p).rebuilt == "missing"
    (tmp_path / ".state.json.abc.tmp").write_text("x")
    assert ST.clean_temporaries(p) == 1
    assert not list(tmp_path.iterdir())
    assert json.loads(json.dumps(ST.State().to_json()))["version"] == ST.VERSION


@pytest.mark.parametrize(("method", "command"), [("scitokens", "scitokens_file"),
                                                 ("gsi", "x509userproxy"), ("idtokens", None)])
def test_credential_commands(method: str, command: str | None) -> None:
    desc, token = ADS.credential_commands(
        {"PoolIdToken": "/w/c/pool.idtoken", "SubmitCredential": "/w/c/submit.credential"},
        method)
    assert desc["transfer_input_files"] == "/w/c/pool.idtoken"
    assert token == "pool.idtoken"
    if command:
        assert desc[command] == "/w/c/submit.credential"
    assert set(desc) <= {"transfer_input_files", "scitokens_file", "x509userproxy"}
    assert ADS.credential_commands({}, method) == ({}, "")


def test_write_private(tmp_path: Path) -> None:
    p = tmp_path / "creds" / "x" / "pool.idtoken"
    assert ST.write_private(p, b"tok")
    assert p.read_bytes() == b"tok"
    assert p.stat().st_mode & 0o777 == 0o600
    assert p.parent.stat().st_mode & 0o777 == 0o700
    assert not ST.write_private(p, b"tok")  # unchanged: not rewritten
    assert ST.write_private(p, b"new")
    assert sorted(x.name for x in p.parent.iterdir()) == ["pool.idtoken"]


def test_work_directory_lock(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    fd = ST.lock(tmp_path)
    with pytest.raises(ST.AlreadyRunning):
        ST.lock(tmp_path)
    # another process is refused too, and gets the lock once the holder is gone
    code = ("import sys; from pathlib import Path; from gwms_core.factory import state as S\n"
            "try:\n    S.lock(Path(sys.argv[1]))\nexcept S.AlreadyRunning:\n    sys.exit(3)\n")
    assert subprocess.run([sys.executable, "-c", code, str(tmp_path)]).returncode == 3
    os.close(fd)
    assert subprocess.run([sys.executable, "-c", code, str(tmp_path)]).returncode == 0


def test_frontend_parameters_cannot_override_factory_attributes() -> None:
    r = Request(entry="E1", client="vofe.main", frontend="x", idle=1, max_glideins=1,
                params={"GLIDEIN_Site": "FAKE", "GLIDEIN_Factory": "other", "OK_1": "v",
                        "bad-name": "v", "Multi": "a\nb", "GLIDEIN_Collector": "cm:9618"})
    text = ADS.glidein_arguments(ENTRY, r, "fac", "http://h/m", "ab" * 32)
    assert "FAKE" not in text and "other" not in text and "bad-name" not in text
    assert "Multi" not in text
    assert "--param OK_1=v" in text and "--param GLIDEIN_Collector=cm:9618" in text
    assert "--site T2_XX_A" in text


def test_the_entry_container_policy_goes_to_the_glidein_and_wins() -> None:
    entry = replace(ENTRY, attrs={"GLIDEIN_SINGULARITY_REQUIRE": "required", "Other": "x"})
    assert ADS.entry_glidein_params(entry) == {"GLIDEIN_SINGULARITY_REQUIRE": "required"}
    assert ADS.entry_glidein_params(ENTRY) == {}
    r = Request(entry="E1", client="vofe.main", frontend="x", idle=1, max_glideins=1,
                params={"GLIDEIN_SINGULARITY_REQUIRE": "never"})
    text = ADS.glidein_arguments(entry, r, "fac", "http://h/m", "ab" * 32,
                                 extra=ADS.entry_glidein_params(entry))
    assert "GLIDEIN_SINGULARITY_REQUIRE=required" in text
    assert "GLIDEIN_SINGULARITY_REQUIRE=never" not in text
