"""Train a model bundle from normal clips: decode, features, autoencoder, ONNX, calibration.

clips (normal; unlabelled clips count as normal, anomalies are skipped)
  -> decode (bundle sample rate, channel) -> log-mel -> 5-frame vectors
  -> stratified seeded split: training clips / calibration hold-out
  -> autoencoder on the training clips' vectors (numpy Adam)
  -> ONE ONNX graph waveform -> score (humwatch.model.onnx_export)
  -> hold-out clips scored BY THAT GRAPH (what serving will compute) -> gamma threshold
  -> model.onnx + model.json (threshold, score samples, per-band drift statistics)
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from humwatch.audio import AudioLimits, decode_audio
from humwatch.errors import AudioRejected, DatasetError
from humwatch.features import FeatureParams, feature_vectors, log_mel
from humwatch.model.autoencoder import Autoencoder, train_autoencoder
from humwatch.model.bundle import FORMAT_VERSION, ModelBundle, ModelManifest, sha256_hex
from humwatch.model.calibration import (
    DEFAULT_HOLDOUT_FRACTION,
    DEFAULT_METHOD,
    DEFAULT_TARGET_FPR,
    ThresholdMethod,
    fit_threshold,
    split_holdout,
)
from humwatch.model.onnx_export import INPUT_NAME, OUTPUT_NAMES, export_scoring_model

MODEL_TYPE = "blog-ae"
DEFAULT_LIMITS = AudioLimits()
MODEL_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # goes into S3 keys and table keys


class ClipLike(Protocol):
    """What training needs of a clip (humwatch.datasets.LabelledClip fits)."""

    @property
    def path(self) -> Path: ...
    @property
    def label(self) -> str | None: ...


@dataclass
class ClipFeatures:
    path: Path
    group: str
    vectors: np.ndarray  # [n_vectors, dims] float32
    band_means: np.ndarray  # [n_mels]
    sha256: str


def _progress(iterable: Any, *, enabled: bool, desc: str, total: int | None = None, unit: str = "it") -> Any:
    if not enabled:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, desc=desc, total=total, unit=unit, leave=False, dynamic_ncols=True)


def _group_of(clip: ClipLike) -> str:
    """Calibration strata: the machine a clip comes from (manifest columns), else its folder."""
    meta = getattr(clip, "meta", None) or {}
    parts = [str(meta[k]) for k in ("machine_type", "machine_id", "machine_seed", "section") if meta.get(k)]
    return "/".join(parts) if parts else str(Path(clip.path).parent)


def extract_clip_features(
    clips: Sequence[ClipLike],
    params: FeatureParams,
    *,
    channel: int | Literal["mean"] = 0,
    limits: AudioLimits = DEFAULT_LIMITS,
    progress: bool = False,
) -> tuple[list[ClipFeatures], list[tuple[Path, AudioRejected]]]:
    """Decode and featurise clips; rejected clips are returned with their reason, not raised."""
    kept: list[ClipFeatures] = []
    rejected: list[tuple[Path, AudioRejected]] = []
    for clip in _progress(clips, enabled=progress, desc="features", unit="clip"):
        path = Path(clip.path)
        try:
            data = path.read_bytes()
            audio = decode_audio(data, target_sample_rate=params.sample_rate, channel=channel, limits=limits)
        except AudioRejected as exc:
            rejected.append((path, exc))
            continue
        except OSError as exc:
            rejected.append((path, AudioRejected(f"cannot read {path}: {exc.strerror}", code="not_audio")))
            continue
        logmel = log_mel(audio.samples, params)
        kept.append(
            ClipFeatures(
                path=path,
                group=_group_of(clip),
                vectors=feature_vectors(logmel, params.frames).astype(np.float32),
                band_means=logmel.mean(axis=1),
                sha256=hashlib.sha256(data).hexdigest(),
            )
        )
    return kept, rejected


def dataset_fingerprint(file_hashes: Sequence[str]) -> str:
    """sha256 over the sorted content hashes: same clips (in any order, any folder) -> same id."""
    return sha256_hex("\n".join(sorted(file_hashes)).encode())


def new_version(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")


def train_model(
    clips: Sequence[ClipLike],
    out_dir: str | Path | None,
    *,
    epochs: int = 30,
    seed: int = 0,
    target_fpr: float = DEFAULT_TARGET_FPR,
    model_id: str = "model",
    holdout_fraction: float = DEFAULT_HOLDOUT_FRACTION,
    threshold_method: ThresholdMethod = DEFAULT_METHOD,
    params: FeatureParams | None = None,
    channel: int | Literal["mean"] = 0,
    limits: AudioLimits = DEFAULT_LIMITS,
    progress: bool = False,
) -> ModelBundle:
    """Train, calibrate and (when out_dir is given) save a bundle. Raises DatasetError on bad input.

    Deterministic for a seed: the same clips give the same model.onnx bytes.
    """
    started = time.perf_counter()
    params = params or FeatureParams()
    if not MODEL_ID_PATTERN.match(model_id):
        raise DatasetError(f"model id {model_id!r} must be 1-64 letters, digits, '-' or '_'")
    if not 0.0 < target_fpr < 1.0:
        raise DatasetError(f"target FPR must be between 0 and 1, got {target_fpr}")
    normal = [c for c in clips if c.label in ("normal", None)]
    skipped_anomalies = len(clips) - len(normal)
    if not normal:
        raise DatasetError("no normal clips to train on (anomaly clips are never used for training)")

    features, rejected = extract_clip_features(
        normal, params, channel=channel, limits=limits, progress=progress
    )
    try:
        train_idx, holdout_idx = split_holdout(
            [f.group for f in features], fraction=holdout_fraction, seed=seed
        )
    except ValueError as exc:
        detail = f" ({len(rejected)} rejected: {rejected[0][1].message})" if rejected else ""
        raise DatasetError(f"{exc}{detail}") from None
    train_vectors = np.concatenate([features[i].vectors for i in train_idx])
    for f in features:  # the concatenation holds them now; 300 clips are ~120 MB of vectors
        f.vectors = np.empty((0, params.vector_dims), dtype=np.float32)

    epoch_bar = _progress(range(epochs), enabled=progress, desc="epochs", total=epochs, unit="epoch")
    bar_update = getattr(epoch_bar, "update", None)
    bar_postfix = getattr(epoch_bar, "set_postfix", None)

    def on_epoch(_epoch: int, loss: float) -> None:
        if bar_update is not None and bar_postfix is not None:
            bar_postfix(loss=f"{loss:.4f}", refresh=False)
            bar_update(1)

    fit_started = time.perf_counter()
    model = train_autoencoder(train_vectors, epochs=epochs, seed=seed, on_epoch=on_epoch)
    fit_seconds = time.perf_counter() - fit_started
    if hasattr(epoch_bar, "close"):
        epoch_bar.close()
    onnx_bytes = export_scoring_model(params, model, doc=f"humwatch {MODEL_TYPE} scorer")

    # Calibrate on what serving computes: the exported graph, run by onnxruntime.
    holdout_audio = (
        decode_audio(features[i].path, target_sample_rate=params.sample_rate, channel=channel, limits=limits)
        for i in holdout_idx
    )
    holdout_scores = _onnx_scores(onnx_bytes, (a.samples for a in holdout_audio))
    threshold = fit_threshold(holdout_scores, target_fpr, threshold_method)
    band_means = np.stack([f.band_means for f in features])
    manifest = ModelManifest(
        format_version=FORMAT_VERSION,
        model_id=model_id,
        version=new_version(),
        model_type=MODEL_TYPE,
        created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        onnx_sha256=sha256_hex(onnx_bytes),
        onnx_inputs=[INPUT_NAME],
        onnx_outputs=list(OUTPUT_NAMES),
        features=params,
        channel=channel,
        threshold=threshold,  # type: ignore[arg-type]  # validated into ThresholdInfo
        training={  # type: ignore[arg-type]  # validated into TrainingInfo (extra fields kept)
            "n_clips": len(features),
            "n_vectors": int(train_vectors.shape[0]),
            "epochs": epochs,
            "seed": seed,
            "dataset_fingerprint": dataset_fingerprint([f.sha256 for f in features]),
            "train_seconds": round(time.perf_counter() - started, 3),
            "fit_seconds": round(fit_seconds, 3),
            "score_samples": [float(s) for s in holdout_scores],
            "score_samples_kind": "holdout",
            "band_means_mean": band_means.mean(axis=0).tolist(),
            "band_means_std": band_means.std(axis=0).tolist(),
            "n_train_clips": len(train_idx),
            "n_holdout_clips": len(holdout_idx),
            "holdout_fraction": holdout_fraction,
            "holdout_files": [features[i].path.name for i in holdout_idx],
            "loss_history": [round(v, 6) for v in model.loss_history],
            "trainer": "numpy-adam",
            "rejected": [{"file": p.name, "code": e.code, "message": e.message} for p, e in rejected],
            "skipped_anomalies": skipped_anomalies,
        },
    )
    bundle = ModelBundle(manifest, onnx_bytes)
    if out_dir is not None:
        bundle.save(out_dir)
    return bundle


def _onnx_scores(onnx_bytes: bytes, waveforms: Iterable[np.ndarray]) -> np.ndarray:
    import onnxruntime as ort

    from humwatch.scoring import session_options

    session = ort.InferenceSession(onnx_bytes, session_options(), providers=["CPUExecutionProvider"])
    return np.array([float(session.run([OUTPUT_NAMES[0]], {INPUT_NAME: w})[0]) for w in waveforms])


def reference_score(model: Autoencoder, samples: np.ndarray, params: FeatureParams) -> float:
    """The Python path (numpy features + numpy autoencoder): what the ONNX graph must equal."""
    return model.score(feature_vectors(log_mel(samples, params), params.frames))
