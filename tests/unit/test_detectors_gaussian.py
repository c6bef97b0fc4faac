"""Shrinkage Gaussians, prominence and k-fold splits behind spectral-gauss."""

from __future__ import annotations

import numpy as np
import pytest

from humwatch.detectors.spectral_gauss.gaussian import (
    fit_band_max,
    fit_diagonal,
    fit_frames,
    kfold_indices,
    prominence,
)


def test_a_shift_in_one_dimension_out_of_hundreds_is_heard_when_scoring_the_top_dimensions() -> None:
    # Given 40 normal clips of a 400-dim statistic and one clip with a single line 6 sigma up
    rng = np.random.default_rng(0)
    normal = rng.standard_normal((40, 400))
    faulty = rng.standard_normal((1, 400))
    faulty[0, 123] += 6.0
    fresh = rng.standard_normal((200, 400))
    # When scored by the mean of all z^2 and by the mean of the top 1%
    everything = fit_diagonal(normal, floor_db=1e-3)
    top = fit_diagonal(normal, top_fraction=0.01, floor_db=1e-3)
    # Then the all-dimension mean dilutes it into the normal range, the top-k score does not
    assert everything.score(faulty)[0] < np.quantile(everything.score(fresh), 0.99)
    assert top.score(faulty)[0] > np.quantile(top.score(fresh), 0.99)


def test_the_variance_floor_keeps_a_perfectly_steady_dimension_from_exploding() -> None:
    # Given training clips where one dimension never changes
    rng = np.random.default_rng(1)
    normal = rng.standard_normal((30, 10))
    normal[:, 0] = -40.0
    model = fit_diagonal(normal, prior_clips=0.0, floor_db=0.5)
    # When that dimension moves by 0.1 dB
    probe = normal[:1].copy()
    probe[0, 0] += 0.1
    # Then its z-score is bounded by the floor: 0.1 / 0.5
    z = (probe[0, 0] - model.mean[0]) * model.inv_std[0]
    assert z == pytest.approx(0.2, rel=1e-6)


def test_shrinkage_pulls_a_noisy_variance_towards_the_group_median() -> None:
    # Given three clips (too few to trust any one dimension's variance)
    x = np.array([[0.0, 0.0, 0.0], [1.0, 0.1, 1.0], [2.0, 0.2, 2.0]])
    raw = fit_diagonal(x, prior_clips=0.0, floor_db=1e-6)
    shrunk = fit_diagonal(x, prior_clips=4.0, floor_db=1e-6)
    # Then the small-variance dimension gets a larger variance (smaller 1/std) after shrinkage
    assert shrunk.inv_std[1] < raw.inv_std[1]


def test_frame_gaussian_scores_from_moments_equal_the_direct_frame_average() -> None:
    # Given clips of log-mel-like frames
    rng = np.random.default_rng(2)
    clips = [rng.standard_normal((50, 6)) @ rng.standard_normal((6, 6)) + 3.0 for _ in range(8)]
    means = np.stack([c.mean(axis=0) for c in clips])
    m2 = np.stack([(c.T @ c / len(c)).ravel() for c in clips])
    model = fit_frames(means, m2)
    # When one clip is scored from its moments and frame by frame
    probe = clips[3] + 0.5
    from_moments = model.score(probe.mean(axis=0), (probe.T @ probe / len(probe)).ravel())[0]
    d = probe - model.mean
    direct = np.mean(np.einsum("ij,jk,ik->i", d, model.precision, d)) / 6
    # Then both agree, and the whitener reproduces the precision
    assert from_moments == pytest.approx(direct, rel=1e-9)
    w = model.whitener
    assert np.allclose(w @ w.T, model.precision)


def test_prominence_of_a_flat_spectrum_is_zero_and_a_line_stands_out() -> None:
    flat = np.full((1, 64), -30.0)
    assert np.allclose(prominence(flat, width=4), 0.0)
    line = flat.copy()
    line[0, 20] += 12.0
    out = prominence(line, width=4)
    assert out[0, 20] == pytest.approx(12.0)
    assert out[0, 30] == pytest.approx(0.0)


def test_prominence_never_mixes_two_rows() -> None:
    # Given two 16-bin rows where only the second row has a line at its first bin
    x = np.zeros((1, 32))
    x[0, 16] = 9.0
    out = prominence(x, width=3, rows=2)
    # Then the first row's last bins are untouched by it
    assert np.allclose(out[0, :16], 0.0)


def test_kfold_holds_every_clip_out_exactly_once() -> None:
    folds = kfold_indices(23, 5, seed=3)
    held = np.sort(np.concatenate(folds))
    assert len(folds) == 5 and np.array_equal(held, np.arange(23))
    assert len(kfold_indices(3, 5, seed=0)) == 3  # fewer clips than folds: leave-one-out


def test_a_one_sided_score_hears_a_line_rising_but_not_a_line_falling() -> None:
    # Given 40 normal clips of a 300-line modulation spectrum
    rng = np.random.default_rng(3)
    normal = rng.standard_normal((40, 300))
    model = fit_diagonal(normal, top_k=1, one_sided=True, floor_db=1e-3)
    two_sided = fit_diagonal(normal, top_k=1, floor_db=1e-3)
    fresh = rng.standard_normal((200, 300))
    rising, falling = fresh[:1].copy(), fresh[:1].copy()
    rising[0, 77] += 6.0
    falling[0, 77] -= 6.0
    # When scored by the largest positive z^2
    limit = np.quantile(model.score(fresh), 0.99)
    # Then the rise is over the normal 99th percentile, the fall is not (a two-sided max hears both)
    assert model.score(rising)[0] > limit
    assert model.score(falling)[0] < limit
    assert two_sided.score(falling)[0] > np.quantile(two_sided.score(fresh), 0.99)


def test_top_k_of_one_is_the_largest_positive_z_squared() -> None:
    x = np.random.default_rng(4).standard_normal((30, 12))
    model = fit_diagonal(x, top_k=1, one_sided=True)
    probe = x[:3] + np.linspace(-1.0, 1.0, 12)
    z = np.maximum((probe - model.mean) * model.inv_std, 0.0)
    assert model.top_k == 1
    assert np.allclose(model.score(probe), (z**2).max(axis=1))


def test_per_band_standardisation_hears_a_quiet_band_that_a_noisy_band_would_hide() -> None:
    # Given 60 clips of two 200-line bands: band 0's lines have heavy tails (occasional 4-sigma
    # bursts, like other machines' modulation), band 1's are Gaussian
    rng = np.random.default_rng(6)

    def clips(n: int) -> np.ndarray:
        noisy = rng.standard_normal((n, 200)) + 4.0 * (rng.random((n, 200)) < 0.02)
        return np.concatenate([noisy, rng.standard_normal((n, 200))], axis=1)

    normal, fresh = clips(60), clips(300)
    per_band = fit_band_max(normal, rows=2, folds=5, floor_db=1e-3)
    pooled = fit_diagonal(normal, top_k=1, one_sided=True, floor_db=1e-3)
    faulty = fresh[:20].copy()
    faulty[:, 200 + 50] += 4.5  # one line of the quiet band rises
    # When both are thresholded at their 95th percentile of fresh normal clips
    hit_per_band = np.mean(per_band.score(faulty) > np.quantile(per_band.score(fresh), 0.95))
    hit_pooled = np.mean(pooled.score(faulty) > np.quantile(pooled.score(fresh), 0.95))
    # Then the per-band score catches the rise more often than the max over all lines
    assert hit_per_band > hit_pooled + 0.2


def test_band_max_with_few_clips_leaves_bands_unstandardised() -> None:
    x = np.random.default_rng(7).standard_normal((3, 40))
    model = fit_band_max(x, rows=2)
    assert np.all(model.centre == 0.0) and np.all(model.inv_spread == 1.0)
    maxima = model.band_maxima(x)
    assert maxima.shape == (3, 2)
    assert np.allclose(model.score(x), np.maximum(maxima, 1e-3).max(axis=1))
