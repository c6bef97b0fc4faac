"""Score clips with a model bundle of any detector type: every bundle is one ONNX graph, run
by the one session factory (`humwatch.model.session`: one thread, no spinning).

This module runs inside Lambda, so it imports only numpy, onnxruntime, pydantic (through the
bundle) and humwatch.audio (soundfile): no scipy, onnx, librosa or matplotlib.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from humwatch.alerts.evidence import normal_gap
from humwatch.audio import AudioLimits, DecodedAudio, decode_audio
from humwatch.errors import AudioRejected, AudioRejectReason, ModelBundleError
from humwatch.explain import WHY_OUTPUTS, Why, locate_why
from humwatch.model.bundle import ModelBundle
from humwatch.model.session import create_session

DEFAULT_LIMITS = AudioLimits()


@dataclass(frozen=True)
class ClipScore:
    score: float
    threshold: float
    ratio: float  # score / threshold
    is_anomaly: bool  # score > threshold
    normal_gap: float  # log(threshold / the model's typical normal score): the alert evidence unit
    band_means: list[float]  # per-mel-band mean log-mel of the clip (drift)
    model_id: str
    model_version: str
    # Which member fired and where (humwatch.explain): the member with the largest z, filled for
    # normal clips too; None for a bundle that cannot say (trained before it could, blog-ae).
    why: Why | None = None


MIN_SCORE_SAMPLES = 5


def typical_normal_score(samples: list[float]) -> float | None:
    """Median of the normal scores a bundle was calibrated on (out-of-fold or hold-out); None if
    the bundle carries too few to say."""
    values = np.asarray(samples, dtype=np.float64)
    values = values[np.isfinite(values) & (values > 0)]
    return float(np.median(values)) if values.size >= MIN_SCORE_SAMPLES else None


class Scorer:
    """Holds one bundle's onnxruntime session; `score()` is safe to call for many clips."""

    def __init__(self, bundle: ModelBundle) -> None:
        self.bundle = bundle
        manifest = bundle.manifest
        self._session = create_session(bundle.onnx_bytes)
        inputs = [i.name for i in self._session.get_inputs()]
        outputs = [o.name for o in self._session.get_outputs()]
        if inputs != manifest.onnx_inputs:
            raise ModelBundleError(
                f"model.onnx inputs {inputs} differ from model.json {manifest.onnx_inputs}"
            )
        if outputs != manifest.onnx_outputs:
            raise ModelBundleError(
                f"model.onnx outputs {outputs} differ from model.json {manifest.onnx_outputs}"
            )
        self._input = inputs[0]
        self._score_index = outputs.index("score")
        self._band_index = outputs.index("band_means")
        # Optional outputs: a bundle without them (or without model.json's `why`) scores the same.
        self._why_indices = (
            [outputs.index(name) for name in WHY_OUTPUTS]
            if manifest.why is not None and all(name in outputs for name in WHY_OUTPUTS)
            else None
        )
        # Looked up once: per clip, everything after the graph run costs more than it looks (the
        # run leaves the caches cold), so the warm path does only what it must.
        self._why_axes = manifest.why
        self._model_id, self._model_version = manifest.model_id, manifest.version
        self._min_samples = max(manifest.features.min_samples, manifest.features.n_fft)
        self.sample_rate = manifest.features.sample_rate
        self.threshold = manifest.threshold.value
        self.normal_gap = normal_gap(self.threshold, typical_normal_score(manifest.training.score_samples))

    @classmethod
    def from_dir(cls, directory: str | Path) -> Scorer:
        return cls(ModelBundle.load(directory))

    def run(self, samples: np.ndarray) -> list[np.ndarray]:
        """Every graph output for one waveform (float32 mono at the model's rate)."""
        x = np.ascontiguousarray(samples, dtype=np.float32)
        if x.ndim != 1:
            raise ValueError(f"expected mono samples, got shape {x.shape}")
        if x.size < self._min_samples:
            raise AudioRejected(
                f"clip has {x.size} samples; the model needs at least {self._min_samples}",
                code=AudioRejectReason.TOO_SHORT.value,
            )
        return list(self._session.run(None, {self._input: x}))

    def score_samples(self, samples: np.ndarray) -> ClipScore:
        outputs = self.run(samples)
        score = float(outputs[self._score_index])
        if not math.isfinite(score):
            raise AudioRejected("clip produced a non-finite score", code=AudioRejectReason.NOT_FINITE.value)
        return ClipScore(
            score=score,
            threshold=self.threshold,
            ratio=score / self.threshold,
            is_anomaly=score > self.threshold,
            normal_gap=self.normal_gap,
            # float32 -> Python float is exact: the same values as through a float64 array
            band_means=np.ravel(outputs[self._band_index]).tolist(),
            model_id=self._model_id,
            model_version=self._model_version,
            why=self._why(outputs),
        )

    def _why(self, outputs: list[np.ndarray]) -> Why | None:
        axes = self._why_axes
        if self._why_indices is None or axes is None:
            return None
        z_at, index_at, value_at = self._why_indices
        return locate_why(axes, outputs[z_at], outputs[index_at], outputs[value_at])

    def score(self, audio: DecodedAudio) -> ClipScore:
        if audio.sample_rate != self.sample_rate:
            raise AudioRejected(
                f"clip is {audio.sample_rate} Hz but model {self.bundle.manifest.model_id} expects "
                f"{self.sample_rate} Hz (decode with target_sample_rate={self.sample_rate})",
                code=AudioRejectReason.UNSUPPORTED.value,
            )
        return self.score_samples(audio.samples)


def decode_for(
    scorer: Scorer, source: bytes | str | Path, *, limits: AudioLimits = DEFAULT_LIMITS
) -> DecodedAudio:
    """Decode a clip the way the scorer's model wants it (sample rate, channel)."""
    channel = scorer.bundle.manifest.channel
    return decode_audio(
        source,
        target_sample_rate=scorer.sample_rate,
        channel="mean" if channel == "mean" else int(channel),
        limits=limits,
    )


def score_clip(
    scorer: Scorer, source: bytes | str | Path, *, limits: AudioLimits = DEFAULT_LIMITS
) -> ClipScore:
    """Decode with the bundle's sample rate and channel, then score. Raises AudioRejected."""
    return scorer.score(decode_for(scorer, source, limits=limits))
