"""Per-grid-point totals over all machines, the recommended point, and alerts.json / alerts.md."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from humwatch.research.simulation.machine import TrainedMachine
from humwatch.research.simulation.plan import PolicyPoint, SimulationPlan
from humwatch.research.simulation.policy_replay import CLIP_INTERVAL_MIN, MINUTES_PER_MONTH
from humwatch.research.simulation.streams import NormalOutcome

# The report's fixed "alerted within" column (`within_30_min`); `recommend` takes any limit.
REPORTED_WITHIN_MIN = 30.0


def delay_summary(delays: Sequence[float | None]) -> dict[str, Any]:
    """Per-stream minutes to the first alert (None: never) and how many came within 30 min."""
    hits = [d for d in delays if d is not None]
    return {
        "streams": len(delays),
        "detected": len(hits),
        "within_30_min": sum(1 for d in hits if d <= REPORTED_WITHIN_MIN),
        "median_min": float(np.median(hits)) if hits else None,
        "max_min": float(max(hits)) if hits else None,
        "delays_min": list(delays),
    }


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

    def add_normal(self, outcome: NormalOutcome) -> None:
        self.false_alerts += outcome.false_alerts
        self.normal_minutes += outcome.clips * CLIP_INTERVAL_MIN
        self.clip_fpr_hits += outcome.clips_over_threshold
        self.clip_count += outcome.clips

    def add_step_delay(self, fault: str, delay: float | None) -> None:
        self.delays_min.setdefault(fault, []).append(delay)

    def add_ramp_delay(self, fault: str, delay: float | None) -> None:
        self.ramp_delays_min.setdefault(fault, []).append(delay)

    @property
    def false_alerts_per_month(self) -> float:
        return self.false_alerts / max(self.normal_minutes, 1.0) * MINUTES_PER_MONTH

    def to_dict(self) -> dict[str, Any]:
        return {
            "k": self.point.k,
            "n": self.point.n,
            "evidence": self.point.evidence,
            "target_fpr": self.point.target_fpr,
            "false_alerts": self.false_alerts,
            "false_alerts_per_machine_month": self.false_alerts_per_month,
            "normal_clip_fpr": self.clip_fpr_hits / max(self.clip_count, 1),
            "step_fault_delay": {f: delay_summary(v) for f, v in self.delays_min.items()},
            "ramp_fault_delay": {f: delay_summary(v) for f, v in self.ramp_delays_min.items()},
        }


def recommend(
    grid: list[dict[str, Any]], max_false_per_month: float = 1.0, within_min: float = REPORTED_WITHIN_MIN
) -> dict[str, Any] | None:
    """The grid point that detects the most step faults within `within_min`, among those with at
    most `max_false_per_month` false alerts per machine-month (ties: faster, then quieter)."""
    eligible = [row for row in grid if row["false_alerts_per_machine_month"] <= max_false_per_month]
    if not eligible:
        return None

    def key(row: dict[str, Any]) -> tuple[float, float, float]:
        steps = row["step_fault_delay"].values()
        within = sum(1 for s in steps for d in s["delays_min"] if d is not None and d <= within_min)
        medians = [s["median_min"] for s in steps if s["median_min"] is not None]
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


def build_report(
    plan: SimulationPlan, machines: Sequence[TrainedMachine], results: Sequence[StreamResult]
) -> dict[str, Any]:
    """alerts.json's content: the plan, each machine's calibration, the grid and the recommendation."""
    grid = [result.to_dict() for result in results]
    return {
        "plan": {
            "machines": plan.machines,
            "generator": plan.generator,
            "machine_seeds": plan.machine_seeds(),
            "seed": plan.seed,
            "fault_streams_per_fault_and_machine": plan.fault_streams,
            "days_per_machine": plan.days,
            "snr_db": plan.snr_db,
            "step_severity": plan.severity,
            "ramp_hours": plan.ramp_hours,
            "training": str(plan.training),
            "training_description": plan.describe_training(),
            "train_clips": plan.training_clips(),
            "pool": f"{plan.cells}x{plan.cells} drift cells x {plan.per_cell} clips",
            "drift": {"level_db": plan.drift.level_drift_db, "speed": plan.drift.speed_drift},
            "cooldown_min": plan.cooldown_min,
            "clip_interval_min": CLIP_INTERVAL_MIN,
        },
        "machines": [machine.summary() for machine in machines],
        "grid": grid,
        "recommended": recommend(grid),
    }


def write_report(report: dict[str, Any], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "alerts.json").write_text(json.dumps(report, indent=2) + "\n")
    (out_dir / "alerts.md").write_text(render_alerts_markdown(report))


def render_alerts_markdown(report: dict[str, Any]) -> str:
    plan = report["plan"]
    faults = list(report["grid"][0]["step_fault_delay"]) if report["grid"] else []
    lines = [
        "# humwatch alert simulation",
        "",
        f"{plan['machines']} synthetic machines of the `{plan.get('generator', 'synth')}` generator "
        f"(seeds {', '.join(map(str, plan['machine_seeds']))}; "
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
        f"Training: {plan['training_description']}.",
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
