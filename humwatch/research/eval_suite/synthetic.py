"""Synthetic machines: one job renders one machine's clips, trains, scores; then metrics per generator.

A held-out machine's job trains every model type on the case's normal clips through
`humwatch.detectors.train_bundle` (exactly `humwatch train`) and scores unseen normal clips and
every fault with the serving `Scorer`: the ratios score / threshold are what the headline tables,
recall and the false-alarm rate come from.

Few-shot and the candidate configurations of the default detector need many fits of the same
clips, so they reuse one pass of the serving front end (`StatisticsExtractor`, the ONNX graph that
training itself runs) and fit with `fit_spectral`, scoring with its numpy mirror of the graph (the
same scores to float precision: tests/unit/test_detectors_spectral.py). They give AUC/pAUC, which
need no threshold. A development machine's job does only that, for the candidates.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from humwatch.research.eval_suite.metrics import pooled_and_faults
from humwatch.research.eval_suite.plan import (
    CANDIDATE_CONFIGS,
    HEADLINE_SEVERITY,
    MachineJob,
    SuitePlan,
)
from humwatch.research.generators import get_generator, machine_for_seed

Progress = Callable[[int], None]
CLIP_SECONDS = 10.0
# Clip seeds: training normals, unseen normals, faults (+ 1000 per fault index).
TRAIN_SEED, TEST_SEED, FAULT_SEED = 10_000, 20_000, 30_000
# Scores of one machine at one severity: scorer -> "normal" / fault -> scores. Scorers are model
# types (ratio score / threshold, serving path), `few-shot:<n>` and `candidate:<name>`.
Scores = dict[str, dict[str, list[float]]]


def drift_state(clip_seed: int) -> tuple[float, float]:
    """(level dB, speed offset) of a drifting case's clip: uniform over the alert simulation's
    envelope, fixed by the clip's seed so every model type and rerun sees the same clip."""
    from humwatch.research.simulation.drift import DriftModel

    drift = DriftModel()
    rng = np.random.default_rng([clip_seed, 0xD81F7])
    level_db, speed = drift.sample(1, rng)
    return float(level_db[0]), float(speed[0])


def few_shot_key(n_train: int) -> str:
    return f"few-shot:{n_train}"


def candidate_key(name: str) -> str:
    return f"candidate:{name}"


@dataclass
class TrainingClip:
    """A training clip on disk, as `train_bundle` takes it (`path`, `label`, `source`)."""

    path: Path
    label: str = "normal"
    source: Path | None = None
    meta: dict[str, str] = field(default_factory=dict)


@contextmanager
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="humwatch-eval-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def write_wav(path: Path, samples: np.ndarray, sample_rate: int = 16000) -> TrainingClip:
    import soundfile as sf

    sf.write(path, samples, sample_rate, subtype="PCM_16")
    return TrainingClip(path=path, source=path.parent)


def train_all(
    plan: SuitePlan, clips: Sequence[Any], seed: int = 0
) -> tuple[dict[str, Any], dict[str, float]]:
    """One Scorer per model type, trained on the same clips through `train_bundle`; and the
    seconds each type's training took."""
    from humwatch.detectors import train_bundle
    from humwatch.scoring import Scorer

    scorers, seconds = {}, {}
    for model_type in plan.model_types:
        started = time.perf_counter()
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
        seconds[model_type] = time.perf_counter() - started
    return scorers, seconds


@dataclass
class MachineOutcome:
    job: MachineJob
    scores: dict[float, Scores] = field(default_factory=dict)  # severity -> scores
    alarms: dict[str, list[bool]] = field(default_factory=dict)  # model type -> per unseen normal
    train_seconds: dict[str, float] = field(default_factory=dict)  # model type -> train_bundle seconds


class _Statistics:
    """Front-end statistics of clips, stacked per group (only built when fits need them)."""

    def __init__(self) -> None:
        from humwatch.detectors.spectral_gauss.detector import StatisticsExtractor
        from humwatch.detectors.spectral_gauss.ensemble import SpectralConfig
        from humwatch.features import FeatureParams

        self.features = FeatureParams()
        default = SpectralConfig()
        needed = {g for config in CANDIDATE_CONFIGS.values() for g in config.groups}
        if not needed <= set(default.groups):
            raise ValueError(f"candidate configurations need front-end groups {needed - set(default.groups)}")
        self._extract = StatisticsExtractor(self.features, default)
        self.rows: list[dict[str, np.ndarray]] = []

    def add(self, samples: np.ndarray) -> None:
        self.rows.append(self._extract(samples))

    def stacked(self, stop: int | None = None) -> dict[str, np.ndarray]:
        rows = self.rows[:stop]
        return {g: np.stack([r[g] for r in rows]) for g in rows[0]}


def _fit_and_score(
    train: _Statistics, n_train: int, test: dict[str, np.ndarray], candidate: str
) -> np.ndarray:
    from humwatch.detectors.spectral_gauss.ensemble import fit_spectral

    fitted = fit_spectral(train.stacked(n_train), train.features, CANDIDATE_CONFIGS[candidate], seed=0)
    return np.asarray(fitted.score(test))


def run_machine_job(plan: SuitePlan, job: MachineJob, tick: Progress) -> MachineOutcome:
    """Render one machine's clips, train, score; see the module docstring."""
    generator = get_generator(job.generator)
    machine = machine_for_seed(generator, job.machine_seed)
    case = job.case
    held_out = job.role == "held-out"
    fits = (not held_out) or (case.is_headline and plan.default_detector in plan.model_types)

    def render(fault: str | None, severity: float, seed: int) -> np.ndarray:
        level_db, speed = drift_state(seed) if case.drift else (0.0, 0.0)
        return generator.clip(
            machine,
            fault=fault,
            severity=severity,
            snr_db=case.snr_db,
            seed=seed,
            duration_s=CLIP_SECONDS,
            speed_offset=speed,
            gain_db=level_db,
        )

    outcome = MachineOutcome(job=job)
    train_stats = _Statistics() if fits else None
    test_stats = _Statistics() if fits else None
    test_labels: list[str] = []  # label of each row of test_stats
    scorers: dict[str, Any] = {}
    with workdir() as work:
        clips = []
        for i in range(plan.n_fit(job)):
            x = render(None, 0.0, TRAIN_SEED + i)
            if held_out and i < case.n_train:
                clips.append(write_wav(work / f"normal_{i:04d}.wav", x))
            if train_stats is not None:
                train_stats.add(x)
            tick(1)
        if held_out:
            scorers, outcome.train_seconds = train_all(plan, clips)

    def score(x: np.ndarray, label: str, severity: float | None) -> dict[str, float]:
        if test_stats is not None and severity in (None, HEADLINE_SEVERITY):
            test_stats.add(x)
            test_labels.append(label)
        return {t: s.score_samples(x).ratio for t, s in scorers.items()}

    n_normal = plan.n_test_normal if held_out else plan.development_n_test_normal
    normal = [score(render(None, 0.0, TEST_SEED + i), "normal", None) for i in range(n_normal)]
    tick(n_normal)
    outcome.alarms = {t: [r[t] > 1.0 for r in normal] for t in scorers}
    severities = case.severities if held_out else (HEADLINE_SEVERITY,)
    n_fault = case.n_fault if held_out else plan.development_n_fault
    for severity in severities:
        scores: Scores = {t: {"normal": [r[t] for r in normal]} for t in scorers}
        for fault_index, fault in enumerate(generator.faults):
            faulty = [
                score(render(fault, severity, FAULT_SEED + 1000 * fault_index + i), fault, severity)
                for i in range(n_fault)
            ]
            for t in scorers:
                scores[t][fault] = [r[t] for r in faulty]
            tick(n_fault)
        outcome.scores[severity] = scores

    if train_stats is not None and test_stats is not None:
        head = outcome.scores.setdefault(HEADLINE_SEVERITY, {})
        test = test_stats.stacked()
        labels = np.asarray(test_labels)

        def by_label(values: np.ndarray) -> dict[str, list[float]]:
            return {label: values[labels == label].tolist() for label in ("normal", *generator.faults)}

        n_candidates = case.n_train if held_out else plan.development_n_train
        for name in plan.candidates:
            head[candidate_key(name)] = by_label(_fit_and_score(train_stats, n_candidates, test, name))
        if held_out:
            for n in plan.few_shot:
                head[few_shot_key(n)] = by_label(_fit_and_score(train_stats, n, test, "max-z"))
    return outcome


def summarise_generator(
    plan: SuitePlan, generator: str, outcomes: Sequence[MachineOutcome]
) -> dict[str, Any]:
    """eval.json's entry for one generator: cases, false alarms, few-shot and candidates."""
    faults = get_generator(generator).faults
    mine = [o for o in outcomes if o.job.generator == generator]
    held = [o for o in mine if o.job.role == "held-out"]
    development = [o for o in mine if o.job.role == "development"]
    cases: list[dict[str, Any]] = []
    far: dict[str, dict[str, float]] = {}
    n_far: dict[str, int] = {}
    for case in plan.cases_of(generator):
        machines = [o for o in held if o.job.case == case]
        if not machines:
            continue
        for severity in case.severities:
            cases.append(
                {
                    "snr_db": case.snr_db,
                    "severity": severity,
                    "n_train": case.n_train,
                    "drift": case.drift,
                    "models": {
                        t: pooled_and_faults([o.scores[severity][t] for o in machines], faults, 1.0)
                        for t in plan.model_types
                    },
                }
            )
        far[case.key] = {
            t: float(np.mean([a for o in machines for a in o.alarms[t]])) for t in plan.model_types
        }
        n_far[case.key] = sum(len(o.alarms[plan.model_types[0]]) for o in machines)
    out: dict[str, Any] = {
        "machine_seeds": list(plan.seeds[generator].held_out),
        "development_seeds": list(plan.seeds[generator].development),
        "cases": sorted(cases, key=lambda c: (c["drift"], c["snr_db"], c["severity"])),
        "false_alarm_rate": far,
        "n_far_normals": n_far,
        "mean_train_seconds": {
            t: float(np.mean([o.train_seconds[t] for o in held if o.job.case.is_headline]))
            for t in plan.model_types
        },
    }
    head = [o for o in held if o.job.case.is_headline]
    if head and plan.default_detector in plan.model_types:
        out["few_shot"] = {
            str(n): pooled_and_faults([o.scores[HEADLINE_SEVERITY][few_shot_key(n)] for o in head], faults)
            for n in plan.few_shot
        }
        out["candidates"] = {
            "held_out": {
                name: pooled_and_faults(
                    [o.scores[HEADLINE_SEVERITY][candidate_key(name)] for o in head], faults
                )
                for name in plan.candidates
            },
        }
        if development:
            out["candidates"]["development"] = {
                name: pooled_and_faults(
                    [o.scores[HEADLINE_SEVERITY][candidate_key(name)] for o in development], faults
                )
                for name in plan.candidates
            }
    return out
