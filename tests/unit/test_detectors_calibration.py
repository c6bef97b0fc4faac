"""Thresholds from out-of-fold scores land near the target false-positive rate."""

from __future__ import annotations

import numpy as np
import pytest

from humwatch.detectors.calibration import fit_threshold


@pytest.mark.parametrize("method", ["log-gamma", "lognormal", "log-t", "gamma", "empirical"])
def test_threshold_meets_the_target_on_fresh_scores_from_the_same_distribution(method: str) -> None:
    # Given 400 out-of-fold scores from a right-skewed distribution (log-normal, like clip scores)
    rng = np.random.default_rng(0)
    oof = rng.lognormal(0.0, 0.6, 400)
    fresh = rng.lognormal(0.0, 0.6, 50_000)
    # When a threshold is fitted for a 5% target
    block = fit_threshold(oof, 0.05, method)  # type: ignore[arg-type]
    observed = float(np.mean(fresh > block["value"]))
    # Then unseen normal scores exceed it about 5% of the time (never more than 1.5x)
    assert 0.02 <= observed <= 0.075
    assert block["method"] == method and block["target_fpr"] == 0.05
    assert block["n_validation"] == 400 and block["validation"] == "out-of-fold"


def test_a_lower_target_gives_a_higher_threshold() -> None:
    oof = np.random.default_rng(1).gamma(3.0, 1.0, 200)
    assert fit_threshold(oof, 0.01)["value"] > fit_threshold(oof, 0.05)["value"]


def test_log_gamma_records_its_parameters_for_model_json() -> None:
    block = fit_threshold(np.random.default_rng(2).lognormal(0, 1, 50), 0.01)
    assert {"shape", "loc", "scale", "log_origin"} <= set(block["gamma"])
    assert 0.0 <= block["observed_validation_fpr"] <= 1.0


@pytest.mark.parametrize(
    ("scores", "target"),
    [([1.0], 0.01), ([1.0, -2.0, 3.0], 0.01), ([1.0, float("nan")], 0.01), ([1.0, 2.0, 3.0], 0.7)],
)
def test_bad_calibration_input_is_refused_with_a_clear_error(scores: list[float], target: float) -> None:
    with pytest.raises(ValueError):
        fit_threshold(np.asarray(scores), target)
