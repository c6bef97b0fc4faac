"""Scheduler (no drift, missed slots skipped and counted) and backoff (capped, jittered, growing)."""

from __future__ import annotations

import threading

import pytest

from humwatch_edge.backoff import Backoff
from humwatch_edge.scheduler import DeadlineScheduler


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_given_slow_captures_when_running_a_day_then_deadlines_do_not_drift() -> None:
    # Given a 300 s interval and each capture+encode taking 10.7 s of clock time
    clock = FakeClock()
    scheduler = DeadlineScheduler(300.0, clock=clock)
    fired = []
    for _ in range(288):  # one day
        deadline = scheduler.due()
        assert deadline is not None
        fired.append(deadline)
        clock.now += 10.7  # the capture itself
        sleep = scheduler.next_deadline() - clock.now
        clock.now += sleep + 0.003  # woken a little late, as a real sleep is
    # Then the last capture is exactly 287 intervals after the first: no accumulated drift
    assert fired[-1] - fired[0] == pytest.approx(287 * 300.0)
    assert scheduler.missed == 0


def test_given_not_yet_due_when_polled_then_nothing_fires() -> None:
    clock = FakeClock()
    scheduler = DeadlineScheduler(60.0, clock=clock)
    assert scheduler.due() == 1000.0
    clock.now = 1059.9
    assert scheduler.due() is None
    clock.now = 1060.0
    assert scheduler.due() == 1060.0


def test_given_machine_suspended_for_ten_intervals_when_resumed_then_missed_slots_skipped_and_counted() -> (
    None
):
    clock = FakeClock()
    scheduler = DeadlineScheduler(60.0, clock=clock)
    assert scheduler.due() == 1000.0
    clock.now = 1000.0 + 10 * 60 + 5  # slept through slots 1..9, slot 10 just passed
    assert scheduler.due() == 1600.0  # one capture now, not a burst of ten
    assert scheduler.missed == 9
    assert scheduler.due() is None
    assert scheduler.next_deadline() == 1660.0


def test_given_stop_set_when_waiting_then_returns_none_promptly() -> None:
    scheduler = DeadlineScheduler(3600.0)
    stop = threading.Event()
    assert scheduler.wait(stop) is not None  # the first slot fires at once
    stop.set()
    assert scheduler.wait(stop) is None


def test_given_failures_when_backing_off_then_delay_grows_to_the_cap_within_jitter_bounds() -> None:
    backoff = Backoff(1.0, 30.0, rand=lambda: 1.0)
    assert [backoff.next_delay() for _ in range(7)] == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    low = Backoff(1.0, 30.0, rand=lambda: 0.0)
    assert [low.next_delay() for _ in range(3)] == [0.5, 1.0, 2.0]  # never below half: no tight loop


def test_given_many_failures_when_backing_off_then_no_overflow_and_reset_starts_over() -> None:
    backoff = Backoff(2.0, 300.0)
    for _ in range(5000):
        delay = backoff.next_delay()
    assert 150.0 <= delay <= 300.0
    backoff.reset()
    assert 1.0 <= backoff.next_delay() <= 2.0


def test_given_real_random_jitter_when_many_devices_back_off_then_delays_spread() -> None:
    delays = {round(Backoff(1.0, 60.0).next_delay() + Backoff(1.0, 60.0).next_delay(), 6) for _ in range(50)}
    assert len(delays) > 40


def test_given_bad_arguments_when_building_then_value_errors() -> None:
    with pytest.raises(ValueError):
        Backoff(0, 1)
    with pytest.raises(ValueError):
        Backoff(5, 1)
    with pytest.raises(ValueError):
        DeadlineScheduler(0)
