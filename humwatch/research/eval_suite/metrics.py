"""Separation metrics of normal vs anomalous scores, per machine and averaged over machines.

AUC and pAUC come from `humwatch.research.evaluation` (anomaly = positive class): `pauc` is the
McClish-standardised partial AUC at FPR <= 0.1 (0.5 = chance), what the DCASE Task 2 baseline's
evaluator reports (`sklearn.metrics.roc_auc_score(max_fpr=0.1)`); `pauc_raw` is the task
description's own definition, the area under the ROC curve over FPR <= 0.1 divided by 0.1
(chance 0.05).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from humwatch.research.evaluation import auc_score, partial_auc

# One machine's scores of one scorer: "normal" (unseen normal clips) and one list per fault.
LabelScores = Mapping[str, Sequence[float]]


def separation(normal: np.ndarray, anomalous: np.ndarray, threshold: float | None = None) -> dict[str, Any]:
    """AUC, pAUC (McClish and raw) and, with a threshold, recall (score > threshold)."""
    labels = np.r_[np.zeros(normal.size), np.ones(anomalous.size)]
    scores = np.r_[normal, anomalous]
    pauc, pauc_raw = partial_auc(labels, scores)
    out: dict[str, Any] = {
        "auc": auc_score(labels, scores),
        "pauc": pauc,
        "pauc_raw": pauc_raw,
        "n_normal": int(normal.size),
        "n_anomaly": int(anomalous.size),
    }
    if threshold is not None:
        out["recall"] = float(np.mean(anomalous > threshold)) if anomalous.size else None
    return out


def machine_separation(
    scores: LabelScores, faults: Sequence[str], threshold: float | None = None
) -> dict[str, Any]:
    """One machine: its normal clips against the clips of `faults` together."""
    anomalous = np.concatenate([np.asarray(scores[f], dtype=np.float64) for f in faults])
    return separation(np.asarray(scores["normal"], dtype=np.float64), anomalous, threshold)


def machine_mean(per_machine: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """AUC/pAUC: mean over machines (each machine has its own model); recall: pooled decisions."""
    n_anomaly = sum(m["n_anomaly"] for m in per_machine)
    out: dict[str, Any] = {
        "auc": float(np.mean([m["auc"] for m in per_machine])),
        "auc_per_machine": [m["auc"] for m in per_machine],
        "pauc": float(np.mean([m["pauc"] for m in per_machine])),
        "pauc_raw": float(np.mean([m["pauc_raw"] for m in per_machine])),
        "n_normal": sum(m["n_normal"] for m in per_machine),
        "n_anomaly": n_anomaly,
    }
    if all(m.get("recall") is not None for m in per_machine):
        out["recall"] = float(sum(m["recall"] * m["n_anomaly"] for m in per_machine) / max(n_anomaly, 1))
    return out


def pooled_and_faults(
    machines: Sequence[LabelScores], faults: Sequence[str], threshold: float | None = None
) -> dict[str, Any]:
    """{"pooled": all faults together, "faults": {fault: ...}}, each averaged over machines."""
    return {
        "pooled": machine_mean([machine_separation(m, faults, threshold) for m in machines]),
        "faults": {
            f: machine_mean([machine_separation(m, (f,), threshold) for m in machines]) for f in faults
        },
    }
