"""gwms_core.wake.ChangeWatch: early cycles on a changed fingerprint, with a fake clock."""

from __future__ import annotations

from collections.abc import Callable

from gwms_core.wake import ChangeWatch


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0

    def clock(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        assert s >= 0
        self.now += max(s, 0.01)


def make(values: Callable[[float], object], poll: float = 2.0,
         min_interval: float = 2.0) -> tuple[ChangeWatch, FakeTime, list[float]]:
    t = FakeTime()
    polls: list[float] = []

    def probe() -> object:
        polls.append(t.now)
        return values(t.now)

    w = ChangeWatch(probe, poll_s=poll, min_interval_s=min_interval, clock=t.clock,
                    sleep=t.sleep)
    return w, t, polls


def test_no_change_waits_for_the_timer() -> None:
    w, t, polls = make(lambda now: "same")
    w.snapshot()
    start = t.now
    assert w.wait(start, 10, lambda: False) == "timer"
    assert 10 <= t.now - start < 10.6
    assert w.early == 0
    # polled every 2 s from the minimum interval on, never before it
    assert all(p >= start + 2 for p in polls[1:])
    assert len(polls) >= 4


def test_change_wakes_at_the_next_poll() -> None:
    w, t, _ = make(lambda now: "a" if now < 105.2 else "b")
    w.snapshot()
    start = t.now
    assert w.wait(start, 60, lambda: False) == "change"
    assert 5.2 <= t.now - start <= 7.3
    assert w.early == 1


def test_change_before_the_minimum_interval_waits_for_it() -> None:
    w, t, _ = make(lambda now: "a" if now < 100.1 else "b", poll=1, min_interval=5)
    w.snapshot()
    start = t.now
    assert w.wait(start, 60, lambda: False) == "change"
    assert 5 <= t.now - start < 5.6


def test_change_during_the_cycle_is_seen() -> None:
    # the snapshot is taken before the cycle; the input changes while it runs
    w, t, _ = make(lambda now: "a" if now < 101 else "b")
    w.snapshot()
    start = t.now
    t.now += 3  # the cycle took 3 s
    assert w.wait(start, 60, lambda: False) == "change"
    assert t.now - start < 3.1


def test_failing_probe_is_no_change() -> None:
    t = FakeTime()

    def probe() -> object:
        if t.now > 100:
            raise OSError("collector down")
        return "a"

    w = ChangeWatch(probe, clock=t.clock, sleep=t.sleep)
    w.snapshot()
    assert w.wait(t.now, 10, lambda: False) == "timer"


def test_stop_ends_the_wait() -> None:
    w, t, _ = make(lambda now: "same")
    w.snapshot()
    start = t.now
    assert w.wait(start, 60, lambda: t.now > 103) == "stop"
    assert t.now - start < 4


def test_poll_zero_is_off() -> None:
    w, t, polls = make(lambda now: now, poll=0)
    w.snapshot()
    assert w.wait(t.now, 10, lambda: False) == "timer"
    assert len(polls) == 1  # only the snapshot


def test_custom_changed_ignores_other_differences() -> None:
    from gwms_core.wake import idle_rose

    def fp(idle: int) -> frozenset[tuple[str, str]]:
        return frozenset({("submit", str(idle)), ("other", "0")})

    # idle jobs fall (jobs started): no early cycle; above the reference: early cycle
    w, t, _ = make(lambda now: fp(5) if now < 101 else fp(3) if now < 110 else fp(6))
    w.changed = idle_rose
    w.snapshot()
    start = t.now
    assert w.wait(start, 60, lambda: False) == "change"
    assert 10 <= t.now - start <= 12.1


def test_idle_rose() -> None:
    from gwms_core.wake import idle_rose

    a = frozenset({("s1", "2"), ("s2", "0")})
    assert not idle_rose(a, a)
    assert not idle_rose(a, frozenset({("s1", "1"), ("s2", "0")}))
    assert idle_rose(a, frozenset({("s1", "2"), ("s2", "1")}))
    assert idle_rose(a, frozenset({("s1", "2"), ("s2", "0"), ("s3", "1")}))
    assert not idle_rose(a, frozenset({("s1", "2")}))  # a schedd gone
    assert not idle_rose(a, frozenset({("s1", "")}))  # undefined count


def test_requests_rose() -> None:
    from gwms_core.wake import requests_rose

    a = frozenset({("SLURM@c", "2", "10"), ("CE@c", "0", "4")})
    assert not requests_rose(a, a)
    assert not requests_rose(a, frozenset({("SLURM@c", "0", "1"), ("CE@c", "0", "4")}))
    assert not requests_rose(a, frozenset({("SLURM@c", "2", "10")}))  # one withdrawn
    assert requests_rose(a, frozenset({("SLURM@c", "3", "10"), ("CE@c", "0", "4")}))
    assert requests_rose(a, frozenset({("SLURM@c", "2", "10"), ("CE@c", "0", "5")}))
    assert requests_rose(a, a | {("NEW@c", "0", "0")})
