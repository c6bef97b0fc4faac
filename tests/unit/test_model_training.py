"""blog-ae: autoencoder training, determinism, the calibration hold-out and the bundle it writes."""

from __future__ import annotations

import numpy as np
import pytest
from model_helpers import trained_bundle

from humwatch.detectors.blog_ae.autoencoder import train_autoencoder
from humwatch.detectors.blog_ae.detector import split_holdout
from humwatch.model.calibration import DEFAULT_TARGET_FPR


def vectors(seed: int = 0, n: int = 2000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((n, 4))
    return (latent @ rng.standard_normal((4, 320)) * 3.0 - 50.0 + 0.1 * rng.standard_normal((n, 320))).astype(
        np.float32
    )


def test_training_is_deterministic_for_a_seed_and_differs_across_seeds() -> None:
    data = vectors()
    a = train_autoencoder(data, epochs=2, seed=3)
    b = train_autoencoder(data, epochs=2, seed=3)
    c = train_autoencoder(data, epochs=2, seed=4)
    assert all(np.array_equal(x, y) for x, y in zip(a.weights, b.weights, strict=True))
    assert a.loss_history == b.loss_history
    assert not np.array_equal(a.weights[0], c.weights[0])


def test_loss_falls_and_structure_is_learned() -> None:
    data = vectors()
    model = train_autoencoder(data, epochs=15, seed=0)
    assert model.loss_history[-1] < 0.5 * model.loss_history[0]
    # Vectors from the same low-dimensional structure reconstruct better than unrelated noise
    noise = (np.random.default_rng(9).standard_normal((200, 320)) * 3.0 - 50.0).astype(np.float32)
    assert model.score(data[:200]) < model.score(noise)


def test_blog_architecture_and_standardisation() -> None:
    model = train_autoencoder(vectors(n=600), epochs=1, seed=0)
    assert [w.shape for w in model.weights] == [(320, 64), (64, 64), (64, 8), (8, 64), (64, 64), (64, 320)]
    assert np.allclose(model.standardise(vectors(n=600)).mean(axis=0), 0.0, atol=1e-4)


def test_same_clips_and_seed_give_the_same_onnx_bytes() -> None:
    assert (
        trained_bundle(seed=0, epochs=3).onnx_bytes == trained_bundle.__wrapped__(seed=0, epochs=3).onnx_bytes
    )


def test_manifest_records_calibration_and_drift_statistics() -> None:
    m = trained_bundle().manifest
    t = m.threshold
    assert t.method == "log-gamma" and t.target_fpr == DEFAULT_TARGET_FPR and t.gamma is not None
    assert t.n_validation == len(m.training.score_samples) == 6  # 20% of 30 clips
    assert t.observed_validation_fpr == pytest.approx(np.mean(np.array(m.training.score_samples) > t.value))
    assert len(m.training.band_means_mean) == len(m.training.band_means_std) == 64
    assert m.training.n_clips == 30 and m.training.n_vectors == 24 * 122  # 4 s: 126 frames -> 122 vectors
    assert len(m.training.dataset_fingerprint) == 64


def test_holdout_split_is_stratified_seeded_and_disjoint() -> None:
    groups = ["a"] * 40 + ["b"] * 10
    train, held = split_holdout(groups, fraction=0.2, seed=1)
    assert len(held) == 10 and len(train) == 40 and not set(train) & set(held)
    assert sum(groups[i] == "b" for i in held) == 2  # each machine represented in proportion
    again = split_holdout(groups, fraction=0.2, seed=1)
    assert np.array_equal(again[1], held)
    assert not np.array_equal(split_holdout(groups, fraction=0.2, seed=2)[1], held)


def test_holdout_needs_enough_clips() -> None:
    assert len(split_holdout(["x"] * 5, fraction=0.2)[1]) == 3  # never fewer than 3 calibration clips
    with pytest.raises(ValueError, match="at least 4"):
        split_holdout(["x"] * 3)
