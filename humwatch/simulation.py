"""Alert-level simulation: weeks of 5-minute clips per machine through the real alert policy.

Per-clip AUC does not say how often a person gets paged. This replays long synthetic streams
through `humwatch.alerts.policy.evaluate` (the function the process_clip Lambda runs) and counts
false alerts per machine-month on normal streams and minutes from fault onset to the first alert,
for a grid of (k, n, target FPR).

How a stream is made (and what is approximated, to stay within minutes on 2 cores):
- Each machine (`humwatch.synth.MachineSpec.from_seed`) gets a detector trained on
  `train_clips` normal clips drawn across its normal operating range (level and speed inside the
  drift envelope below), calibrated out-of-fold exactly as `humwatch train` does.
- Normal operation drifts slowly: level (dB) and speed offset each follow a daily cycle plus a
  slow random walk (mean-reverting) bounded by `level_drift_db` / `speed_drift`.
- Scores are real: synthetic 10 s clips scored by the trained ONNX model with onnxruntime. To
  avoid synthesising 8,640 clips per machine-month, the normal stream draws from a pool: the
  drift envelope is cut into `cells` x `cells` (level, speed) cells, `pool_per_cell` clips are
  synthesised and scored per cell, and every 5-minute slot takes the score of a random clip of the
  cell its drift state falls in (independent draws: clips are independent given the drift state;
  the approximation is the quantised drift and the finite pool per cell).
- Fault streams are not pooled: from the onset on, every clip is synthesised with the fault at its
  current severity (a step to `severity`, or a ramp from 0 over `ramp_hours`) and scored; the
  `n` clips before the onset come from the normal pool.
- A target FPR only moves the threshold (refitted on the same out-of-fold scores), so every grid
  point replays the same scores.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import numpy as np

from humwatch.alerts.policy import AlertPolicy, AlertState, ClipFlag, evaluate

CLIP_INTERVAL = timedelta(minutes=5)
MINUTES_PER_MONTH = 30 * 24 * 60
_START = datetime(2026, 1, 5, tzinfo=UTC)


class ClipSource(Protocol):
    """Synthesises one clip of a machine (float32 mono at the model's sample rate)."""

    def __call__(
        self, machine_seed: int, *, fault: str | None, severity: float, speed_offset: float, gain_db: float, seed: int
    ) -> np.ndarray: ...


class ClipScorer(Protocol):
    def __call__(self, samples: np.ndarray) -> float: ...


@dataclass(frozen=True)
class DriftModel:
    """Slow drift of a normal machine: daily cycle + mean-reverting random walk, clipped to a box."""

    level_drift_db: float = 1.5
    speed_drift: float = 0.01  # relative speed offset, +-1 %
    daily_fraction: float = 0.5  # share of the envelope used by the daily cycle
    reversion_hours: float = 72.0

    def trajectory(self, n_slots: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(level_db, speed_offset) for n consecutive 5-minute slots."""
        hours = np.arange(n_slots) * CLIP_INTERVAL.total_seconds() / 3600.0
        out = []
        for bound in (self.level_drift_db, self.speed_drift):
            phase = rng.uniform(0, 2 * math.pi)
            daily = self.daily_fraction * bound * np.sin(2 * math.pi * hours / 24.0 + phase)
            # Ornstein-Uhlenbeck walk with stationary std = half the remaining envelope.
            rest = (1.0 - self.daily_fraction) * bound
            theta = (CLIP_INTERVAL.total_seconds() / 3600.0) / self.reversion_hours
            noise = rng.normal(0.0, rest / 2.0 * math.sqrt(2 * theta), size=n_slots)
            walk = np.zeros(n_slots)
            for i in range(1, n_slots):
                walk[i] = walk[i - 1] * (1.0 - theta) + noise[i]
            out.append(np.clip(daily + walk, -bound, bound))
        return out[0], out[1]

    def sample(self, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Independent drift states spread over the envelope (training data, pools)."""
        return (
            rng.uniform(-self.level_drift_db, self.level_drift_db, count),
            rng.uniform(-self.speed_drift, self.speed_drift, count),
        )


@dataclass(frozen=True)
class PolicyPoint:
    k: int
    n: int
    target_fpr: float

    @property
    def label(self) -> str:
        return f"{self.k}/{self.n} @ {self.target_fpr:g}"


@dataclass
class StreamResult:
    """One grid point's outcome over all machines."""

    point: PolicyPoint
    false_alerts: int = 0
    normal_minutes: float = 0.0
    clip_fpr_hits: int = 0
    clip_count: int = 0
    delays_min: dict[str, list[float | None]] = field(default_factory=dict)  # fault -> per stream
    ramp_delays_min: dict[str, list[float | None]] = field(default_factory=dict)

    @property
    def false_alerts_per_month(self) -> float:
        return self.false_alerts / max(self.normal_minutes, 1.0) * MINUTES_PER_MONTH

    def to_dict(self) -> dict[str, Any]:
        def summary(values: Sequence[float | None]) -> dict[str, Any]:
            hits = [v for v in values if v is not None]
            return {
                "streams": len(values),
                "detected": len(hits),
                "median_min": float(np.median(hits)) if hits else None,
                "max_min": float(max(hits)) if hits else None,
            }

        return {
            "k": self.point.k,
            "n": self.point.n,
            "target_fpr": self.point.target_fpr,
            "false_alerts": self.false_alerts,
            "false_alerts_per_machine_month": self.false_alerts_per_month,
            "normal_clip_fpr": self.clip_fpr_hits / max(self.clip_count, 1),
            "step_fault_delay": {f: summary(v) for f, v in self.delays_min.items()},
            "ramp_fault_delay": {f: summary(v) for f, v in self.ramp_delays_min.items()},
        }


def replay(policy: AlertPolicy, flags: Iterable[ClipFlag], state: AlertState | None = None) -> list[datetime]:
    """Capture times of the clips whose arrival made the policy send an alert."""
    state = state or AlertState()
    sent = []
    for flag in flags:
        state, decision = evaluate(policy, state, flag)
        if decision is not None:
            sent.append(flag.captured_at)
    return sent


def flags_from_ratios(ratios: Sequence[float], start: datetime, prefix: str) -> list[ClipFlag]:
    return [
        ClipFlag(clip_id=f"{prefix}-{i}", captured_at=start + i * CLIP_INTERVAL, is_anomaly=r > 1.0, ratio=float(r))
        for i, r in enumerate(ratios)
    ]


def first_alert_delay(
    policy: AlertPolicy, pre_ratios: Sequence[float], fault_ratios: Sequence[float]
) -> float | None:
    """Minutes from the first faulty clip to the first alert it causes (None: never alerted)."""
    flags = flags_from_ratios([*pre_ratios, *fault_ratios], _START, "s")
    onset = _START + len(pre_ratios) * CLIP_INTERVAL
    for at in replay(policy, flags):
        if at >= onset:
            return (at - onset).total_seconds() / 60.0
    return None


@dataclass
class NormalPool:
    """Scores of pooled normal clips per (level, speed) drift cell."""

    drift: DriftModel
    cells: int
    scores: list[list[np.ndarray]]  # [level cell][speed cell] -> scores

    def cell(self, level_db: float, speed: float) -> tuple[int, int]:
        def index(value: float, bound: float) -> int:
            unit = (value + bound) / (2 * bound) if bound > 0 else 0.5
            return min(self.cells - 1, max(0, int(unit * self.cells)))

        return index(level_db, self.drift.level_drift_db), index(speed, self.drift.speed_drift)

    def centre(self, i: int, j: int) -> tuple[float, float]:
        def value(idx: int, bound: float) -> float:
            return -bound + (idx + 0.5) * 2 * bound / self.cells

        return value(i, self.drift.level_drift_db), value(j, self.drift.speed_drift)

    def draw(self, levels: np.ndarray, speeds: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        out = np.empty(len(levels))
        for t, (lv, sp) in enumerate(zip(levels, speeds, strict=True)):
            i, j = self.cell(float(lv), float(sp))
            pool = self.scores[i][j]
            out[t] = pool[rng.integers(len(pool))]
        return out


def build_pool(
    machine_seed: int,
    source: ClipSource,
    scorer: ClipScorer,
    drift: DriftModel,
    *,
    cells: int,
    per_cell: int,
    seed: int,
    progress: Callable[[int], None] | None = None,
) -> NormalPool:
    rng = np.random.default_rng(seed)
    pool = NormalPool(drift=drift, cells=cells, scores=[[np.empty(0)] * cells for _ in range(cells)])
    width_l = 2 * drift.level_drift_db / cells
    width_s = 2 * drift.speed_drift / cells
    for i in range(cells):
        for j in range(cells):
            lo_l, lo_s = pool.centre(i, j)
            scores = []
            for _ in range(per_cell):
                gain = lo_l + rng.uniform(-0.5, 0.5) * width_l
                speed = lo_s + rng.uniform(-0.5, 0.5) * width_s
                clip = source(
                    machine_seed, fault=None, severity=0.0, speed_offset=speed, gain_db=gain,
                    seed=int(rng.integers(2**31)),
                )
                scores.append(scorer(clip))
                if progress is not None:
                    progress(1)
            pool.scores[i][j] = np.asarray(scores)
    return pool
