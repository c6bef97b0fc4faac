"""Shrinkage Gaussians, prominence and k-fold splits behind spectral-gauss."""

from __future__ import annotations

import numpy as np
import pytest

from humwatch.detectors.gaussian import fit_diagonal, fit_frames, kfold_indices, prominence


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
