"""Evaluation metrics against hand-computed values (anomaly positive and normal positive)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from humwatch.research.evaluation import ScoredClip, auc_score, compute_metrics, partial_auc, roc_curve


def clips(normal: list[float], anomaly: list[float], faults: list[str] | None = None) -> list[ScoredClip]:
    out = [ScoredClip(Path(f"n{i}.wav"), "normal", s) for i, s in enumerate(normal)]
    for i, s in enumerate(anomaly):
        out.append(ScoredClip(Path(f"a{i}.wav"), "anomaly", s, faults[i] if faults else None))
    return out


def test_auc_is_the_share_of_correctly_ordered_pairs_with_ties_as_half() -> None:
    labels = np.array([0, 0, 0, 1, 1])
    scores = np.array([0.1, 0.4, 0.5, 0.5, 0.9])
    # pairs (anomaly > normal): 0.5 vs {0.1,0.4} -> 2, tie with 0.5 -> 0.5; 0.9 -> 3  => 5.5 / 6
    assert auc_score(labels, scores) == pytest.approx(5.5 / 6)
    assert auc_score(np.array([0, 0]), np.array([0.1, 0.2])) is None


def test_roc_curve_runs_from_origin_to_corner() -> None:
    fpr, tpr = roc_curve(np.array([0, 1, 0, 1]), np.array([0.1, 0.2, 0.3, 0.4]))
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)


def test_partial_auc_is_mcclish_standardised() -> None:
    labels = np.array([0] * 10 + [1] * 2)
    perfect = np.r_[np.zeros(10), np.ones(2)]
    assert partial_auc(labels, perfect)[0] == pytest.approx(1.0)
    # One normal above both anomalies: ROC is flat until FPR 0.1, so the partial area is 0 and
    # the standardised value is 0.5 * (1 + (0 - 0.005) / (0.1 - 0.005))
    one_above = np.r_[np.zeros(9), 2.0, np.ones(2)]
    mcclish, raw = partial_auc(labels, one_above)
    assert raw == pytest.approx(0.0)
    assert mcclish == pytest.approx(0.5 * (1 - 0.005 / 0.095))


def test_threshold_metrics_in_both_conventions() -> None:
    # 4 normals (one over the threshold 1.0), 2 anomalies (one over)
    m = compute_metrics(clips([0.2, 0.3, 0.4, 1.5], [0.8, 2.0]), threshold=1.0)
    assert m["confusion"] == {"tp": 1, "fp": 1, "tn": 3, "fn": 1}
    assert (m["precision"], m["recall"], m["false_alarm_rate"]) == (0.5, 0.5, 0.25)
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert (m["n_normal"], m["n_anomaly"], m["threshold"]) == (4, 2, 1.0)
    npos = m["normal_positive"]
    # normal positive: TP = normals under threshold (3), FP = anomalies under (1), FN = normals over (1)
    assert npos["precision"] == pytest.approx(3 / 4) and npos["recall"] == pytest.approx(3 / 4)
    assert npos["auc"] == pytest.approx(m["auc"])


def test_per_fault_auc_compares_each_fault_with_all_normals() -> None:
    m = compute_metrics(clips([0.1, 0.2, 0.3], [0.9, 0.05], faults=["bearing", "blade"]), threshold=0.5)
    assert m["per_fault"]["bearing"]["auc"] == 1.0
    assert m["per_fault"]["blade"]["auc"] == 0.0
    assert m["per_fault"]["bearing"]["n"] == 1
