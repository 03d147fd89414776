"""Metadata extraction, retention, FTS query building, users (pure functions)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gwms_core.logserver.extract import (
    GlideinFacts,
    extract,
    merge,
    parse_condor_log,
    pilot_exit_code,
)
from gwms_core.logserver.index import fts_query
from gwms_core.logserver.records import Attachment, LogRecord
from gwms_core.logserver.retention import RetentionPolicy, Usage, select_victims
from gwms_core.logserver.users import (
    Sessions,
    User,
    authenticate,
    check_password,
    hash_password,
    parse_users,
)

DATA = Path(__file__).resolve().parents[2] / "data" / "logserver"
T0 = 1_764_000_000.0


def r(dt: float, script: str = "glidein_startup.sh", severity: str = "info",
      **kw: object) -> LogRecord:
    return LogRecord(time=T0 + dt, script=script, severity=severity,
                     message=kw.pop("message", "m"), **kw)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- condor logs


def test_recorded_condor_log_success() -> None:
    f = parse_condor_log((DATA / "condor-event-ok.log").read_text())
    assert (f.job_id, f.node, f.return_value, f.signal) == ("1.0", "wn-rec.example.org", 0,
                                                            None)
    assert f.started is not None and f.ended is not None and f.ended >= f.started


def test_recorded_condor_log_failure() -> None:
    f = parse_condor_log((DATA / "condor-event-fail.log").read_text())
    assert (f.job_id, f.return_value) == ("2.0", 3)


def test_recorded_condor_log_signal() -> None:
    f = parse_condor_log((DATA / "condor-event-sig.log").read_text())
    assert (f.job_id, f.return_value, f.signal) == ("3.0", None, 9)


def test_condor_log_as_attachment_gives_exit_status_and_node() -> None:
    rec = LogRecord(time=T0, script="factory", severity="info",
                    file=Attachment("job.1.0.log",
                                    (DATA / "condor-event-sig.log").read_bytes()))
    f = extract("ce1", "g1", [rec])
    assert (f.exit_status, f.node, f.job_id, f.status) == (128 + 9, "wn-rec.example.org",
                                                           "3.0", "failed")


def test_pilot_stdout_exit_code() -> None:
    text = "=== Glidein starting\n...\n=== Glidein ending Tue Nov 24 with code 7 after 9 s\n"
    assert pilot_exit_code(text) == 7
    assert pilot_exit_code("nothing here") is None


# --------------------------------------------------------------------------- records


def test_failing_script_from_script_end() -> None:
    f = extract("ce1", "g1", [
        r(0, event="start", attrs={"GLIDEIN_Factory": "F", "frontend": "fe", "node": "n1"}),
        r(1, "a.sh", event="script_end", exit_code=0),
        r(2, "b.sh", "error", message="bad"),
        r(3, "b.sh", event="script_end", exit_code=4),
        r(4, "c.sh", event="script_end", exit_code=5),
        r(5, event="end", exit_code=4),
    ])
    assert (f.failing_script, f.exit_status, f.status) == ("b.sh", 4, "failed")
    assert (f.factory, f.frontend, f.node, f.start, f.end) == ("F", "fe", "n1", T0, T0 + 5)
    assert f.errors == 1


def test_fatal_record_names_the_script_without_end() -> None:
    f = extract("ce1", "g1", [r(0), r(1, "x.sh", "fatal")])
    assert (f.failing_script, f.status) == ("x.sh", "failed")


def test_nonzero_end_falls_back_to_last_error() -> None:
    f = extract("ce1", "g1", [r(0, "a.sh", "error"), r(1, "b.sh", "error"),
                              r(2, event="end", exit_code=1)])
    assert f.failing_script == "b.sh"


def test_success_and_running() -> None:
    assert extract("e", "g", [r(0), r(1, event="end", exit_code=0)]).status == "succeeded"
    assert extract("e", "g", [r(0), r(1, "x.sh", "error")]).status == "running"


def test_merge_widens_times_and_keeps_first_names() -> None:
    a = GlideinFacts("e", "g", node="n1", start=T0 + 5, last_seen=T0 + 6, errors=1)
    b = GlideinFacts("e", "g", node="n2", frontend="fe", start=T0, last_seen=T0 + 9,
                     exit_status=0, errors=2)
    m = merge(a, b)
    assert (m.node, m.frontend, m.start, m.last_seen, m.exit_status, m.errors) == \
        ("n1", "fe", T0, T0 + 9, 0, 3)
    assert merge(None, b) is b


# --------------------------------------------------------------------------- retention


def U(name: str, age: float, size: int) -> Usage:
    return Usage("e", name, T0 - age, size)


def test_retention_by_age() -> None:
    v = select_victims([U("old", 100, 1), U("new", 10, 1)], RetentionPolicy(50, None), T0)
    assert [u.glidein for u in v] == ["old"]


def test_retention_by_size_oldest_first() -> None:
    usage = [U("a", 30, 40), U("b", 20, 40), U("c", 10, 40)]
    v = select_victims(usage, RetentionPolicy(None, 90), T0)
    assert [u.glidein for u in v] == ["a"]
    v = select_victims(usage, RetentionPolicy(None, 10), T0)
    assert [u.glidein for u in v] == ["a", "b", "c"]


@given(st.lists(st.tuples(st.floats(0, 1e6), st.integers(0, 1000)), max_size=30),
       st.integers(0, 5000), st.floats(1, 1e6))
def test_retention_properties(rows: list[tuple[float, int]], max_bytes: int,
                              max_age: float) -> None:
    usage = [U(f"g{i}", age, size) for i, (age, size) in enumerate(rows)]
    victims = select_victims(usage, RetentionPolicy(max_age, max_bytes), T0)
    kept = [u for u in usage if u not in victims]
    assert sum(u.nbytes for u in kept) <= max_bytes
    assert all(u.last_seen >= T0 - max_age for u in kept)
    # nothing kept is older than something deleted for size
    size_victims = [u for u in victims if u.last_seen >= T0 - max_age]
    if size_victims and kept:
        assert max(u.last_seen for u in size_victims) <= min(u.last_seen for u in kept)


# --------------------------------------------------------------------------- search


@pytest.mark.parametrize(("text", "query"), [
    ("scratch", '"scratch"'),
    ("disk full", '"disk" "full"'),
    ('a" OR b', '"a" "OR" "b"'),
    ("valid*", '"valid"*'),
    ("NEAR(x y)", '"NEAR" "x" "y"'),
    ("wn042.example.org", '"wn042.example.org"'),
    ("   ", None),
    ("***", None),
])
def test_fts_query(text: str, query: str | None) -> None:
    assert fts_query(text) == query


# --------------------------------------------------------------------------- users


def test_password_hash_round_trip() -> None:
    h = hash_password("pw-123456", iterations=1000)
    assert check_password("pw-123456", h) and not check_password("pw-1234567", h)
    assert not check_password("x", "garbage")


def test_users_file_errors_name_line() -> None:
    with pytest.raises(ValueError, match="u:2: role"):
        parse_users("a:viewer:pbkdf2_sha256$1$AA==$AA==\nb:root:pbkdf2_sha256$1$AA==$AA==",
                    "u")


def test_authenticate_and_sessions_expire() -> None:
    users = {"v": User("v", "viewer", hash_password("secret-pw", iterations=1000))}
    assert authenticate(users, "v", "secret-pw") == users["v"]
    assert authenticate(users, "v", "nope") is None
    assert authenticate(users, "ghost", "secret-pw") is None
    s = Sessions(lifetime=10)
    cookie = s.create(users["v"], now=T0)
    got = s.get(cookie, now=T0 + 5)
    assert got is not None and got.role == "viewer"
    assert s.get(cookie, now=T0 + 11) is None
    assert s.get("forged", now=T0) is None


def test_hash_not_in_repr() -> None:
    u = User("v", "viewer", hash_password("secret-pw", iterations=1000))
    assert "pbkdf2" not in repr(u)


def test_condor_exit_outranks_the_glideins_end_record_in_any_order() -> None:
    own = extract("e", "g", [r(0), r(1, event="end", exit_code=0)])
    condor = extract("e", "g", [LogRecord(
        time=T0 + 5, script="factory", severity="info",
        file=Attachment("job.3.0.log", (DATA / "condor-event-sig.log").read_bytes()))])
    assert condor.exit_from_condor and not own.exit_from_condor
    assert merge(own, condor).exit_status == 137
    assert merge(condor, own).exit_status == 137
    assert merge(condor, own).status == "failed"


def test_pilot_stdout_exit_used_only_without_better_source() -> None:
    out = LogRecord(time=T0, script="factory", severity="info",
                    file=Attachment("job.1.0.out", b"... ending now with code 5\n"))
    assert extract("e", "g", [out]).exit_status == 5
    assert extract("e", "g", [r(0, event="end", exit_code=0), out]).exit_status == 0


def test_login_throttle() -> None:
    from gwms_core.logserver.users import LoginThrottle
    t = LoginThrottle(limit=3, window=60)
    for i in range(3):
        assert t.allowed("10.0.0.1", now=T0 + i)
        t.failed("10.0.0.1", now=T0 + i)
    assert not t.allowed("10.0.0.1", now=T0 + 10)
    assert t.allowed("10.0.0.2", now=T0 + 10)          # other addresses unaffected
    assert t.allowed("10.0.0.1", now=T0 + 60.5)        # oldest failure left the window
    t.failed("10.0.0.1", now=T0 + 61)
    t.succeeded("10.0.0.1")
    assert t.allowed("10.0.0.1", now=T0 + 62)
