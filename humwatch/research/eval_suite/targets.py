"""Issue 15's targets for the default detector, each marked met or NOT met from one `make eval` run.

Per generator, on its held-out machines at SNR 0 dB and severity 0.5 (the headline case, 200
training clips): pooled AUC >= 0.92; every fault family >= 0.80; with 30 training clips pooled
>= 0.88; false-alarm rate on unseen normals within 1.5x the target FPR. DCASE 2020 id_00: the
anomaly is still caught (in every CV fold) and there are no false alarms in CV. Alert level
(`humwatch simulate-alerts`, both generators): >= 95 % of moderate step faults alerted within 30
minutes at <= 0.5 false alerts per machine-month.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from humwatch.research.eval_suite.plan import HEADLINE_SEVERITY, HEADLINE_SNR_DB

POOLED_AUC_MIN = 0.92
FAULT_AUC_MIN = 0.80
FEW_SHOT_CLIPS = 30
FEW_SHOT_POOLED_AUC_MIN = 0.88
FAR_MAX_OVER_TARGET = 1.5
ALERTED_WITHIN_30_MIN_MIN = 0.95
FALSE_ALERTS_PER_MONTH_MAX = 0.5


@dataclass(frozen=True)
class TargetRow:
    target: str
    generator: str | None  # None: not per generator (the real recordings)
    limit: str
    value: str
    met: bool | None  # None: not measured in this run

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def headline(generator: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The SNR 0 dB, severity 0.5 case at the set point (no drift) of one generator's results
    (None when not run)."""
    cases = [
        c
        for c in generator["cases"]
        if c["snr_db"] == HEADLINE_SNR_DB and c["severity"] == HEADLINE_SEVERITY and not c.get("drift")
    ]
    return cases[0] if cases else None


def drifting_headline(generator: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The headline condition on drifting machines (`SynthCase.drift`), None when not run."""
    cases = [
        c
        for c in generator["cases"]
        if c["snr_db"] == HEADLINE_SNR_DB and c["severity"] == HEADLINE_SEVERITY and c.get("drift")
    ]
    return cases[0] if cases else None


def _generator_rows(
    name: str, generator: Mapping[str, Any], detector: str, target_fpr: float
) -> list[TargetRow]:
    case = headline(generator)
    if case is None or detector not in case["models"]:
        return [TargetRow("pooled AUC", name, f">= {POOLED_AUC_MIN:.2f}", "not run", None)]
    model = case["models"][detector]
    clips = f"{case['n_train']} training clips"
    pooled = float(model["pooled"]["auc"])
    faults = {f: float(m["auc"]) for f, m in model["faults"].items()}
    worst = min(faults, key=lambda f: faults[f])
    below = [f"{f} {a:.3f}" for f, a in faults.items() if a < FAULT_AUC_MIN]
    rows = [
        TargetRow(
            "pooled AUC",
            name,
            f">= {POOLED_AUC_MIN:.2f}",
            f"{pooled:.3f} ({clips})",
            pooled >= POOLED_AUC_MIN,
        ),
        TargetRow(
            "every fault family's AUC",
            name,
            f">= {FAULT_AUC_MIN:.2f}",
            f"worst {worst} {faults[worst]:.3f}" + (f"; below: {', '.join(below)}" if below else ""),
            not below,
        ),
    ]
    few = generator.get("few_shot", {}).get(str(FEW_SHOT_CLIPS))
    if few is None:
        rows.append(TargetRow(f"pooled AUC with {FEW_SHOT_CLIPS} training clips", name, "", "not run", None))
    else:
        auc = float(few["pooled"]["auc"])
        rows.append(
            TargetRow(
                f"pooled AUC with {FEW_SHOT_CLIPS} training clips",
                name,
                f">= {FEW_SHOT_POOLED_AUC_MIN:.2f}",
                f"{auc:.3f}",
                auc >= FEW_SHOT_POOLED_AUC_MIN,
            )
        )
    rate = generator["false_alarm_rate"][str(HEADLINE_SNR_DB)][detector]
    n = generator["n_far_normals"][str(HEADLINE_SNR_DB)]
    limit = FAR_MAX_OVER_TARGET * target_fpr
    rows.append(
        TargetRow(
            "false-alarm rate on unseen normals",
            name,
            f"<= {FAR_MAX_OVER_TARGET:g} x {target_fpr:g} = {limit:.3f}",
            f"{rate:.3f} ({round(rate * n)}/{n})",
            rate <= limit,
        )
    )
    return rows


def _dcase_row(dcase: Mapping[str, Any] | None, detector: str) -> TargetRow:
    target = "DCASE 2020 id_00: anomaly caught in every CV fold, no false alarm in CV"
    if not dcase:
        return TargetRow(target, None, "all folds, 0 false alarms", "not run", None)
    cv = dcase["cross_validation"][detector]
    caught = cv["anomaly_flagged_folds"] == cv["folds"]
    quiet = cv["false_alarms"] == 0
    value = (
        f"anomaly {cv['anomaly_flagged_folds']}/{cv['folds']} folds, "
        f"false alarms {cv['false_alarms']}/{cv['n_normal']}"
    )
    return TargetRow(target, None, "all folds, 0 false alarms", value, caught and quiet)


def _alert_row(name: str, alerts: Mapping[str, Any] | None) -> TargetRow:
    target = "alerts: moderate step faults alerted within 30 min, false alerts per machine-month"
    limit = f">= {ALERTED_WITHIN_30_MIN_MIN:.0%} and <= {FALSE_ALERTS_PER_MONTH_MAX:g}"
    if not alerts:
        return TargetRow(target, name, limit, "no simulate-alerts results", None)
    share = alerts["share_within_30_min"]
    per_month = alerts["false_alerts_per_machine_month"]
    value = (
        f"{alerts['steps_within_30_min']}/{alerts['step_streams']} ({share:.0%}) within 30 min, "
        f"{per_month:.2f} false alerts per machine-month "
        f"({alerts['false_alerts']} in {alerts['machine_months']:.1f})"
    )
    met = share is not None and share >= ALERTED_WITHIN_30_MIN_MIN and per_month <= FALSE_ALERTS_PER_MONTH_MAX
    return TargetRow(target, name, limit, value, met)


def evaluate_targets(results: Mapping[str, Any], detector: str) -> list[TargetRow]:
    """Every target of the issue, in the issue's order, for `detector` (the default detector)."""
    target_fpr = float(results["plan"]["target_fpr"])
    generators = results.get("generators", {})
    per_generator = [
        row
        for name, generator in generators.items()
        for row in _generator_rows(name, generator, detector, target_fpr)
    ]
    # Group by target, generators side by side, as the issue lists them.
    order = list(dict.fromkeys(row.target for row in per_generator))
    rows = [row for target in order for row in per_generator if row.target == target]
    rows.append(_dcase_row(results.get("dcase"), detector))
    alerts = results.get("alerts", {})
    rows += [_alert_row(name, alerts.get(name)) for name in generators]
    return rows
