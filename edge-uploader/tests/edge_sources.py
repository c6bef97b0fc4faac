"""Generator hooks for the tests (`capture.generator = "edge_sources:noise"`).

Each call returns a different, deterministic signal (a counter seeds it), so every clip has its own
MD5 and a lost or duplicated clip cannot hide behind an identical twin. Set
HUMWATCH_EDGE_TEST_CAPTURE_SLEEP_S to make a capture take that long (a microphone blocks for the
clip's duration; the kill -9 test needs a capture in progress to interrupt).
"""

from __future__ import annotations

import itertools
import os
import time

import numpy as np

_counter = itertools.count()


def noise(duration_s: float, sample_rate: int) -> np.ndarray:
    sleep_s = float(os.environ.get("HUMWATCH_EDGE_TEST_CAPTURE_SLEEP_S", "0"))
    if sleep_s:
        time.sleep(sleep_s)
    n = next(_counter)
    rng = np.random.default_rng([os.getpid(), n])
    t = np.arange(round(duration_s * sample_rate)) / sample_rate
    tone = 0.3 * np.sin(2 * np.pi * (100 + n) * t)
    return (tone + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
