"""The ONE ONNX graph (waveform -> score) equals the Python path (numpy features + numpy AE)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from model_helpers import machine_clip, trained_bundle

from humwatch.detectors import parse_options
from humwatch.detectors.blog_ae.autoencoder import train_autoencoder
from humwatch.detectors.blog_ae.graph import autoencoder_from_onnx, build_scoring_graph
from humwatch.errors import AudioRejected, DetectorOptionsError
from humwatch.features import FeatureParams, feature_vectors, log_mel
from humwatch.model.session import create_session
from humwatch.scoring import Scorer

REL_TOLERANCE = 1e-4


def python_path(
    samples: np.ndarray, params: FeatureParams, onnx_bytes: bytes
) -> tuple[float, np.ndarray, np.ndarray]:
    model = autoencoder_from_onnx(onnx_bytes)
    logmel = log_mel(samples, params)
    vectors = feature_vectors(logmel, params.frames)
    return model.score(vectors), model.vector_errors(vectors), logmel.mean(axis=1)


@pytest.fixture(scope="module")
def scorer() -> Scorer:
    return Scorer(trained_bundle())


@pytest.mark.parametrize("n_samples", [64_000, 160_000, 160_000 + 333, 192_000, 2_048])
def test_onnx_score_equals_python_path_for_any_length(scorer: Scorer, n_samples: int) -> None:
    # Given noise-like machine sound of several lengths (dynamic n_samples, odd lengths included)
    samples = machine_clip(seed=7)
    samples = np.resize(samples, n_samples).astype(np.float32)
    score, errors, band_means = scorer.run(samples)
    ref_score, ref_errors, ref_bands = python_path(
        samples, scorer.bundle.manifest.features, scorer.bundle.onnx_bytes
    )
    # Then the clip score agrees to 1e-4 relative, and so do the per-vector errors and band means
    assert abs(float(score) - ref_score) <= REL_TOLERANCE * ref_score
    assert errors.shape == ref_errors.shape == (1 + n_samples // 512 - 4,)
    np.testing.assert_allclose(errors, ref_errors, rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(band_means, ref_bands, atol=1e-3)


@pytest.mark.shared_data
@pytest.mark.parametrize(
    "relative",
    ["dcase2020-id00/test/anomaly/anomaly_id_00_00000000.wav", "mimii-0db/pump/id_00/normal/00000000.wav"],
)
def test_onnx_score_equals_python_path_on_real_clips(
    scorer: Scorer, real_data_dir: Path, relative: str
) -> None:
    data, _ = sf.read(real_data_dir / relative, dtype="float32", always_2d=True)
    samples = np.ascontiguousarray(data[:, 0])
    score = float(scorer.run(samples)[0])
    ref = python_path(samples, scorer.bundle.manifest.features, scorer.bundle.onnx_bytes)[0]
    assert abs(score - ref) <= REL_TOLERANCE * ref


def test_blog_log_mode_graph_equals_python_path() -> None:
    # Given a graph built with the blog's power_to_db(ref=max, top_db=80) log
    params = FeatureParams(log_mode="blog")
    rng = np.random.default_rng(0)
    train = [(rng.standard_normal(32_000) * 0.05).astype(np.float32) for _ in range(3)]
    vectors = np.concatenate([feature_vectors(log_mel(x, params), 5) for x in train]).astype(np.float32)
    onnx_bytes = build_scoring_graph(params, train_autoencoder(vectors, epochs=2, seed=0)).serialize()
    session = create_session(onnx_bytes)
    clip = (rng.standard_normal(48_000) * 0.2).astype(np.float32)
    score = float(session.run(["score"], {"waveform": clip})[0])
    ref = python_path(clip, params, onnx_bytes)[0]
    assert abs(score - ref) <= REL_TOLERANCE * ref


@pytest.mark.parametrize(
    "params", [FeatureParams(hop_length=256), FeatureParams(power=1.0)], ids=["hop", "power"]
)
def test_feature_parameters_the_graph_cannot_compute_are_refused_before_training(
    params: FeatureParams,
) -> None:
    # The graph's STFT works on half-overlapping frames of power spectra; anything else would be
    # scored differently from how it was trained, so training refuses it up front.
    with pytest.raises(DetectorOptionsError, match="hop_length = n_fft / 2"):
        parse_options("blog-ae", {"params": params})
    with pytest.raises(ValueError, match="hop_length = n_fft / 2"):
        build_scoring_graph(params, train_autoencoder(np.zeros((8, 320), dtype=np.float32), epochs=1))


def test_weights_read_back_from_the_graph_equal_the_trained_ones() -> None:
    vectors = np.random.default_rng(1).standard_normal((600, 320)).astype(np.float32)
    model = train_autoencoder(vectors, epochs=1, seed=0)
    back = autoencoder_from_onnx(build_scoring_graph(FeatureParams(), model).serialize())
    for w, w_back in zip(model.weights, back.weights, strict=True):
        np.testing.assert_array_equal(w, w_back)
    np.testing.assert_allclose(back.mean, model.mean, rtol=1e-6)
    np.testing.assert_allclose(back.std, model.std, rtol=1e-6)


def test_a_clip_too_short_for_one_vector_is_rejected_not_crashed(scorer: Scorer) -> None:
    with pytest.raises(AudioRejected) as info:
        scorer.score_samples(np.zeros(1000, dtype=np.float32) + 0.01)
    assert info.value.code == "too_short"
