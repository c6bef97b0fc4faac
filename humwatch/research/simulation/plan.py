"""What one simulation run covers: machines, days, the policy grid, pool and fault-stream sizes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from humwatch.alerts.policy import AlertPolicy
from humwatch.model.calibration import RECOMMENDED_TRAIN_CLIPS
from humwatch.research.simulation.drift import DriftModel
from humwatch.research.simulation.policy_replay import CLIP_INTERVAL, CLIP_INTERVAL_MIN
from humwatch.research.simulation.training import BASELINE_HOURS, TrainingMode, baseline_slots

FAULT_NAMES: tuple[str, ...] = ("bearing", "imbalance", "rubbing", "speed", "blade")


@dataclass(frozen=True)
class PolicyPoint:
    """One grid point: an alert rule (k of n, or evidence) at a target per-clip FPR."""

    k: int
    n: int
    target_fpr: float
    evidence: float = 0.0  # the policy's evidence_threshold (0: k-of-n only)

    @property
    def rule(self) -> str:
        return f"{self.k}/{self.n}" + (f" or evidence {self.evidence:g}" if self.evidence > 0 else "")

    @property
    def label(self) -> str:
        return f"{self.rule} @ {self.target_fpr:g}"


@dataclass(frozen=True)
class SimulationPlan:
    """Sizes of one run; the defaults are `humwatch simulate-alerts`' (a few minutes on 2 cores)."""

    machines: int = 3
    days: int = 60
    snr_db: float = 0.0
    severity: float = 0.5
    policies: tuple[tuple[int, int], ...] = ((3, 5), (4, 6), (5, 8), (6, 10))
    fprs: tuple[float, ...] = (0.01, 0.02, 0.05)
    evidences: tuple[float, ...] = (0.0, 2.0, 2.5, 3.0)  # evidence thresholds (0: k-of-n alone)
    seed: int = 0
    # About 17 hours of 5-minute clips: what `humwatch train` should get (docs/detectors.md: with
    # 40 clips the shrinkage Gaussians are wider and 41 instead of 55 of 60 step faults alerted
    # within 30 minutes at the default policy).
    train_clips: int = RECOMMENDED_TRAIN_CLIPS  # envelope mode; first-day trains on its baseline
    training: TrainingMode = TrainingMode.ENVELOPE  # where training clips come from (`training`)
    baseline_hours: float = BASELINE_HOURS  # first-day mode: the first clips of this span
    cells: int = 4
    # A pooled clip can be drawn many times, so a small pool over-counts coincidences of rare
    # high-scoring clips (what k-of-n and evidence false alerts are made of): with 16 clips per
    # cell one run showed 2.3 false alerts per machine-month where 48 per cell showed 0.2.
    per_cell: int = 48
    fault_streams: int = 4  # step-fault streams per fault and machine
    step_clips: int = 12  # clips scored after a step onset (1 hour)
    ramp_hours: float = 12.0  # severity 0 -> 1 over this long
    ramp_max_clips: int = 144
    cooldown_min: float = 60.0
    drift: DriftModel = field(default_factory=DriftModel)
    # Never a development seed (synth 0-3, orders 0-99 and 900+); synth's eval suite uses 100-103,
    # orders' 200-203, so with `--generator orders` these are the eval suite's machines too.
    first_machine_seed: int = 200
    generator: str = "synth"  # `humwatch.research.generators` name the clips come from

    @classmethod
    def quick(cls) -> SimulationPlan:
        return cls(
            machines=1,
            days=7,
            train_clips=10,
            cells=2,
            per_cell=3,
            fault_streams=1,
            step_clips=6,
            ramp_max_clips=12,
        )

    def with_grid(self, **changes: Any) -> SimulationPlan:
        return replace(self, **changes)

    def points(self) -> list[PolicyPoint]:
        """Every (k/n, evidence, FPR) combination once, in grid order."""
        grid = (PolicyPoint(k, n, f, e) for k, n in self.policies for e in self.evidences for f in self.fprs)
        return list(dict.fromkeys(grid))

    def machine_seeds(self) -> list[int]:
        return [self.first_machine_seed + m for m in range(self.machines)]

    def training_clips(self) -> int:
        """Normal clips each machine's model is trained on in this plan's training mode."""
        if self.training is TrainingMode.FIRST_DAY:
            return baseline_slots(self.baseline_hours)
        return self.train_clips

    def describe_training(self) -> str:
        return self.training.describe(self.training_clips(), self.baseline_hours)

    def normal_slots(self) -> int:
        """5-minute clips in one machine's replayed normal stream (first-day: after the baseline)."""
        return int(self.days * 24 * 60 / CLIP_INTERVAL_MIN)

    def longest_window(self) -> int:
        """Clips before a fault onset that fill the largest policy window."""
        return max(n for _k, n in self.policies)

    def clips_per_machine(self) -> int:
        """Clips synthesised per machine that progress counts (ramps stop early, so are not counted)."""
        pool = self.cells**2 * self.per_cell
        steps = len(FAULT_NAMES) * self.fault_streams * self.step_clips
        return self.training_clips() + pool + steps

    def ramp_severities(self) -> Iterator[float]:
        """Severity of each clip after a ramp's onset: 0 -> 1 over `ramp_hours`, then held at 1."""
        per_hour = 3600 / CLIP_INTERVAL.total_seconds()
        for i in range(self.ramp_max_clips):
            yield min(1.0, (i + 1) / (self.ramp_hours * per_hour))

    def alert_policy(self, point: PolicyPoint) -> AlertPolicy:
        return AlertPolicy(
            k=point.k,
            n=point.n,
            cooldown=timedelta(minutes=self.cooldown_min),
            evidence_threshold=point.evidence,
        )
