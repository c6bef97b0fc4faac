"""The blog autoencoder as ONE ONNX graph from waveform to anomaly score.

waveform float32 [n_samples] (any length >= the model's minimum)
  -> centred zero padding (n_fft/2 each side), half-overlapping Hann frames, power spectrum and
     Slaney mel (a constant; ONNX's MelWeightMatrix is HTK-style) through the shared MatMul STFT
     (`humwatch.model.stft_graph.mel_power`; 2.1 ms per 10 s clip where ONNX's DFT op took 4.8)
  -> log (dcase or blog)
  -> band_means [n_mels] (drift statistics)
  -> 5-frame vectors -> standardise -> autoencoder -> per-vector MSE -> vector_errors [n_vectors]
  -> score [] = mean of vector_errors

`autoencoder_from_onnx` reads the weights back, for reference paths and parity tests.
"""

from __future__ import annotations

import math

import numpy as np

from humwatch.detectors.blog_ae.autoencoder import Autoencoder
from humwatch.features import BLOG_AMIN, BLOG_TOP_DB, DCASE_EPS, FeatureParams
from humwatch.model.graph import INPUT_NAME, GraphBuilder
from humwatch.model.stft_graph import mel_power, supports_mel_power

OUTPUT_NAMES: tuple[str, str, str] = ("score", "vector_errors", "band_means")
_MEAN = "standardise_mean"
_INV_STD = "standardise_inv_std"
_F32 = np.float32


def _log(g: GraphBuilder, mel: str, params: FeatureParams) -> str:
    if params.log_mode == "dcase":
        shifted = g.op("Add", [mel, g.const(DCASE_EPS, "eps")])
        scale = (20.0 / params.power) / math.log(10.0)
        return g.op("Mul", [g.op("Log", [shifted]), g.const(scale, "db_scale")], "logmel")
    amin = g.const(BLOG_AMIN, "amin")
    db_scale = g.const(10.0 / math.log(10.0), "db_scale")
    db = g.op("Mul", [g.op("Log", [g.op("Max", [mel, amin])]), db_scale])
    ref = g.op("ReduceMax", [mel], keepdims=0)
    ref_db = g.op("Mul", [g.op("Log", [g.op("Max", [ref, amin])]), db_scale])
    rel = g.op("Sub", [db, ref_db])
    floor = g.op("Sub", [g.op("ReduceMax", [rel], keepdims=0), g.const(BLOG_TOP_DB, "top_db")])
    return g.op("Max", [rel, floor], "logmel")


def _log_mel(g: GraphBuilder, waveform: str, params: FeatureParams) -> tuple[str, str]:
    """(logmel [n_frames, n_mels], n_frames [1]): the `humwatch.features.log_mel` twin."""
    if not supports_mel_power(params):
        raise ValueError(f"the graph's STFT needs power 2 and hop_length = n_fft / 2, got {params}")
    pad = params.n_fft // 2
    n_samples = g.op("Shape", [waveform], "n_samples")
    padded = g.op("Pad", [waveform, g.const([pad, pad])], "padded", mode="constant")
    n_frames = g.op("Add", [g.op("Div", [n_samples, g.const([params.hop_length])]), g.const([1])])
    return _log(g, mel_power(g, padded, params), params), n_frames


def build_scoring_graph(params: FeatureParams, model: Autoencoder) -> GraphBuilder:
    """waveform [n_samples] -> score [], vector_errors [n_vectors], band_means [n_mels]."""
    if model.input_dim != params.vector_dims:
        raise ValueError(f"model expects {model.input_dim}-dim vectors, features give {params.vector_dims}")
    g = GraphBuilder("humwatch_scorer")
    logmel, n_frames = _log_mel(g, g.input(INPUT_NAME, ["n_samples"]), params)
    band_means = g.op("ReduceMean", [logmel], axes=[0], keepdims=0)

    n_vectors = g.op("Sub", [n_frames, g.const([params.frames - 1])], "n_vectors")
    starts = g.op("Range", [g.const(0), g.op("Squeeze", [n_vectors, g.const([0])]), g.const(1)])
    index = g.op("Add", [g.op("Unsqueeze", [starts, g.const([1])]), g.const(list(range(params.frames)))])
    stacked = g.op("Gather", [logmel, index], axis=0)  # [n_vectors, frames, n_mels]
    vectors = g.op("Reshape", [stacked, g.const([-1, params.vector_dims])], "vectors")

    mean = g.const(model.mean, name=_MEAN, dtype=_F32)
    inv_std = g.const(1.0 / model.std, name=_INV_STD, dtype=_F32)
    z = g.op("Mul", [g.op("Sub", [vectors, mean]), inv_std], "standardised")
    h = z
    last = len(model.weights) - 1
    for i, (w, b) in enumerate(zip(model.weights, model.biases, strict=True)):
        wn = g.const(w, name=f"ae_weight_{i}", dtype=_F32)
        bn = g.const(b, name=f"ae_bias_{i}", dtype=_F32)
        h = g.op("Add", [g.op("MatMul", [h, wn]), bn], f"dense{i}")
        if i < last:
            h = g.op("Relu", [h])
    residual = g.op("Sub", [z, h])
    errors = g.op("ReduceMean", [g.op("Mul", [residual, residual])], axes=[1], keepdims=0)
    g.output(g.op("ReduceMean", [errors], axes=[0], keepdims=0), OUTPUT_NAMES[0], [])
    g.output(errors, OUTPUT_NAMES[1], ["n_vectors"])
    g.output(band_means, OUTPUT_NAMES[2], [params.n_mels])
    return g


def autoencoder_from_onnx(onnx_bytes: bytes) -> Autoencoder:
    """Read the standardisation and dense weights back out of a scoring graph."""
    import onnx
    from onnx import numpy_helper

    proto = onnx.load_from_string(onnx_bytes)
    tensors = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
    n_layers = sum(1 for name in tensors if name.startswith("ae_weight_"))
    if n_layers == 0 or _MEAN not in tensors or _INV_STD not in tensors:
        raise ValueError("not a humwatch scoring graph (autoencoder weights missing)")
    return Autoencoder(
        mean=tensors[_MEAN].astype(np.float64),
        std=1.0 / tensors[_INV_STD].astype(np.float64),
        weights=[tensors[f"ae_weight_{i}"] for i in range(n_layers)],
        biases=[tensors[f"ae_bias_{i}"] for i in range(n_layers)],
    )
