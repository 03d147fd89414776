"""The WMS collector client follows the central manager to a new address.

Pure parts (host names from collector addresses, the address-change decision, which
exceptions mean "collector unreachable") are table tests; :class:`CollectorHandle` is
exercised with real ``htcondor2.Collector`` objects (no daemon needed: the constructor
succeeds and a call to a port nobody listens on fails fast) and a scripted resolver.
"""

from __future__ import annotations

import logging
import socket

import pytest

from gwms_core.factory.collector import (
    AddressChange,
    CollectorHandle,
    address_change,
    collector_hosts,
    is_collector_error,
)


@pytest.mark.parametrize(("address", "hosts"), [
    ("cm.dns.podman", ("cm.dns.podman",)),
    ("cm.dns.podman:9618", ("cm.dns.podman",)),
    ("<10.89.2.10:9618?addrs=10.89.2.10-9618&alias=cm.dns.podman>", ("10.89.2.10",)),
    ("[fd00::10]:9618", ("fd00::10",)),
    ("fd00::10", ("fd00::10",)),
    ("cm1.example.org:9618, cm2.example.org cm1.example.org", ("cm1.example.org",
                                                               "cm2.example.org")),
    ("", ()),
])
def test_collector_hosts(address: str, hosts: tuple[str, ...]) -> None:
    assert collector_hosts(address) == hosts


@pytest.mark.parametrize(("before", "now", "changed"), [
    (None, ("10.0.0.10",), False),              # first resolution: nothing to compare
    (("10.0.0.10",), ("10.0.0.10",), False),
    (("10.0.0.10",), (), False),                # the name does not resolve (yet): keep
    (("10.0.0.10",), ("10.0.0.20",), True),
    (("10.0.0.10",), ("10.0.0.10", "10.0.0.20"), True),
    ((), ("10.0.0.20",), True),
])
def test_address_change(before: tuple[str, ...] | None, now: tuple[str, ...],
                        changed: bool) -> None:
    got = address_change("cm:9618", before, now)
    assert (got is not None) is changed
    if got is not None:
        assert got == AddressChange("cm:9618", before or (), now)


def test_address_change_describes_old_and_new() -> None:
    text = AddressChange("cm.dns.podman", ("10.89.2.10",), ("10.89.2.20",)).describe()
    assert text == "cm.dns.podman now resolves to 10.89.2.20 (was 10.89.2.10)"


@pytest.mark.parametrize(("exc", "expected"), [
    # htcondor2 23.9.6 (Debian 13, the deployed factory): query and advertise
    (RuntimeError("Failed communication with collector."), True),
    (RuntimeError("Unable to locate collector."), True),
    (RuntimeError("Unable to determine collector host."), True),
    (OSError("Failed to advertise to collector."), True),
    (RuntimeError("Invalid query."), False),
    (ValueError("invalid command FOO"), False),
    (KeyError("Name"), False),
])
def test_is_collector_error(exc: BaseException, expected: bool) -> None:
    assert is_collector_error(exc) is expected


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ScriptedResolver:
    """Answers each lookup with the next entry of ``answers`` (the last one repeats)."""

    def __init__(self, *answers: tuple[str, ...]) -> None:
        self.answers = list(answers)
        self.asked: list[tuple[str, ...]] = []

    def __call__(self, hosts: object) -> tuple[str, ...]:
        self.asked.append(tuple(hosts))  # type: ignore[call-overload]
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def test_handle_builds_a_new_collector_when_the_name_moves(
        caplog: pytest.LogCaptureFixture) -> None:
    pytest.importorskip("htcondor2")
    dns = ScriptedResolver(("10.0.0.10",), ("10.0.0.10",), (), ("10.0.0.20",),
                           ("10.0.0.20",))
    dropped: list[int] = []
    handle = CollectorHandle("cm.example.org:9618", "WMS collector", lookup=dns,
                             invalidate=lambda: str(dropped.append(1) or "test"))
    first = handle.get()                      # unchanged
    assert handle.get() is first              # unresolvable for a moment: kept
    with caplog.at_level(logging.WARNING, logger="gwms.factory"):
        moved = handle.get()                  # now elsewhere: a new Collector
    assert moved is not first
    assert handle.get() is moved              # stable again
    assert (handle.renewals, handle.address_changes, len(dropped)) == (1, 1, 1)
    assert dns.asked[0] == ("cm.example.org",)
    assert ("WMS collector cm.example.org:9618 now resolves to 10.0.0.20 (was 10.0.0.10): "
            "new Collector, cached security sessions dropped (test)") in caplog.text


def test_handle_renews_and_retries_once_after_a_collector_error(
        caplog: pytest.LogCaptureFixture) -> None:
    htcondor2 = pytest.importorskip("htcondor2")
    address = f"127.0.0.1:{_free_port()}"     # nobody listens: calls fail fast
    handle = CollectorHandle(address, "WMS collector", lookup=lambda hosts: ("127.0.0.1",),
                             invalidate=lambda: "")
    seen: list[object] = []

    def query(coll: object) -> object:
        seen.append(coll)
        return coll.query(htcondor2.AdType.Collector)  # type: ignore[attr-defined]

    unreachable = (getattr(htcondor2, "HTCondorException", OSError), RuntimeError, OSError)
    with caplog.at_level(logging.WARNING, logger="gwms.factory"), \
            pytest.raises(unreachable) as err:
        handle.call(query)
    assert is_collector_error(err.value)
    assert len(seen) == 2 and seen[0] is not seen[1]   # one retry, on a new Collector
    assert handle.renewals == 1 and handle.address_changes == 0
    assert f"WMS collector {address}: " in caplog.text and "retrying once" in caplog.text
    with pytest.raises(unreachable):
        handle.call(query, retry=False)                # a probe: no retry, renewed
    assert len(seen) == 3 and handle.renewals == 2


def test_handle_leaves_other_errors_alone() -> None:
    pytest.importorskip("htcondor2")
    handle = CollectorHandle("cm.example.org", lookup=lambda hosts: ("10.0.0.10",),
                             invalidate=lambda: "")

    def broken(coll: object) -> None:
        raise KeyError("Name")

    with pytest.raises(KeyError):
        handle.call(broken)
    assert handle.renewals == 0


def test_an_error_after_a_move_names_the_new_address(caplog: pytest.LogCaptureFixture) -> None:
    """A call already on its way to the old address fails: the renewal says where the
    collector went, also for a probe (no retry)."""
    htcondor2 = pytest.importorskip("htcondor2")
    address = f"127.0.0.1:{_free_port()}"
    dns = ScriptedResolver(("127.0.0.1",), ("127.0.0.1",), ("127.0.0.9",))
    handle = CollectorHandle(address, "WMS collector (wake poll)", lookup=dns,
                             invalidate=lambda: "")
    unreachable = (getattr(htcondor2, "HTCondorException", OSError), RuntimeError, OSError)
    with caplog.at_level(logging.WARNING, logger="gwms.factory"), \
            pytest.raises(unreachable):
        handle.call(lambda coll: coll.query(htcondor2.AdType.Collector), retry=False)
    assert (handle.renewals, handle.address_changes) == (1, 1)
    assert (f"WMS collector (wake poll) {address} now resolves to 127.0.0.9 (was 127.0.0.1): "
            in caplog.text)
