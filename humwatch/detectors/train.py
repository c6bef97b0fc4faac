"""Train a `spectral-gauss` detector from normal waveforms: statistics, fit, calibrate, export.

Training statistics come from the serving front end itself (the same ONNX graph run by
onnxruntime), so what the model was fitted on is exactly what it will see when scoring.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np

from humwatch.audio import AudioLimits, decode_audio
from humwatch.detectors.calibration import Method, fit_threshold
from humwatch.detectors.frontend import frontend_model
from humwatch.detectors.onnx_graph import session
from humwatch.detectors.spectral import (
    FittedSpectral,
    SpectralConfig,
    Stats,
    build_spectral_graph,
    fit_spectral,
)
from humwatch.errors import AudioRejected, DatasetError
from humwatch.features import FeatureParams
from humwatch.model.bundle import FORMAT_VERSION, ModelBundle, ModelManifest, sha256_hex
from humwatch.model.calibration import DEFAULT_TARGET_FPR
from humwatch.training import ClipLike

DEFAULT_LIMITS = AudioLimits()
MIN_CLIPS = 5  # k-fold needs a few clips; fewer cannot say what "normal" varies like
MODEL_TYPE = "spectral-gauss"
ONNX_OUTPUTS = ("score", "member_scores", "band_means")


class StatisticsExtractor:
    """Waveform -> clip statistics by group, through the serving front end (onnxruntime)."""

    def __init__(self, features: FeatureParams, config: SpectralConfig) -> None:
        self._session = session(frontend_model(features, config.frontend, config.groups))
        self._names = [o.name for o in self._session.get_outputs()]
        self.min_samples = 2 * max(features.n_fft, config.frontend.fine_n_fft * config.frontend.decimate)

    def __call__(self, samples: np.ndarray) -> dict[str, np.ndarray]:
        x = np.ascontiguousarray(samples, dtype=np.float32)
        if x.ndim != 1 or x.size < self.min_samples:
            raise ValueError(f"need a mono clip of at least {self.min_samples} samples, got shape {x.shape}")
        values = self._session.run(None, {"waveform": x})
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
    fitted: FittedSpectral
    onnx_bytes: bytes
    threshold: dict[str, Any]
    band_means: np.ndarray  # [N, n_mels] training clips' band means (drift reference)
    train_seconds: float

    @property
    def oof_scores(self) -> np.ndarray:
        return self.fitted.oof_scores

    def manifest_fields(self) -> dict[str, Any]:
        """What this detector adds to / fills in model.json (merged by the bundle writer)."""
        fitted = self.fitted
        return {
            "model_type": MODEL_TYPE,
            "onnx_outputs": list(ONNX_OUTPUTS),
            "threshold": self.threshold,
            "detector": {
                "config": fitted.config.model_dump(mode="json"),
                "member_medians": dict(fitted.medians),
                "member_log_stats": {k: list(v) for k, v in fitted.log_stats.items()},
                "member_names": [m.name for m in fitted.config.members],
            },
            "training_extra": {
                "score_samples": [float(s) for s in fitted.oof_scores],
                "score_samples_kind": "out-of-fold",
                "band_means_mean": [float(v) for v in self.band_means.mean(axis=0)],
                "band_means_std": [float(v) for v in self.band_means.std(axis=0)],
            },
        }


def train_spectral(
    stats: Stats,
    features: FeatureParams,
    *,
    config: SpectralConfig | None = None,
    target_fpr: float = DEFAULT_TARGET_FPR,
    calibration: Method = "log-gamma",
    seed: int = 0,
) -> TrainedSpectral:
    """Fit + calibrate + export from precomputed training statistics (see StatisticsExtractor)."""
    started = time.perf_counter()
    config = config or SpectralConfig()
    fitted = fit_spectral(stats, features, config, seed=seed)
    threshold = fit_threshold(fitted.oof_scores, target_fpr, calibration)
    onnx_bytes = bytes(build_spectral_graph(fitted).model().SerializeToString())
    return TrainedSpectral(
        fitted=fitted,
        onnx_bytes=onnx_bytes,
        threshold=threshold,
        band_means=np.asarray(stats["mel_mean"]),
        train_seconds=time.perf_counter() - started,
    )


def train_spectral_model(
    clips: Sequence[ClipLike],
    out_dir: str | Path | None,
    *,
    seed: int = 0,
    target_fpr: float = DEFAULT_TARGET_FPR,
    model_id: str = "model",
    config: SpectralConfig | None = None,
    params: FeatureParams | None = None,
    channel: int | Literal["mean"] = 0,
    limits: AudioLimits = DEFAULT_LIMITS,
    progress: bool = False,
) -> ModelBundle:
    """`humwatch train --model-type spectral-gauss`: clips -> calibrated bundle (saved if out_dir).

    Same contract as `humwatch.training.train_model` (normal and unlabelled clips train, anomaly
    clips are skipped, rejected clips are listed in model.json, DatasetError on bad input), but
    every normal clip both trains and calibrates (out-of-fold scores).
    """
    from humwatch.training import MODEL_ID_PATTERN, dataset_fingerprint, new_version

    started = time.perf_counter()
    params = params or FeatureParams()
    config = config or SpectralConfig()
    if not MODEL_ID_PATTERN.match(model_id):
        raise DatasetError(f"model id {model_id!r} must be 1-64 letters, digits, '-' or '_'")
    if not 0.0 < target_fpr < 0.5:
        raise DatasetError(f"target FPR must be between 0 and 0.5, got {target_fpr}")
    normal = [c for c in clips if c.label in ("normal", None)]
    if not normal:
        raise DatasetError("no normal clips to train on (anomaly clips are never used for training)")
    extractor = StatisticsExtractor(params, config)
    rows: list[dict[str, np.ndarray]] = []
    hashes: list[str] = []
    rejected: list[dict[str, str]] = []
    bar = _bar(len(normal), progress)
    for clip in normal:
        path = Path(clip.path)
        try:
            data = path.read_bytes()
            audio = decode_audio(data, target_sample_rate=params.sample_rate, channel=channel, limits=limits)
        except AudioRejected as exc:
            rejected.append({"file": path.name, "code": exc.code, "message": exc.message})
        except OSError as exc:
            rejected.append(
                {"file": path.name, "code": "not_audio", "message": f"cannot read: {exc.strerror}"}
            )
        else:
            rows.append(extractor(audio.samples))
            hashes.append(hashlib.sha256(data).hexdigest())
        bar(1)
    if len(rows) < MIN_CLIPS:
        detail = f" ({len(rejected)} rejected: {rejected[0]['message']})" if rejected else ""
        raise DatasetError(
            f"spectral-gauss needs at least {MIN_CLIPS} usable normal clips, got {len(rows)}{detail}"
        )
    stats = {g: np.stack([r[g] for r in rows]) for g in rows[0]}
    trained = train_spectral(stats, params, config=config, target_fpr=target_fpr, seed=seed)
    fields = trained.manifest_fields()
    training = {
        "n_clips": len(rows),
        "n_vectors": 0,
        "epochs": 0,
        "seed": seed,
        "dataset_fingerprint": dataset_fingerprint(hashes),
        "train_seconds": round(time.perf_counter() - started, 3),
        "fit_seconds": round(trained.train_seconds, 3),
        **fields.pop("training_extra"),
        "folds": min(config.folds, len(rows)),
        "rejected": rejected,
        "skipped_anomalies": len(clips) - len(normal),
    }
    manifest = ModelManifest(
        format_version=FORMAT_VERSION,
        model_id=model_id,
        version=new_version(),
        created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        onnx_sha256=sha256_hex(trained.onnx_bytes),
        onnx_inputs=["waveform"],
        features=params,
        channel=channel,
        training=training,  # type: ignore[arg-type]  # validated into TrainingInfo (extras kept)
        **fields,
    )
    bundle = ModelBundle(manifest, trained.onnx_bytes)
    if out_dir is not None:
        bundle.save(out_dir)
    return bundle


def _bar(total: int, enabled: bool) -> Callable[[int], None]:
    if not enabled:
        return lambda _n: None
    from tqdm import tqdm

    bar = tqdm(total=total, desc="clip statistics", unit="clip", leave=False, dynamic_ncols=True)

    def update(n: int) -> None:
        bar.update(n)
        if bar.n >= total:
            bar.close()

    return update


def train_spectral_from_waveforms(
    clips: Sequence[np.ndarray],
    features: FeatureParams,
    *,
    config: SpectralConfig | None = None,
    target_fpr: float = DEFAULT_TARGET_FPR,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
) -> TrainedSpectral:
    config = config or SpectralConfig()
    stats = StatisticsExtractor(features, config).many(clips, progress)
    return train_spectral(stats, features, config=config, target_fpr=target_fpr, seed=seed)
