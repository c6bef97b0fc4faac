"""Behaviour of the spectral-gauss detector: normal clips pass, faults alarm, gain does not flip.

Uses short (4 s) synthetic clips at 10 dB SNR so the whole module trains in about a second.
"""

from __future__ import annotations

import numpy as np
import pytest

from humwatch.detectors.spectral_gauss.detector import (
    StatisticsExtractor,
    TrainedSpectral,
    train_spectral,
    train_spectral_from_waveforms,
)
from humwatch.detectors.spectral_gauss.ensemble import SpectralConfig
from humwatch.features import FeatureParams
from humwatch.model.session import create_session as session
from humwatch.research.synth import MachineSpec, synth_clip

SPEC = MachineSpec.from_seed("fan", 11)
SECONDS = 4.0


def _clip(seed: int, **kwargs: object) -> np.ndarray:
    return synth_clip(SPEC, snr_db=10.0, seed=seed, duration_s=SECONDS, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def trained() -> TrainedSpectral:
    clips = [_clip(seed) for seed in range(20)]
    return train_spectral_from_waveforms(clips, FeatureParams(), target_fpr=0.01, seed=0)


@pytest.fixture(scope="module")
def scorer(trained: TrainedSpectral) -> object:
    return session(trained.onnx_bytes)


def _score(scorer: object, samples: np.ndarray) -> float:
    return float(scorer.run(["score"], {"waveform": samples.astype(np.float32)})[0])  # type: ignore[attr-defined]


def test_the_onnx_graph_scores_what_the_numpy_model_scores(trained: TrainedSpectral, scorer: object) -> None:
    # Given unseen clips, normal and faulty
    clips = [_clip(100), _clip(101, fault="imbalance", severity=0.8)]
    extractor = StatisticsExtractor(FeatureParams(), trained.fitted.config)
    stats = extractor.many(clips)
    # When scored by onnxruntime and by the numpy mirror
    onnx_scores = np.array([_score(scorer, c) for c in clips])
    numpy_scores = trained.fitted.score(stats)
    # Then they agree to 1e-4 relative
    assert np.allclose(onnx_scores, numpy_scores, rtol=1e-4)


def test_unseen_normal_clips_stay_under_the_threshold(trained: TrainedSpectral, scorer: object) -> None:
    threshold = trained.threshold["value"]
    scores = [_score(scorer, _clip(200 + i)) for i in range(6)]
    assert max(scores) < threshold


@pytest.mark.parametrize("fault", ["speed", "bearing", "rubbing", "imbalance", "blade"])
def test_a_severe_fault_goes_over_the_threshold(trained: TrainedSpectral, scorer: object, fault: str) -> None:
    threshold = trained.threshold["value"]
    scores = [_score(scorer, _clip(300 + i, fault=fault, severity=1.0)) for i in range(3)]
    assert min(scores) > threshold


def test_a_one_db_gain_change_does_not_flip_a_normal_decision(
    trained: TrainedSpectral, scorer: object
) -> None:
    threshold = trained.threshold["value"]
    for seed in (400, 401, 402):
        base = _score(scorer, _clip(seed)) > threshold
        for gain in (-1.0, 1.0):
            assert (_score(scorer, _clip(seed, gain_db=gain)) > threshold) == base


def test_every_training_clip_is_calibrated_out_of_fold(trained: TrainedSpectral) -> None:
    # The OOF scores are what unseen clips score: one per training clip, all positive, and
    # the threshold block says so.
    assert trained.oof_scores.shape == (20,) and np.all(trained.oof_scores > 0)
    assert trained.threshold["validation"] == "out-of-fold" and trained.threshold["n_validation"] == 20
    assert trained.threshold["value"] > np.median(trained.oof_scores)


def test_training_refuses_too_few_clips() -> None:
    stats = StatisticsExtractor(FeatureParams(), SpectralConfig()).many([_clip(1), _clip(2)])
    with pytest.raises(ValueError, match="at least 3"):
        train_spectral(stats, FeatureParams())


def test_every_member_score_in_onnx_equals_the_numpy_member(trained: TrainedSpectral, scorer: object) -> None:
    # Given a normal clip and a bearing fault
    clips = [_clip(500), _clip(501, fault="bearing", severity=0.8)]
    stats = StatisticsExtractor(FeatureParams(), trained.fitted.config).many(clips)
    # When both paths score each member
    onnx_members = np.stack(
        [scorer.run(["member_scores"], {"waveform": c.astype(np.float32)})[0] for c in clips]  # type: ignore[attr-defined]
    )
    numpy_members = trained.fitted.member_scores(stats)
    names = [m.name for m in trained.fitted.config.members]
    # Then every member agrees to 1e-3 relative (float32 graph, float64 reference)
    for i, name in enumerate(names):
        assert np.allclose(onnx_members[:, i], numpy_members[name], rtol=1e-3), name


def test_the_clip_score_is_the_most_deviant_member_in_out_of_fold_units(trained: TrainedSpectral) -> None:
    # Given the fitted members' out-of-fold log statistics
    fitted = trained.fitted
    assert fitted.config.combine == "max-z"
    stats = StatisticsExtractor(FeatureParams(), fitted.config).many([_clip(600), _clip(601, fault="blade")])
    members = fitted.member_scores(stats)
    # When the combined score is recomputed by hand
    z = np.stack(
        [
            (np.log(np.maximum(members[name], 1e-3)) - fitted.log_stats[name][0]) / fitted.log_stats[name][1]
            for name in members
        ]
    )
    # Then it is exp(max z): one member far out is enough, and none can hide another
    assert np.allclose(fitted.score(stats), np.exp(z.max(axis=0)))


def test_the_per_band_option_scores_the_same_in_onnx_and_numpy() -> None:
    # Given a model whose modulation members standardise each band by its own OOF maxima
    from humwatch.detectors.spectral_gauss.ensemble import DEFAULT_MEMBERS

    members = tuple(
        m.model_copy(update={"per_band": True}) if m.name.startswith("modulation") else m
        for m in DEFAULT_MEMBERS
    )
    config = SpectralConfig(members=members)
    trained = train_spectral_from_waveforms(
        [_clip(seed) for seed in range(12)], FeatureParams(), config=config
    )
    clips = [_clip(700), _clip(701, fault="bearing", severity=1.0)]
    stats = StatisticsExtractor(FeatureParams(), config).many(clips)
    # When both paths score the clips
    onnx_scores = np.array([_score(session(trained.onnx_bytes), c) for c in clips])
    # Then they agree, and the severe fault scores above the normal clip
    assert np.allclose(onnx_scores, trained.fitted.score(stats), rtol=1e-3)
    assert onnx_scores[1] > onnx_scores[0]
