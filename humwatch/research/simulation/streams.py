"""One machine's streams replayed for one grid point: the normal stream, step faults and ramps.

Scores are drawn or synthesised once per stream; each grid point only divides them by its own
threshold (a target FPR moves the threshold and nothing else) and replays them through its policy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from humwatch.research.simulation.machine import SimulatedMachine, TrainedMachine
from humwatch.research.simulation.plan import FAULT_NAMES, PolicyPoint, SimulationPlan
from humwatch.research.simulation.policy_replay import (
    STREAM_START,
    AlertFollower,
    first_alert_delay,
    flags_from_ratios,
    replay,
)


@dataclass(frozen=True)
class NormalOutcome:
    """What one grid point did on one machine's normal stream."""

    false_alerts: int
    clips_over_threshold: int
    clips: int


def replay_normal_stream(
    plan: SimulationPlan, point: PolicyPoint, machine: TrainedMachine, scores: np.ndarray
) -> NormalOutcome:
    ratios = scores / machine.thresholds[point.target_fpr]
    gap = machine.gap(point.target_fpr)
    flags = flags_from_ratios(ratios.tolist(), STREAM_START, f"m{machine.seed}", gap)
    return NormalOutcome(
        false_alerts=len(replay(plan.alert_policy(point), flags)),
        clips_over_threshold=int(np.sum(ratios > 1.0)),
        clips=len(scores),
    )


@dataclass(frozen=True)
class FaultOnset:
    """Where a fault starts: the drift state it starts in and the normal scores that precede it."""

    level: float
    speed: float
    pre_scores: np.ndarray  # enough normal clips to fill the largest policy window


def draw_onset(plan: SimulationPlan, machine: SimulatedMachine, rng: np.random.Generator) -> FaultOnset:
    """A random slot of the normal stream; the clips before it come from that slot's pool cell."""
    slot = int(rng.integers(len(machine.levels)))
    level, speed = float(machine.levels[slot]), float(machine.speeds[slot])
    window = plan.longest_window()
    pre = machine.pool.draw(np.full(window, level), np.full(window, speed), rng)
    return FaultOnset(level=level, speed=speed, pre_scores=pre)


def _score_fault_clip(
    machine: SimulatedMachine, onset: FaultOnset, fault: str, severity: float, rng: np.random.Generator
) -> float:
    """Score of one faulty clip at the onset's drift state (the fault grows, the drift is held)."""
    return machine.score_clip(fault=fault, severity=severity, level=onset.level, speed=onset.speed, rng=rng)


def step_delay(
    plan: SimulationPlan,
    point: PolicyPoint,
    machine: TrainedMachine,
    onset: FaultOnset,
    fault_scores: Sequence[float],
) -> float | None:
    """Minutes from a step fault's onset to the first alert of this grid point (None: no alert)."""
    threshold = machine.thresholds[point.target_fpr]
    return first_alert_delay(
        plan.alert_policy(point),
        list(onset.pre_scores / threshold),
        [s / threshold for s in fault_scores],
        machine.gap(point.target_fpr),
    )


def step_fault_delays(
    plan: SimulationPlan,
    points: Sequence[PolicyPoint],
    machine: SimulatedMachine,
    fault: str,
    rng: np.random.Generator,
    tick: Callable[[int], None],
) -> dict[PolicyPoint, float | None]:
    """One step-fault stream: `plan.step_clips` clips at `plan.severity`, replayed for every point."""
    onset = draw_onset(plan, machine, rng)
    scores = []
    for _ in range(plan.step_clips):
        scores.append(_score_fault_clip(machine, onset, fault, plan.severity, rng))
        tick(1)
    return {point: step_delay(plan, point, machine.trained, onset, scores) for point in points}


def ramp_fault_delays(
    plan: SimulationPlan, points: Sequence[PolicyPoint], machine: SimulatedMachine, fault: str
) -> dict[PolicyPoint, float | None]:
    """One ramp stream (severity 0 -> 1), scored clip by clip until every point has alerted.

    Its own generator: how many ramp clips one grid needs must not change what the next stream
    hears, so grids can be compared.
    """
    trained = machine.trained
    rng = np.random.default_rng([plan.seed, trained.seed, FAULT_NAMES.index(fault)])
    onset = draw_onset(plan, machine, rng)
    followers = {
        point: AlertFollower(
            plan.alert_policy(point),
            list(onset.pre_scores / trained.thresholds[point.target_fpr]),
            trained.gap(point.target_fpr),
        )
        for point in points
    }
    delays: dict[PolicyPoint, float | None] = dict.fromkeys(points)
    pending = list(points)
    for severity in plan.ramp_severities():
        score = _score_fault_clip(machine, onset, fault, severity, rng)
        for point in pending:
            delays[point] = followers[point].feed(score / trained.thresholds[point.target_fpr])
        pending = [point for point in pending if delays[point] is None]
        if not pending:
            break
    return delays
