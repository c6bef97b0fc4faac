"""Where simulated clips come from and how they are scored: the two seams a test can replace."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np


class ClipSource(Protocol):
    """Synthesises one clip of a machine (float32 mono at the model's sample rate)."""

    def __call__(
        self,
        machine_seed: int,
        *,
        fault: str | None,
        severity: float,
        speed_offset: float,
        gain_db: float,
        seed: int,
    ) -> np.ndarray: ...


class ClipScorer(Protocol):
    """The trained model's anomaly score of one clip."""

    def __call__(self, samples: np.ndarray) -> float: ...


def generator_source(generator: str, snr_db: float) -> ClipSource:
    """Clips of one `humwatch.research.generators` generator (`synth` or `orders`): even machine
    seeds are fans, odd seeds pumps (`machine_for_seed`, as in `make eval`)."""
    from humwatch.research.generators import get_generator, machine_for_seed

    source = get_generator(generator)
    machines: dict[int, Any] = {}

    def make(
        machine_seed: int,
        *,
        fault: str | None,
        severity: float,
        speed_offset: float,
        gain_db: float,
        seed: int,
    ) -> np.ndarray:
        if machine_seed not in machines:
            machines[machine_seed] = machine_for_seed(source, machine_seed)
        return source.clip(
            machines[machine_seed],
            fault=fault,
            severity=severity,
            snr_db=snr_db,
            seed=seed,
            duration_s=10.0,
            speed_offset=speed_offset,
            gain_db=gain_db,
        )

    return make
