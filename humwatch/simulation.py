"""Alert-level simulation: weeks of 5-minute clips per machine through the real alert policy.

Per-clip AUC does not say how often a person gets paged. This replays long synthetic streams
through `humwatch.alerts.policy.evaluate` (the function the process_clip Lambda runs) and counts
false alerts per machine-month on normal streams and minutes from fault onset to the first alert,
for a grid of (k, n, evidence threshold, target FPR).

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
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from humwatch.alerts.policy import (
    DEFAULT_NORMAL_GAP,
    AlertPolicy,
    AlertState,
    ClipFlag,
    evaluate,
    normal_gap,
)
from humwatch.model.calibration import RECOMMENDED_TRAIN_CLIPS

CLIP_INTERVAL = timedelta(minutes=5)
MINUTES_PER_MONTH = 30 * 24 * 60
_START = datetime(2026, 1, 5, tzinfo=UTC)


class ClipSource(Protocol):
    """Synthesises one clip of a machine (float32 mono at the model's sample rate)."""

    def __call__(
        self,
        machine_seed: int,
        *,
        fault: str | None,
        severity: float,
        speed_offset: float,
        gain_db: float,
        seed: int,
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
    evidence: float = 0.0  # the policy's evidence_threshold (0: k-of-n only)

    @property
    def rule(self) -> str:
        return f"{self.k}/{self.n}" + (f" or evidence {self.evidence:g}" if self.evidence > 0 else "")

    @property
    def label(self) -> str:
        return f"{self.rule} @ {self.target_fpr:g}"


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
                "within_30_min": sum(1 for v in hits if v <= 30.0),
                "median_min": float(np.median(hits)) if hits else None,
                "max_min": float(max(hits)) if hits else None,
            }

        return {
            "k": self.point.k,
            "n": self.point.n,
            "evidence": self.point.evidence,
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


def flags_from_ratios(
    ratios: Sequence[float], start: datetime, prefix: str, gap: float = DEFAULT_NORMAL_GAP
) -> list[ClipFlag]:
    return [
        ClipFlag(
            clip_id=f"{prefix}-{i}",
            captured_at=start + i * CLIP_INTERVAL,
            is_anomaly=r > 1.0,
            ratio=float(r),
            normal_gap=gap,
        )
        for i, r in enumerate(ratios)
    ]


class AlertFollower:
    """One device's stream fed clip by clip through the policy, from a fault's onset on.

    The clips before the onset set the state (an alert they cause is not a detection); `feed`
    then says whether a faulty clip alerted. Incremental, so a ramp scored one clip at a time
    costs one `evaluate` per clip and grid point instead of a replay from the start.
    """

    def __init__(
        self, policy: AlertPolicy, pre_ratios: Sequence[float], gap: float = DEFAULT_NORMAL_GAP
    ) -> None:
        self.policy = policy
        self.gap = gap
        self.state = AlertState()
        self.count = 0
        for ratio in pre_ratios:
            self._evaluate(ratio)
        self.onset = self.count

    def _evaluate(self, ratio: float) -> bool:
        flag = ClipFlag(
            clip_id=f"s-{self.count}",
            captured_at=_START + self.count * CLIP_INTERVAL,
            is_anomaly=ratio > 1.0,
            ratio=float(ratio),
            normal_gap=self.gap,
        )
        self.count += 1
        self.state, decision = evaluate(self.policy, self.state, flag)
        return decision is not None

    def feed(self, ratio: float) -> float | None:
        """Minutes from the onset to this clip if it made the policy alert, else None."""
        since_onset = self.count - self.onset
        alerted = self._evaluate(ratio)
        return since_onset * CLIP_INTERVAL.total_seconds() / 60.0 if alerted else None


def first_alert_delay(
    policy: AlertPolicy,
    pre_ratios: Sequence[float],
    fault_ratios: Sequence[float],
    gap: float = DEFAULT_NORMAL_GAP,
) -> float | None:
    """Minutes from the first faulty clip to the first alert it causes (None: never alerted)."""
    follower = AlertFollower(policy, pre_ratios, gap)
    for ratio in fault_ratios:
        delay = follower.feed(ratio)
        if delay is not None:
            return delay
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


# --------------------------------------------------------------------------------------------
# The whole simulation: machines, grid, report
# --------------------------------------------------------------------------------------------

FAULT_NAMES: tuple[str, ...] = ("bearing", "imbalance", "rubbing", "speed", "blade")


@dataclass(frozen=True)
class SimulationPlan:
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
    train_clips: int = RECOMMENDED_TRAIN_CLIPS
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
    drift: DriftModel = DriftModel()
    first_machine_seed: int = 200  # never used in development (0-3) or the eval suite (100+)

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
        from dataclasses import replace

        return replace(self, **changes)

    def points(self) -> list[PolicyPoint]:
        return [PolicyPoint(k, n, f, e) for k, n in self.policies for e in self.evidences for f in self.fprs]


def synth_source(snr_db: float) -> ClipSource:
    from humwatch.synth import MachineSpec, synth_clip

    specs: dict[int, Any] = {}

    def make(
        machine_seed: int,
        *,
        fault: str | None,
        severity: float,
        speed_offset: float,
        gain_db: float,
        seed: int,
    ) -> np.ndarray:
        if machine_seed not in specs:
            specs[machine_seed] = MachineSpec.from_seed(
                "fan" if machine_seed % 2 == 0 else "pump", machine_seed
            )
        return synth_clip(
            specs[machine_seed],
            fault=fault,
            severity=severity,
            snr_db=snr_db,
            seed=seed,
            speed_offset=speed_offset,
            gain_db=gain_db,
        )

    return make


@dataclass
class _Machine:
    seed: int
    thresholds: dict[float, float]
    oof_fpr: dict[float, float]
    typical_normal: float  # median OOF score, as `humwatch.scoring.typical_normal_score`

    def gap(self, target_fpr: float) -> float:
        return normal_gap(self.thresholds[target_fpr], self.typical_normal)


def _onnx_scorer(onnx_bytes: bytes) -> ClipScorer:
    from humwatch.detectors.onnx_graph import session

    sess = session(onnx_bytes)

    def score(samples: np.ndarray) -> float:
        return float(sess.run(["score"], {"waveform": np.ascontiguousarray(samples, dtype=np.float32)})[0])

    return score


def _train_machine(
    plan: SimulationPlan,
    machine_seed: int,
    source: ClipSource,
    rng: np.random.Generator,
    tick: Callable[[int], None],
) -> tuple[_Machine, ClipScorer]:
    from humwatch.detectors.calibration import fit_threshold
    from humwatch.detectors.train import train_spectral_from_waveforms
    from humwatch.features import FeatureParams

    levels, speeds = plan.drift.sample(plan.train_clips, rng)
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
    thresholds = {f: float(fit_threshold(trained.oof_scores, f)["value"]) for f in plan.fprs}
    oof_fpr = {f: float(np.mean(trained.oof_scores > t)) for f, t in thresholds.items()}
    machine = _Machine(
        seed=machine_seed,
        thresholds=thresholds,
        oof_fpr=oof_fpr,
        typical_normal=float(np.median(trained.oof_scores)),
    )
    return machine, _onnx_scorer(trained.onnx_bytes)


def _policy(plan: SimulationPlan, point: PolicyPoint) -> AlertPolicy:
    return AlertPolicy(
        k=point.k,
        n=point.n,
        cooldown=timedelta(minutes=plan.cooldown_min),
        evidence_threshold=point.evidence,
    )


def _fault_scores(
    plan: SimulationPlan,
    machine: _Machine,
    source: ClipSource,
    scorer: ClipScorer,
    fault: str,
    severities: Iterable[float],
    level: float,
    speed: float,
    rng: np.random.Generator,
    tick: Callable[[int], None],
) -> Iterable[float]:
    for severity in severities:
        clip = source(
            machine.seed,
            fault=fault,
            severity=float(severity),
            speed_offset=speed,
            gain_db=level,
            seed=int(rng.integers(2**31)),
        )
        tick(1)
        yield scorer(clip)


def run_simulation(
    plan: SimulationPlan,
    out_dir: Path | None = None,
    progress: Callable[[str, int], Callable[[int], None]] | None = None,
    source: ClipSource | None = None,
) -> dict[str, Any]:
    """Simulate every machine, replay every grid point; write alerts.json/alerts.md if out_dir."""
    import json
    import time

    started = time.perf_counter()
    source = source or synth_source(plan.snr_db)
    points = plan.points()
    results = {p: StreamResult(point=p) for p in points}
    n_slots = int(plan.days * 24 * 60 / (CLIP_INTERVAL.total_seconds() / 60))
    per_machine = (
        plan.train_clips
        + plan.cells**2 * plan.per_cell
        + len(FAULT_NAMES) * plan.fault_streams * plan.step_clips
    )
    bar = progress("machines' clips", plan.machines * per_machine) if progress else (lambda _n: None)
    machine_info = []
    max_n = max(n for _k, n in plan.policies)
    for m in range(plan.machines):
        machine_seed = plan.first_machine_seed + m
        # Own generator per machine (and per ramp below): how many ramp clips one grid needs
        # must not change what the next machine hears, so grids can be compared.
        rng = np.random.default_rng([plan.seed, machine_seed])
        machine, scorer = _train_machine(plan, machine_seed, source, rng, bar)
        pool = build_pool(
            machine_seed,
            source,
            scorer,
            plan.drift,
            cells=plan.cells,
            per_cell=plan.per_cell,
            seed=int(rng.integers(2**31)),
            progress=bar,
        )
        levels, speeds = plan.drift.trajectory(n_slots, rng)
        normal_scores = pool.draw(levels, speeds, rng)
        for point in points:
            threshold = machine.thresholds[point.target_fpr]
            ratios = normal_scores / threshold
            result = results[point]
            result.false_alerts += len(
                replay(
                    _policy(plan, point),
                    flags_from_ratios(ratios.tolist(), _START, f"m{m}", machine.gap(point.target_fpr)),
                )
            )
            result.normal_minutes += n_slots * CLIP_INTERVAL.total_seconds() / 60
            result.clip_fpr_hits += int(np.sum(ratios > 1.0))
            result.clip_count += n_slots
        for fault in FAULT_NAMES:
            for _ in range(plan.fault_streams):
                onset = int(rng.integers(n_slots))
                level, speed = float(levels[onset]), float(speeds[onset])
                pre = pool.draw(np.full(max_n, level), np.full(max_n, speed), rng)
                step = list(
                    _fault_scores(
                        plan,
                        machine,
                        source,
                        scorer,
                        fault,
                        [plan.severity] * plan.step_clips,
                        level,
                        speed,
                        rng,
                        bar,
                    )
                )
                for point in points:
                    t = machine.thresholds[point.target_fpr]
                    delay = first_alert_delay(
                        _policy(plan, point),
                        list(pre / t),
                        [s / t for s in step],
                        machine.gap(point.target_fpr),
                    )
                    results[point].delays_min.setdefault(fault, []).append(delay)
            # One ramp per fault and machine, scored until every grid point has alerted.
            ramp_rng = np.random.default_rng([plan.seed, machine_seed, FAULT_NAMES.index(fault)])
            onset = int(ramp_rng.integers(n_slots))
            level, speed = float(levels[onset]), float(speeds[onset])
            pre = pool.draw(np.full(max_n, level), np.full(max_n, speed), ramp_rng)
            per_hour = 3600 / CLIP_INTERVAL.total_seconds()
            followers = {
                p: AlertFollower(
                    _policy(plan, p), list(pre / machine.thresholds[p.target_fpr]), machine.gap(p.target_fpr)
                )
                for p in points
            }
            pending = set(points)
            delays: dict[PolicyPoint, float | None] = {p: None for p in points}
            for i in range(plan.ramp_max_clips):
                severity = min(1.0, (i + 1) / (plan.ramp_hours * per_hour))
                (score,) = list(
                    _fault_scores(
                        plan,
                        machine,
                        source,
                        scorer,
                        fault,
                        [severity],
                        level,
                        speed,
                        ramp_rng,
                        lambda _n: None,
                    )
                )
                for point in list(pending):
                    delay = followers[point].feed(score / machine.thresholds[point.target_fpr])
                    if delay is not None:
                        delays[point] = delay
                        pending.discard(point)
                if not pending:
                    break
            for point in points:
                results[point].ramp_delays_min.setdefault(fault, []).append(delays[point])
        machine_info.append(
            {
                "machine_seed": machine_seed,
                "thresholds": {str(k): v for k, v in machine.thresholds.items()},
                "oof_fpr": {str(k): v for k, v in machine.oof_fpr.items()},
                "normal_gap": {str(k): machine.gap(k) for k in machine.thresholds},
            }
        )
    grid = [results[p].to_dict() for p in points]
    report: dict[str, Any] = {
        "plan": {
            "machines": plan.machines,
            "machine_seeds": [plan.first_machine_seed + m for m in range(plan.machines)],
            "seed": plan.seed,
            "fault_streams_per_fault_and_machine": plan.fault_streams,
            "days_per_machine": plan.days,
            "snr_db": plan.snr_db,
            "step_severity": plan.severity,
            "ramp_hours": plan.ramp_hours,
            "train_clips": plan.train_clips,
            "pool": f"{plan.cells}x{plan.cells} drift cells x {plan.per_cell} clips",
            "drift": {"level_db": plan.drift.level_drift_db, "speed": plan.drift.speed_drift},
            "cooldown_min": plan.cooldown_min,
            "clip_interval_min": CLIP_INTERVAL.total_seconds() / 60,
        },
        "machines": machine_info,
        "grid": grid,
        "recommended": recommend(grid),
    }
    report["seconds"] = time.perf_counter() - started
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "alerts.json").write_text(json.dumps(report, indent=2) + "\n")
        (out_dir / "alerts.md").write_text(render_alerts_markdown(report))
    return report


def recommend(
    grid: list[dict[str, Any]], max_false_per_month: float = 1.0, within_min: float = 30.0
) -> dict[str, Any] | None:
    """The grid point that detects the most step faults within `within_min`, among those with at
    most `max_false_per_month` false alerts per machine-month (ties: faster, then quieter)."""
    eligible = [row for row in grid if row["false_alerts_per_machine_month"] <= max_false_per_month]
    if not eligible:
        return None

    def key(row: dict[str, Any]) -> tuple[float, float, float]:
        within = sum(s["within_30_min"] for s in row["step_fault_delay"].values())
        medians = [s["median_min"] for s in row["step_fault_delay"].values() if s["median_min"] is not None]
        return (-within, float(np.median(medians)) if medians else 1e9, row["false_alerts_per_machine_month"])

    best = min(eligible, key=key)
    return {
        "k": best["k"],
        "n": best["n"],
        "evidence": best.get("evidence", 0.0),
        "target_fpr": best["target_fpr"],
        "rule": (
            f"most step faults alerted within {within_min:g} min "
            f"with <= {max_false_per_month:g} false alerts per machine-month"
        ),
    }


def rule_text(row: dict[str, Any]) -> str:
    """'5/8' or '5/8 or evidence 2.5' for a grid row or recommendation."""
    return PolicyPoint(row["k"], row["n"], row["target_fpr"], row.get("evidence", 0.0)).rule


def render_alerts_markdown(report: dict[str, Any]) -> str:
    plan = report["plan"]
    faults = list(report["grid"][0]["step_fault_delay"]) if report["grid"] else []
    lines = [
        "# humwatch alert simulation",
        "",
        f"{plan['machines']} synthetic machines (seeds {', '.join(map(str, plan['machine_seeds']))}; "
        f"draw seed {plan['seed']}) x {plan['days_per_machine']} days of 5-minute clips "
        f"(SNR {plan['snr_db']:g} dB, drift +-{plan['drift']['level_db']:g} dB level and "
        f"+-{plan['drift']['speed'] * 100:g} % speed), spectral-gauss models trained on "
        f"{plan['train_clips']} clips each, alert policy `humwatch.alerts.policy.evaluate` with a "
        "rule of k of the last n clips over the threshold, or (where given) the window's evidence "
        "reaching that value, and a "
        f"{plan['cooldown_min']:g} min cooldown. Step faults at severity {plan['step_severity']:g}: "
        "minutes from the first faulty clip to the first alert, median/worst (detected/streams), "
        f"'-' = not within the hour scored. Ramps: severity 0 -> 1 over {plan['ramp_hours']:g} h, "
        "median minutes to the first alert.",
        "",
        "| rule | target FPR | normal clip FPR | false alerts / machine-month | "
        + " | ".join(f"{f} step" for f in faults)
        + " | step <= 30 min | "
        + " | ".join(f"{f} ramp" for f in faults)
        + " |",
        "|---|---|---|---|" + "---|" * len(faults) + "---|" + "---|" * len(faults),
    ]

    def fmt(summary: dict[str, Any]) -> str:
        if summary["median_min"] is None:
            return "-"
        counts = f"({summary['detected']}/{summary['streams']})"
        return f"{summary['median_min']:.0f}/{summary['max_min']:.0f} {counts}"

    for row in report["grid"]:
        within = sum(s["within_30_min"] for s in row["step_fault_delay"].values())
        total = sum(s["streams"] for s in row["step_fault_delay"].values())
        lines.append(
            f"| {rule_text(row)} | {row['target_fpr']:g} | {row['normal_clip_fpr']:.4f} | "
            f"{row['false_alerts_per_machine_month']:.2f} | "
            + " | ".join(fmt(row["step_fault_delay"][f]) for f in faults)
            + f" | {within}/{total} | "
            + " | ".join(
                "-"
                if row["ramp_fault_delay"][f]["median_min"] is None
                else f"{row['ramp_fault_delay'][f]['median_min']:.0f}"
                for f in faults
            )
            + " |"
        )
    rec = report.get("recommended")
    lines += [
        "",
        f"Recommended: {rule_text(rec)} at target FPR {rec['target_fpr']:g} ({rec['rule']})."
        if rec
        else "Recommended: none of the grid points stays under the false-alert budget.",
        "",
    ]
    return "\n".join(lines)
