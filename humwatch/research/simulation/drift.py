"""Normal operation: slow drift of level and speed, and the pool of scored normal clips per drift cell."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from humwatch.research.simulation.policy_replay import CLIP_INTERVAL
from humwatch.research.simulation.sources import ClipScorer, ClipSource


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
        """One score per slot: a random pooled clip of the cell that slot's drift state is in."""
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
    """Synthesise and score `per_cell` normal clips at random drift states inside each cell."""
    rng = np.random.default_rng(seed)
    pool = NormalPool(drift=drift, cells=cells, scores=[[np.empty(0)] * cells for _ in range(cells)])
    width_l = 2 * drift.level_drift_db / cells
    width_s = 2 * drift.speed_drift / cells
    for i, j in itertools.product(range(cells), repeat=2):
        level_centre, speed_centre = pool.centre(i, j)
        scores = []
        for _ in range(per_cell):
            gain = level_centre + rng.uniform(-0.5, 0.5) * width_l
            speed = speed_centre + rng.uniform(-0.5, 0.5) * width_s
            clip = source(
                machine_seed,
                fault=None,
                severity=0.0,
                speed_offset=speed,
                gain_db=gain,
                seed=int(rng.integers(2**31)),
            )
            scores.append(scorer(clip))
            if progress is not None:
                progress(1)
        pool.scores[i][j] = np.asarray(scores)
    return pool
