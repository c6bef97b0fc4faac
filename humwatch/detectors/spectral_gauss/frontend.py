"""Clip-level spectral statistics, as ONNX graph pieces (served) and numpy (the reference).

Why these features (what the blog autoencoder cannot hear):
- `mel_mean`, `frame_m2`: per-band means and the frames' second moments of the same log-mel the
  baseline uses (level-aware, DCASE log). Rubbing and broadband changes move them.
- `fine`: a finely resolved (3.9 Hz) log power spectrum from 0 to ~1.9 kHz, computed on the
  waveform decimated by 4. Rotation and blade-pass harmonics, their sidebands and small speed
  shifts are resolved here; a 1024-point STFT at 16 kHz (15.6 Hz bins) smears them together.
- `env_bands`, `env_fine`: modulation spectra (1-244 Hz at ~1 Hz) of band energies from a short
  STFT: 8 bands 0.5-8 kHz of 0.5-1 kHz (`env_bands`) and 30 bands of 250 Hz (`env_fine`), each
  normalised by its band's mean power. An impact train ringing a resonance (bearing defect),
  once-per-revolution rubbing, a damaged blade's once-per-revolution pulse and imbalance put
  lines into the modulation spectrum of the bands they excite; the narrow bands keep a resonance
  from being drowned by the rest of the kilohertz around it.
- `level`: the clip's RMS level in dB.
(The first round also had the log-mel spread and whole-band envelope spectra; no member of the
ensemble used them once the band envelopes were in, so they went.)
The mel path is the `humwatch.features` front end (same window, padding, Slaney filterbank), so
`band_means` is the drift statistic the rest of humwatch expects.
"""

from __future__ import annotations

import itertools

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from humwatch.features import FeatureParams, hann_window, mel_filterbank
from humwatch.model.graph import GraphBuilder
from humwatch.model.stft_graph import (
    half_overlap_dft,
    mel_power,
    overlap_add,
    rdft_matrix,
    slice_axis,
    supports_mel_power,
)

GROUPS: tuple[str, ...] = (
    "mel_mean",
    "fine",
    "env_bands",
    "env_fine",
    "level",
    "frame_m2",
)
_LOG10_SCALE = 10.0 / np.log(10.0)
_POWER_FLOOR = 1e-12  # -120 dB re full scale: far below any real clip, keeps float32 logs finite


class FrontendParams(BaseModel):
    """Everything the clip statistics depend on; stored in model.json (`detector.frontend`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    decimate: int = Field(default=4, ge=2, le=8)
    decimate_taps: int = Field(default=64, ge=8, le=256)
    fine_n_fft: int = Field(default=1024, ge=256, le=8192)
    # Bins 1..fine_bins of the decimated spectrum (240: to 937 Hz). Half the 480 the first round
    # used: the same AUC on the development machines (0.972 vs 0.976) for half the MatMul.
    fine_bins: int = Field(default=240, ge=16)
    # Band envelopes: a short STFT (band_n_fft samples, half overlap) gives band energies at
    # sample_rate / (band_n_fft / 2) frames per second; each band's envelope gets a modulation
    # spectrum of band_env_n_fft points, bins 1..band_env_bins.
    band_n_fft: int = Field(default=64, ge=16, le=512)
    band_edges_bins: tuple[int, ...] = (2, 4, 8, 12, 16, 20, 24, 28, 32)
    band_env_n_fft: int = Field(default=512, ge=64, le=4096)
    # Modulation lines kept: 1..250 (to 244 Hz, just below the envelope's Nyquist): a pump's
    # bearing defect rate reaches ~250 Hz. On 16 development machines 250 lines gave bearing AUC
    # 0.845 against 0.802 with 180 (which had looked better on 8 machines whose rates were all
    # below 176 Hz); pooled 0.941 vs 0.936.
    band_env_bins: int = Field(default=250, ge=8)
    # The narrow bands of `env_fine`, in short-STFT bins (250 Hz each at 16 kHz), share the STFT.
    fine_band_edges_bins: tuple[int, ...] = tuple(range(2, 33))

    @model_validator(mode="after")
    def _bins_below_nyquist(self) -> FrontendParams:
        if self.band_env_bins > self.band_env_n_fft // 2 - 1:
            raise ValueError("band_env_bins must be below band_env_n_fft / 2")
        if self.fine_bins > self.fine_n_fft // 2 - 1:
            raise ValueError("fine_bins must be below fine_n_fft / 2")
        return self


def min_samples(fp: FrontendParams) -> int:
    """Shortest waveform whose fine and envelope spectra have at least two frames."""
    return max(
        fp.decimate * (fp.fine_n_fft * 3 // 2) + fp.decimate_taps,
        fp.band_n_fft // 2 * (fp.band_env_n_fft * 3 // 2 + 1),
    )


def _lowpass_fir(taps: int, cutoff: float) -> np.ndarray:
    """Windowed-sinc low-pass (cutoff as a fraction of Nyquist), unit DC gain."""
    n = np.arange(taps) - (taps - 1) / 2.0
    h = cutoff * np.sinc(cutoff * n) * np.blackman(taps)
    return h / h.sum()


def decimation_filter(fp: FrontendParams) -> np.ndarray:
    # Cut a little below the new Nyquist; fine_bins stops short of the transition band.
    return _lowpass_fir(fp.decimate_taps, 0.9 / fp.decimate)


def band_matrix(fp: FrontendParams, edges: tuple[int, ...] | None = None) -> np.ndarray:
    """[band_n_fft/2 + 1, n_bands]: sums the short-STFT bins of each band (default: band_edges_bins)."""
    edges = fp.band_edges_bins if edges is None else edges
    out = np.zeros((fp.band_n_fft // 2 + 1, len(edges) - 1))
    for b, (lo, hi) in enumerate(itertools.pairwise(edges)):
        out[lo:hi, b] = 1.0
    return out


# --------------------------------------------------------------------------------------------
# numpy reference (float64): what the graph computes, written the obvious way
# --------------------------------------------------------------------------------------------


def _welch_log_power(x: np.ndarray, n_fft: int, first_bin: int, n_bins: int) -> np.ndarray:
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[:: n_fft // 2]
    spectrum = np.fft.rfft(frames * hann_window(n_fft), axis=-1)[:, first_bin : first_bin + n_bins]
    return np.mean(np.abs(spectrum) ** 2, axis=0)


def clip_statistics_numpy(
    samples: np.ndarray, features: FeatureParams, fp: FrontendParams
) -> dict[str, np.ndarray]:
    """The clip statistics of `samples` by group (float64), mirroring `build_frontend`."""
    x = np.asarray(samples, dtype=np.float64)
    from humwatch.features import power_spectrogram

    power = power_spectrogram(x, features)
    logmel = _LOG10_SCALE * np.log(power @ mel_filterbank(features).T + _POWER_FLOOR)
    h = decimation_filter(fp)
    decimated = np.convolve(x, h[::-1], mode="valid")[:: fp.decimate]
    fine = _LOG10_SCALE * np.log(
        _welch_log_power(decimated, fp.fine_n_fft, 1, fp.fine_bins) / fp.fine_n_fft + _POWER_FLOOR
    )
    short = np.lib.stride_tricks.sliding_window_view(x, fp.band_n_fft)[:: fp.band_n_fft // 2]
    short_power = np.abs(np.fft.rfft(short * hann_window(fp.band_n_fft), axis=-1)) ** 2

    def modulation(edges: tuple[int, ...]) -> np.ndarray:
        bands = short_power @ band_matrix(fp, edges)  # [frames, n_bands]
        levels = bands.mean(axis=0)
        return np.concatenate(
            [
                _LOG10_SCALE
                * np.log(
                    _welch_log_power(bands[:, b] - levels[b], fp.band_env_n_fft, 1, fp.band_env_bins)
                    / (levels[b] ** 2 * fp.band_env_n_fft)
                    + _POWER_FLOOR
                )
                for b in range(bands.shape[1])
            ]
        )

    return {
        "frame_m2": (logmel.T @ logmel / logmel.shape[0]).ravel(),
        "mel_mean": logmel.mean(axis=0),
        "fine": fine,
        "env_bands": modulation(fp.band_edges_bins),
        "env_fine": modulation(fp.fine_band_edges_bins),
        "level": np.array([_LOG10_SCALE * np.log(np.mean(x**2) + _POWER_FLOOR)]),
    }


# --------------------------------------------------------------------------------------------
# ONNX pieces
# --------------------------------------------------------------------------------------------


def _fir_decimate(g: GraphBuilder, x: str, h: np.ndarray, factor: int) -> str:
    """y[i] = sum_k h[k] x[factor*i + k] as a polyphase MatMul (ONNX Conv on one long channel is slow).

    Cut x into blocks of `factor`; C = blocks @ H with H[r, j] = h[factor*j + r]; then
    y[i] = sum_j C[i + j, j], a handful of shifted slices added up.
    """
    taps = len(h) // factor
    poly = h[: taps * factor].reshape(taps, factor)  # [taps, factor]: row j = h[factor*j : factor*(j+1)]
    length = g.op("Shape", [x])
    usable = g.op("Mul", [g.op("Div", [length, g.const(np.array([factor]))]), g.const(np.array([factor]))])
    blocks = g.op(
        "Reshape", [g.op("Slice", [x, g.const(np.array([0])), usable]), g.const(np.array([-1, factor]))]
    )
    # Phases as rows ([taps, n_blocks]) so each shifted slice below is one contiguous copy.
    phases = g.op("MatMul", [g.const(poly, "poly"), g.op("Transpose", [blocks], perm=[1, 0])])
    total = None
    for j in range(taps):
        end = (j - taps + 1) if j < taps - 1 else 2**62
        row = g.op(
            "Slice",
            [phases, g.const(np.array([j, j])), g.const(np.array([j + 1, end])), g.const(np.array([0, 1]))],
        )
        total = row if total is None else g.op("Add", [total, row])
    assert total is not None
    return g.op("Reshape", [total, g.const(np.array([-1]))])


def _log_db(g: GraphBuilder, power: str) -> str:
    shifted = g.op("Add", [power, g.const(np.array(_POWER_FLOOR))])
    return g.op("Mul", [g.op("Log", [shifted]), g.const(np.array(_LOG10_SCALE))])


def _mean_power_spectrum(g: GraphBuilder, x: str, n_fft: int, n_bins: int) -> str:
    """Mean |rfft|^2 over half-overlapping Hann frames, bins 1..n_bins: [n_bins]."""
    spectrum = half_overlap_dft(g, x, rdft_matrix(n_fft, 1, n_bins))
    mean_sq = g.op("ReduceMean", [g.op("Mul", [spectrum, spectrum])], axes=[0], keepdims=0)
    pairs = g.op("Reshape", [mean_sq, g.const(np.array([2, n_bins]))])
    return g.op("ReduceSum", [pairs, g.const(np.array([0]))], keepdims=0)


def _band_envelopes_graph(
    g: GraphBuilder, x: str, fp: FrontendParams, edge_sets: list[tuple[int, ...]]
) -> str:
    """Modulation spectra of band energies from one short STFT: [n_bands * band_env_bins].

    The bands of every edge set are stacked (rows in order), so one MatMul per step serves them all.
    """
    n_bins = fp.band_n_fft // 2 + 1
    spectrum = half_overlap_dft(g, x, rdft_matrix(fp.band_n_fft, 0, n_bins))  # [F, 2*n_bins]
    squared = g.op("Mul", [spectrum, spectrum])
    bands_matrix = np.concatenate([band_matrix(fp, edges) for edges in edge_sets], axis=1)
    n_bands = bands_matrix.shape[1]
    bands = g.op("MatMul", [squared, g.const(np.concatenate([bands_matrix, bands_matrix]), "bands")])
    rows = g.op("Transpose", [bands], perm=[1, 0])  # [n_bands, F]
    levels = g.op("ReduceMean", [rows], axes=[1], keepdims=1)
    centred = g.op("Sub", [rows, levels])
    # Welch spectra of every row at once, bins 1..band_env_bins, with one radix-2 step (see
    # `mel_power`): the even and odd envelope samples each give bins 0..n/4 in a MatMul of half
    # the size; E + T is bins 0..n/4 and |E - T| bins n/2 - k. Half the work of a direct DFT
    # (this MatMul was the graph's largest: 1.4 ms for 180 lines).
    n_fft, width = fp.band_env_n_fft, fp.band_env_bins
    quarter = n_fft // 4
    length = slice_axis(g, g.op("Shape", [centred]), 1, 2)
    even_len = g.op("Mul", [g.op("Div", [length, g.const(np.array([2]))]), g.const(np.array([2]))])
    pairs = g.op(
        "Reshape",
        [
            g.op("Slice", [centred, g.const(np.array([0])), even_len, g.const(np.array([1]))]),
            g.const(np.array([n_bands, -1, 2])),
        ],
    )
    full = rdft_matrix(n_fft, 0, quarter + 1)
    halves = [
        _rowshalf_overlap_dft(
            g,
            g.op("Reshape", [slice_axis(g, pairs, r, r + 1, axis=2), g.const(np.array([n_bands, -1]))]),
            full[r::2],
        )
        for r in (0, 1)
    ]

    def welch_power(frames_dft: str) -> str:  # [n_bands, frames, 2*(quarter+1)] -> [n_bands, quarter+1]
        mean_sq = g.op("ReduceMean", [g.op("Mul", [frames_dft, frames_dft])], axes=[1], keepdims=0)
        parts = g.op("Reshape", [mean_sq, g.const(np.array([n_bands, 2, quarter + 1]))])
        return g.op("ReduceSum", [parts, g.const(np.array([1]))], keepdims=0)

    low = welch_power(g.op("Add", halves))  # bins 0..n/4
    power = slice_axis(g, low, 1, min(width, quarter) + 1, axis=1)
    if width > quarter:
        high = welch_power(g.op("Sub", halves))  # column k: bin n/2 - k
        start, end = n_fft // 2 - quarter - 1, n_fft // 2 - width - 1
        upper = g.op(
            "Slice",
            [
                high,
                g.const(np.array([start])),
                g.const(np.array([end])),
                g.const(np.array([1])),
                g.const(np.array([-1])),
            ],
        )
        power = g.op("Concat", [power, upper], axis=1)
    depth = g.op("Mul", [g.op("Mul", [levels, levels]), g.const(np.array(float(n_fft)))])
    modulation = _log_db(g, g.op("Div", [power, depth]))
    return g.op("Reshape", [modulation, g.const(np.array([-1]))])


def _rowshalf_overlap_dft(g: GraphBuilder, rows: str, matrix: np.ndarray) -> str:
    """`_half_overlap_dft` of every row of rows [R, L] at once: [R, n_frames, matrix columns]."""
    n_fft, width = matrix.shape
    hop = n_fft // 2
    length = slice_axis(g, g.op("Shape", [rows]), 1, 2)
    usable = g.op("Mul", [g.op("Div", [length, g.const(np.array([hop]))]), g.const(np.array([hop]))])
    trimmed = g.op("Slice", [rows, g.const(np.array([0])), usable, g.const(np.array([1]))])
    count = slice_axis(g, g.op("Shape", [rows]), 0, 1)
    blocks = g.op("Reshape", [trimmed, g.op("Concat", [count, g.const(np.array([-1, hop]))], axis=0)])
    # A 3-D MatMul broadcasts the matrix over the rows.
    both = g.op("MatMul", [blocks, g.const(np.concatenate([matrix[:hop], matrix[hop:]], axis=1), "dft")])
    return overlap_add(g, both, width, frame_axis=1)


def build_frontend(
    g: GraphBuilder,
    waveform: str,
    features: FeatureParams,
    fp: FrontendParams,
    groups: tuple[str, ...] = GROUPS,
) -> tuple[dict[str, str], str]:
    """Add the requested statistics to `g` for a 1-D float waveform.

    Returns ({group: tensor}, log-mel [n_frames, n_mels]); only what `groups` needs is built.
    """
    unknown = sorted(set(groups) - set(GROUPS))
    if unknown:
        raise ValueError(f"unknown feature groups {unknown}")
    # Mel path: centred zero padding, STFT power, Slaney mel, log (see `humwatch.model.stft_graph.mel_power`).
    if not supports_mel_power(features):
        raise ValueError(
            "the spectral detector needs power 2 and hop_length = n_fft / 2 (the blog's 1024/512)"
        )
    pad = features.n_fft // 2
    padded = g.op("Pad", [waveform, g.const(np.array([pad, pad]))], mode="constant")
    logmel = _log_db(g, mel_power(g, padded, features))
    out: dict[str, str] = {}
    out["mel_mean"] = g.op("ReduceMean", [logmel], axes=[0], keepdims=0)
    if "frame_m2" in groups:
        m2 = g.op("MatMul", [g.op("Transpose", [logmel], perm=[1, 0]), logmel])
        count = g.op("Cast", [slice_axis(g, g.op("Shape", [logmel]), 0, 1)], to=1)
        out["frame_m2"] = g.op("Reshape", [g.op("Div", [m2, count]), g.const(np.array([-1]))])
    if "level" in groups:
        energy = g.op("ReduceMean", [g.op("Mul", [waveform, waveform])], axes=[0], keepdims=1)
        out["level"] = _log_db(g, energy)
    slow = {"fine", "env_bands", "env_fine"} & set(groups)
    if not slow:
        return out, logmel

    # The fine and envelope paths need a few frames; a clip shorter than that (the audio limits
    # reject < 2 s long before) is zero-padded instead of failing inside onnxruntime.
    length = g.op("Shape", [waveform])
    missing = g.op(
        "Max", [g.op("Sub", [g.const(np.array([min_samples(fp)])), length]), g.const(np.array([0]))]
    )
    long_enough = g.op(
        "Pad", [waveform, g.op("Concat", [g.const(np.array([0])), missing], axis=0)], mode="constant"
    )
    if "fine" in groups:
        # FIR low-pass keeping every `decimate`-th sample, then Welch.
        decimated = _fir_decimate(g, long_enough, decimation_filter(fp), fp.decimate)
        fine_power = _mean_power_spectrum(g, decimated, fp.fine_n_fft, fp.fine_bins)
        out["fine"] = _log_db(g, g.op("Div", [fine_power, g.const(np.array(float(fp.fine_n_fft)))]))
    wanted = [
        (name, e)
        for name, e in (("env_bands", fp.band_edges_bins), ("env_fine", fp.fine_band_edges_bins))
        if name in groups
    ]
    if wanted:
        both = _band_envelopes_graph(g, long_enough, fp, [e for _, e in wanted])
        start = 0
        for name, edges in wanted:
            size = (len(edges) - 1) * fp.band_env_bins
            out[name] = slice_axis(g, both, start, start + size)
            start += size
    return out, logmel


def frontend_model(features: FeatureParams, fp: FrontendParams, groups: tuple[str, ...] = GROUPS) -> bytes:
    """A stand-alone graph waveform -> one output per group (used to extract training features)."""
    g = GraphBuilder("humwatch-frontend")
    waveform = g.input("waveform", ["n_samples"])
    tensors, _ = build_frontend(g, waveform, features, fp, groups)
    for name in groups:
        g.output(tensors[name], name, [None])
    return g.serialize()
