"""A small model trained once per test process on synthetic fan clips (a few seconds of CPU)."""

from __future__ import annotations

import tempfile
from functools import lru_cache

import numpy as np

from humwatch.datasets import load_labelled_clips
from humwatch.detectors import DetectorType, train_bundle
from humwatch.model.bundle import ModelBundle
from humwatch.research.synth import MachineSpec, synth_clip, write_dataset

SNR_DB = 10.0
CLIP_SECONDS = 4.0
MACHINE = MachineSpec.from_seed("fan", 0)


@lru_cache(maxsize=4)
def trained_bundle(seed: int = 0, epochs: int = 20) -> ModelBundle:
    with tempfile.TemporaryDirectory(prefix="humwatch-unit-") as tmp:
        manifest = write_dataset(
            tmp, machine_type="fan", n_clips=30, snr_db=SNR_DB, seed=1, duration_s=CLIP_SECONDS
        )
        clips = load_labelled_clips([manifest])
        return train_bundle(DetectorType.BLOG_AE, clips, None, epochs=epochs, seed=seed, model_id="unit-test")


def machine_clip(
    *, seed: int, fault: str | None = None, severity: float = 1.0, gain_db: float = 0.0
) -> np.ndarray:
    """A clip of the training machine that training never saw (its own seed)."""
    return synth_clip(
        MACHINE,
        fault=fault,
        severity=severity,
        snr_db=SNR_DB,
        seed=seed,
        duration_s=CLIP_SECONDS,
        gain_db=gain_db,
    )
