"""Decision threshold without test labels: hold out normal clips, fit a gamma, take a quantile.

Defaults and why:
- `DEFAULT_HOLDOUT_FRACTION = 0.2`: the threshold is a tail quantile, and a thin hold-out puts
  it far too low (6 of 60 real DCASE clips flagged 4 of 15 unseen normals, DESIGN.md). A fifth
  gives 12 clips of 60 and 60 of 300 while the autoencoder keeps 80% of the data; at least
  `MIN_HOLDOUT` clips are held out whatever the fraction.
- `DEFAULT_TARGET_FPR = 0.02` per clip, chosen together with the default alert policy (5 anomalous
  of the last 8 clips, or evidence 2.5 over them) by `humwatch simulate-alerts`: weeks of 5-minute
  clips with slow level and speed drift gave about 0.3 false alerts per machine-month, while 84%
  of moderate step faults alerted within 30 minutes (docs/detectors.md).
  Real false positives are correlated (a loud afternoon), which is why the simulation, not a
  formula for independent clips, sets the default. 0.05 with 3-of-5 gave ~10 false alerts a
  month: how alerting systems get muted.
- `RECOMMENDED_TRAIN_CLIPS = 200` normal clips (about 17 hours of 5-minute clips): what the alert
  defaults were tuned with. The shrinkage Gaussians of spectral-gauss tighten with more clips;
  trained on 40, the same policy alerted 41 instead of 55 of 60 moderate step faults within
  30 minutes (same machines and streams). `humwatch train` says so when it gets fewer.
- A gamma distribution, as the DCASE 2021+ baselines fit to autoencoder errors, but on the log
  of the scores by default (`log-gamma`, see `fit_threshold`), with its location fixed (a free
  location makes the maximum-likelihood fit unstable on 10-60 values).
scipy is imported inside the fitting function: training only; scoring reads the stored value.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

DEFAULT_HOLDOUT_FRACTION = 0.2
DEFAULT_TARGET_FPR = 0.02
RECOMMENDED_TRAIN_CLIPS = 200
MIN_HOLDOUT = 3
MIN_TRAIN = 1


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
    train = np.setdiff1d(np.arange(n), held)
    return train, held


ThresholdMethod = Literal["log-gamma", "gamma"]
DEFAULT_METHOD: ThresholdMethod = "log-gamma"
_LOG_MARGIN = 0.05  # the log-gamma support starts this many log-score SDs below the smallest score


def _fit_gamma(values: np.ndarray) -> tuple[float, float, float, str]:
    """(shape, loc=0, scale, method suffix): ML fit, or moments when ML is degenerate."""
    from scipy import stats

    try:
        if np.ptp(values) <= 1e-9 * float(values.mean()):
            raise ValueError("identical scores")
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            shape, _, scale = stats.gamma.fit(values, floc=0.0)
        if not (np.isfinite(shape) and np.isfinite(scale) and shape > 0 and scale > 0):
            raise ValueError("degenerate fit")
        return float(shape), 0.0, float(scale), ""
    except (ValueError, RuntimeError, FloatingPointError):
        mean, var = float(values.mean()), float(values.var())
        var = max(var, (1e-3 * mean) ** 2)  # identical scores: assume a 0.1% spread
        return mean * mean / var, 0.0, var / mean, "-moments"


def fit_threshold(
    scores: Sequence[float] | np.ndarray,
    target_fpr: float = DEFAULT_TARGET_FPR,
    method: ThresholdMethod = DEFAULT_METHOD,
) -> dict[str, Any]:
    """The model.json `threshold` block from normal hold-out clip scores (no anomaly labels).

    - `gamma`: gamma (loc 0) fitted to the scores; threshold = ppf(1 - target_fpr).
    - `log-gamma` (default): the same gamma fitted to log(score) - origin, origin a little below
      the smallest log-score. Clip scores have a heavier right tail than a gamma on the raw
      scores allows: on 40 held-out synthetic fan clips the raw gamma put 7.5% of them (6% of
      50 unseen normals) over a 1% threshold, the log-gamma 0% (2%); on the real DCASE id_00
      clips 8% (7% of unseen normals) against 0% (0%). docs/model.md has the numbers.
    Falls back to a method-of-moments gamma when the maximum-likelihood fit is degenerate
    (identical scores) and says so in `method`.
    """
    from scipy import stats

    values = np.asarray(scores, dtype=np.float64)
    if values.size < 2 or not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise ValueError("need at least 2 positive finite scores to fit a threshold")
    if not 0.0 < target_fpr < 1.0:
        raise ValueError(f"target FPR must be in (0, 1), got {target_fpr}")
    if method == "gamma":
        shape, loc, scale, suffix = _fit_gamma(values)
        value = float(stats.gamma.ppf(1.0 - target_fpr, shape, loc=loc, scale=scale))
        gamma: dict[str, float] = {"shape": shape, "loc": loc, "scale": scale}
    elif method == "log-gamma":
        logs = np.log(values)
        origin = float(logs.min() - _LOG_MARGIN * max(float(np.std(logs)), 1e-6))
        shape, loc, scale, suffix = _fit_gamma(logs - origin)
        value = float(np.exp(origin + stats.gamma.ppf(1.0 - target_fpr, shape, loc=loc, scale=scale)))
        gamma = {"shape": shape, "loc": loc, "scale": scale, "log_origin": origin}
    else:
        raise ValueError(f"unknown threshold method {method!r} (expected log-gamma or gamma)")
    return {
        "value": value,
        "method": method + suffix,
        "target_fpr": float(target_fpr),
        "observed_validation_fpr": float(np.mean(values > value)),
        "n_validation": int(values.size),
        "validation": "holdout",
        "gamma": gamma,
    }
