"""Orphaned clients (request gone past the grace period) and the factory file's policy keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gwms_core import defaults
from gwms_core.config import ConfigError
from gwms_core.entries import Entry, EntryLimits
from gwms_core.factory import ads as ADS
from gwms_core.factory import state as ST
from gwms_core.factory.decide import orphaned_clients, plan_entry
from gwms_core.factory.model import (
    DEFAULT_UNRECOVERABLE,
    Glidein,
    GlideinState,
    HeldPolicy,
    Policy,
    Reason,
    RemovalLevel,
    Request,
)
from gwms_core.factory.service import FactoryConfig
from gwms_core.manager import get_registry

S = GlideinState
NOW = 1_000_000
GRACE = 600


def g(n: int, state: GlideinState, client: str = "c1", frontend: str = "fe1",
      entry: str = "E", since: int = NOW - 100) -> Glidein:
    return Glidein(job_id=f"{n}.0", entry=entry, client=client, frontend=frontend,
                   state=state, since=since, qdate=since)


def req(idle: int = 1, maxg: int = 5, client: str = "c1", frontend: str = "fe1",
        entry: str = "E") -> Request:
    return Request(entry=entry, client=client, frontend=frontend, idle=idle, max_glideins=maxg,
                   remove=RemovalLevel.NO)


K1 = ("E", "fe1", "c1", "default")


# --------------------------------------------------------------------------- orphaned_clients


@pytest.mark.parametrize(("case", "glideins", "requests", "seen", "orphaned", "seen_after"), [
    ("request present: clock set to now",
     [g(1, S.IDLE)], [req()], {K1: NOW - 5000}, set(), {K1: NOW}),
    ("request gone, within grace", [g(1, S.IDLE)], [], {K1: NOW - GRACE + 1}, set(),
     {K1: NOW - GRACE + 1}),
    ("request gone, grace reached", [g(1, S.IDLE)], [], {K1: NOW - GRACE}, {K1},
     {K1: NOW - GRACE}),
    ("never seen (state lost): grace starts now", [g(1, S.IDLE)], [], {}, set(), {K1: NOW}),
    ("only running glideins: orphan (nothing to remove, but tracked)",
     [g(1, S.RUNNING)], [], {K1: NOW - GRACE}, {K1}, {K1: NOW - GRACE}),
    ("only removed/completed glideins: forgotten",
     [g(1, S.REMOVED), g(2, S.COMPLETED)], [], {K1: NOW - GRACE}, set(), {}),
    ("no glidein, no request: forgotten", [], [], {K1: NOW - 5}, set(), {}),
    ("same client name, other frontend identity: separate clocks",
     [g(1, S.IDLE), g(2, S.IDLE, frontend="fe2")], [req()],
     {K1: NOW - 9999, ("E", "fe2", "c1", "default"): NOW - GRACE},
     {("E", "fe2", "c1", "default")}, {K1: NOW, ("E", "fe2", "c1", "default"): NOW - GRACE}),
    ("request at another entry does not cover this one",
     [g(1, S.IDLE)], [req(entry="F")], {K1: NOW - GRACE},
     {K1}, {K1: NOW - GRACE, ("F", "fe1", "c1", "default"): NOW}),
])
def test_orphaned_clients(case: str, glideins: list[Glidein], requests: list[Request],
                          seen: dict[tuple[str, str, str, str], int],
                          orphaned: set[tuple[str, str, str, str]],
                          seen_after: dict[tuple[str, str, str, str], int]) -> None:
    out = orphaned_clients(glideins, requests, seen, NOW, GRACE)
    assert out.orphaned == orphaned, case
    assert dict(out.last_seen) == seen_after, case


def test_grace_zero_disables() -> None:
    out = orphaned_clients([g(1, S.IDLE)], [], {K1: 0}, NOW, 0)
    assert out.orphaned == frozenset()


def test_orphan_after_restart_waits_a_full_grace() -> None:
    """State lost: the first cycle starts the clock, the removal comes a grace later."""
    seen: dict[tuple[str, str, str, str], int] = {}
    glideins = [g(1, S.IDLE)]
    for t, expect in [(NOW, False), (NOW + GRACE - 1, False), (NOW + GRACE, True)]:
        out = orphaned_clients(glideins, [], seen, t, GRACE)
        seen = dict(out.last_seen)
        assert (K1 in out.orphaned) is expect, t


# --------------------------------------------------------------------------- plan_entry


def test_plan_entry_removes_waiting_glideins_of_orphans_only() -> None:
    gs = [g(1, S.UNSUBMITTED), g(2, S.IDLE), g(3, S.RUNNING), g(4, S.HELD),
          g(5, S.IDLE, client="c2")]
    plan = plan_entry("E", EntryLimits(), gs, [req(idle=1, maxg=5, client="c2")],
                      Policy(idle_lifetime_s=0, held=HeldPolicy(backoff_s=10**9)), NOW,
                      orphaned=[("fe1", "c1", "default")])
    removed = {a.glidein.job_id: a.reason for a in plan.remove}
    assert removed == {"1.0": Reason.ORPHANED, "2.0": Reason.ORPHANED}
    assert plan.orphaned == (("fe1", "c1", "default"),)
    assert plan.submit == ()  # c2 has its one idle glidein


def test_plan_entry_client_with_request_is_not_orphan() -> None:
    gs = [g(1, S.IDLE), g(2, S.IDLE)]
    plan = plan_entry("E", EntryLimits(), gs, [req(idle=2)], Policy(idle_lifetime_s=0), NOW,
                      orphaned=[("fe1", "c1", "default")])
    assert plan.remove == ()
    assert plan.orphaned == ()


def test_orphan_removal_counts_before_submission() -> None:
    """An orphan's removed glideins free the entry's idle limit for other clients."""
    gs = [g(i, S.IDLE) for i in range(4)]
    limits = EntryLimits(max_idle=4)
    without = plan_entry("E", limits, gs, [req(idle=3, client="c2")], Policy(idle_lifetime_s=0),
                         NOW)
    assert without.submit_count == 0
    with_orphans = plan_entry("E", limits, gs, [req(idle=3, client="c2")],
                              Policy(idle_lifetime_s=0), NOW, orphaned=[("fe1", "c1", "default")])
    assert len(with_orphans.remove) == 4
    assert with_orphans.submit_count == 3


# --------------------------------------------------------------------------- held policy config


@pytest.mark.parametrize(("section", "expected"), [
    (None, HeldPolicy()),
    ({}, HeldPolicy(max_releases=defaults.HELD_MAX_RELEASES,
                    backoff_s=defaults.HELD_RELEASE_BACKOFF_SECONDS,
                    unrecoverable=DEFAULT_UNRECOVERABLE)),
    ({"max_releases": 0, "release_backoff_s": 60, "leave_user_holds": False},
     HeldPolicy(max_releases=0, backoff_s=60, leave_user_holds=False)),
    ({"unrecoverable_hold_codes": [12, {"code": 0, "subcode": 7}, {"code": 3}]},
     HeldPolicy(unrecoverable=frozenset({(12, None), (0, 7), (3, None)}))),
    ({"unrecoverable_hold_codes": []}, HeldPolicy(unrecoverable=frozenset())),
])
def test_held_policy_from_config(section: dict[str, object] | None,
                                 expected: HeldPolicy) -> None:
    assert HeldPolicy.from_config(section) == expected


def test_default_unrecoverable_is_the_defaults_module() -> None:
    assert {(c, None) for c in defaults.HELD_UNRECOVERABLE_CODES} == DEFAULT_UNRECOVERABLE


# --------------------------------------------------------------------------- factory file


def _write(tmp: Path, extra: str) -> Path:
    (tmp / "factory.yaml").write_text(
        "kind: factory\nname: fact\nwms_collector: cm.test:9618\n"
        f"work_dir: {tmp / 'work'}\n"
        "entry_sources:\n  - type: static\n    path: entries.yaml\n" + extra)
    return tmp / "factory.yaml"


def test_factory_file_defaults(tmp_path: Path) -> None:
    cfg = FactoryConfig.from_file(_write(tmp_path, ""), get_registry())
    assert cfg.glidein == "fact"
    assert cfg.policy.held == HeldPolicy()
    assert cfg.policy.orphan_grace_s == defaults.ORPHAN_GRACE_SECONDS
    assert cfg.log_dir == str(tmp_path / "work" / defaults.FACTORY_GLIDEIN_LOG_DIR)
    assert cfg.initialdir == ""
    assert cfg.key_files == ()


def test_factory_file_every_new_key(tmp_path: Path) -> None:
    path = _write(tmp_path, (
        "glidein_name: v1\n"
        "orphan_grace_s: 30\n"
        "held_glideins:\n  max_releases: 5\n  release_backoff_s: 20\n"
        "  unrecoverable_hold_codes: [7, {code: 0, subcode: 2}]\n  leave_user_holds: false\n"
        "key_files: [keys/new.pem, /etc/old.pem]\n"
        "initialdir: spool\n"
        "glidein_log_dir: /srv/glidein-logs\n"
        "executable: /opt/glidein.sh\n"))
    cfg = FactoryConfig.from_file(path, get_registry())
    assert cfg.glidein == "v1"
    assert cfg.policy.orphan_grace_s == 30
    assert cfg.policy.held == HeldPolicy(max_releases=5, backoff_s=20,
                                         unrecoverable=frozenset({(7, None), (0, 2)}),
                                         leave_user_holds=False)
    assert cfg.key_files == (tmp_path / "keys" / "new.pem", Path("/etc/old.pem"))
    assert cfg.initialdir == str(tmp_path / "work" / "spool")
    assert cfg.log_dir == "/srv/glidein-logs"
    assert cfg.executable == "/opt/glidein.sh"


def test_factory_file_empty_log_dir_keeps_no_output(tmp_path: Path) -> None:
    cfg = FactoryConfig.from_file(_write(tmp_path, "glidein_log_dir: ''\n"), get_registry())
    assert cfg.log_dir == ""


@pytest.mark.parametrize("bad", [
    "held_glideins:\n  max_releases: -1\n",
    "held_glideins:\n  unrecoverable_hold_codes: [{subcode: 2}]\n",
    "held_glideins:\n  backoff: 3\n",
    "orphan_grace_s: soon\n",
    "glidein_name: 'has space'\n",
])
def test_factory_file_bad_values_name_the_key(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ConfigError) as err:
        FactoryConfig.from_file(_write(tmp_path, bad), get_registry())
    key = bad.split(":", 1)[0]
    assert key in str(err.value.problems)


# --------------------------------------------------------------------------- glidein logs


@pytest.mark.parametrize(("entry", "client", "expected"), [
    ("SLURM", "vofe.main", "/w/logs/SLURM/vofe.main"),
    ("E", "../../etc", "/w/logs/E/.._.._etc"),
    ("E", "..", "/w/logs/E/_"),
    ("E", "", "/w/logs/E/_"),
    ("E", "a b/c", "/w/logs/E/a_b_c"),
])
def test_glidein_log_dir(entry: str, client: str, expected: str) -> None:
    assert ADS.glidein_log_dir("/w/logs/", entry, client) == expected
    assert ADS.glidein_log_dir("", entry, client) == ""


def test_submit_description_output_in_per_client_dir() -> None:
    from plugins.backends.batch import BatchBackend

    entry = Entry(name="SLURM", grid_type="batch", gatekeeper="local", site="S",
                  batch_system="slurm")
    desc = ADS.submit_description(
        entry, BatchBackend(), {}, req(), factory="f", glidein="f", submission_id="1-a",
        executable="/x", arguments='""', log_dir=ADS.glidein_log_dir("/w/logs", "SLURM", "c1"),
        initialdir="/w")
    assert desc["output"] == "/w/logs/SLURM/c1/$(Cluster).$(Process).out"
    assert desc["error"] == "/w/logs/SLURM/c1/$(Cluster).$(Process).err"
    assert desc["initialdir"] == "/w"


# --------------------------------------------------------------------------- state file


def test_state_keeps_request_clock(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    st = ST.State(request_seen={K1: NOW, ("F", "fe@x", "a.b", "pilot"): NOW - 3})
    ST.save(path, st)
    back = ST.load(path)
    assert back.rebuilt == ""
    assert back.request_seen == st.request_seen


@pytest.mark.parametrize("garbage", [[["E", "fe"]], "x", [["E", "f", "c", "later"]]])
def test_state_with_bad_request_clock_is_rebuilt(tmp_path: Path, garbage: object) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"version": ST.VERSION, "pending": {}, "counters": {},
                                "request_seen": garbage}))
    back = ST.load(path)
    assert back.rebuilt.startswith("corrupt")
    assert back.request_seen == {}


def test_key_files_from_the_file_are_what_the_factory_uses(tmp_path: Path) -> None:
    """The first key's public half is published; values sealed to the second are read."""
    from gwms_core.credentials.sealing import (
        generate_factory_key,
        public_key_attrs,
        public_key_pem,
        seal,
    )
    from gwms_core.factory.service import Factory

    (tmp_path / "keys").mkdir()
    new, old = generate_factory_key(2048), generate_factory_key(2048)
    (tmp_path / "keys" / "new.pem").write_bytes(new)
    (tmp_path / "keys" / "old.pem").write_bytes(old)
    cfg = FactoryConfig.from_file(
        _write(tmp_path, "key_files: [keys/new.pem, keys/old.pem]\n"), get_registry())
    f = Factory(cfg, schedd=None, collector=None, registry=get_registry())  # type: ignore[arg-type]
    assert f.pubkey_attrs == public_key_attrs(public_key_pem(new))
    assert f.pubkey_attrs != public_key_attrs(public_key_pem(old))
    sealed = seal(b"s3cret", public_key_pem(old), sender_identity="fe@x", name="PoolIdToken")
    assert f.decryptor is not None
    assert f.decryptor.decrypt("fe@x", {"PoolIdToken": sealed}) == {"PoolIdToken": "s3cret"}
