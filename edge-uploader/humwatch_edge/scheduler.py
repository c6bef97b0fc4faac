"""When to capture: every `interval` on absolute deadlines of a monotonic clock.

Sleeping `interval` after each capture would drift by the capture and encode time every cycle
(minutes a day); deadlines at start + k*interval do not. A monotonic clock is immune to NTP steps,
which a Raspberry Pi without a real-time clock takes at every boot. When the program falls behind
by more than a whole interval (a suspended machine, a very slow disk), the missed slots are skipped
and counted rather than captured in a burst.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class DeadlineScheduler:
    def __init__(
        self,
        interval_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        start: float | None = None,
    ) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be > 0")
        self.interval_s = interval_s
        self._clock = clock
        self.start = clock() if start is None else start
        self._slot = 0  # index of the next deadline to fire
        self.missed = 0

    def next_deadline(self) -> float:
        return self.start + self._slot * self.interval_s

    def due(self) -> float | None:
        """If the next deadline has passed, consume it and return it; else None.

        Slots that are more than one interval in the past are skipped (and counted in `missed`).
        """
        now = self._clock()
        deadline = self.next_deadline()
        if now < deadline:
            return None
        behind = math.floor((now - self.start) / self.interval_s)
        if behind > self._slot:
            self.missed += behind - self._slot
            self._slot = behind
        fired = self.next_deadline()
        self._slot += 1
        return fired

    def wait(self, stop: threading.Event) -> float | None:
        """Block until the next deadline (returned) or until `stop` is set (None)."""
        while not stop.is_set():
            fired = self.due()
            if fired is not None:
                return fired
            stop.wait(max(0.0, self.next_deadline() - self._clock()))
        return None
