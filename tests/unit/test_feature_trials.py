"""humwatch.research.feature_trials: candidate members scored the way the detector scores its own."""

from __future__ import annotations

import numpy as np
import pytest

from humwatch.detectors.spectral_gauss.ensemble import SpectralConfig, fit_spectral
from humwatch.features import FeatureParams
from humwatch.research.feature_trials import (
    BASELINE_MEMBERS,
    TrialPlan,
    combine,
    fit_frames_ledoit_wolf,
    fit_knn,
    ledoit_wolf_rows,
    member_scores,
    take,
)


def random_stats(n: int, seed: int) -> dict[str, np.ndarray]:
    """Clip statistics of the detector's shape (frame moments from real frames, the rest noise)."""
    rng = np.random.default_rng(seed)
    config = SpectralConfig()
    mixing = rng.standard_normal((64, 64)) * 0.3 + np.eye(64)
    mel_mean, m2, s3, s4 = [], [], [], []
    for _ in range(n):
        frames = rng.standard_normal((40, 64)) @ mixing - 50.0
        energy = np.sum(frames * frames, axis=1)
        mel_mean.append(frames.mean(axis=0))
        m2.append((frames.T @ frames / len(frames)).ravel())
        s3.append((energy[:, None] * frames).mean(axis=0))
        s4.append([np.mean(energy**2)])
    lines = config.frontend.band_env_bins
    return {
        "env_bands": rng.standard_normal((n, 8 * lines)),
        "env_fine": rng.standard_normal((n, 30 * lines)),
        "fine": rng.standard_normal((n, config.frontend.fine_bins)),
        "level": rng.standard_normal((n, 1)) - 30.0,
        "mel_mean": np.asarray(mel_mean),
        "frame_m2": np.asarray(m2),
        "frame_s3": np.asarray(s3),
        "frame_s4": np.asarray(s4),
        "frame_count": np.full((n, 1), 40.0),
    }


def test_the_baseline_variant_reproduces_the_detectors_own_scores() -> None:
    # Given training and test statistics
    train, test = random_stats(24, 0), random_stats(6, 1)
    # When the trials' max-z recombines the detector's members
    oof, scores = combine(member_scores(train, test, members=()), BASELINE_MEMBERS)
    # Then it is what fit_spectral computes (OOF) and scores (test): candidates compete on its terms
    fitted = fit_spectral(train, FeatureParams(), SpectralConfig(), seed=0)
    np.testing.assert_allclose(oof, fitted.oof_scores, rtol=1e-9)
    np.testing.assert_allclose(scores, fitted.score(test), rtol=1e-9)


def test_ledoit_wolf_matches_sklearn() -> None:
    covariance = pytest.importorskip("sklearn.covariance")
    # Given 30 samples of a correlated 12-dimensional variable
    rng = np.random.default_rng(2)
    x = rng.standard_normal((30, 12)) @ rng.standard_normal((12, 12))
    # When both shrink its covariance
    _, cov, intensity = ledoit_wolf_rows(x)
    expected, expected_intensity = covariance.ledoit_wolf(x)
    # Then they agree
    assert intensity == pytest.approx(expected_intensity, rel=1e-9)
    np.testing.assert_allclose(cov, expected, rtol=1e-9)


def test_frame_ledoit_wolf_from_clip_moments_equals_ledoit_wolf_of_all_frames() -> None:
    # Given clips of 40 frames each, summarised by their moments
    rng = np.random.default_rng(3)
    clips = [rng.standard_normal((40, 6)) @ rng.standard_normal((6, 6)) + 3.0 for _ in range(5)]
    energy = [np.sum(c * c, axis=1) for c in clips]
    stats = {
        "mel_mean": np.stack([c.mean(axis=0) for c in clips]),
        "frame_m2": np.stack([(c.T @ c / len(c)).ravel() for c in clips]),
        "frame_s3": np.stack([(e[:, None] * c).mean(axis=0) for e, c in zip(energy, clips, strict=True)]),
        "frame_s4": np.array([[np.mean(e**2)] for e in energy]),
        "frame_count": np.full((5, 1), 40.0),
    }
    # When the frame Gaussian is fitted from the moments
    model, intensity = fit_frames_ledoit_wolf(stats)
    # Then it is Ledoit-Wolf of the pooled frames
    mean, cov, expected_intensity = ledoit_wolf_rows(np.concatenate(clips))
    assert intensity == pytest.approx(expected_intensity, rel=1e-6)
    np.testing.assert_allclose(model.mean, mean, rtol=1e-9)
    np.testing.assert_allclose(np.linalg.inv(model.precision), cov, rtol=1e-6, atol=1e-9)


def test_knn_scores_grow_with_the_distance_from_the_nearest_training_clips() -> None:
    # Given kNN members (k = 1 and 3) fitted on 20 clips
    train = random_stats(20, 4)
    nearest, three = fit_knn(train, 1), fit_knn(train, 3)
    copy = take(train, slice(0, 1))

    def louder(db: float) -> dict[str, np.ndarray]:
        return {**copy, "level": copy["level"] + db}

    # When a training clip, and the same clip 2 dB and 10 dB louder, are scored
    # Then the copy is at distance 0 from its nearest neighbour (and not from its three nearest),
    # and the louder the clip, the farther it is
    assert nearest(copy)[0] == pytest.approx(0.0, abs=1e-6)
    assert three(copy)[0] > 0.0
    assert nearest(copy)[0] < nearest(louder(2.0))[0] < nearest(louder(10.0))[0]


def test_the_trials_refuse_the_machines_make_eval_holds_out() -> None:
    # Given a plan that includes an evaluation machine
    plan = TrialPlan(machines=(("synth", 0), ("orders", 200)))
    # Then it is refused before anything is rendered
    with pytest.raises(ValueError, match="held out"):
        plan.check_development_seeds()
    TrialPlan().check_development_seeds()  # the default development machines pass
