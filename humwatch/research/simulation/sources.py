"""Where simulated clips come from and how they are scored: the two seams a test can replace."""

from __future__ import annotations

from typing import Protocol

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


def synth_source(snr_db: float) -> ClipSource:
    """Clips of `humwatch.research.synth` machines: even seeds are fans, odd seeds pumps."""
    from humwatch.research.synth import MachineSpec, synth_clip

    specs: dict[int, MachineSpec] = {}

    def make(
        machine_seed: int,
        *,
        fault: str | None,
        severity: float,
        speed_offset: float,
        gain_db: float,
        seed: int,
    ) -> np.ndarray:
        if machine_seed not in specs:
            specs[machine_seed] = MachineSpec.from_seed(
                "fan" if machine_seed % 2 == 0 else "pump", machine_seed
            )
        return synth_clip(
            specs[machine_seed],
            fault=fault,
            severity=severity,
            snr_db=snr_db,
            seed=seed,
            speed_offset=speed_offset,
            gain_db=gain_db,
        )

    return make
