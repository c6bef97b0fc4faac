"""Evaluate a model on labelled clips: metrics.json, report.md, scores.csv and PNG plots.

Conventions:
- Positive class = anomaly (what an alerting system is for). The same figures with the normal
  class as positive are under `normal_positive` (the AWS blog reports those; its 92.1%).
- `pauc`: area under the ROC curve for FPR <= 0.1, McClish-standardised to [0.5, 1] (0.5 = chance),
  which is what the DCASE Task 2 baselines report (sklearn `roc_auc_score(max_fpr=0.1)`).
  `pauc_raw` is the plain partial area divided by 0.1.
- Decisions use the model's threshold: score > threshold -> anomaly (as in scoring).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from humwatch.errors import AudioRejected
from humwatch.progress import progress_bar
from humwatch.scoring import Scorer, score_clip

MAX_FPR = 0.1


@dataclass
class ScoredClip:
    path: Path
    label: str
    score: float
    fault: str | None = None


@dataclass
class EvaluationResult:
    metrics: dict[str, Any]
    scored: list[ScoredClip]
    rejected: list[tuple[Path, AudioRejected]] = field(default_factory=list)


def roc_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(fpr, tpr) from (0,0) to (1,1), one point per distinct score (ties move together)."""
    order = np.argsort(-scores, kind="mergesort")
    s, y = scores[order], labels[order].astype(np.float64)
    distinct = np.r_[np.nonzero(np.diff(s))[0], y.size - 1]
    tps = np.cumsum(y)[distinct]
    fps = (1 + distinct) - tps
    tpr = np.r_[0.0, tps / max(tps[-1], 1)]
    fpr = np.r_[0.0, fps / max(fps[-1], 1)]
    return fpr, tpr


def auc_score(labels: np.ndarray, scores: np.ndarray) -> float | None:
    if labels.min(initial=1) == labels.max(initial=0) or labels.size == 0:
        return None
    fpr, tpr = roc_curve(labels, scores)
    return float(np.trapezoid(tpr, fpr))


def partial_auc(
    labels: np.ndarray, scores: np.ndarray, max_fpr: float = MAX_FPR
) -> tuple[float | None, float | None]:
    """(McClish-standardised pAUC, raw partial area / max_fpr) over FPR in [0, max_fpr]."""
    if labels.size == 0 or labels.min() == labels.max():
        return None, None
    fpr, tpr = roc_curve(labels, scores)
    stop = int(np.searchsorted(fpr, max_fpr, side="right"))
    x, y = fpr[:stop], tpr[:stop]
    if stop < fpr.size and x[-1] < max_fpr:  # interpolate the curve at exactly max_fpr
        y_end = np.interp(max_fpr, fpr[stop - 1 : stop + 1], tpr[stop - 1 : stop + 1])
        x, y = np.r_[x, max_fpr], np.r_[y, y_end]
    area = float(np.trapezoid(y, x))
    min_area, max_area = 0.5 * max_fpr**2, max_fpr
    return 0.5 * (1.0 + (area - min_area) / (max_area - min_area)), area / max_fpr


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def classification_metrics(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, Any]:
    """Metrics with labels 1 = positive class; predicted positive = score > threshold."""
    predicted = scores > threshold
    positive = labels.astype(bool)
    tp = int(np.sum(predicted & positive))
    fp = int(np.sum(predicted & ~positive))
    tn = int(np.sum(~predicted & ~positive))
    fn = int(np.sum(~predicted & positive))
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    f1 = None
    if precision is not None and recall is not None:
        f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    auc = auc_score(labels, scores)
    pauc, pauc_raw = partial_auc(labels, scores)
    return {
        "auc": auc,
        "pauc": pauc,
        "pauc_raw": pauc_raw,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "accuracy": _ratio(tp + tn, labels.size),
        "false_alarm_rate": _ratio(fp, fp + tn),
        "confusion": {"tp": tp, "fp": fp, "tn": tn, "fn": fn},
    }


def compute_metrics(scored: Sequence[ScoredClip], threshold: float) -> dict[str, Any]:
    labels = np.array([1 if c.label == "anomaly" else 0 for c in scored], dtype=np.int64)
    scores = np.array([c.score for c in scored], dtype=np.float64)
    metrics = classification_metrics(labels, scores, threshold)
    metrics.update(
        threshold=threshold,
        n_normal=int(np.sum(labels == 0)),
        n_anomaly=int(np.sum(labels == 1)),
        max_fpr=MAX_FPR,
        pauc_method="mcclish",
    )
    # Normal as positive: predicted normal = score <= threshold; negate scores so that the
    # "score > threshold" rule reads the same way.
    normal = classification_metrics(1 - labels, -scores, -threshold)
    normal.update(threshold=threshold, n_normal=metrics["n_normal"], n_anomaly=metrics["n_anomaly"])
    metrics["normal_positive"] = normal
    faults = sorted({c.fault for c in scored if c.label == "anomaly" and c.fault})
    if faults:
        per_fault = {}
        normal_mask = labels == 0
        for fault in faults:
            mask = normal_mask | np.array([c.fault == fault and c.label == "anomaly" for c in scored])
            per_fault[fault] = {
                "auc": auc_score(labels[mask], scores[mask]),
                "pauc": partial_auc(labels[mask], scores[mask])[0],
                "recall": _ratio(
                    int(np.sum((scores > threshold) & mask & (labels == 1))),
                    int(np.sum(mask & (labels == 1))),
                ),
                "n": int(np.sum(mask & (labels == 1))),
            }
        metrics["per_fault"] = per_fault
    return metrics


def score_labelled(
    scorer: Scorer, clips: Sequence[Any], *, progress: bool = False
) -> tuple[list[ScoredClip], list[tuple[Path, AudioRejected]]]:
    """Score every labelled clip; unlabelled clips are ignored, undecodable ones collected."""
    labelled = [c for c in clips if c.label in ("normal", "anomaly")]
    iterator = progress_bar(labelled, enabled=progress, desc="scoring", total=len(labelled), unit="clip")
    scored, rejected = [], []
    for clip in iterator:
        try:
            result = score_clip(scorer, Path(clip.path))
        except AudioRejected as exc:
            rejected.append((Path(clip.path), exc))
            continue
        fault = getattr(clip, "fault", None)
        scored.append(ScoredClip(Path(clip.path), clip.label, result.score, fault))
    return scored, rejected


def evaluate_model(
    scorer: Scorer, clips: Sequence[Any], out_dir: str | Path | None, *, progress: bool = False
) -> EvaluationResult:
    """Score, compute metrics, and (when out_dir is given) write the report files."""
    scored, rejected = score_labelled(scorer, clips, progress=progress)
    if not scored:
        from humwatch.errors import DatasetError

        raise DatasetError("no labelled clip could be scored (labels come from normal/anomaly in names)")
    metrics = compute_metrics(scored, scorer.threshold)
    manifest = scorer.bundle.manifest
    metrics["model"] = {
        "model_id": manifest.model_id,
        "version": manifest.version,
        "type": manifest.model_type,
    }
    metrics["n_rejected"] = len(rejected)
    result = EvaluationResult(metrics=metrics, scored=scored, rejected=rejected)
    if out_dir is not None:
        write_report(result, Path(out_dir))
    return result


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def write_report(result: EvaluationResult, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    m = result.metrics
    (out / "metrics.json").write_text(json.dumps(m, indent=2) + "\n")
    with (out / "scores.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "label", "fault", "score", "is_anomaly"])
        for c in result.scored:
            writer.writerow([str(c.path), c.label, c.fault or "", f"{c.score:.6g}", c.score > m["threshold"]])
    _plots(result, out)
    names = ["auc", "pauc", "precision", "recall", "f1", "accuracy", "false_alarm_rate"]
    lines = [
        f"# Evaluation of {m['model']['model_id']} {m['model']['version']}",
        "",
        f"{m['n_normal']} normal and {m['n_anomaly']} anomaly clips, threshold {m['threshold']:.4g} "
        f"(score > threshold = anomaly). pAUC: FPR <= {MAX_FPR}, McClish-standardised (0.5 = chance).",
        "",
        "| metric | anomaly positive | normal positive (AWS blog convention) |",
        "|---|---|---|",
        *(f"| {n} | {_fmt(m[n])} | {_fmt(m['normal_positive'][n])} |" for n in names),
        "",
        "Confusion matrix (anomaly positive):",
        "",
        "| | predicted normal | predicted anomaly |",
        "|---|---|---|",
        f"| actual normal | {m['confusion']['tn']} | {m['confusion']['fp']} |",
        f"| actual anomaly | {m['confusion']['fn']} | {m['confusion']['tp']} |",
        "",
    ]
    if "per_fault" in m:
        lines += [
            "Per fault (each fault's anomalies against all normal clips):",
            "",
            "| fault | n | AUC | pAUC | recall |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {name} | {v['n']} | {_fmt(v['auc'])} | {_fmt(v['pauc'])} | {_fmt(v['recall'])} |"
            for name, v in m["per_fault"].items()
        ]
        lines.append("")
    lines += [
        "![score histogram](scores.png)",
        "",
        "![ROC curve](roc.png)",
        "",
        "![confusion matrix](confusion.png)",
        "",
    ]
    if result.rejected:
        lines += ["Clips that could not be scored:", ""]
        lines += [f"- `{p}`: {e.code}: {e.message}" for p, e in result.rejected]
        lines.append("")
    (out / "report.md").write_text("\n".join(lines))


def _plots(result: EvaluationResult, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = result.metrics
    threshold = m["threshold"]
    scores = np.array([c.score for c in result.scored])
    labels = np.array([1 if c.label == "anomaly" else 0 for c in result.scored])

    fig, ax = plt.subplots(figsize=(7, 4))
    bins = np.histogram_bin_edges(scores, bins=min(40, max(10, scores.size // 3))).tolist()
    for value, name, colour in ((0, "normal", "tab:blue"), (1, "anomaly", "tab:red")):
        if np.any(labels == value):
            ax.hist(
                scores[labels == value],
                bins=bins,
                alpha=0.6,
                label=f"{name} (n={np.sum(labels == value)})",
                color=colour,
            )
    ax.axvline(threshold, color="black", linestyle="--", label=f"threshold {threshold:.3g}")
    ax.set_xlabel("clip score (mean reconstruction error)")
    ax.set_ylabel("clips")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "scores.png", dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    if m["auc"] is not None:
        fpr, tpr = roc_curve(labels, scores)
        ax.plot(fpr, tpr, label=f"AUC {m['auc']:.3f}")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":")
    ax.axvspan(0, MAX_FPR, color="grey", alpha=0.1, label=f"pAUC region (FPR <= {MAX_FPR})")
    ax.set_xlabel("false-positive rate")
    ax.set_ylabel("true-positive rate")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(out / "roc.png", dpi=100)
    plt.close(fig)

    c = m["confusion"]
    grid = np.array([[c["tn"], c["fp"]], [c["fn"], c["tp"]]])
    fig, ax = plt.subplots(figsize=(4, 3.5))
    ax.imshow(grid, cmap="Blues")
    for (i, j), value in np.ndenumerate(grid):
        ax.text(j, i, str(value), ha="center", va="center", color="black", fontsize=14)
    ax.set_xticks([0, 1], ["normal", "anomaly"])
    ax.set_yticks([0, 1], ["normal", "anomaly"])
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    fig.tight_layout()
    fig.savefig(out / "confusion.png", dpi=100)
    plt.close(fig)
