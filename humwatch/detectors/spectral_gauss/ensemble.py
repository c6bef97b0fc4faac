"""The `spectral-gauss` detector: an ensemble of Gaussian models of clip statistics.

Members (each looks at what one family of faults changes; see docs/detectors.md):
- `modulation`, `modulation_fine`: line prominence of the band-energy modulation spectra (8 wide
  bands and 30 bands of 250 Hz), scored by the single line that rose most above its normal level
  (one-sided): bearing impact rates, once-per-revolution rubbing, blade and imbalance modulation;
- `fine`: line prominence of the 3.9 Hz-resolution spectrum below ~940 Hz, mean z^2 over all
  lines (every shaft-locked line moves with speed);
- `frames`: full-covariance Gaussian of the log-mel frames (what the bands do together, frame by
  frame; the autoencoder's job as a closed-form fit);
- `level`: the clip's overall level (a machine that got louder).

Fit (numpy, well under a second): each member is fitted on all training clips, and on k-1 folds
to give every training clip an out-of-fold (OOF) score. OOF scores do two jobs:
- normalise: a member's log score is standardised by the mean and spread of its OOF log scores,
  so every member speaks in "standard deviations above an unseen normal clip"; the clip score is
  exp(max of those) (`max-z`): each member hears its own faults, and a max lets one member's
  evidence stand instead of averaging it away (`log-z`, `geometric`, `max` are options;
  docs/detectors.md has their numbers).
- calibrate: the combined OOF scores are what unseen normal clips score, so the threshold is
  fitted on them (`humwatch.model.calibration`): every clip counts, no thin hold-out.

Serve (ONNX): the front end, then each member's few ops, the normalisation and the combination,
so onnxruntime alone turns a waveform into `score`, `member_scores` and `band_means`, and says why
(`humwatch.explain`): each member's z, and where its evidence is (an ArgMax over what the member
already computed: the modulation line or fine line that rose most, the mel band that moved most).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from humwatch.detectors.spectral_gauss.frontend import FrontendParams, build_frontend
from humwatch.detectors.spectral_gauss.gaussian import (
    BAND_MAX_FLOOR,
    BandMaxGaussian,
    DiagonalGaussian,
    FrameGaussian,
    fit_band_max,
    fit_diagonal,
    fit_frames,
    kfold_indices,
    prominence,
    prominence_kernel,
)
from humwatch.explain import WHY_OUTPUTS
from humwatch.features import FeatureParams
from humwatch.model.graph import GraphBuilder

Combine = Literal["max-z", "log-z", "geometric", "max"]
_SCORE_FLOOR = 1e-3  # normalised member scores are floored before the log of the geometric mean
# A member whose OOF log scores barely vary (level on steady synthetic clips) would turn a 1 dB
# change into many "standard deviations"; 0.5 (a factor 1.65) caps that amplification. On the
# development machines it also scored best (pooled AUC 0.760 vs 0.757 at 0.05).
LOG_SPREAD_FLOOR = 0.5
# A member far *below* its typical score (a steady tone flattens the modulation spectrum) is no
# evidence that the clip is normal; clipping z at -1 keeps it from cancelling the others.
Z_CLIP = -1.0


class Member(BaseModel):
    """One ensemble member: which statistic, which model, how it is aggregated."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    group: str  # a frontend group; "frames" members use mel_mean + frame_m2
    kind: Literal["diagonal", "frames"] = "diagonal"
    top_fraction: float = Field(default=1.0, gt=0.0, le=1.0)
    top_k: int | None = Field(default=None, ge=1)  # overrides top_fraction (1: the single largest)
    one_sided: bool = False  # score only rises above normal (z > 0)
    # Take the largest one-sided z^2 per band (row) and standardise each band by its own
    # out-of-fold maxima before the max over bands (`BandMaxGaussian`); implies one-sided.
    per_band: bool = False
    prominence_width: int = Field(default=0, ge=0, le=64)  # 0: use the values themselves
    floor_db: float | None = Field(default=None, gt=0.0)  # per-member variance floor (None: the config's)


DEFAULT_MEMBERS: tuple[Member, ...] = (
    # Band modulation spectra, scored by the single line that rose most above its normal level
    # (one-sided): impact rates, once-per-revolution pulses and modulation. Wide bands (0.5-1 kHz)
    # carry a damaged blade's pulse; 250 Hz bands carry a bearing resonance's impact train.
    # (`per_band=True` standardises each band by its own out-of-fold maxima: +0.009 AUC on the
    # development machines but 1.8 % false positives at a 1 % target on drifting streams; not
    # the default, see docs/detectors.md.)
    Member(name="modulation", group="env_bands", top_k=1, one_sided=True, prominence_width=8),
    Member(name="modulation_fine", group="env_fine", top_k=1, one_sided=True, prominence_width=8),
    # 3.9 Hz line spectrum, mean z^2 over all lines: every shaft-locked line moves with speed.
    Member(name="fine", group="fine", prominence_width=4),
    # Log-mel frames (generic: broadband and level-aware changes the specialised members miss).
    Member(name="frames", group="frame_m2", kind="frames"),
    # Clip level, 1 dB variance floor: a machine that got louder (the one real DCASE anomaly is
    # +3.3 dB over normals that vary by 0.1 dB) while +-1 dB of gain stays normal (unit test).
    Member(name="level", group="level", floor_db=1.0),
)
# Available but not in the default (see docs/detectors.md): with max-z combination a member adds
# its false alarms to everyone's, and the spectral envelope added more noise than detections.
SPECTRUM_MEMBER = Member(name="spectrum", group="mel_mean", floor_db=0.5)


class SpectralConfig(BaseModel):
    """Hyper-parameters of `spectral-gauss`; stored in model.json under `detector.config`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    members: tuple[Member, ...] = DEFAULT_MEMBERS
    combine: Combine = "max-z"
    prior_clips: float = Field(default=4.0, ge=0.0)
    floor_db: float = Field(default=0.25, gt=0.0)
    frame_shrinkage: float = Field(default=0.05, ge=0.0, le=1.0)
    folds: int = Field(default=5, ge=2, le=100)
    frontend: FrontendParams = FrontendParams()

    @property
    def groups(self) -> tuple[str, ...]:
        needed: list[str] = []
        for m in self.members:
            for g in ("mel_mean", "frame_m2") if m.kind == "frames" else (m.group,):
                if g not in needed:
                    needed.append(g)
        return tuple(needed)

    def rows(self, member: Member) -> int:
        """Independent spectra a group is made of (prominence never mixes two of them)."""
        if member.group == "env_bands":
            return len(self.frontend.band_edges_bins) - 1
        if member.group == "env_fine":
            return len(self.frontend.fine_band_edges_bins) - 1
        return 1


Stats = dict[str, np.ndarray]  # group -> [N, D] statistics of N clips
MemberModel = DiagonalGaussian | FrameGaussian | BandMaxGaussian


def member_input(stats: Stats, member: Member, config: SpectralConfig) -> np.ndarray:
    x = stats[member.group]
    if member.prominence_width:
        x = prominence(x, width=member.prominence_width, rows=config.rows(member))
    return np.asarray(x)


def _fit_member(stats: Stats, idx: np.ndarray, member: Member, config: SpectralConfig) -> MemberModel:
    if member.kind == "frames":
        return fit_frames(stats["mel_mean"][idx], stats["frame_m2"][idx], shrinkage=config.frame_shrinkage)
    floor_db = member.floor_db if member.floor_db is not None else config.floor_db
    if member.per_band:
        return fit_band_max(
            member_input(stats, member, config)[idx],
            rows=config.rows(member),
            folds=config.folds,
            prior_clips=config.prior_clips,
            floor_db=floor_db,
            spread_floor=LOG_SPREAD_FLOOR,
        )
    return fit_diagonal(
        member_input(stats, member, config)[idx],
        top_fraction=member.top_fraction,
        top_k=member.top_k,
        one_sided=member.one_sided,
        prior_clips=config.prior_clips,
        floor_db=floor_db,
    )


def _score_member(
    model: MemberModel, stats: Stats, idx: np.ndarray, member: Member, config: SpectralConfig
) -> np.ndarray:
    if isinstance(model, FrameGaussian):
        return model.score(stats["mel_mean"][idx], stats["frame_m2"][idx])
    return model.score(member_input(stats, member, config)[idx])


def log_floor(x: np.ndarray) -> np.ndarray:
    """log of normalised member scores, floored (what the combinations and their OOF statistics use)."""
    return np.asarray(np.log(np.maximum(x, _SCORE_FLOOR)))


def combine_scores(
    normalised: dict[str, np.ndarray], config: SpectralConfig, log_stats: dict[str, tuple[float, float]]
) -> np.ndarray:
    """Member scores (divided by their OOF medians) -> the clip score."""
    parts = np.stack([normalised[m.name] for m in config.members], axis=0)
    if config.combine == "max":
        return np.asarray(parts.max(axis=0))
    if config.combine == "geometric":
        return np.asarray(np.exp(np.mean(log_floor(parts), axis=0)))
    z = np.stack(
        [
            (log_floor(normalised[m.name]) - log_stats[m.name][0]) / log_stats[m.name][1]
            for m in config.members
        ]
    )
    if config.combine == "max-z":
        return np.asarray(np.exp(np.max(z, axis=0)))
    return np.asarray(np.exp(np.mean(np.maximum(z, Z_CLIP), axis=0)))


@dataclass
class FittedSpectral:
    config: SpectralConfig
    features: FeatureParams
    models: dict[str, MemberModel]
    medians: dict[str, float]  # OOF median score per member (the normaliser)
    log_stats: dict[str, tuple[float, float]]  # mean, std of each member's normalised OOF log score
    oof_scores: np.ndarray  # [N] combined out-of-fold score of every training clip
    oof_member_scores: dict[str, np.ndarray]  # normalised

    def member_scores(self, stats: Stats) -> dict[str, np.ndarray]:
        n = next(iter(stats.values())).shape[0]
        idx = np.arange(n)
        return {
            m.name: _score_member(self.models[m.name], stats, idx, m, self.config) / self.medians[m.name]
            for m in self.config.members
        }

    def score(self, stats: Stats) -> np.ndarray:
        """Combined scores of clips from their statistics (the numpy mirror of the ONNX graph)."""
        return combine_scores(self.member_scores(stats), self.config, self.log_stats)


def fit_spectral(
    stats: Stats, features: FeatureParams, config: SpectralConfig, *, seed: int = 0
) -> FittedSpectral:
    """Fit on N normal clips (N >= 3): members on all clips, OOF scores by k-fold."""
    missing = [g for g in config.groups if g not in stats]
    if missing:
        raise ValueError(f"statistics lack the groups {missing}")
    n = stats[config.groups[0]].shape[0]
    if n < 3:
        raise ValueError(f"spectral-gauss needs at least 3 normal training clips, got {n}")
    names = [m.name for m in config.members]
    if len(set(names)) != len(names):
        raise ValueError(f"member names must be unique, got {names}")
    everything = np.arange(n)
    oof = {m.name: np.zeros(n) for m in config.members}
    for held_out in kfold_indices(n, config.folds, seed):
        train_idx = np.setdiff1d(everything, held_out)
        for m in config.members:
            model = _fit_member(stats, train_idx, m, config)
            oof[m.name][held_out] = _score_member(model, stats, held_out, m, config)
    medians = {name: max(float(np.median(v)), 1e-9) for name, v in oof.items()}
    normalised = {name: v / medians[name] for name, v in oof.items()}
    log_stats = {
        name: (float(np.mean(log_floor(v))), max(float(np.std(log_floor(v))), LOG_SPREAD_FLOOR))
        for name, v in normalised.items()
    }
    return FittedSpectral(
        config=config,
        features=features,
        models={m.name: _fit_member(stats, everything, m, config) for m in config.members},
        medians=medians,
        log_stats=log_stats,
        oof_scores=combine_scores(normalised, config, log_stats),
        oof_member_scores=normalised,
    )


# --------------------------------------------------------------------------------------------
# ONNX head
# --------------------------------------------------------------------------------------------


def _prominence_graph(g: GraphBuilder, x: str, width: int, rows: int) -> str:
    """x - local mean (edge-replicated), per row: Pad(edge) + Conv, the graph twin of `prominence`."""
    grid = g.op("Reshape", [x, g.const(np.array([rows, 1, -1]))])
    padded = g.op("Pad", [grid, g.const(np.array([0, 0, width, 0, 0, width]))], mode="edge")
    kernel = g.const(prominence_kernel(width, 1).reshape(1, 1, -1), "prominence")
    local = g.op("Conv", [padded, kernel])
    return g.op("Reshape", [g.op("Sub", [grid, local]), g.const(np.array([-1]))])


class MemberTensors(NamedTuple):
    """One member's graph outputs: its raw score [1] and where its evidence is (see humwatch.explain)."""

    raw: str
    where: str  # int64 [1]: flat index into the member's statistic
    value: str  # [1]: that place's z-score (signed), or its change in dB for `level`


def _member_graph(
    g: GraphBuilder, fitted: FittedSpectral, member: Member, groups: dict[str, str], logmel: str
) -> MemberTensors:
    model = fitted.models[member.name]
    if isinstance(model, FrameGaussian):
        centred = g.op("Sub", [logmel, g.const(model.mean, "frames_mean")])
        white = g.op("MatMul", [centred, g.const(model.whitener, "frames_whitener")])
        # Mean over frames and dimensions of the squared whitened values = mean Mahalanobis / dims.
        raw = g.op("ReduceMean", [g.op("Mul", [white, white])], axes=[0, 1], keepdims=1)
        # Where: the mel band whose clip mean moved most, in its own standard deviations (64 values).
        band_z = g.op(
            "Mul",
            [
                g.op("Sub", [groups["mel_mean"], g.const(model.mean)]),
                g.const(1.0 / np.sqrt(np.diag(np.linalg.inv(model.precision)))),
            ],
        )
        where = g.op("ArgMax", [g.op("Abs", [band_z])], axis=0, keepdims=1)
        return MemberTensors(raw, where, g.op("Gather", [band_z, where], axis=0))
    x = groups[member.group]
    if member.prominence_width:
        x = _prominence_graph(g, x, member.prominence_width, fitted.config.rows(member))
    if isinstance(model, BandMaxGaussian):
        return _band_max_graph(g, model, x, member.name)
    centred = g.op("Sub", [x, g.const(model.mean, f"{member.name}_mean")])
    z = g.op("Mul", [centred, g.const(model.inv_std)])
    if model.one_sided:
        z = g.op("Relu", [z])
    z2 = g.op("Mul", [z, z])
    if member.group == "level":  # one value: where is 0, and the change is said in dB
        where, value = g.const(np.array([0])), centred
    else:  # the line with the largest z^2, the one a top-1 member scores
        where = g.op("ArgMax", [z2], axis=0, keepdims=1)
        value = g.op("Gather", [z, where], axis=0)
    if model.top_k == 1:
        return MemberTensors(g.op("ReduceMax", [z2], axes=[0], keepdims=1), where, value)
    if model.top_k < model.mean.shape[0]:
        z2 = g.op_multi("TopK", [z2, g.const(np.array([model.top_k]))], 2, axis=0, largest=1, sorted=0)[0]
    return MemberTensors(g.op("ReduceMean", [z2], axes=[0], keepdims=1), where, value)


def _band_max_graph(g: GraphBuilder, model: BandMaxGaussian, x: str, name: str) -> MemberTensors:
    """The graph twin of `BandMaxGaussian.score`: [1], and the top line of the band that won."""
    lines = model.lines
    z = g.op(
        "Relu", [g.op("Mul", [g.op("Sub", [x, g.const(lines.mean, f"{name}_mean")]), g.const(lines.inv_std)])]
    )
    per_band = g.op("Reshape", [g.op("Mul", [z, z]), g.const(np.array([model.rows, -1]))])
    maxima = g.op("ReduceMax", [per_band], axes=[1], keepdims=0)
    logs = g.op("Log", [g.op("Max", [maxima, g.const(np.array(BAND_MAX_FLOOR))])])
    standardised = g.op("Mul", [g.op("Sub", [logs, g.const(model.centre)]), g.const(model.inv_spread)])
    raw = g.op("Exp", [g.op("ReduceMax", [standardised], axes=[0], keepdims=1)])
    band = g.op("ArgMax", [standardised], axis=0, keepdims=1)
    band_lines = g.op("Gather", [per_band, band], axis=0)  # [1, lines]
    line = g.op("ArgMax", [band_lines], axis=1, keepdims=0)
    lines_per_band = lines.mean.shape[0] // model.rows
    where = g.op("Add", [g.op("Mul", [band, g.const(np.array([lines_per_band]))]), line])
    value = g.op("Sqrt", [g.op("ReduceMax", [band_lines], axes=[1], keepdims=0)])
    return MemberTensors(raw, where, value)


def build_spectral_graph(fitted: FittedSpectral) -> GraphBuilder:
    """waveform [n_samples] -> score [], member_scores [M], band_means [n_mels], and the
    `humwatch.explain.WHY_OUTPUTS`: member_z [M], why_index [M] (int64), why_value [M]."""
    config = fitted.config
    g = GraphBuilder("humwatch-spectral-gauss")
    waveform = g.input("waveform", ["n_samples"])
    groups, logmel = build_frontend(g, waveform, fitted.features, config.frontend, config.groups)
    parts, wheres, values = [], [], []
    for member in config.members:
        tensors = _member_graph(g, fitted, member, groups, logmel)
        scale = g.const(np.array([1.0 / fitted.medians[member.name]]))
        parts.append(g.op("Reshape", [g.op("Mul", [tensors.raw, scale]), g.const(np.array([1]))]))
        wheres.append(tensors.where)
        values.append(tensors.value)
    stacked = g.op("Concat", parts, axis=0)
    names = [m.name for m in config.members]
    centre = g.const(np.array([fitted.log_stats[n][0] for n in names]))
    inv_spread = g.const(np.array([1.0 / fitted.log_stats[n][1] for n in names]))
    logs = g.op("Log", [g.op("Max", [stacked, g.const(np.array(_SCORE_FLOOR))])])
    # Each member's z (what max-z and log-z combine): the why outputs say which member fired.
    member_z = g.op("Mul", [g.op("Sub", [logs, centre]), inv_spread])
    if config.combine == "max":
        score = g.op("ReduceMax", [stacked], axes=[0], keepdims=0)
    elif config.combine == "geometric":
        score = g.op("Exp", [g.op("ReduceMean", [logs], axes=[0], keepdims=0)])
    elif config.combine == "max-z":
        score = g.op("Exp", [g.op("ReduceMax", [member_z], axes=[0], keepdims=0)])
    else:
        clipped = g.op("Max", [member_z, g.const(np.array(Z_CLIP))])
        score = g.op("Exp", [g.op("ReduceMean", [clipped], axes=[0], keepdims=0)])
    g.output(score, "score", [])
    g.output(stacked, "member_scores", [len(config.members)])
    g.output(groups["mel_mean"], "band_means", [fitted.features.n_mels])
    member_z_name, index_name, value_name = WHY_OUTPUTS
    g.output(member_z, member_z_name, [len(config.members)])
    g.output(g.op("Concat", wheres, axis=0), index_name, [len(config.members)], dtype=np.int64)
    g.output(g.op("Concat", values, axis=0), value_name, [len(config.members)])
    return g
