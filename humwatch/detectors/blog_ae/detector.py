"""`blog-ae`: the AWS blog's autoencoder on 5-frame log-mel vectors, kept for comparison.

training set -> log-mel -> 5-frame vectors
  -> stratified seeded split: training clips / calibration hold-out
  -> autoencoder on the training clips' vectors (numpy Adam)
  -> ONE ONNX graph waveform -> score (`graph.build_scoring_graph`)
  -> hold-out clips scored BY THAT GRAPH (what serving will compute) -> threshold

Why a fifth held out (`DEFAULT_HOLDOUT_FRACTION`): the threshold is a tail quantile, and a thin
hold-out puts it far too low (6 of 60 real DCASE clips flagged 4 of 15 unseen normals). A fifth
gives 12 clips of 60 and 60 of 300 while the autoencoder keeps 80% of the data; at least
`MIN_HOLDOUT` clips are held out whatever the fraction.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from pydantic import Field, field_validator

from humwatch.detectors.base import FittedModel, TrainOptions
from humwatch.features import FeatureParams, feature_vectors, log_mel
from humwatch.model.bundle import ModelManifest
from humwatch.model.calibration import DEFAULT_METHOD, ThresholdMethod, fit_threshold
from humwatch.model.graph import INPUT_NAME
from humwatch.model.session import create_session
from humwatch.model.stft_graph import supports_mel_power
from humwatch.model.trainset import TrainingSet
from humwatch.progress import progress_bar

DEFAULT_HOLDOUT_FRACTION = 0.2
MIN_HOLDOUT = 3
MIN_TRAIN = 1


class BlogAutoencoderOptions(TrainOptions):
    epochs: int = Field(default=30, ge=1, le=1000)
    holdout_fraction: float = Field(default=DEFAULT_HOLDOUT_FRACTION, gt=0.0, lt=1.0)
    threshold_method: ThresholdMethod = DEFAULT_METHOD

    @field_validator("params")
    @classmethod
    def _graph_front_end(cls, params: FeatureParams) -> FeatureParams:
        if not supports_mel_power(params):
            raise ValueError("the scoring graph needs power 2 and hop_length = n_fft / 2 (as 1024/512)")
        return params


def split_holdout(
    groups: Sequence[str], *, fraction: float = DEFAULT_HOLDOUT_FRACTION, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, holdout): stratified by group (e.g. machine folder), seeded.

    Each group gives round(fraction * size) clips (at least one when the group has two or more)
    so every machine/recording condition is represented in the calibration scores.
    """
    n = len(groups)
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"holdout fraction must be in (0, 1), got {fraction}")
    if n < MIN_HOLDOUT + MIN_TRAIN:
        raise ValueError(
            f"need at least {MIN_HOLDOUT + MIN_TRAIN} normal clips to train and calibrate, got {n}"
        )
    rng = np.random.default_rng(seed)
    by_group: dict[str, list[int]] = defaultdict(list)
    for i, group in enumerate(groups):
        by_group[group].append(i)
    holdout: list[int] = []
    for group in sorted(by_group):
        members = np.array(by_group[group])
        take = round(fraction * len(members))
        if len(members) >= 2:
            take = min(max(take, 1), len(members) - 1)
        holdout.extend(rng.permutation(members)[:take].tolist())
    # Trim or top up (at random) to the overall size, so many tiny groups cannot take half the
    # data and a few small ones cannot starve the calibration.
    wanted = min(max(MIN_HOLDOUT, round(fraction * n)), n - MIN_TRAIN)
    if len(holdout) > wanted:
        holdout = rng.permutation(holdout)[:wanted].tolist()
    elif len(holdout) < wanted:
        chosen = set(holdout)
        rest = [i for i in rng.permutation(n).tolist() if i not in chosen]
        holdout.extend(rest[: wanted - len(holdout)])
    held = np.array(sorted(holdout), dtype=np.int64)
    return np.setdiff1d(np.arange(n), held), held


def _epoch_callback(bar: Any) -> Callable[[int, float], None] | None:
    """Advance a tqdm bar by one epoch and show the loss (None when there is no bar)."""
    if not hasattr(bar, "update"):
        return None

    def on_epoch(_epoch: int, loss: float) -> None:
        bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
        bar.update(1)

    return on_epoch


class BlogAutoencoder:
    options_model = BlogAutoencoderOptions

    def fit(self, training_set: TrainingSet, options: BlogAutoencoderOptions) -> FittedModel:
        from humwatch.detectors.blog_ae.autoencoder import train_autoencoder
        from humwatch.detectors.blog_ae.graph import OUTPUT_NAMES, build_scoring_graph

        params = options.params
        vectors: list[np.ndarray] = []
        band_means: list[np.ndarray] = []
        for samples in training_set.decode_all():
            logmel = log_mel(samples, params)
            vectors.append(feature_vectors(logmel, params.frames).astype(np.float32))
            band_means.append(logmel.mean(axis=1))
        training_set.require(MIN_HOLDOUT + MIN_TRAIN, "blog-ae")
        train_idx, holdout_idx = split_holdout(
            [group for _, group in training_set.kept], fraction=options.holdout_fraction, seed=options.seed
        )
        train_vectors = np.concatenate([vectors[i] for i in train_idx])
        vectors.clear()  # the concatenation holds them now; 300 clips are ~120 MB of vectors

        bar: Any = progress_bar(
            [], enabled=options.progress, desc="epochs", total=options.epochs, unit="epoch"
        )
        fit_started = time.perf_counter()
        model = train_autoencoder(
            train_vectors, epochs=options.epochs, seed=options.seed, on_epoch=_epoch_callback(bar)
        )
        fit_seconds = time.perf_counter() - fit_started
        getattr(bar, "close", lambda: None)()
        onnx_bytes = build_scoring_graph(params, model).serialize("humwatch blog-ae scorer")

        # Calibrate on what serving computes: the exported graph, run by onnxruntime.
        session = create_session(onnx_bytes)
        holdout_scores = np.array(
            [
                float(session.run([OUTPUT_NAMES[0]], {INPUT_NAME: samples})[0])
                for samples in training_set.decode_again(holdout_idx)
            ]
        )
        return FittedModel(
            onnx_bytes=onnx_bytes,
            onnx_outputs=OUTPUT_NAMES,
            threshold=fit_threshold(
                holdout_scores, options.target_fpr, options.threshold_method, validation="holdout"
            ),
            score_samples=holdout_scores,
            score_samples_kind="holdout",
            band_means=np.stack(band_means),
            training={
                "n_vectors": int(train_vectors.shape[0]),
                "epochs": options.epochs,
                "fit_seconds": round(fit_seconds, 3),
                "n_train_clips": len(train_idx),
                "n_holdout_clips": len(holdout_idx),
                "holdout_fraction": options.holdout_fraction,
                "holdout_files": [training_set.kept[i][0].name for i in holdout_idx],
                "loss_history": [round(v, 6) for v in model.loss_history],
                "trainer": "numpy-adam",
            },
        )

    def describe(self, manifest: ModelManifest) -> str:
        t = manifest.training
        return (
            f"{getattr(t, 'n_train_clips', '?')} train, {manifest.threshold.n_validation} calibration, "
            f"{t.n_vectors} vectors, {t.epochs} epochs"
        )
