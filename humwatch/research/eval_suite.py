"""`humwatch evaluate-suite` (`make eval`): every detector, the same clips, one table.

Synthetic part: machines `humwatch.research.synth.MachineSpec.from_seed` with seeds never used while the
detectors were designed (development used seeds 0-3; the suite uses 100+), half fans, half pumps.
Per machine and background SNR, each model type is trained on the same normal clips with its own
trainer (`humwatch.detectors.train_bundle`, i.e. exactly `humwatch train`), then scored by
`humwatch.scoring.Scorer` (the serving path) on unseen normal clips and on all five faults at
several severities. Metrics come from `humwatch.research.evaluation` (AUC, McClish pAUC at FPR <= 0.1,
false-alarm rate at the calibrated threshold).

Real part (`../shared/data/real`, skipped when absent):
- DCASE 2020 id_00: 75 normal clips, 5-fold cross-validation (train on 60, score the 15 held out
  and the one anomaly): false-alarm rate on unseen normals at the calibrated threshold, and how
  often the anomaly is flagged; plus the blog protocol (first 60 train, last 15 + anomaly test).
- MIMII 0 dB, leave-one-id-out per machine type: train on the normal clips of the other three
  ids, test on the held-out id's normal and anomalous clip. Each 8-channel recording gives 8
  clips (one per microphone), so training has 24 clips and each test id 8 + 8.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from humwatch.detectors import DetectorType, get_detector
from humwatch.research.evaluation import auc_score, partial_auc
from humwatch.research.synth import FAULTS, MachineSpec, synth_clip

Progress = Callable[[int], None]


@dataclass(frozen=True)
class SynthCase:
    snr_db: float
    severities: tuple[float, ...]
    n_fault: int  # clips per fault and severity


@dataclass(frozen=True)
class SuitePlan:
    machine_seeds: tuple[int, ...] = (100, 101, 102, 103)
    cases: tuple[SynthCase, ...] = (
        SynthCase(0.0, (0.25, 0.5, 0.75), 16),
        SynthCase(6.0, (0.5,), 12),
        SynthCase(-6.0, (0.5,), 12),
    )
    n_train: int = 60
    n_test_normal: int = 40
    target_fpr: float = 0.01
    ae_epochs: int = 30
    dcase_folds: int = 5
    dcase_limit: int | None = None  # use only the first N DCASE normals (quick mode)
    mimii_types: tuple[str, ...] = ("fan", "pump", "slider", "valve")
    model_types: tuple[str, ...] = tuple(t.value for t in DetectorType)

    @classmethod
    def quick(cls) -> SuitePlan:
        return cls(
            machine_seeds=(100,),
            cases=(SynthCase(0.0, (0.5,), 4),),
            n_train=10,
            n_test_normal=8,
            ae_epochs=3,
            dcase_folds=2,
            dcase_limit=12,
            mimii_types=("fan",),
        )

    def detector_options(self, model_type: str) -> dict[str, Any]:
        """Training options beyond the shared ones: `ae_epochs` for the types that have epochs."""
        takes_epochs = "epochs" in get_detector(model_type).options_model.model_fields
        return {"epochs": self.ae_epochs} if takes_epochs else {}

    def clip_count(self) -> int:
        per_case = [self.n_train + self.n_test_normal + 5 * len(c.severities) * c.n_fault for c in self.cases]
        return len(self.machine_seeds) * sum(per_case)


@contextmanager
def _workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="humwatch-eval-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@dataclass
class _Clip:
    path: Path
    label: str
    source: Path
    meta: dict[str, str] = field(default_factory=dict)


def _write_wav(path: Path, samples: np.ndarray, sample_rate: int = 16000) -> _Clip:
    import soundfile as sf

    sf.write(path, samples, sample_rate, subtype="PCM_16")
    return _Clip(path=path, label="normal", source=path.parent)


def _train_all(plan: SuitePlan, clips: Sequence[_Clip], seed: int = 0) -> dict[str, Any]:
    """One Scorer per model type, trained on the same clips through `train_bundle`."""
    from humwatch.detectors import train_bundle
    from humwatch.scoring import Scorer

    scorers = {}
    for model_type in plan.model_types:
        bundle = train_bundle(
            model_type,
            clips,
            None,
            seed=seed,
            target_fpr=plan.target_fpr,
            model_id=f"eval-{model_type}",
            **plan.detector_options(model_type),
        )
        scorers[model_type] = Scorer(bundle)
    return scorers


def _metrics(normal: np.ndarray, anomalous: np.ndarray, threshold: float | None = None) -> dict[str, Any]:
    labels = np.r_[np.zeros(normal.size), np.ones(anomalous.size)]
    scores = np.r_[normal, anomalous]
    pauc, _ = partial_auc(labels, scores)
    out: dict[str, Any] = {"auc": auc_score(labels, scores), "pauc": pauc, "n_normal": int(normal.size)}
    out["n_anomaly"] = int(anomalous.size)
    if threshold is not None:
        out["recall"] = float(np.mean(anomalous > threshold)) if anomalous.size else None
    return out


def _bucket_metrics(bucket: dict[str, list[float]], model_type: str, faults: Sequence[str]) -> dict[str, Any]:
    normal = np.asarray(bucket[f"{model_type}|normal"])
    anomalous = np.concatenate([bucket[f"{model_type}|{f}"] for f in faults])
    return _metrics(normal, anomalous, 1.0)


def _seed_mean(per_seed: list[dict[str, Any]]) -> dict[str, Any]:
    """AUC/pAUC: mean over machines; recall: pooled decisions; counts summed."""
    n_anomaly = sum(m["n_anomaly"] for m in per_seed)
    return {
        "auc": float(np.mean([m["auc"] for m in per_seed])),
        "auc_per_machine": [m["auc"] for m in per_seed],
        "pauc": float(np.mean([m["pauc"] for m in per_seed])),
        "recall": float(sum(m["recall"] * m["n_anomaly"] for m in per_seed) / n_anomaly),
        "n_normal": sum(m["n_normal"] for m in per_seed),
        "n_anomaly": n_anomaly,
    }


# One machine's ratios (score / threshold) on one synthetic case and severity, keyed
# "<model type>|normal" (unseen normal clips) and "<model type>|<fault>".
Bucket = dict[str, list[float]]


def _extend(target: dict[str, list[Any]], more: dict[str, list[Any]]) -> None:
    for key, values in more.items():
        target.setdefault(key, []).extend(values)


def _synthetic_machine(machine_seed: int) -> MachineSpec:
    return MachineSpec.from_seed("fan" if machine_seed % 2 == 0 else "pump", machine_seed)


def _train_on_synthetic_normals(
    plan: SuitePlan, spec: MachineSpec, case: SynthCase, tick: Progress
) -> tuple[dict[str, Any], float]:
    """Every model type trained on the case's normal clips; and the seconds that training took."""
    with _workdir() as work:
        clips = []
        for i in range(plan.n_train):
            x = synth_clip(spec, snr_db=case.snr_db, seed=10_000 + i)
            clips.append(_write_wav(work / f"normal_{i:04d}.wav", x))
            tick(1)
        started = time.perf_counter()
        scorers = _train_all(plan, clips)
        return scorers, time.perf_counter() - started


def _score_synthetic_case(
    plan: SuitePlan, spec: MachineSpec, case: SynthCase, scorers: dict[str, Any], tick: Progress
) -> tuple[dict[str, list[bool]], dict[float, Bucket]]:
    """Unseen normal clips and every fault at every severity of the case, scored by every model.

    Returns the false alarms on the normal clips per model type, and one bucket per severity.
    """

    def ratios(x: np.ndarray) -> dict[str, float]:
        return {t: s.score_samples(x).ratio for t, s in scorers.items()}

    unseen = range(plan.n_test_normal)
    normal = [ratios(synth_clip(spec, snr_db=case.snr_db, seed=20_000 + i)) for i in unseen]
    tick(plan.n_test_normal)
    alarms = {t: [r[t] > 1.0 for r in normal] for t in plan.model_types}
    buckets: dict[float, Bucket] = {}
    for severity in case.severities:
        bucket = {f"{t}|normal": [r[t] for r in normal] for t in plan.model_types}
        for fault_index, fault in enumerate(FAULTS):
            faulty = [
                ratios(
                    synth_clip(
                        spec,
                        fault=fault,
                        severity=severity,
                        snr_db=case.snr_db,
                        seed=30_000 + 1000 * fault_index + i,
                    )
                )
                for i in range(case.n_fault)
            ]
            for t in plan.model_types:
                bucket[f"{t}|{fault}"] = [r[t] for r in faulty]
            tick(case.n_fault)
        buckets[severity] = bucket
    return alarms, buckets


def _synthetic_case_metrics(
    plan: SuitePlan, pooled: dict[tuple[float, float], dict[int, Bucket]]
) -> list[dict[str, Any]]:
    """Per (SNR, severity) and model type: pooled and per-fault metrics, averaged over machines."""
    cases = []
    for (snr_db, severity), by_seed in sorted(pooled.items()):
        entry: dict[str, Any] = {"snr_db": snr_db, "severity": severity, "models": {}}
        for t in plan.model_types:
            entry["models"][t] = {
                "pooled": _seed_mean([_bucket_metrics(b, t, FAULTS) for b in by_seed.values()]),
                "faults": {
                    f: _seed_mean([_bucket_metrics(b, t, (f,)) for b in by_seed.values()]) for f in FAULTS
                },
            }
        cases.append(entry)
    return cases


def run_synthetic(plan: SuitePlan, progress: Progress | None = None) -> dict[str, Any]:
    """Scores of every model type on every synthetic case; metrics per case, fault and type."""
    tick = progress or (lambda _n: None)
    # Ratios are kept per machine: AUCs are per machine (each machine has its own model) and then
    # averaged; decisions (recall, FAR) at ratio > 1 are pooled.
    pooled: dict[tuple[float, float], dict[int, Bucket]] = {}  # (snr, severity) -> machine -> bucket
    far: dict[float, dict[str, list[bool]]] = {}  # snr -> model type -> alarm per unseen normal
    train_seconds: dict[str, list[float]] = {t: [] for t in plan.model_types}
    for machine_seed in plan.machine_seeds:
        spec = _synthetic_machine(machine_seed)
        for case in plan.cases:
            scorers, seconds = _train_on_synthetic_normals(plan, spec, case, tick)
            for model_type in plan.model_types:
                train_seconds[model_type].append(seconds / len(plan.model_types))
            alarms, buckets = _score_synthetic_case(plan, spec, case, scorers, tick)
            _extend(far.setdefault(case.snr_db, {}), alarms)
            for severity, bucket in buckets.items():
                _extend(pooled.setdefault((case.snr_db, severity), {}).setdefault(machine_seed, {}), bucket)
    return {
        "machine_seeds": list(plan.machine_seeds),
        "n_train": plan.n_train,
        "n_test_normal": plan.n_test_normal,
        "target_fpr": plan.target_fpr,
        "cases": _synthetic_case_metrics(plan, pooled),
        "false_alarm_rate": {
            str(snr): {t: float(np.mean(v)) for t, v in by_type.items()}
            for snr, by_type in sorted(far.items())
        },
        "n_far_normals": {str(snr): len(next(iter(v.values()))) for snr, v in sorted(far.items())},
        "mean_train_seconds": {t: float(np.mean(v)) for t, v in train_seconds.items() if v},
    }


def _read_channel(path: Path, channel: int) -> np.ndarray:
    from humwatch.audio import decode_audio

    return decode_audio(path, target_sample_rate=16000, channel=channel).samples


def run_dcase(plan: SuitePlan, real_dir: Path, progress: Progress | None = None) -> dict[str, Any] | None:
    from humwatch.detectors.spectral_gauss.gaussian import kfold_indices

    folder = real_dir / "dcase2020-id00"
    normals = sorted((folder / "train" / "normal").glob("*.wav"))
    anomalies = sorted((folder / "test" / "anomaly").glob("*.wav"))
    if not normals or not anomalies:
        return None
    if plan.dcase_limit:
        normals = normals[: plan.dcase_limit]
    tick = progress or (lambda _n: None)
    audio = {p: _read_channel(p, 0) for p in [*normals, *anomalies]}
    as_clip = [_Clip(path=p, label="normal", source=p.parent) for p in normals]
    false_alarms = {t: 0 for t in plan.model_types}
    flagged = {t: 0 for t in plan.model_types}
    held_ratios: dict[str, list[float]] = {t: [] for t in plan.model_types}
    anomaly_ratios: dict[str, list[float]] = {t: [] for t in plan.model_types}
    folds = kfold_indices(len(normals), plan.dcase_folds, seed=0)
    for held_out in folds:
        train = [as_clip[i] for i in range(len(normals)) if i not in set(held_out.tolist())]
        scorers = _train_all(plan, train)
        for t, scorer in scorers.items():
            ratios = [scorer.score_samples(audio[normals[i]]).ratio for i in held_out]
            held_ratios[t].extend(ratios)
            false_alarms[t] += sum(r > 1.0 for r in ratios)
            a = [scorer.score_samples(audio[p]).ratio for p in anomalies]
            anomaly_ratios[t].extend(a)
            flagged[t] += sum(r > 1.0 for r in a)
        tick(1)
    cv = {
        t: {
            "false_alarm_rate": false_alarms[t] / len(normals),
            "false_alarms": false_alarms[t],
            "n_normal": len(normals),
            "anomaly_flagged_folds": flagged[t],
            "folds": len(folds),
            "auc_anomaly_vs_heldout": _metrics(np.asarray(held_ratios[t]), np.asarray(anomaly_ratios[t]))[
                "auc"
            ],
            "anomaly_ratio_median": float(np.median(anomaly_ratios[t])),
        }
        for t in plan.model_types
    }
    # The blog/issue-2 protocol: first 60 train, the last 15 normals + the anomaly are the test.
    blog: dict[str, Any] = {}
    if len(normals) >= 70:
        scorers = _train_all(plan, as_clip[:60])
        for t, scorer in scorers.items():
            rest = [scorer.score_samples(audio[p]).ratio for p in normals[60:]]
            a = [scorer.score_samples(audio[p]).ratio for p in anomalies]
            blog[t] = {
                "false_alarms": int(sum(r > 1.0 for r in rest)),
                "n_normal": len(rest),
                "anomaly_flagged": int(sum(r > 1.0 for r in a)),
                "anomaly_ratio": float(a[0]),
            }
        tick(1)
    return {"cross_validation": cv, "first60_protocol": blog, "target_fpr": plan.target_fpr}


def run_mimii(plan: SuitePlan, real_dir: Path, progress: Progress | None = None) -> dict[str, Any] | None:
    base = real_dir / "mimii-0db"
    if not base.is_dir():
        return None
    tick = progress or (lambda _n: None)
    out: dict[str, Any] = {}
    for machine_type in plan.mimii_types:
        ids = sorted(p for p in (base / machine_type).glob("id_*") if p.is_dir())
        if len(ids) < 2:
            continue
        normal_scores: dict[str, list[float]] = {t: [] for t in plan.model_types}
        anomaly_scores: dict[str, list[float]] = {t: [] for t in plan.model_types}
        for held in ids:
            with _workdir() as work:
                clips = []
                for other in ids:
                    if other == held:
                        continue
                    for wav in sorted((other / "normal").glob("*.wav")):
                        for ch in range(8):
                            name = f"{other.name}_{wav.stem}_ch{ch}.wav"
                            clips.append(_write_wav(work / name, _read_channel(wav, ch)))
                scorers = _train_all(plan, clips)
            for label, target in (("normal", normal_scores), ("anomaly", anomaly_scores)):
                for wav in sorted((held / label).glob("*.wav")):
                    for ch in range(8):
                        x = _read_channel(wav, ch)
                        for t, scorer in scorers.items():
                            target[t].append(scorer.score_samples(x).ratio)
            tick(1)
        out[machine_type] = {
            t: {
                **_metrics(np.asarray(normal_scores[t]), np.asarray(anomaly_scores[t]), 1.0),
                "false_alarm_rate": float(np.mean(np.asarray(normal_scores[t]) > 1.0)),
            }
            for t in plan.model_types
        }
    return out


def _f(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def render_markdown(results: dict[str, Any]) -> str:
    types = results["plan"]["model_types"]
    lines = [
        "# humwatch detector evaluation",
        "",
        f"Command: `{results['command']}`; {results['seconds']:.0f} s on this machine. "
        f"Target FPR per clip {results['plan']['target_fpr']:g}; FAR = false-alarm rate on unseen "
        "normal clips at the calibrated threshold; AUC/pAUC (FPR <= 0.1, McClish) with the anomaly "
        "as the positive class.",
        "",
    ]
    synthetic = results.get("synthetic")
    if synthetic:
        lines += [
            f"## Synthetic machines (seeds {synthetic['machine_seeds']}, never used in development; "
            f"{synthetic['n_train']} training clips each)",
            "",
            "AUC/pAUC per machine, averaged over machines; recall at the calibrated threshold pooled.",
            "",
            "| SNR dB | severity | model | pooled AUC | pAUC | "
            + " | ".join(f"{f} AUC" for f in FAULTS)
            + " | recall@thr |",
            "|---|---|---|---|---|" + "---|" * len(FAULTS) + "---|",
        ]
        for case in synthetic["cases"]:
            for t in types:
                m = case["models"][t]
                lines.append(
                    f"| {case['snr_db']:g} | {case['severity']:g} | {t} | {_f(m['pooled']['auc'])} | "
                    f"{_f(m['pooled']['pauc'])} | "
                    + " | ".join(_f(m["faults"][f]["auc"]) for f in FAULTS)
                    + f" | {_f(m['pooled']['recall'])} |"
                )
        lines += ["", "| SNR dB | unseen normals | " + " | ".join(f"FAR {t}" for t in types) + " |"]
        lines += ["|---|---|" + "---|" * len(types)]
        for snr, by_type in synthetic["false_alarm_rate"].items():
            lines.append(
                f"| {snr} | {synthetic['n_far_normals'][snr]} | "
                + " | ".join(_f(by_type[t]) for t in types)
                + " |"
            )
        lines.append("")
    dcase = results.get("dcase")
    if dcase:
        cv = dcase["cross_validation"]
        lines += [
            "## DCASE 2020 id_00 (real)",
            "",
            "| model | CV FAR (unseen normals) | anomaly flagged (folds) | AUC anomaly vs held-out | "
            "first-60 protocol: false alarms | anomaly flagged |",
            "|---|---|---|---|---|---|",
        ]
        for t in types:
            c, b = cv[t], dcase["first60_protocol"].get(t, {})
            lines.append(
                f"| {t} | {_f(c['false_alarm_rate'])} ({c['false_alarms']}/{c['n_normal']}) | "
                f"{c['anomaly_flagged_folds']}/{c['folds']} | {_f(c['auc_anomaly_vs_heldout'])} | "
                f"{b.get('false_alarms', '-')}/{b.get('n_normal', '-')} | {b.get('anomaly_flagged', '-')}/1 |"
            )
        lines.append("")
    mimii = results.get("mimii")
    if mimii:
        lines += [
            "## MIMII 0 dB, leave one machine id out (real; 8 microphones = 8 clips per recording)",
            "",
            "| machine | " + " | ".join(f"{t} AUC | {t} FAR" for t in types) + " |",
            "|---|" + "---|---|" * len(types),
        ]
        for machine_type, by_type in mimii.items():
            lines.append(
                f"| {machine_type} | "
                + " | ".join(f"{_f(by_type[t]['auc'])} | {_f(by_type[t]['false_alarm_rate'])}" for t in types)
                + " |"
            )
        lines.append("")
    return "\n".join(lines)


def run_suite(
    out_dir: Path,
    *,
    plan: SuitePlan,
    real_dir: Path | None,
    command: str,
    progress: Callable[[str, int], Progress] | None = None,
) -> dict[str, Any]:
    """Run everything, write `eval.json` and `eval.md` under out_dir, return the results."""
    started = time.perf_counter()

    def bar(desc: str, total: int) -> Progress:
        return progress(desc, total) if progress else (lambda _n: None)

    results: dict[str, Any] = {
        "command": command,
        "plan": {
            "machine_seeds": list(plan.machine_seeds),
            "cases": [c.__dict__ for c in plan.cases],
            "target_fpr": plan.target_fpr,
            "model_types": list(plan.model_types),
            "ae_epochs": plan.ae_epochs,
        },
    }
    results["synthetic"] = run_synthetic(plan, bar("synthetic clips", plan.clip_count()))
    if real_dir is not None and real_dir.is_dir():
        results["dcase"] = run_dcase(plan, real_dir, bar("DCASE folds", plan.dcase_folds + 1))
        results["mimii"] = run_mimii(plan, real_dir, bar("MIMII held-out ids", 4 * len(plan.mimii_types)))
    results["seconds"] = time.perf_counter() - started
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "eval.json").write_text(json.dumps(results, indent=2, default=float) + "\n")
    (out_dir / "eval.md").write_text(render_markdown(results))
    return results
