"""The short-time Fourier transform as ONNX graph pieces, written once for every detector.

onnxruntime's `DFT` kernel is slow on these sizes (4.8 of the blog graph's 6.4 ms per 10 s clip);
a DFT written as a MatMul against a precomputed, Hann-windowed cos | sin basis is several times
faster. With a hop of half a frame the frames are never materialised (`half_overlap_dft`), and
two radix-2 steps in matrix form cut the log-mel DFT to a quarter (`mel_power`). Float32 with a
power floor: the scores stay within 3e-7 (relative) of the float64 numpy path
(tests/unit/test_model_onnx.py, tests/unit/test_detectors_frontend.py).
"""

from __future__ import annotations

import numpy as np

from humwatch.features import FeatureParams, hann_window, mel_filterbank
from humwatch.model.graph import GraphBuilder


def supports_mel_power(features: FeatureParams) -> bool:
    """`mel_power` needs power 2 and a hop of half a frame (the blog's 1024/512) in eighths."""
    return features.hop_length * 2 == features.n_fft and features.n_fft % 8 == 0 and features.power == 2.0


def rdft_matrix(n_fft: int, first_bin: int, n_bins: int) -> np.ndarray:
    """[n_fft, 2*n_bins]: Hann-windowed cos | sin columns for bins first_bin..first_bin+n_bins-1."""
    k = np.arange(first_bin, first_bin + n_bins)
    angle = 2.0 * np.pi * np.outer(np.arange(n_fft), k) / n_fft
    window = hann_window(n_fft)[:, None]
    return np.concatenate([window * np.cos(angle), -window * np.sin(angle)], axis=1)


def slice_axis(g: GraphBuilder, x: str, start: int, end: int, axis: int = 0) -> str:
    return g.op("Slice", [x, g.const(np.array([start])), g.const(np.array([end])), g.const(np.array([axis]))])


def slice_axes(g: GraphBuilder, x: str, starts: list[int], ends: list[int], axes: list[int]) -> str:
    """One Slice over several axes: one copy, where a Slice per axis copies once per axis."""
    return g.op("Slice", [x, g.const(np.array(starts)), g.const(np.array(ends)), g.const(np.array(axes))])


def overlap_add(g: GraphBuilder, both: str, width: int, frame_axis: int) -> str:
    """top[:-1] + bottom[1:] of both = [... frames ..., top | bottom] (last axis 2*width): frame i
    of a half-overlap DFT is block i's top-half product plus block i+1's bottom-half product.

    Each half is cut out by one Slice over both axes. Cutting the columns first and the frames
    second copied every product twice (onnxruntime fuses the column cuts into a Split): 0.3-0.4 ms
    of the spectral-gauss graph per 10 s clip. The sum is the same Add of the same values, so
    every output is bit for bit what the two-step cut gave (tests/unit/test_stft_graph.py)."""
    last = frame_axis + 1
    top = slice_axes(g, both, [0, 0], [-1, width], [frame_axis, last])
    bottom = slice_axes(g, both, [1, width], [2**62, 2 * width], [frame_axis, last])
    return g.op("Add", [top, bottom])


def half_overlap_dft(g: GraphBuilder, x: str, matrix: np.ndarray) -> str:
    """frames(x, n_fft, hop=n_fft/2) @ matrix without materialising the frames.

    With hop = n_fft/2 frame i is [block i, block i+1] of the signal cut into half-frame blocks, so
    frames @ M = (blocks @ M_top)[:-1] + (blocks @ M_bottom)[1:]: one MatMul on the blocks, no
    Gather (which cost as much as the DFT itself).
    """
    n_fft, width = matrix.shape
    hop = n_fft // 2
    length = g.op("Shape", [x])
    usable = g.op("Mul", [g.op("Div", [length, g.const(np.array([hop]))]), g.const(np.array([hop]))])
    blocks = g.op(
        "Reshape", [g.op("Slice", [x, g.const(np.array([0])), usable]), g.const(np.array([-1, hop]))]
    )
    both = g.op("MatMul", [blocks, g.const(np.concatenate([matrix[:hop], matrix[hop:]], axis=1), "dft")])
    return overlap_add(g, both, width, frame_axis=0)


def mel_power(g: GraphBuilder, padded: str, features: FeatureParams) -> str:
    """Mel power [n_frames, n_mels] of half-overlapping Hann frames, with a quarter of the DFT work.

    Two radix-2 steps in matrix form (radix 4). Y_r[k], the part of the full DFT summed over the
    samples n = 4m + r of a frame (twiddle included), is one MatMul on the r-th polyphase
    component of the signal, for bins k = 0..n/8 only. Because Y_r[k + n/4] = (-i)^r Y_r[k]:
      X[k]        = (Y0 + Y2) + (Y1 + Y3)       X[n/2 + k]  = (Y0 + Y2) - (Y1 + Y3)
      X[n/4 + k]  = (Y0 - Y2) - i (Y1 - Y3)     X[3n/4 + k] = (Y0 - Y2) + i (Y1 - Y3)
    and a real frame's |X[n - j]| = |X[j]| turns the last two of each column into bins
    n/2 - k and n/4 - k: every bin 0..n/2 from four eighth-size products (the first round's single
    radix-2 step cost 1.9 ms of MatMul per 10 s clip, this 1.0 ms). The squares feed the mel matrix
    (rows reordered to match, the bins n/8, n/4 and 3n/8 that appear twice weighted half each)
    whose stacked copy also adds the real and imaginary parts.
    """
    n_fft = features.n_fft
    eighth = n_fft // 8
    length = g.op("Shape", [padded])
    usable = g.op("Mul", [g.op("Div", [length, g.const(np.array([4]))]), g.const(np.array([4]))])
    quads = g.op(
        "Reshape", [g.op("Slice", [padded, g.const(np.array([0])), usable]), g.const(np.array([-1, 4]))]
    )
    phases = g.op("Transpose", [quads], perm=[1, 0])  # [4, n/4]: row r holds samples 4m + r
    full = rdft_matrix(n_fft, 0, eighth + 1)  # [n_fft, 2*(eighth+1)]: real | imaginary parts
    y = [
        half_overlap_dft(
            g, g.op("Reshape", [slice_axis(g, phases, r, r + 1), g.const(np.array([-1]))]), full[r::4]
        )
        for r in range(4)
    ]
    s = g.op("Add", [y[0], y[2]])
    d = g.op("Sub", [y[0], y[2]])
    p = g.op("Add", [y[1], y[3]])
    q = g.op("Sub", [y[1], y[3]])
    # -i q as [real | imaginary]: (q_re + i q_im) * -i = q_im - i q_re
    width = eighth + 1
    q_rot = g.op(
        "Concat",
        [slice_axis(g, q, width, 2 * width, axis=1), g.op("Neg", [slice_axis(g, q, 0, width, axis=1)])],
        axis=1,
    )
    parts = [
        g.op("Add", [s, p]),  # bins k
        g.op("Add", [d, q_rot]),  # bins n/4 + k
        g.op("Sub", [s, p]),  # bins n/2 - k (from n/2 + k)
        g.op("Sub", [d, q_rot]),  # bins n/4 - k (from 3n/4 + k)
    ]
    both = g.op("Concat", [g.op("Mul", [x, x]) for x in parts], axis=1)
    fb = mel_filterbank(features).T  # [n_fft/2 + 1, n_mels]
    k = np.arange(width)
    quarter, half = n_fft // 4, n_fft // 2
    rows = [fb[k].copy(), fb[quarter + k].copy(), fb[half - k].copy(), fb[quarter - k].copy()]
    rows[0][eighth] *= 0.5  # bin n/8: also rows[3][eighth]
    rows[3][eighth] *= 0.5
    rows[1][0] *= 0.5  # bin n/4: also rows[3][0]
    rows[3][0] *= 0.5
    rows[1][eighth] *= 0.5  # bin 3n/8: also rows[2][eighth]
    rows[2][eighth] *= 0.5
    stacked = np.concatenate([r for r in rows for _ in (0, 1)], axis=0)
    return g.op("MatMul", [both, g.const(stacked, "melfb")])
