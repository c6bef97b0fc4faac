"""Train `spectral-gauss` from a training set: clip statistics, fit, calibrate, export.

Training statistics come from the serving front end itself (the same ONNX graph run by
onnxruntime through the one session factory), so what the model was fitted on is exactly what
it will see when scoring. Every training clip both trains and calibrates (out-of-fold scores).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from pydantic import Field

from humwatch.detectors.base import FittedModel, TrainOptions
from humwatch.detectors.spectral_gauss.ensemble import (
    FittedSpectral,
    SpectralConfig,
    Stats,
    build_spectral_graph,
    fit_spectral,
)
from humwatch.detectors.spectral_gauss.frontend import frontend_model
from humwatch.detectors.spectral_gauss.why import why_axes
from humwatch.explain import WHY_OUTPUTS
from humwatch.features import FeatureParams
from humwatch.model.bundle import ModelManifest
from humwatch.model.calibration import DEFAULT_METHOD, DEFAULT_TARGET_FPR, ThresholdMethod, fit_threshold
from humwatch.model.graph import INPUT_NAME
from humwatch.model.session import create_session
from humwatch.model.trainset import TrainingSet

MIN_CLIPS = 5  # k-fold needs a few clips; fewer cannot say what "normal" varies like
ONNX_OUTPUTS = ("score", "member_scores", "band_means", *WHY_OUTPUTS)


class SpectralGaussOptions(TrainOptions):
    config: SpectralConfig = SpectralConfig()
    threshold_method: ThresholdMethod = DEFAULT_METHOD
    # The machine's nominal shaft speed (nameplate rpm), when known: model.json `why.shaft_hz`, so
    # that a clip's why says shaft orders (humwatch.explain). It does not change the model.
    shaft_rpm: float | None = Field(default=None, gt=0.0)


class StatisticsExtractor:
    """Waveform -> clip statistics by group, through the serving front end (onnxruntime)."""

    def __init__(self, features: FeatureParams, config: SpectralConfig) -> None:
        self._session = create_session(frontend_model(features, config.frontend, config.groups))
        self._names = [o.name for o in self._session.get_outputs()]
        self.min_samples = 2 * max(features.n_fft, config.frontend.fine_n_fft * config.frontend.decimate)

    def __call__(self, samples: np.ndarray) -> dict[str, np.ndarray]:
        x = np.ascontiguousarray(samples, dtype=np.float32)
        if x.ndim != 1 or x.size < self.min_samples:
            raise ValueError(f"need a mono clip of at least {self.min_samples} samples, got shape {x.shape}")
        values = self._session.run(None, {INPUT_NAME: x})
        return {name: np.asarray(v, dtype=np.float64) for name, v in zip(self._names, values, strict=True)}

    def many(self, clips: Iterable[np.ndarray], progress: Callable[[int], None] | None = None) -> Stats:
        rows = []
        for clip in clips:
            rows.append(self(clip))
            if progress is not None:
                progress(1)
        if not rows:
            raise ValueError("no clips to compute statistics from")
        return {g: np.stack([r[g] for r in rows]) for g in rows[0]}


@dataclass
class TrainedSpectral:
    """A fitted ensemble with its graph and threshold (what research tools train directly)."""

    fitted: FittedSpectral
    onnx_bytes: bytes
    threshold: dict[str, object]

    @property
    def oof_scores(self) -> np.ndarray:
        return self.fitted.oof_scores


def train_spectral(
    stats: Stats,
    features: FeatureParams,
    *,
    config: SpectralConfig | None = None,
    target_fpr: float = DEFAULT_TARGET_FPR,
    threshold_method: ThresholdMethod = DEFAULT_METHOD,
    seed: int = 0,
) -> TrainedSpectral:
    """Fit + calibrate + export from precomputed training statistics (see StatisticsExtractor)."""
    fitted = fit_spectral(stats, features, config or SpectralConfig(), seed=seed)
    threshold = fit_threshold(fitted.oof_scores, target_fpr, threshold_method, validation="out-of-fold")
    return TrainedSpectral(
        fitted, build_spectral_graph(fitted).serialize("humwatch spectral-gauss scorer"), threshold
    )


class SpectralGauss:
    options_model = SpectralGaussOptions

    def fit(self, training_set: TrainingSet, options: SpectralGaussOptions) -> FittedModel:
        config = options.config
        extractor = StatisticsExtractor(options.params, config)
        rows = [extractor(samples) for samples in training_set.decode_all()]
        training_set.require(MIN_CLIPS, "spectral-gauss")
        stats = {g: np.stack([r[g] for r in rows]) for g in rows[0]}
        trained = train_spectral(
            stats,
            options.params,
            config=config,
            target_fpr=options.target_fpr,
            threshold_method=options.threshold_method,
            seed=options.seed,
        )
        fitted = trained.fitted
        return FittedModel(
            onnx_bytes=trained.onnx_bytes,
            onnx_outputs=ONNX_OUTPUTS,
            threshold=dict(trained.threshold),
            score_samples=fitted.oof_scores,
            score_samples_kind="out-of-fold",
            band_means=np.asarray(stats["mel_mean"]),
            training={"folds": min(config.folds, len(rows)), "n_vectors": 0, "epochs": 0},
            manifest_extra={
                "detector": {
                    "config": config.model_dump(mode="json"),
                    "member_medians": dict(fitted.medians),
                    "member_log_stats": {k: list(v) for k, v in fitted.log_stats.items()},
                    "member_names": [m.name for m in config.members],
                },
                "why": why_axes(fitted, shaft_rpm=options.shaft_rpm).model_dump(mode="json"),
            },
        )

    def describe(self, manifest: ModelManifest) -> str:
        folds = getattr(manifest.training, "folds", "?")
        return f"{manifest.threshold.n_validation} out-of-fold calibration scores, {folds} folds"


def train_spectral_from_waveforms(
    clips: Iterable[np.ndarray],
    features: FeatureParams,
    *,
    config: SpectralConfig | None = None,
    target_fpr: float = DEFAULT_TARGET_FPR,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
) -> TrainedSpectral:
    """Train from waveforms already in memory (research tools that synthesise their clips)."""
    config = config or SpectralConfig()
    stats = StatisticsExtractor(features, config).many(clips, progress)
    return train_spectral(stats, features, config=config, target_fpr=target_fpr, seed=seed)
