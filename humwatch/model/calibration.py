"""The one calibration: a decision threshold from normal scores, for a target per-clip
false-positive rate, without anomaly labels.

Every detector hands this module the scores of normal clips its model did not train on (the
hold-out of `blog-ae`, the out-of-fold scores of every `spectral-gauss` training clip) and gets
the model.json `threshold` block back: a quantile of a distribution fitted to those scores.

Methods:
- `log-gamma` (default): a gamma (location fixed at 0) fitted to log(score) - origin, the origin a
  little below the smallest log-score. Clip scores have a heavier right tail than a gamma on the
  raw scores allows: on 40 held-out synthetic fan clips the raw gamma put 7.5% of them (6% of 50
  unseen normals) over a 1% threshold, the log-gamma 0% (2%); on the real DCASE id_00 clips 8%
  (7%) against 0% (0%), and for spectral-gauss 4% against 0.4% of unseen normals (5-fold CV).
- `gamma`: the same on the raw scores (what the DCASE 2021+ baselines fit to autoencoder errors).
- `lognormal`: a normal distribution fitted to log(score).
- `log-t`: the prediction bound for one new clip, Student t with n-1 degrees of freedom.
- `empirical`: the (1 - target) quantile of the scores themselves (needs >> 1/target clips).
A gamma whose maximum-likelihood fit degenerates (identical scores) falls back to the method of
moments and says so in `method` (`log-gamma-moments`). An unknown method is an error.

Defaults (why: docs/detectors.md): `DEFAULT_TARGET_FPR = 0.02` per clip, chosen together with
the default alert policy by `humwatch simulate-alerts` (real false positives are correlated, so
the simulation, not a formula for independent clips, sets it); `RECOMMENDED_TRAIN_CLIPS = 200`
normal clips (about 17 h of 5-minute clips), what the alert defaults were tuned with.
scipy is imported inside the fitting function: training only; scoring reads the stored value.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, Literal, get_args

import numpy as np

DEFAULT_TARGET_FPR = 0.02
RECOMMENDED_TRAIN_CLIPS = 200
MAX_TARGET_FPR = 0.5  # a "threshold" that flags half of the normal clips decides nothing

ThresholdMethod = Literal["log-gamma", "gamma", "lognormal", "log-t", "empirical"]
THRESHOLD_METHODS: tuple[str, ...] = get_args(ThresholdMethod)
DEFAULT_METHOD: ThresholdMethod = "log-gamma"
Validation = Literal["holdout", "out-of-fold"]
_LOG_MARGIN = 0.05  # the log-gamma support starts this many log-score SDs below the smallest score
_SPREAD_FLOOR = 1e-6  # identical log scores still give a (tiny) spread


def check_target_fpr(target_fpr: float) -> float:
    if not 0.0 < target_fpr < MAX_TARGET_FPR:
        raise ValueError(f"target FPR must be between 0 and {MAX_TARGET_FPR} (exclusive), got {target_fpr}")
    return float(target_fpr)


def _fit_gamma(values: np.ndarray) -> tuple[dict[str, float], str]:
    """Gamma (loc 0) parameters and a method suffix: ML fit, or moments when ML is degenerate."""
    from scipy import stats

    try:
        if np.ptp(values) <= 1e-9 * float(values.mean()):
            raise ValueError("identical scores")
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            shape, _, scale = stats.gamma.fit(values, floc=0.0)
        if not (np.isfinite(shape) and np.isfinite(scale) and shape > 0 and scale > 0):
            raise ValueError("degenerate fit")
        return {"shape": float(shape), "loc": 0.0, "scale": float(scale)}, ""
    except (ValueError, RuntimeError, FloatingPointError):
        mean, var = float(values.mean()), float(values.var())
        var = max(var, (1e-3 * mean) ** 2)  # identical scores: assume a 0.1% spread
        return {"shape": mean * mean / var, "loc": 0.0, "scale": var / mean}, "-moments"


def _quantile(values: np.ndarray, target_fpr: float, method: str) -> tuple[float, str, dict[str, Any]]:
    """(threshold, method as recorded, the fitted parameters for model.json)."""
    from scipy import stats

    q = 1.0 - target_fpr
    if method == "empirical":
        return float(np.quantile(values, q)), method, {}
    if method == "gamma":
        gamma, suffix = _fit_gamma(values)
        return (
            float(stats.gamma.ppf(q, gamma["shape"], scale=gamma["scale"])),
            method + suffix,
            {"gamma": gamma},
        )
    logs = np.log(values)
    if method == "log-gamma":
        origin = float(logs.min() - _LOG_MARGIN * max(float(np.std(logs)), _SPREAD_FLOOR))
        gamma, suffix = _fit_gamma(logs - origin)
        value = float(np.exp(origin + stats.gamma.ppf(q, gamma["shape"], scale=gamma["scale"])))
        return value, method + suffix, {"gamma": {**gamma, "log_origin": origin}}
    mu, sigma = float(np.mean(logs)), max(float(np.std(logs, ddof=1)), _SPREAD_FLOOR)
    if method == "lognormal":
        return (
            float(np.exp(mu + sigma * stats.norm.ppf(q))),
            method,
            {"lognormal": {"mu": mu, "sigma": sigma}},
        )
    # log-t: one new clip's prediction bound, the spread inflated by sqrt(1 + 1/n).
    n = logs.size
    value = float(np.exp(mu + sigma * np.sqrt(1.0 + 1.0 / n) * stats.t.ppf(q, n - 1)))
    return value, method, {"lognormal": {"mu": mu, "sigma": sigma, "dof": n - 1}}


def fit_threshold(
    scores: Sequence[float] | np.ndarray,
    target_fpr: float = DEFAULT_TARGET_FPR,
    method: ThresholdMethod = DEFAULT_METHOD,
    *,
    validation: Validation = "holdout",
) -> dict[str, Any]:
    """The model.json `threshold` block from normal clip scores the model did not train on.

    Raises ValueError for fewer than 2 positive finite scores, a target outside (0, 0.5) or an
    unknown method.
    """
    if method not in THRESHOLD_METHODS:
        raise ValueError(
            f"unknown threshold method {method!r} (expected one of {', '.join(THRESHOLD_METHODS)})"
        )
    check_target_fpr(target_fpr)
    values = np.asarray(scores, dtype=np.float64)
    if values.size < 2 or not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise ValueError("need at least 2 positive finite scores to fit a threshold")
    value, recorded, fitted = _quantile(values, target_fpr, method)
    return {
        "value": value,
        "method": recorded,
        "target_fpr": float(target_fpr),
        "observed_validation_fpr": float(np.mean(values > value)),
        "n_validation": int(values.size),
        "validation": validation,
        **fitted,
    }
