"""Has a machine's recent sound drifted away from what its model was trained on?

Three views of the same question, each compared with statistics stored in the model bundle
(`model.json` -> training.band_means_mean / band_means_std / score_samples, threshold.target_fpr):

- **Feature shift**: per mel band, the standardised mean shift
  `z_b = (mean of recent band means - training mean) / training std` (an effect size, so it does
  not grow with the number of clips). Summarised as the mean |z| over bands and the worst bands.
- **Score distribution**: PSI of recent scores against the training-score distribution (10 bins at
  the training deciles) and the two-sample Kolmogorov-Smirnov statistic with its asymptotic p-value;
  a PSI finding counts only when the KS test says it is more than sampling noise.
- **Anomaly rate** against the calibrated false-positive rate: a one-sided binomial tail p-value.

`drift_score` is the largest of (mean |z| / z limit, PSI / PSI limit): 1.0 means "at the limit".
numpy only (Lambda carries no scipy).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

PSI_EPS = 1e-4
# Below this many training scores a distribution distance is noise, not evidence: skip PSI/KS.
MIN_REFERENCE_SCORES = 20


class Verdict(StrEnum):
    OK = "ok"
    WATCH = "watch"
    DRIFT = "drift"
    INSUFFICIENT_DATA = "insufficient_data"


@dataclass(frozen=True)
class DriftLimits:
    band_shift: float = 1.0  # mean |z| over bands
    band_shift_watch: float = 0.5
    psi: float = 0.25  # the usual "significant shift" rule of thumb
    psi_watch: float = 0.1
    # PSI measures how far the score distribution moved but not whether the move is more than
    # sampling noise: with a few dozen reference scores, two samples of the same distribution
    # routinely reach PSI 0.5. A PSI finding therefore also needs the KS test to reject "same
    # distribution" at this level.
    score_ks_pvalue: float = 0.01
    score_ks_pvalue_watch: float = 0.05
    anomaly_rate_pvalue: float = 1e-3
    anomaly_rate_factor: float = 3.0  # and the rate must exceed this multiple of the target FPR
    min_clips: int = 20


@dataclass(frozen=True)
class TrainingReference:
    band_means_mean: np.ndarray
    band_means_std: np.ndarray
    score_samples: np.ndarray
    target_fpr: float
    threshold: float


def _field(source: Any, name: str) -> Any:
    if isinstance(source, Mapping):
        return source.get(name)
    value = getattr(source, name, None)
    if value is None and hasattr(source, "model_extra") and source.model_extra:
        value = source.model_extra.get(name)
    return value


def reference_from_manifest(manifest: Any) -> TrainingReference:
    """Training statistics from a `ModelManifest` (or the parsed model.json dict)."""
    training = _field(manifest, "training")
    threshold = _field(manifest, "threshold")
    if training is None or threshold is None:
        raise ValueError("model manifest has no training/threshold section")
    mean = np.asarray(_field(training, "band_means_mean"), dtype=np.float64)
    std = np.asarray(_field(training, "band_means_std"), dtype=np.float64)
    samples = np.asarray(_field(training, "score_samples") or [], dtype=np.float64)
    if mean.ndim != 1 or mean.shape != std.shape or mean.size == 0:
        raise ValueError("model manifest band statistics are missing or mismatched")
    return TrainingReference(
        band_means_mean=mean,
        band_means_std=std,
        score_samples=samples,
        target_fpr=float(_field(threshold, "target_fpr") or 0.01),
        threshold=float(_field(threshold, "value")),
    )


# --- statistics ------------------------------------------------------------------------------------
def band_shift(recent_band_means: np.ndarray, reference: TrainingReference) -> np.ndarray:
    """Standardised mean shift per band; [n_clips, n_bands] -> [n_bands]."""
    recent = np.asarray(recent_band_means, dtype=np.float64)
    if recent.ndim != 2 or recent.shape[1] != reference.band_means_mean.size:
        raise ValueError(
            f"band means have shape {recent.shape}, expected [n, {reference.band_means_mean.size}]"
        )
    # A floor on the std keeps a band that never varied in training from reporting infinite drift.
    std = np.maximum(reference.band_means_std, 1e-3 + 1e-3 * np.abs(reference.band_means_mean))
    return (recent.mean(axis=0) - reference.band_means_mean) / std


def population_stability_index(expected: np.ndarray, actual: np.ndarray, bins: int = 10) -> float:
    """PSI of `actual` against `expected`, bins at the quantiles of `expected`."""
    expected = np.asarray(expected, dtype=np.float64)
    actual = np.asarray(actual, dtype=np.float64)
    if expected.size < 2 or actual.size == 0:
        return float("nan")
    edges = np.unique(np.quantile(expected, np.linspace(0.0, 1.0, bins + 1))[1:-1])
    e = np.bincount(np.searchsorted(edges, expected, side="right"), minlength=edges.size + 1) / expected.size
    a = np.bincount(np.searchsorted(edges, actual, side="right"), minlength=edges.size + 1) / actual.size
    e = np.maximum(e, PSI_EPS)
    a = np.maximum(a, PSI_EPS)
    return float(np.sum((a - e) * np.log(a / e)))


def _kolmogorov_sf(x: float) -> float:
    """P(K > x) for the Kolmogorov distribution (alternating series)."""
    if x <= 0.0:
        return 1.0
    total = 0.0
    for j in range(1, 101):
        term = 2.0 * (-1) ** (j - 1) * math.exp(-2.0 * j * j * x * x)
        total += term
        if abs(term) < 1e-12:
            break
    return float(min(max(total, 0.0), 1.0))


def ks_two_sample(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Two-sample KS statistic and its asymptotic p-value (Stephens' small-sample correction)."""
    a = np.sort(np.asarray(a, dtype=np.float64))
    b = np.sort(np.asarray(b, dtype=np.float64))
    if a.size == 0 or b.size == 0:
        return float("nan"), float("nan")
    grid = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, grid, side="right") / a.size
    cdf_b = np.searchsorted(b, grid, side="right") / b.size
    d = float(np.max(np.abs(cdf_a - cdf_b)))
    en = math.sqrt(a.size * b.size / (a.size + b.size))
    return d, _kolmogorov_sf((en + 0.12 + 0.11 / en) * d)


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), computed in log space."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    p = min(max(p, 1e-12), 1 - 1e-12)
    log_terms = [
        math.lgamma(n + 1)
        - math.lgamma(i + 1)
        - math.lgamma(n - i + 1)
        + i * math.log(p)
        + (n - i) * math.log1p(-p)
        for i in range(k, n + 1)
    ]
    peak = max(log_terms)
    return float(min(1.0, math.exp(peak) * sum(math.exp(t - peak) for t in log_terms)))


# --- report ----------------------------------------------------------------------------------------
class DriftReport(BaseModel):
    """One device's drift check, written to `reports/drift/{date}/{thing}.json`."""

    thing: str
    model_id: str | None
    model_version: str | None
    generated_at: datetime
    window_start: datetime
    window_end: datetime
    n_clips: int
    n_rejected: int = 0
    verdict: Verdict
    drift_score: float | None = None
    reasons: list[str] = Field(default_factory=list)
    band_shift: list[float] = Field(default_factory=list)
    mean_abs_band_shift: float | None = None
    max_abs_band_shift: float | None = None
    worst_bands: list[int] = Field(default_factory=list)
    score_psi: float | None = None
    score_ks: float | None = None
    score_ks_pvalue: float | None = None
    anomaly_rate: float | None = None
    target_fpr: float | None = None
    anomaly_rate_pvalue: float | None = None
    last_clip_at: datetime | None = None
    silent: bool = False
    silent_for_s: float | None = None
    notified_drift: bool = False
    notified_silence: bool = False
    # When the last notice of each kind went out (this run or an earlier one still in cooldown);
    # carried forward from report to report so several runs a day keep one cooldown.
    drift_notice_at: datetime | None = None
    silence_notice_at: datetime | None = None

    @property
    def drifted(self) -> bool:
        return self.verdict is Verdict.DRIFT


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def assess_drift(
    *,
    thing: str,
    reference: TrainingReference,
    band_means: Sequence[Sequence[float]],
    scores: Sequence[float],
    anomalies: int,
    window_start: datetime,
    window_end: datetime,
    generated_at: datetime,
    model_id: str | None = None,
    model_version: str | None = None,
    n_rejected: int = 0,
    last_clip_at: datetime | None = None,
    limits: DriftLimits = DriftLimits(),
) -> DriftReport:
    """Compare one device's recent scored clips with the training reference of their model."""
    n = len(scores)
    report = DriftReport(
        thing=thing,
        model_id=model_id,
        model_version=model_version,
        generated_at=generated_at,
        window_start=window_start,
        window_end=window_end,
        n_clips=n,
        n_rejected=n_rejected,
        verdict=Verdict.INSUFFICIENT_DATA,
        target_fpr=reference.target_fpr,
        last_clip_at=last_clip_at,
    )
    if n < limits.min_clips or len(band_means) < limits.min_clips:
        report.reasons.append(f"only {n} scored clips in the window (need {limits.min_clips})")
        return report

    z = band_shift(np.asarray(band_means, dtype=np.float64), reference)
    abs_z = np.abs(z)
    mean_abs = float(abs_z.mean())
    if reference.score_samples.size >= MIN_REFERENCE_SCORES:
        psi = population_stability_index(reference.score_samples, np.asarray(scores))
        ks, ks_p = ks_two_sample(reference.score_samples, np.asarray(scores))
    else:
        psi = ks = ks_p = float("nan")
    rate = anomalies / n
    rate_p = binomial_tail(anomalies, n, reference.target_fpr)

    reasons: list[str] = []
    drift = watch = False
    if mean_abs >= limits.band_shift:
        drift = True
        reasons.append(
            f"band levels moved by {mean_abs:.2f} training std on average (limit {limits.band_shift})"
        )
    elif mean_abs >= limits.band_shift_watch:
        watch = True
        reasons.append(f"band levels moved by {mean_abs:.2f} training std on average")
    if math.isfinite(psi) and psi >= limits.psi and ks_p < limits.score_ks_pvalue:
        drift = True
        reasons.append(f"score distribution PSI {psi:.2f} (limit {limits.psi})")
    elif math.isfinite(psi) and psi >= limits.psi_watch and ks_p < limits.score_ks_pvalue_watch:
        watch = True
        reasons.append(f"score distribution PSI {psi:.2f}")
    if rate_p < limits.anomaly_rate_pvalue and rate > limits.anomaly_rate_factor * reference.target_fpr:
        drift = True
        reasons.append(
            f"{anomalies} of {n} clips anomalous ({rate:.1%}) vs a calibrated {reference.target_fpr:.1%}"
        )
    score_parts = [mean_abs / limits.band_shift]
    if math.isfinite(psi):
        score_parts.append(psi / limits.psi)

    report.verdict = Verdict.DRIFT if drift else Verdict.WATCH if watch else Verdict.OK
    report.drift_score = float(max(score_parts))
    report.reasons = reasons
    report.band_shift = [round(float(v), 4) for v in z]
    report.mean_abs_band_shift = mean_abs
    report.max_abs_band_shift = float(abs_z.max())
    report.worst_bands = [int(i) for i in np.argsort(-abs_z)[:5]]
    report.score_psi = _finite(psi)
    report.score_ks = _finite(ks)
    report.score_ks_pvalue = _finite(ks_p)
    report.anomaly_rate = rate
    report.anomaly_rate_pvalue = rate_p
    return report


# --- silence ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SilenceStatus:
    thing: str
    silent: bool
    last_seen_at: datetime | None
    silent_for: timedelta | None


def silence_status(
    thing: str,
    *,
    last_clip_at: datetime | None,
    registered_at: datetime | None,
    now: datetime,
    interval: timedelta,
    intervals: int,
) -> SilenceStatus:
    """A device is silent when no clip arrived for `intervals` expected clip intervals.

    A registered device that never sent a clip counts from its registration time.
    """
    last_seen = last_clip_at or registered_at
    if last_seen is None:
        return SilenceStatus(thing, False, None, None)
    gap = now - last_seen
    return SilenceStatus(thing, gap >= interval * intervals, last_seen, max(gap, timedelta(0)))
