"""The alert-level result of `humwatch simulate-alerts` runs at the product's default policy.

`make eval` does not simulate alerts itself (minutes per machine); it reads the alerts.json files
that `humwatch simulate-alerts [--generator G]` wrote and sums them at the default policy
(`AlertPolicy()` at `DEFAULT_TARGET_FPR`): false alerts per machine-month on drifting normal
streams, and moderate step faults alerted within 30 minutes of onset.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from humwatch.alerts.policy import AlertPolicy
from humwatch.model.calibration import DEFAULT_TARGET_FPR
from humwatch.research.simulation.policy_replay import MINUTES_PER_MONTH

MINUTES_PER_DAY = 24 * 60


def default_policy_point() -> dict[str, float]:
    policy = AlertPolicy()
    return {
        "k": policy.k,
        "n": policy.n,
        "evidence": policy.evidence_threshold,
        "target_fpr": DEFAULT_TARGET_FPR,
    }


def _matches(row: dict[str, Any], point: dict[str, float]) -> bool:
    return (
        row["k"] == point["k"]
        and row["n"] == point["n"]
        and float(row.get("evidence", 0.0)) == point["evidence"]
        and float(row["target_fpr"]) == point["target_fpr"]
    )


def alert_summary(generator: str, root: Path, folders: Sequence[str]) -> dict[str, Any] | None:
    """Sum the default policy's row over the runs in `folders` (under `root`) that simulated
    `generator`.

    Runs written before `--generator` existed simulated `synth`. Folders without an alerts.json,
    side-by-side comparisons (`--training both`) and runs of another generator are skipped.
    None when no run is left.
    """
    point = default_policy_point()
    runs, false_alerts, months, within, streams, severities = [], 0, 0.0, 0, 0, set()
    for folder in folders:
        path = root / folder / "alerts.json"
        if not path.is_file():
            continue
        report = json.loads(path.read_text())
        plan = report.get("plan")
        if plan is None or plan.get("generator", "synth") != generator:
            continue
        rows = [row for row in report.get("grid", []) if _matches(row, point)]
        if not rows:
            continue
        row = rows[0]
        runs.append(folder)
        false_alerts += int(row["false_alerts"])
        months += plan["machines"] * plan["days_per_machine"] * MINUTES_PER_DAY / MINUTES_PER_MONTH
        within += sum(s["within_30_min"] for s in row["step_fault_delay"].values())
        streams += sum(s["streams"] for s in row["step_fault_delay"].values())
        severities.add(plan["step_severity"])
    if not runs:
        return None
    return {
        "runs": runs,
        "policy": point,
        "false_alerts": false_alerts,
        "machine_months": months,
        "false_alerts_per_machine_month": false_alerts / months,
        "steps_within_30_min": within,
        "step_streams": streams,
        "share_within_30_min": within / streams if streams else None,
        "step_severity": sorted(severities),
    }
