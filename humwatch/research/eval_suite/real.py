"""The real recordings (`../shared/data/real`, skipped when absent), in the DCASE protocol.

- DCASE 2020 id_00: 75 normal clips, k-fold cross-validation (train on 60, score the 15 held out
  and the one anomaly): false alarms on unseen normals at the calibrated threshold, how often the
  anomaly is flagged, and AUC / pAUC of the anomaly against the held-out normals (scores are
  ratios to each fold's threshold, so folds pool); plus the blog protocol (first 60 train, last
  15 + anomaly test).
- MIMII 0 dB, leave-one-id-out per machine type: train on the normal clips of the other three
  ids, test on the held-out id's normal and anomalous clip. Each 8-channel recording gives 8
  clips (one per microphone), so training has 24 clips and each test id 8 + 8. AUC / pAUC per id
  and pooled over the ids of a type.

pAUC: `humwatch.research.eval_suite.metrics` (McClish, as the DCASE baseline's evaluator, and the
task description's raw partial area / 0.1).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from humwatch.research.eval_suite.metrics import separation
from humwatch.research.eval_suite.plan import SuitePlan
from humwatch.research.eval_suite.synthetic import TrainingClip, train_all, workdir, write_wav

Progress = Callable[[int], None]
MIMII_CHANNELS = 8


def read_channel(path: Path, channel: int) -> np.ndarray:
    from humwatch.audio import decode_audio

    return decode_audio(path, target_sample_rate=16000, channel=channel).samples


def dcase_work(plan: SuitePlan, real_dir: Path) -> int:
    """Clips `run_dcase` trains on and scores (what its progress counts); 0 when absent."""
    folder = real_dir / "dcase2020-id00"
    normals = len(list((folder / "train" / "normal").glob("*.wav")))
    anomalies = len(list((folder / "test" / "anomaly").glob("*.wav")))
    if not normals or not anomalies:
        return 0
    if plan.dcase_limit:
        normals = min(normals, plan.dcase_limit)
    blog = 60 + (normals - 60) + anomalies if normals >= 70 else 0
    return plan.dcase_folds * (normals + anomalies) + blog


def run_dcase(plan: SuitePlan, real_dir: Path, tick: Progress) -> dict[str, Any] | None:
    from humwatch.detectors.spectral_gauss.gaussian import kfold_indices

    folder = real_dir / "dcase2020-id00"
    normals = sorted((folder / "train" / "normal").glob("*.wav"))
    anomalies = sorted((folder / "test" / "anomaly").glob("*.wav"))
    if not normals or not anomalies:
        return None
    if plan.dcase_limit:
        normals = normals[: plan.dcase_limit]
    audio = {p: read_channel(p, 0) for p in [*normals, *anomalies]}
    as_clip = [TrainingClip(path=p, source=p.parent) for p in normals]
    false_alarms = {t: 0 for t in plan.model_types}
    flagged = {t: 0 for t in plan.model_types}
    held_ratios: dict[str, list[float]] = {t: [] for t in plan.model_types}
    anomaly_ratios: dict[str, list[float]] = {t: [] for t in plan.model_types}
    folds = kfold_indices(len(normals), plan.dcase_folds, seed=0)
    for held_out in folds:
        held = set(held_out.tolist())
        scorers, _ = train_all(plan, [as_clip[i] for i in range(len(normals)) if i not in held])
        for t, scorer in scorers.items():
            ratios = [scorer.score_samples(audio[normals[i]]).ratio for i in held_out]
            held_ratios[t].extend(ratios)
            false_alarms[t] += sum(r > 1.0 for r in ratios)
            a = [scorer.score_samples(audio[p]).ratio for p in anomalies]
            anomaly_ratios[t].extend(a)
            flagged[t] += sum(r > 1.0 for r in a)
        tick(len(normals) + len(anomalies))
    cv = {}
    for t in plan.model_types:
        protocol = separation(np.asarray(held_ratios[t]), np.asarray(anomaly_ratios[t]))
        cv[t] = {
            "false_alarm_rate": false_alarms[t] / len(normals),
            "false_alarms": false_alarms[t],
            "n_normal": len(normals),
            "anomaly_flagged_folds": flagged[t],
            "folds": len(folds),
            "auc_anomaly_vs_heldout": protocol["auc"],
            "pauc": protocol["pauc"],
            "pauc_raw": protocol["pauc_raw"],
            "anomaly_ratio_median": float(np.median(anomaly_ratios[t])),
        }
    # The blog/issue-2 protocol: first 60 train, the last 15 normals + the anomaly are the test.
    blog: dict[str, Any] = {}
    if len(normals) >= 70:
        scorers, _ = train_all(plan, as_clip[:60])
        for t, scorer in scorers.items():
            rest = [scorer.score_samples(audio[p]).ratio for p in normals[60:]]
            a = [scorer.score_samples(audio[p]).ratio for p in anomalies]
            blog[t] = {
                "false_alarms": int(sum(r > 1.0 for r in rest)),
                "n_normal": len(rest),
                "anomaly_flagged": int(sum(r > 1.0 for r in a)),
                "anomaly_ratio": float(a[0]),
            }
        tick(len(normals) + len(anomalies))
    return {"cross_validation": cv, "first60_protocol": blog, "target_fpr": plan.target_fpr}


def mimii_ids(base: Path, machine_type: str) -> list[Path]:
    return sorted(p for p in (base / machine_type).glob("id_*") if p.is_dir())


def mimii_work(plan: SuitePlan, real_dir: Path) -> int:
    """Clips `run_mimii` trains on and scores (what its progress counts); 0 when absent."""
    base = real_dir / "mimii-0db"
    if not base.is_dir():
        return 0
    total = 0
    for machine_type in plan.mimii_types:
        ids = mimii_ids(base, machine_type)
        if len(ids) < 2:
            continue
        normals = {i: len(list((i / "normal").glob("*.wav"))) for i in ids}
        tested = {
            i: len(list((i / "normal").glob("*.wav"))) + len(list((i / "anomaly").glob("*.wav"))) for i in ids
        }
        for held in ids:
            total += MIMII_CHANNELS * (sum(normals.values()) - normals[held] + tested[held])
    return total


def run_mimii(plan: SuitePlan, real_dir: Path, tick: Progress) -> dict[str, Any] | None:
    base = real_dir / "mimii-0db"
    if not base.is_dir():
        return None
    out: dict[str, Any] = {}
    for machine_type in plan.mimii_types:
        ids = mimii_ids(base, machine_type)
        if len(ids) < 2:
            continue
        # model type -> held-out id -> "normal" / "anomaly" -> ratios
        by_id: dict[str, dict[str, dict[str, list[float]]]] = {t: {} for t in plan.model_types}
        for held in ids:
            with workdir() as work:
                clips = []
                for other in ids:
                    if other == held:
                        continue
                    for wav in sorted((other / "normal").glob("*.wav")):
                        for ch in range(MIMII_CHANNELS):
                            name = f"{other.name}_{wav.stem}_ch{ch}.wav"
                            clips.append(write_wav(work / name, read_channel(wav, ch)))
                scorers, _ = train_all(plan, clips)
            scored = 0
            for t in plan.model_types:
                by_id[t][held.name] = {"normal": [], "anomaly": []}
            for label in ("normal", "anomaly"):
                for wav in sorted((held / label).glob("*.wav")):
                    for ch in range(MIMII_CHANNELS):
                        x = read_channel(wav, ch)
                        scored += 1
                        for t, scorer in scorers.items():
                            by_id[t][held.name][label].append(scorer.score_samples(x).ratio)
            tick(len(clips) + scored)
        out[machine_type] = {}
        for t in plan.model_types:
            normal = np.concatenate([np.asarray(v["normal"]) for v in by_id[t].values()])
            anomaly = np.concatenate([np.asarray(v["anomaly"]) for v in by_id[t].values()])
            out[machine_type][t] = {
                **separation(normal, anomaly, 1.0),
                "false_alarm_rate": float(np.mean(normal > 1.0)),
                "ids": {
                    name: separation(np.asarray(v["normal"]), np.asarray(v["anomaly"]), 1.0)
                    for name, v in by_id[t].items()
                },
            }
    return out
