"""`humwatch feature-trials`: issue 15's candidate features against the default detector, in numpy.

Each candidate is a member added to `spectral-gauss`'s ensemble (or one member replaced), fitted
on normal clips only and combined exactly as the detector combines its members: every member's
score is divided by the median of its out-of-fold (OOF) scores, its log standardised by the OOF
log scores, and the clip score is exp(max over members) (`ensemble.combine_scores`, "max-z"). A new
member therefore competes on the same footing as the five it joins, including its false alarms.

Candidates (`EXTRA_MEMBERS`; the statistics come from `humwatch.research.order_tracking`):
- `orders`: the order spectrum (orders 0.5-40 at 1/8 order, after resampling each clip to the shaft
  angle), line prominence over +-1 order, one-sided diagonal Gaussian, the single line that rose most;
- `sidebands`: the order spectrum within +-2.25 orders of every blade-pass harmonic relative to that
  harmonic (blade count from the training clips), one-sided, largest rise; `sidebands_lw`: the same
  vector, full covariance with Ledoit-Wolf shrinkage, mean Mahalanobis distance per dimension;
- `cyclic`: envelope (cyclic modulation) spectra of 0.5-2, 2-4 and 4-7 kHz on the same order axis
  (0.5-15 orders), prominence, one-sided, largest rise;
- `knn1`/`knn3`/`knn5`: mean distance to the k nearest training clips, on the vectors the
  detector's members already compute (modulation, narrow-band modulation and fine line
  prominence, mel band means, level), each dimension standardised (shrunk variance, as the
  diagonal members) and each of the five groups weighted equally;
- `frames_lw`: the `frames` member with a Ledoit-Wolf covariance (shrinkage towards a scaled
  identity, intensity estimated from the frames) instead of 5 % towards the diagonal.

Data: development machine seeds only (synth 0-3, orders 900-903 by default; the eval suite's
held-out seeds are refused), the eval suite's clip seeds (training 10000+, unseen normals 20000+,
faults 30000+), SNR 0 dB, severities 0.5 and 0.25, 200 and 30 training clips (the first 30 of the
200). Real: DCASE 2020 id_00 5-fold CV and MIMII 0 dB leave-one-id-out, as `make eval` runs them
(`humwatch.research.eval_suite.real`), each variant calibrated on its own OOF scores.

A machine's speed template (`order_tracking.fit_template`) is fitted on its first 30 training
clips (every fold's training clips on the real sets), so the 30- and 200-clip cases share one set
of statistics. Statistics are cached per machine (`cache_dir`); a rerun with the same plan only
refits, which takes seconds.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from humwatch.detectors.spectral_gauss.ensemble import (
    LOG_SPREAD_FLOOR,
    Member,
    SpectralConfig,
    Stats,
    combine_scores,
    fit_spectral,
    log_floor,
    member_input,
)
from humwatch.detectors.spectral_gauss.gaussian import (
    FrameGaussian,
    fit_diagonal,
    kfold_indices,
    prominence,
)
from humwatch.features import FeatureParams, log_mel
from humwatch.research.order_tracking import (
    MachineTemplate,
    OrderParams,
    blade_count,
    clip_track,
    fit_template,
    sideband_levels,
    track_envelopes,
    track_orders,
)

Progress = Callable[[int], None]
ProgressFactory = Callable[[str, int], Progress]
SAMPLE_RATE = 16000
FEATURE_VERSION = 1  # bump when a statistic changes: the cache key includes it
BASELINE_MEMBERS: tuple[str, ...] = tuple(m.name for m in SpectralConfig().members)
_CONFIG = SpectralConfig()
_FEATURES = FeatureParams()
_ORDER_PARAMS = OrderParams()
_TEMPLATE_CLIPS = 30
_KNN_GROUPS: tuple[str, ...] = ("modulation", "modulation_fine", "fine")  # members whose inputs kNN reuses


# --------------------------------------------------------------------------------------------
# plan
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrialPlan:
    machines: tuple[tuple[str, int], ...] = (
        ("synth", 0),
        ("synth", 1),
        ("synth", 2),
        ("synth", 3),
        ("orders", 900),
        ("orders", 901),
        ("orders", 902),
        ("orders", 903),
    )
    snr_db: float = 0.0
    severities: tuple[float, ...] = (0.5, 0.25)
    n_train: int = 200
    few_shot: int = 30
    n_test_normal: int = 40
    n_fault: int = 12
    target_fpr: float = 0.01
    dcase_folds: int = 5
    dcase_limit: int | None = None
    mimii_types: tuple[str, ...] = ("fan", "pump", "slider", "valve")

    @classmethod
    def quick(cls) -> TrialPlan:
        return cls(
            machines=(("synth", 0), ("orders", 900)),
            n_train=16,
            few_shot=8,
            n_test_normal=8,
            n_fault=3,
            dcase_folds=2,
            dcase_limit=12,
            mimii_types=("fan",),
        )

    @property
    def train_sizes(self) -> tuple[int, ...]:
        return (self.n_train, self.few_shot)

    def check_development_seeds(self) -> None:
        """Refuse the eval suite's held-out machines: development never looks at them."""
        from humwatch.research.eval_suite.plan import SEEDS

        for generator, seed in self.machines:
            held = SEEDS[generator].held_out if generator in SEEDS else ()
            if seed in held:
                raise ValueError(
                    f"{generator} machine {seed} is held out for make eval; trials use development seeds"
                )

    def cache_key(self, generator: str, seed: int) -> str:
        fields = (
            FEATURE_VERSION,
            generator,
            seed,
            self.snr_db,
            self.severities,
            self.n_train,
            self.n_test_normal,
        )
        digest = hashlib.sha256(repr((*fields, self.n_fault, asdict(_ORDER_PARAMS))).encode()).hexdigest()
        return f"{generator}-{seed}-{digest[:12]}"


# --------------------------------------------------------------------------------------------
# statistics of one clip
# --------------------------------------------------------------------------------------------


class ClipStatistics:
    """The detector's front-end statistics (its serving ONNX graph) plus what the candidates need."""

    def __init__(self) -> None:
        from humwatch.detectors.spectral_gauss.detector import StatisticsExtractor

        self.detector = StatisticsExtractor(_FEATURES, _CONFIG)

    def base(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Template-free statistics: the detector's groups and the frames' third and fourth moments
        (`frame_s3` = mean ||f||^2 f, `frame_s4` = mean ||f||^4: Ledoit-Wolf's intensity needs them)."""
        stats = self.detector(x)
        frames = log_mel(x, _FEATURES).T
        energy = np.sum(frames * frames, axis=1)
        stats["frame_s3"] = (energy[:, None] * frames).mean(axis=0)
        stats["frame_s4"] = np.array([np.mean(energy**2)])
        stats["frame_count"] = np.array([float(frames.shape[0])])
        return stats


def order_group(x: np.ndarray, template: MachineTemplate) -> dict[str, np.ndarray]:
    """Angle-domain statistics of one clip (`order_tracking`)."""
    track = clip_track(x, SAMPLE_RATE, template)
    return {
        "orders": track_orders(track, _ORDER_PARAMS),
        "envelope": track_envelopes(track, _ORDER_PARAMS),
        "speed_ratio": np.array([track.speed_hz / template.nominal_hz]),
        "tracked": np.array([float(track.tracked)]),
    }


def stack(rows: Sequence[Mapping[str, np.ndarray]]) -> Stats:
    return {g: np.stack([np.asarray(r[g], dtype=np.float64) for r in rows]) for g in rows[0]}


def take(stats: Stats, idx: np.ndarray | slice) -> Stats:
    return {g: v[idx] for g, v in stats.items()}


def concat(parts: Sequence[Stats]) -> Stats:
    return {g: np.concatenate([p[g] for p in parts]) for g in parts[0]}


# --------------------------------------------------------------------------------------------
# candidate members
# --------------------------------------------------------------------------------------------

Scorer = Callable[[Stats], np.ndarray]


@dataclass(frozen=True)
class ExtraMember:
    """A candidate member: fit on training statistics -> a scorer of statistics (higher: less normal)."""

    name: str
    fit: Callable[[Stats], Scorer]


def _one_sided_peak(vector: Callable[[Stats], np.ndarray]) -> Callable[[Stats], Scorer]:
    def fit(train: Stats) -> Scorer:
        model = fit_diagonal(
            vector(train), top_k=1, one_sided=True, prior_clips=_CONFIG.prior_clips, floor_db=_CONFIG.floor_db
        )
        return lambda stats: model.score(vector(stats))

    return fit


def _orders_vector(stats: Stats) -> np.ndarray:
    return prominence(stats["orders"], width=_ORDER_PARAMS.revs_per_window)


def _envelope_vector(stats: Stats) -> np.ndarray:
    return prominence(
        stats["envelope"], width=_ORDER_PARAMS.revs_per_window, rows=len(_ORDER_PARAMS.envelope_bands_hz)
    )


def _fit_sidebands(train: Stats) -> Scorer:
    blades = blade_count(train["orders"].mean(axis=0), _ORDER_PARAMS)
    return _one_sided_peak(lambda s: sideband_levels(s["orders"], blades, _ORDER_PARAMS))(train)


# ---- Ledoit-Wolf ----------------------------------------------------------------------------


def ledoit_wolf(second: np.ndarray, fourth: float, n: float) -> tuple[np.ndarray, float]:
    """(shrunk covariance, intensity) from the centred second moment S [p, p], the mean fourth power
    of the centred samples' norms E||y||^4 and the sample count n (Ledoit & Wolf 2004, as
    sklearn.covariance.ledoit_wolf computes it): (1 - s) S + s tr(S)/p I."""
    p = second.shape[0]
    mu = float(np.trace(second)) / p
    frob = float(np.sum(second * second))
    delta = (frob - 2.0 * mu * float(np.trace(second)) + p * mu * mu) / p
    beta = min((fourth - frob) / (p * n), delta)
    intensity = 0.0 if delta <= 0.0 else max(beta, 0.0) / delta
    return (1.0 - intensity) * second + intensity * mu * np.eye(p), intensity


def ledoit_wolf_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(mean, Ledoit-Wolf covariance, intensity) of the rows of x [n, p]."""
    mean = x.mean(axis=0)
    y = x - mean
    cov, intensity = ledoit_wolf(y.T @ y / x.shape[0], float(np.mean(np.sum(y * y, axis=1) ** 2)), x.shape[0])
    return mean, cov, intensity


def fit_frames_ledoit_wolf(stats: Stats) -> tuple[FrameGaussian, float]:
    """`FrameGaussian` of all frames of the clips (equal weight per clip) with Ledoit-Wolf shrinkage,
    from per-clip moments: E||f - mu||^4 = E a^2 - 4 E[a f].mu + 4 mu' E[f f'] mu + 2c tr E[f f']
    - 4c E[f].mu + c^2 with a = ||f||^2, c = ||mu||^2."""
    m1 = stats["mel_mean"]
    dims = m1.shape[1]
    m2 = stats["frame_m2"].reshape(-1, dims, dims)
    mu = m1.mean(axis=0)
    second = m2.mean(axis=0)
    c = float(mu @ mu)
    fourth = (
        float(stats["frame_s4"].mean())
        - 4.0 * float(stats["frame_s3"].mean(axis=0) @ mu)
        + 4.0 * float(mu @ second @ mu)
        + 2.0 * c * float(np.trace(second))
        - 4.0 * c * float(mu @ mu)
        + c * c
    )
    centred = second - np.outer(mu, mu)
    cov, intensity = ledoit_wolf((centred + centred.T) / 2.0, fourth, float(stats["frame_count"].sum()))
    precision = np.linalg.inv(cov)
    return FrameGaussian(mean=mu, precision=(precision + precision.T) / 2.0), intensity


def _fit_frames_lw(train: Stats) -> Scorer:
    model, _ = fit_frames_ledoit_wolf(train)
    return lambda stats: model.score(stats["mel_mean"], stats["frame_m2"])


def _fit_sidebands_lw(train: Stats) -> Scorer:
    blades = blade_count(train["orders"].mean(axis=0), _ORDER_PARAMS)

    def vector(stats: Stats) -> np.ndarray:
        return sideband_levels(stats["orders"], blades, _ORDER_PARAMS)

    mean, cov, _ = ledoit_wolf_rows(vector(train))
    precision = np.linalg.inv(cov + 1e-6 * np.eye(cov.shape[0]))

    def score(stats: Stats) -> np.ndarray:
        y = vector(stats) - mean
        return np.asarray(np.einsum("ni,ij,nj->n", y, precision, y) / y.shape[1])

    return score


# ---- kNN ------------------------------------------------------------------------------------


def knn_vectors(stats: Stats) -> dict[str, np.ndarray]:
    """The clip vectors kNN compares: the inputs of the detector's line members, band means, level."""
    by_name = {m.name: m for m in _CONFIG.members}
    out = {name: member_input(stats, by_name[name], _CONFIG) for name in _KNN_GROUPS}
    out["mel_mean"] = stats["mel_mean"]
    out["level"] = stats["level"]
    return out


def fit_knn(train: Stats, k: int) -> Scorer:
    """Mean Euclidean distance to the k nearest training clips, per-dimension standardised (the
    diagonal members' shrunk variance), every group scaled to unit total weight."""
    groups = knn_vectors(train)
    scales = {}
    for name, x in groups.items():
        model = fit_diagonal(x, prior_clips=_CONFIG.prior_clips, floor_db=_CONFIG.floor_db)
        scales[name] = (model.mean, model.inv_std / np.sqrt(x.shape[1]))

    def embed(stats: Stats) -> np.ndarray:
        vectors = knn_vectors(stats)
        return np.concatenate([(vectors[g] - m) * s for g, (m, s) in scales.items()], axis=1)

    reference = embed(train)
    neighbours = min(k, reference.shape[0])

    def score(stats: Stats) -> np.ndarray:
        e = embed(stats)
        d2 = np.sum(e * e, axis=1)[:, None] - 2.0 * e @ reference.T + np.sum(reference * reference, axis=1)
        d = np.sqrt(np.maximum(d2, 0.0))
        return np.asarray(np.mean(np.partition(d, neighbours - 1, axis=1)[:, :neighbours], axis=1))

    return score


EXTRA_MEMBERS: dict[str, ExtraMember] = {
    m.name: m
    for m in (
        ExtraMember("orders", _one_sided_peak(_orders_vector)),
        ExtraMember("sidebands", _fit_sidebands),
        ExtraMember("sidebands_lw", _fit_sidebands_lw),
        ExtraMember("cyclic", _one_sided_peak(_envelope_vector)),
        ExtraMember("knn1", partial(fit_knn, k=1)),
        ExtraMember("knn3", partial(fit_knn, k=3)),
        ExtraMember("knn5", partial(fit_knn, k=5)),
        ExtraMember("frames_lw", _fit_frames_lw),
    )
}
_BASE = BASELINE_MEMBERS
_WITHOUT_FRAMES = tuple(m for m in _BASE if m != "frames")
# Variant -> the members its max-z combines. The "alone" rows say what a member hears by itself.
VARIANTS: dict[str, tuple[str, ...]] = {
    "baseline": _BASE,
    "+orders": (*_BASE, "orders"),
    "+sidebands": (*_BASE, "sidebands"),
    "+sidebands (LW full cov)": (*_BASE, "sidebands_lw"),
    "+cyclic": (*_BASE, "cyclic"),
    "+orders +sidebands +cyclic": (*_BASE, "orders", "sidebands", "cyclic"),
    "+kNN k=1": (*_BASE, "knn1"),
    "+kNN k=3": (*_BASE, "knn3"),
    "+kNN k=5": (*_BASE, "knn5"),
    "frames -> Ledoit-Wolf": (*_WITHOUT_FRAMES, "frames_lw"),
    "orders alone": ("orders",),
    "sidebands alone": ("sidebands",),
    "cyclic alone": ("cyclic",),
    "kNN k=3 alone": ("knn3",),
}
CANDIDATE_VARIANTS: tuple[str, ...] = tuple(v for v in VARIANTS if v != "baseline" and "alone" not in v)


# --------------------------------------------------------------------------------------------
# fit and combine
# --------------------------------------------------------------------------------------------


@dataclass
class MemberScores:
    """Median-normalised scores of every member: out-of-fold on the training clips, and on test clips."""

    oof: dict[str, np.ndarray] = field(default_factory=dict)
    test: dict[str, np.ndarray] = field(default_factory=dict)


def member_scores(train: Stats, test: Stats, members: Sequence[str] = tuple(EXTRA_MEMBERS)) -> MemberScores:
    """The detector's members (`fit_spectral`, seed 0) and the candidates, on the same k-fold split."""
    fitted = fit_spectral(train, _FEATURES, _CONFIG, seed=0)
    out = MemberScores(dict(fitted.oof_member_scores), fitted.member_scores(test))
    n = next(iter(train.values())).shape[0]
    folds = kfold_indices(n, _CONFIG.folds, 0)
    everything = np.arange(n)
    for name in members:
        member = EXTRA_MEMBERS[name]
        oof = np.zeros(n)
        for held in folds:
            scorer = member.fit(take(train, np.setdiff1d(everything, held)))
            oof[held] = scorer(take(train, held))
        median = max(float(np.median(oof)), 1e-9)
        out.oof[name] = oof / median
        out.test[name] = member.fit(train)(test) / median
    return out


def combine(scores: MemberScores, members: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(combined OOF scores, combined test scores) of `members`, max-z as the detector combines."""
    config = SpectralConfig(members=tuple(Member(name=m, group="level") for m in members))
    log_stats = {
        m: (
            float(np.mean(log_floor(scores.oof[m]))),
            max(float(np.std(log_floor(scores.oof[m]))), LOG_SPREAD_FLOOR),
        )
        for m in members
    }
    return (
        combine_scores({m: scores.oof[m] for m in members}, config, log_stats),
        combine_scores({m: scores.test[m] for m in members}, config, log_stats),
    )


# --------------------------------------------------------------------------------------------
# synthetic machines
# --------------------------------------------------------------------------------------------


@dataclass
class MachineStatistics:
    generator: str
    seed: int
    train: Stats
    test: Stats  # unseen normals, then each severity's faults
    labels: np.ndarray  # per test row: "normal" or the fault
    severity: np.ndarray  # per test row: 0 for normals
    template: dict[str, float]


def _render_machine(plan: TrialPlan, generator_name: str, seed: int, tick: Progress) -> MachineStatistics:
    from humwatch.research.eval_suite.synthetic import CLIP_SECONDS, FAULT_SEED, TEST_SEED, TRAIN_SEED
    from humwatch.research.generators import get_generator, machine_for_seed

    generator = get_generator(generator_name)
    machine = machine_for_seed(generator, seed)
    extractor = ClipStatistics()

    def render(fault: str | None, severity: float, clip_seed: int) -> np.ndarray:
        return generator.clip(
            machine,
            fault=fault,
            severity=severity,
            snr_db=plan.snr_db,
            seed=clip_seed,
            duration_s=CLIP_SECONDS,
        )

    train_clips = [render(None, 0.0, TRAIN_SEED + i) for i in range(plan.n_train)]
    template = fit_template(train_clips[:_TEMPLATE_CLIPS], SAMPLE_RATE)

    def row(x: np.ndarray) -> dict[str, np.ndarray]:
        tick(1)
        return {**extractor.base(x), **order_group(x, template)}

    train = stack([row(x) for x in train_clips])
    del train_clips
    rows, labels, severities = [], [], []
    for i in range(plan.n_test_normal):
        rows.append(row(render(None, 0.0, TEST_SEED + i)))
        labels.append("normal")
        severities.append(0.0)
    for severity in plan.severities:
        for fault_index, fault in enumerate(generator.faults):
            for i in range(plan.n_fault):
                rows.append(row(render(fault, severity, FAULT_SEED + 1000 * fault_index + i)))
                labels.append(fault)
                severities.append(severity)
    truth = {
        "true_shaft_hz": float(getattr(machine, "rotation_hz", None) or machine.shaft_hz),
        "true_blades": float(machine.n_blades),
        "nominal_hz": template.nominal_hz,
        "track_ratio": template.track_ratio,
    }
    return MachineStatistics(
        generator_name, seed, train, stack(rows), np.asarray(labels), np.asarray(severities), truth
    )


def _save(path: Path, m: MachineStatistics) -> None:
    arrays: dict[str, Any] = {f"train/{g}": v.astype(np.float32) for g, v in m.train.items()}
    arrays.update({f"test/{g}": v.astype(np.float32) for g, v in m.test.items()})
    arrays["labels"] = m.labels
    arrays["severity"] = m.severity
    arrays["template"] = np.array(json.dumps(m.template))
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)


def _load(path: Path, generator: str, seed: int) -> MachineStatistics:
    with np.load(path) as data:
        train = {k.split("/", 1)[1]: data[k].astype(np.float64) for k in data.files if k.startswith("train/")}
        test = {k.split("/", 1)[1]: data[k].astype(np.float64) for k in data.files if k.startswith("test/")}
        return MachineStatistics(
            generator, seed, train, test, data["labels"], data["severity"], json.loads(str(data["template"]))
        )


def machine_statistics(
    plan: TrialPlan, generator: str, seed: int, cache_dir: Path, tick: Progress
) -> MachineStatistics:
    path = cache_dir / f"{plan.cache_key(generator, seed)}.npz"
    if path.exists():
        tick(plan.n_train + plan.n_test_normal + 5 * len(plan.severities) * plan.n_fault)
        return _load(path, generator, seed)
    stats = _render_machine(plan, generator, seed, tick)
    cache_dir.mkdir(parents=True, exist_ok=True)
    _save(path, stats)
    return stats


def score_machine(
    plan: TrialPlan, m: MachineStatistics
) -> dict[str, dict[float, dict[str, dict[str, list[float]]]]]:
    """n_train -> severity -> variant -> {"normal": scores, fault: scores} (the eval suite's shape)."""
    out: dict[str, dict[float, dict[str, dict[str, list[float]]]]] = {}
    faults = [f for f in dict.fromkeys(m.labels.tolist()) if f != "normal"]
    for n in plan.train_sizes:
        scores = member_scores(take(m.train, slice(0, n)), m.test)
        by_severity: dict[float, dict[str, dict[str, list[float]]]] = {}
        for variant, members in VARIANTS.items():
            _, test = combine(scores, members)
            for severity in plan.severities:
                entry = by_severity.setdefault(severity, {}).setdefault(variant, {})
                entry["normal"] = test[m.labels == "normal"].tolist()
                for fault in faults:
                    entry[fault] = test[(m.labels == fault) & (m.severity == severity)].tolist()
        out[str(n)] = by_severity
    return out


def run_synthetic(plan: TrialPlan, cache_dir: Path, progress: ProgressFactory) -> dict[str, Any]:
    from humwatch.research.eval_suite.metrics import pooled_and_faults

    per_clip = plan.n_train + plan.n_test_normal + 5 * len(plan.severities) * plan.n_fault
    tick = progress("synthetic clips", per_clip * len(plan.machines))
    by_generator: dict[str, list[Any]] = {}
    tracking: dict[str, list[dict[str, Any]]] = {}
    for generator, seed in plan.machines:
        m = machine_statistics(plan, generator, seed, cache_dir, tick)
        by_generator.setdefault(generator, []).append(score_machine(plan, m))
        ratio = m.template["nominal_hz"] / m.template["true_shaft_hz"]
        blades = blade_count(m.train["orders"].mean(axis=0), _ORDER_PARAMS)
        deviation = np.abs(m.test["speed_ratio"][:, 0] - 1.0)
        tracking.setdefault(generator, []).append(
            {
                "seed": seed,
                **m.template,
                "nominal_over_true": ratio,
                "blades_in_nominal_units": blades,
                "true_blades_in_nominal_units": m.template["true_blades"] / ratio,
                "tracked_fraction": float(np.mean(np.r_[m.train["tracked"][:, 0], m.test["tracked"][:, 0]])),
                "normal_speed_deviation": float(np.mean(deviation[m.labels == "normal"])),
                "speed_fault_deviation": float(np.mean(deviation[m.labels == "speed"])),
            }
        )
    results: dict[str, Any] = {}
    for generator, machines in by_generator.items():
        faults = [f for f in machines[0][str(plan.n_train)][plan.severities[0]]["baseline"] if f != "normal"]
        results[generator] = {
            "seeds": [s for g, s in plan.machines if g == generator],
            "tracking": tracking[generator],
            "cases": {
                n: {
                    str(severity): {
                        variant: pooled_and_faults([mm[n][severity][variant] for mm in machines], faults)
                        for variant in VARIANTS
                    }
                    for severity in plan.severities
                }
                for n in map(str, plan.train_sizes)
            },
        }
    return results


# --------------------------------------------------------------------------------------------
# real recordings
# --------------------------------------------------------------------------------------------


def _fit_and_ratio(
    train: Stats, tests: Sequence[Stats], target_fpr: float
) -> tuple[dict[str, list[np.ndarray]], dict[str, float]]:
    """Every variant fitted on `train`, calibrated on its OOF scores: ratios score / threshold of each
    test set, and the thresholds."""
    from humwatch.model.calibration import DEFAULT_METHOD, fit_threshold

    sizes = [next(iter(t.values())).shape[0] for t in tests]
    scores = member_scores(train, concat(list(tests)))
    ratios: dict[str, list[np.ndarray]] = {}
    thresholds: dict[str, float] = {}
    for variant, members in VARIANTS.items():
        oof, test = combine(scores, members)
        threshold = float(fit_threshold(oof, target_fpr, DEFAULT_METHOD, validation="out-of-fold")["value"])
        thresholds[variant] = threshold
        ratios[variant] = np.split(test / threshold, np.cumsum(sizes)[:-1])
    return ratios, thresholds


def _with_orders(
    base: list[dict[str, np.ndarray]], audio: list[np.ndarray], template: MachineTemplate
) -> Stats:
    return stack([{**b, **order_group(x, template)} for b, x in zip(base, audio, strict=True)])


def run_dcase(plan: TrialPlan, real_dir: Path, progress: ProgressFactory) -> dict[str, Any] | None:
    from humwatch.research.eval_suite.metrics import separation
    from humwatch.research.eval_suite.real import read_channel

    folder = real_dir / "dcase2020-id00"
    normals = sorted((folder / "train" / "normal").glob("*.wav"))
    anomalies = sorted((folder / "test" / "anomaly").glob("*.wav"))
    if not normals or not anomalies:
        return None
    normals = normals[: plan.dcase_limit] if plan.dcase_limit else normals
    paths = [*normals, *anomalies]
    tick = progress("DCASE clips", len(paths) * (plan.dcase_folds + 1))
    audio = [read_channel(p, 0) for p in paths]
    extractor = ClipStatistics()
    base = []
    for x in audio:
        base.append(extractor.base(x))
        tick(1)
    n = len(normals)
    held_ratios: dict[str, list[float]] = {v: [] for v in VARIANTS}
    anomaly_ratios: dict[str, list[float]] = {v: [] for v in VARIANTS}
    false_alarms = dict.fromkeys(VARIANTS, 0)
    flagged = dict.fromkeys(VARIANTS, 0)
    folds = kfold_indices(n, plan.dcase_folds, seed=0)
    for held in folds:
        train_idx = np.setdiff1d(np.arange(n), held)
        template = fit_template([audio[i] for i in train_idx[:_TEMPLATE_CLIPS]], SAMPLE_RATE)
        stats = _with_orders(base, audio, template)
        tick(len(paths))
        ratios, _ = _fit_and_ratio(
            take(stats, train_idx),
            [take(stats, held), take(stats, np.arange(n, len(paths)))],
            plan.target_fpr,
        )
        for variant, (normal, anomaly) in ratios.items():
            held_ratios[variant].extend(normal.tolist())
            anomaly_ratios[variant].extend(anomaly.tolist())
            false_alarms[variant] += int(np.sum(normal > 1.0))
            flagged[variant] += int(np.sum(anomaly > 1.0))
    out = {}
    for variant in VARIANTS:
        sep = separation(np.asarray(held_ratios[variant]), np.asarray(anomaly_ratios[variant]))
        out[variant] = {
            "auc": sep["auc"],
            "pauc": sep["pauc"],
            "false_alarms": false_alarms[variant],
            "n_normal": n,
            "anomaly_flagged_folds": flagged[variant],
            "folds": len(folds),
            "anomaly_ratio_median": float(np.median(anomaly_ratios[variant])),
        }
    return out


def run_mimii(plan: TrialPlan, real_dir: Path, progress: ProgressFactory) -> dict[str, Any] | None:
    from humwatch.research.eval_suite.metrics import separation
    from humwatch.research.eval_suite.real import MIMII_CHANNELS, mimii_ids, read_channel

    base_dir = real_dir / "mimii-0db"
    if not base_dir.is_dir():
        return None
    extractor = ClipStatistics()
    out: dict[str, Any] = {}
    for machine_type in plan.mimii_types:
        ids = mimii_ids(base_dir, machine_type)
        if len(ids) < 2:
            continue
        # id -> label -> (audio, base statistics) of every recording's channels
        clips: dict[str, dict[str, list[tuple[np.ndarray, dict[str, np.ndarray]]]]] = {}
        n_clips = sum(
            MIMII_CHANNELS * len(list((i / lab).glob("*.wav"))) for i in ids for lab in ("normal", "anomaly")
        )
        tick = progress(f"MIMII {machine_type} clips", n_clips)
        for i in ids:
            clips[i.name] = {}
            for label in ("normal", "anomaly"):
                rows = []
                for wav in sorted((i / label).glob("*.wav")):
                    for ch in range(MIMII_CHANNELS):
                        x = read_channel(wav, ch)
                        rows.append((x, extractor.base(x)))
                        tick(1)
                clips[i.name][label] = rows
        normal_ratios: dict[str, list[float]] = {v: [] for v in VARIANTS}
        anomaly_ratios: dict[str, list[float]] = {v: [] for v in VARIANTS}
        for held in clips:
            train_rows = [r for other, by_label in clips.items() if other != held for r in by_label["normal"]]
            template = fit_template([x for x, _ in train_rows[:_TEMPLATE_CLIPS]], SAMPLE_RATE)

            def stats_of(
                rows: list[tuple[np.ndarray, dict[str, np.ndarray]]], t: MachineTemplate = template
            ) -> Stats:
                return _with_orders([b for _, b in rows], [x for x, _ in rows], t)

            tests = [stats_of(clips[held]["normal"]), stats_of(clips[held]["anomaly"])]
            ratios, _ = _fit_and_ratio(stats_of(train_rows), tests, plan.target_fpr)
            for variant, (normal, anomaly) in ratios.items():
                normal_ratios[variant].extend(normal.tolist())
                anomaly_ratios[variant].extend(anomaly.tolist())
        out[machine_type] = {
            variant: {
                **separation(np.asarray(normal_ratios[variant]), np.asarray(anomaly_ratios[variant]), 1.0),
                "false_alarm_rate": float(np.mean(np.asarray(normal_ratios[variant]) > 1.0)),
            }
            for variant in VARIANTS
        }
    return out


# --------------------------------------------------------------------------------------------
# cost
# --------------------------------------------------------------------------------------------


def measure_cost(repeats: int = 12) -> dict[str, float]:
    """Median milliseconds per 10 s clip of each extra computation, numpy, one process, on clips
    of a development machine (synth 0); the detector's own ONNX front end for comparison."""
    from humwatch.detectors.spectral_gauss.frontend import FrontendParams, clip_statistics_numpy
    from humwatch.research.eval_suite.synthetic import CLIP_SECONDS, TRAIN_SEED
    from humwatch.research.generators import get_generator, machine_for_seed

    generator = get_generator("synth")
    machine = machine_for_seed(generator, 0)
    clips = [
        generator.clip(
            machine, fault=None, severity=0.0, snr_db=0.0, seed=TRAIN_SEED + i, duration_s=CLIP_SECONDS
        )
        for i in range(repeats)
    ]
    extractor = ClipStatistics()
    template = fit_template(clips, SAMPLE_RATE)
    train = stack([{**extractor.base(x), **order_group(x, template)} for x in clips])
    knn = fit_knn(train, 3)
    sidebands = _fit_sidebands(train)
    timings: dict[str, list[float]] = {}

    def timed(name: str, fn: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        value = fn()
        timings.setdefault(name, []).append(1000.0 * (time.perf_counter() - started))
        return value

    one = take(train, slice(0, 1))
    for x in clips:
        timed("detector front end, ONNX (all groups)", partial(extractor.detector, x))
        timed(
            "detector front end, numpy reference",
            partial(clip_statistics_numpy, x, _FEATURES, FrontendParams()),
        )
        track = timed("speed + angle track", partial(clip_track, x, SAMPLE_RATE, template))
        orders = timed("order spectrum (resample + Welch)", partial(track_orders, track, _ORDER_PARAMS))
        timed("cyclic: 3 envelope order spectra", partial(track_envelopes, track, _ORDER_PARAMS))
        timed("sidebands: vector + score", partial(sidebands, {"orders": orders[None, :]}))
        timed(f"kNN k=3 score ({len(clips)} training clips)", partial(knn, one))
    return {name: float(np.median(v)) for name, v in timings.items()}


# --------------------------------------------------------------------------------------------
# verdict and report
# --------------------------------------------------------------------------------------------

WIN_MARGIN = 0.005  # mean pooled AUC gain over the four synthetic cases that counts as a win
LOSS_MARGIN = 0.005  # a drop larger than this in any one case is a loss
MIMII_LOSS_MARGIN = 0.01


def verdicts(results: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Per candidate: does it win on each generator, and does it not lose on the real sets?

    Wins on a generator: pooled AUC (mean over machines) higher by >= WIN_MARGIN on average over the
    four cases (200 and 30 clips x severity 0.5 and 0.25) and lower by <= LOSS_MARGIN in each.
    Holds on the real sets: DCASE anomaly flagged in as many folds, no more CV false alarms, and
    MIMII AUC (mean over machine types) no lower than the baseline's by more than MIMII_LOSS_MARGIN.
    """
    out: dict[str, dict[str, Any]] = {}
    synthetic = results.get("synthetic", {})
    for variant in CANDIDATE_VARIANTS:
        entry: dict[str, Any] = {"generators": {}}
        for generator, g in synthetic.items():
            deltas = [
                g["cases"][n][sev][variant]["pooled"]["auc"] - g["cases"][n][sev]["baseline"]["pooled"]["auc"]
                for n in g["cases"]
                for sev in g["cases"][n]
            ]
            entry["generators"][generator] = {
                "mean_delta": float(np.mean(deltas)),
                "worst_delta": float(np.min(deltas)),
                "wins": bool(np.mean(deltas) >= WIN_MARGIN and np.min(deltas) >= -LOSS_MARGIN),
            }
        real_ok = True
        dcase = results.get("dcase")
        if dcase:
            d, b = dcase[variant], dcase["baseline"]
            real_ok &= (
                d["anomaly_flagged_folds"] >= b["anomaly_flagged_folds"]
                and d["false_alarms"] <= b["false_alarms"]
            )
        mimii = results.get("mimii")
        if mimii:
            mean = float(np.mean([m[variant]["auc"] for m in mimii.values()]))
            base = float(np.mean([m["baseline"]["auc"] for m in mimii.values()]))
            entry["mimii_mean_delta"] = mean - base
            real_ok &= mean >= base - MIMII_LOSS_MARGIN
        entry["real_holds"] = bool(real_ok) if (dcase or mimii) else None
        entry["adopt"] = bool(
            len(entry["generators"]) >= 2
            and all(v["wins"] for v in entry["generators"].values())
            and entry["real_holds"] is not False
        )
        out[variant] = entry
    return out


def _f(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _d(value: float) -> str:
    return f"{value:+.3f}"


def render_markdown(results: Mapping[str, Any]) -> str:
    plan = results["plan"]
    big, few = str(plan["n_train"]), str(plan["few_shot"])
    head, low = str(plan["severities"][0]), str(plan["severities"][-1])
    lines = [
        "# Feature trials for issue 15 (development machines only)",
        "",
        f"Command: `{results['command']}`; {results['seconds']:.0f} s. Every variant is the default "
        "`spectral-gauss` ensemble with members added (or `frames` replaced), combined by max-z over "
        "OOF-standardised members exactly as the detector does (`humwatch.research.feature_trials`). "
        f"SNR {plan['snr_db']:g} dB; {plan['n_test_normal']} unseen normals and {plan['n_fault']} clips "
        "per fault and severity per machine; AUC per machine, averaged over machines.",
        "",
    ]
    for generator, g in results.get("synthetic", {}).items():
        cases = g["cases"]
        faults = list(cases[big][head]["baseline"]["faults"])
        lines += [
            f"## {generator} (machines {g['seeds']})",
            "",
            f"| variant | pooled {big} clips, sev {head} | "
            + " | ".join(faults)
            + f" | pooled sev {low} | pooled {few} clips sev {head} | pooled {few} clips sev {low} |",
            "|---|---|" + "---|" * len(faults) + "---|---|---|",
        ]
        base = cases[big][head]["baseline"]
        for variant in cases[big][head]:
            m = cases[big][head][variant]
            cells = [f"{_f(m['pooled']['auc'])}"]
            if variant != "baseline":
                cells[0] += f" ({_d(m['pooled']['auc'] - base['pooled']['auc'])})"
            cells += [_f(m["faults"][f]["auc"]) for f in faults]
            for n, sev in ((big, low), (few, head), (few, low)):
                v = cases[n][sev][variant]["pooled"]["auc"]
                b = cases[n][sev]["baseline"]["pooled"]["auc"]
                cells.append(_f(v) + ("" if variant == "baseline" else f" ({_d(v - b)})"))
            lines.append(f"| {variant} | " + " | ".join(cells) + " |")
        lines += [
            "",
            "Speed tracking per machine: the nominal speed found (the unit orders are counted in) against "
            "the generator's true shaft rate, the blade count found in those units, clips whose angle "
            "track held, and each clip's mean |speed / nominal - 1| (unseen normals; speed-fault clips).",
            "",
            "| seed | true shaft Hz | nominal Hz | nominal / true | blades (true, in nominal units) | "
            "found | tracked | normal dev | speed-fault dev |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for t in g["tracking"]:
            lines.append(
                f"| {t['seed']} | {t['true_shaft_hz']:.2f} | {t['nominal_hz']:.2f} | "
                f"{t['nominal_over_true']:.3f} | {t['true_blades_in_nominal_units']:.2f} | "
                f"{t['blades_in_nominal_units']} | {t['tracked_fraction']:.2f} | "
                f"{t['normal_speed_deviation']:.3f} | {t['speed_fault_deviation']:.3f} |"
            )
        lines.append("")
    dcase, mimii = results.get("dcase"), results.get("mimii")
    if dcase or mimii:
        types = list(mimii) if mimii else []
        lines += [
            "## Real recordings",
            "",
            "DCASE 2020 id_00: 5-fold CV, anomaly vs held-out normals (ratios to each fold's calibrated "
            "threshold, pooled). MIMII 0 dB: leave one id out, AUC per machine type.",
            "",
            "| variant | DCASE AUC | CV false alarms | anomaly flagged (folds) | "
            + " | ".join(f"MIMII {t} AUC" for t in types)
            + " |",
            "|---|---|---|---|" + "---|" * len(types),
        ]
        for variant in VARIANTS:
            cells = []
            if dcase:
                d = dcase[variant]
                cells += [
                    _f(d["auc"]),
                    f"{d['false_alarms']}/{d['n_normal']}",
                    f"{d['anomaly_flagged_folds']}/{d['folds']}",
                ]
            else:
                cells += ["-", "-", "-"]
            cells += [_f(mimii[t][variant]["auc"]) for t in types] if mimii else []
            lines.append(f"| {variant} | " + " | ".join(cells) + " |")
        lines.append("")
    cost = results.get("cost_ms")
    if cost:
        lines += [
            "## Cost per 10 s clip (numpy, median, this shared 2-core machine)",
            "",
            "| computation | ms |",
            "|---|---|",
        ]
        lines += [f"| {name} | {ms:.1f} |" for name, ms in cost.items()]
        lines.append("")
    verdict = results.get("verdicts")
    if verdict:
        lines += [
            "## Verdict",
            "",
            f"A candidate wins on a generator when its pooled AUC is higher by >= {WIN_MARGIN} on average "
            f"over the four cases and no case drops by more than {LOSS_MARGIN}; it holds on the real sets "
            "when "
            "DCASE's anomaly is flagged in as many folds with no more CV false alarms and MIMII's mean AUC "
            f"drops by at most {MIMII_LOSS_MARGIN}.",
            "",
            "| candidate | "
            + " | ".join(f"{g} mean / worst delta" for g in results.get("synthetic", {}))
            + " | MIMII delta | real holds | adopt |",
            "|---|" + "---|" * len(results.get("synthetic", {})) + "---|---|---|",
        ]
        for variant, v in verdict.items():
            cells = [
                f"{_d(x['mean_delta'])} / {_d(x['worst_delta'])}" + (" win" if x["wins"] else "")
                for x in v["generators"].values()
            ]
            lines.append(
                f"| {variant} | "
                + " | ".join(cells)
                + f" | {_d(v['mimii_mean_delta']) if 'mimii_mean_delta' in v else '-'} | "
                f"{_f(v['real_holds'])} | {'**yes**' if v['adopt'] else 'no'} |"
            )
        lines.append("")
    return "\n".join(lines)


def default_cache_dir() -> Path:
    return Path(tempfile.gettempdir()) / "humwatch-feature-trials"


def run_trials(
    out_dir: Path,
    *,
    plan: TrialPlan,
    real_dir: Path | None,
    command: str,
    cache_dir: Path | None = None,
    progress: ProgressFactory | None = None,
    cost: bool = True,
) -> dict[str, Any]:
    """Run the trials; write `trials.json` and `trials.md` under out_dir; return the results."""
    plan.check_development_seeds()
    started = time.perf_counter()
    bar: ProgressFactory = progress or (lambda _desc, _total: lambda _n: None)
    cache = cache_dir or default_cache_dir()
    plan_fields = asdict(plan)
    plan_fields["machines"] = [list(m) for m in plan.machines]
    results: dict[str, Any] = {
        "command": command,
        "plan": plan_fields,
        "order_params": asdict(_ORDER_PARAMS),
        "variants": {v: list(members) for v, members in VARIANTS.items()},
    }
    results["synthetic"] = run_synthetic(plan, cache, bar)
    if real_dir is not None and real_dir.is_dir():
        results["dcase"] = run_dcase(plan, real_dir, bar)
        results["mimii"] = run_mimii(plan, real_dir, bar)
    if cost:
        results["cost_ms"] = measure_cost()
    results["verdicts"] = verdicts(results)
    results["seconds"] = time.perf_counter() - started
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "trials.json").write_text(json.dumps(results, indent=2, default=float) + "\n")
    (out_dir / "trials.md").write_text(render_markdown(results))
    return results
