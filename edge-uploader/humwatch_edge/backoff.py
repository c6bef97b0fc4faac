"""Exponential backoff with jitter, capped: how long to wait before trying again.

Many devices lose the network at the same moment (a switch reboots) and would come back in step;
the jitter spreads their retries. "Equal jitter" keeps at least half of the exponential delay, so
a failing endpoint is never hammered in a tight loop even when the random draw is small.
"""

from __future__ import annotations

import random
from collections.abc import Callable


class Backoff:
    def __init__(
        self,
        initial_s: float,
        max_s: float,
        *,
        factor: float = 2.0,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if initial_s <= 0 or max_s < initial_s or factor < 1:
            raise ValueError("need 0 < initial_s <= max_s and factor >= 1")
        self.initial_s = initial_s
        self.max_s = max_s
        self.factor = factor
        self._rand = rand
        self.failures = 0

    def ceiling(self) -> float:
        """The un-jittered delay for the current failure count (capped)."""
        if self.failures == 0:
            return 0.0
        # min() before the power would overflow: the exponent stays small once capped.
        exponent = min(self.failures - 1, 64)
        return float(min(self.max_s, self.initial_s * self.factor**exponent))

    def next_delay(self) -> float:
        """Record one more failure and return how long to wait: in [ceiling/2, ceiling]."""
        self.failures += 1
        ceiling = self.ceiling()
        return ceiling / 2 + self._rand() * ceiling / 2

    def reset(self) -> None:
        self.failures = 0
