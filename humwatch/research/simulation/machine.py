"""One simulated machine's detector: trained on drifting normal clips, calibrated per target FPR.

Which drift states the training clips are made at is the plan's training mode (`training`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from humwatch.alerts.evidence import normal_gap
from humwatch.research.simulation.drift import NormalPool, build_pool
from humwatch.research.simulation.sources import ClipScorer, ClipSource
from humwatch.research.simulation.training import DriftPath, TrainingMode, first_day_split

if TYPE_CHECKING:
    from humwatch.research.simulation.plan import SimulationPlan


@dataclass(frozen=True)
class TrainedMachine:
    seed: int
    thresholds: dict[float, float]  # target FPR -> threshold fitted on the out-of-fold scores
    oof_fpr: dict[float, float]  # target FPR -> share of out-of-fold scores over that threshold
    typical_normal: float  # median OOF score, as `humwatch.scoring.typical_normal_score`

    def gap(self, target_fpr: float) -> float:
        return normal_gap(self.thresholds[target_fpr], self.typical_normal)

    def summary(self) -> dict[str, Any]:
        """The report's entry for this machine (JSON keys are strings)."""
        return {
            "machine_seed": self.seed,
            "thresholds": {str(k): v for k, v in self.thresholds.items()},
            "oof_fpr": {str(k): v for k, v in self.oof_fpr.items()},
            "normal_gap": {str(k): self.gap(k) for k in self.thresholds},
        }


def _onnx_scorer(onnx_bytes: bytes) -> ClipScorer:
    from humwatch.model.session import create_session

    sess = create_session(onnx_bytes)

    def score(samples: np.ndarray) -> float:
        return float(sess.run(["score"], {"waveform": np.ascontiguousarray(samples, dtype=np.float32)})[0])

    return score


def train_machine(
    plan: SimulationPlan,
    machine_seed: int,
    source: ClipSource,
    states: DriftPath,
    rng: np.random.Generator,
    tick: Callable[[int], None],
) -> tuple[TrainedMachine, ClipScorer]:
    """Train a spectral-gauss model on one normal clip per drift state of `states` (level, speed).

    Thresholds for every target FPR of the grid are fitted on the same out-of-fold scores, exactly
    as `humwatch train` calibrates, so the grid's FPRs replay the same scores.
    """
    from humwatch.detectors.spectral_gauss.detector import train_spectral_from_waveforms
    from humwatch.features import FeatureParams
    from humwatch.model.calibration import fit_threshold

    levels, speeds = states
    clips = []
    for level, speed in zip(levels, speeds, strict=True):
        clips.append(
            source(
                machine_seed,
                fault=None,
                severity=0.0,
                speed_offset=float(speed),
                gain_db=float(level),
                seed=int(rng.integers(2**31)),
            )
        )
        tick(1)
    trained = train_spectral_from_waveforms(clips, FeatureParams(), seed=plan.seed)
    thresholds = {
        f: float(fit_threshold(trained.oof_scores, f, validation="out-of-fold")["value"]) for f in plan.fprs
    }
    oof_fpr = {f: float(np.mean(trained.oof_scores > t)) for f, t in thresholds.items()}
    machine = TrainedMachine(
        seed=machine_seed,
        thresholds=thresholds,
        oof_fpr=oof_fpr,
        typical_normal=float(np.median(trained.oof_scores)),
    )
    return machine, _onnx_scorer(trained.onnx_bytes)


@dataclass(frozen=True)
class SimulatedMachine:
    """A trained machine with what its streams draw from: scorer, normal pool and drift path."""

    trained: TrainedMachine
    source: ClipSource
    scorer: ClipScorer
    pool: NormalPool
    levels: np.ndarray  # level (dB) of each 5-minute slot of the normal stream
    speeds: np.ndarray  # speed offset of each slot

    def score_clip(
        self, *, fault: str | None, severity: float, level: float, speed: float, rng: np.random.Generator
    ) -> float:
        clip = self.source(
            self.trained.seed,
            fault=fault,
            severity=severity,
            speed_offset=speed,
            gain_db=level,
            seed=int(rng.integers(2**31)),
        )
        return self.scorer(clip)


def prepare_machine(
    plan: SimulationPlan,
    machine_seed: int,
    source: ClipSource,
    rng: np.random.Generator,
    tick: Callable[[int], None],
) -> SimulatedMachine:
    """Train the machine's model, score its pool of normal clips and draw its drift path.

    The generator is drawn from in the same order as before training modes existed, so envelope
    runs reproduce earlier results; first-day draws its whole path first, as training needs it.
    """
    stream: DriftPath | None = None
    if plan.training is TrainingMode.FIRST_DAY:
        train_states, stream = first_day_split(plan.drift, plan.training_clips(), plan.normal_slots(), rng)
    else:
        train_states = plan.drift.sample(plan.train_clips, rng)
    trained, scorer = train_machine(plan, machine_seed, source, train_states, rng, tick)
    pool = build_pool(
        machine_seed,
        source,
        scorer,
        plan.drift,
        cells=plan.cells,
        per_cell=plan.per_cell,
        seed=int(rng.integers(2**31)),
        progress=tick,
    )
    levels, speeds = stream if stream is not None else plan.drift.trajectory(plan.normal_slots(), rng)
    return SimulatedMachine(trained, source, scorer, pool, levels, speeds)
