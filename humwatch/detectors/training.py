"""Train any detector into a bundle: the steps that are the same for every model type.

clips -> TrainingSet (normal clips, decoded at the model's rate, rejections listed)
      -> the detector's fit (its ONNX graph, scored by onnxruntime, and the calibrated threshold)
      -> model.json (features, threshold, score samples, drift statistics, fingerprint) -> saved
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from humwatch.detectors.registry import DetectorType, get_detector, parse_detector_type, parse_options
from humwatch.model.bundle import FORMAT_VERSION, ModelBundle, ModelManifest, sha256_hex
from humwatch.model.graph import INPUT_NAME
from humwatch.model.trainset import ClipLike, TrainingSet, new_version


def train_bundle(
    detector_type: str | DetectorType,
    clips: Sequence[ClipLike],
    out_dir: str | Path | None,
    version: str | None = None,
    **options: Any,
) -> ModelBundle:
    """Train, calibrate and (when out_dir is given) save a bundle of `detector_type`.

    `version` defaults to the current UTC time; train_model names a candidate after its request,
    so a retried run writes the same version.

    Options are the type's (`humwatch.detectors.<type>` options model); one the type does not
    use raises DetectorOptionsError. Too little usable data raises DatasetError. Deterministic for
    a seed: the same clips give the same model.onnx bytes.
    """
    started = time.perf_counter()
    kind = parse_detector_type(detector_type)
    opts = parse_options(kind, options)
    detector = get_detector(kind)
    training_set = TrainingSet(
        clips,
        sample_rate=opts.params.sample_rate,
        channel=opts.channel,
        limits=opts.limits,
        progress=opts.progress,
    )
    fitted = detector.fit(training_set, opts)
    band_means = fitted.band_means
    manifest = ModelManifest(
        format_version=FORMAT_VERSION,
        model_id=opts.model_id,
        version=version or new_version(),
        model_type=kind.value,
        created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        onnx_sha256=sha256_hex(fitted.onnx_bytes),
        onnx_inputs=[INPUT_NAME],
        onnx_outputs=list(fitted.onnx_outputs),
        features=opts.params,
        channel=opts.channel,
        threshold=fitted.threshold,  # type: ignore[arg-type]  # validated into ThresholdInfo
        training={  # type: ignore[arg-type]  # validated into TrainingInfo (extra fields kept)
            "n_clips": len(training_set.kept),
            "seed": opts.seed,
            "dataset_fingerprint": training_set.fingerprint,
            "train_seconds": round(time.perf_counter() - started, 3),
            "score_samples": [float(s) for s in fitted.score_samples],
            "score_samples_kind": fitted.score_samples_kind,
            "band_means_mean": [float(v) for v in band_means.mean(axis=0)],
            "band_means_std": [float(v) for v in band_means.std(axis=0)],
            "rejected": training_set.rejected,
            "skipped_anomalies": training_set.skipped_anomalies,
            **fitted.training,
        },
        **fitted.manifest_extra,
    )
    bundle = ModelBundle(manifest, fitted.onnx_bytes)
    if out_dir is not None:
        bundle.save(out_dir)
    return bundle
