"""One ONNX graph from waveform to anomaly score, so training and serving cannot drift apart.

waveform float32 [n_samples] (any length >= the model's minimum)
  -> float64, centred zero padding (n_fft/2 each side), framing (hop), periodic Hann
  -> DFT (ONNX DFT op, onesided, float64: a float32 FFT is off by several dB in bins far below
     the loudest one, DESIGN.md) -> power
  -> Slaney mel matrix (a constant; ONNX's MelWeightMatrix is HTK-style) -> log (dcase or blog)
  -> band_means [n_mels] (drift statistics)
  -> 5-frame vectors -> standardise -> autoencoder -> per-vector MSE -> vector_errors [n_vectors]
  -> score [] = mean of vector_errors

Built with `onnx.helper` at training time only (the `onnx` package never reaches Lambda).
`autoencoder_from_onnx` reads the weights back, for reference paths and parity tests.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from humwatch.features import BLOG_AMIN, BLOG_TOP_DB, DCASE_EPS, FeatureParams, hann_window, mel_filterbank
from humwatch.model.autoencoder import Autoencoder

INPUT_NAME = "waveform"
OUTPUT_NAMES: tuple[str, str, str] = ("score", "vector_errors", "band_means")
OPSET = 17
_MEAN = "standardise_mean"
_INV_STD = "standardise_inv_std"


class _Graph:
    """Tiny helper: unique tensor names, constants and nodes in one place."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._count = 0

    def name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, value: np.ndarray | np.generic, hint: str, *, exact_name: str | None = None) -> str:
        name = exact_name or self.name(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def i64(self, values: list[int], hint: str = "i64") -> str:
        return self.const(np.array(values, dtype=np.int64), hint)

    def op(self, op_type: str, inputs: list[str], hint: str | None = None, **attrs: Any) -> str:
        out = self.name(hint or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out

    def op_named(self, op_type: str, inputs: list[str], output: str, **attrs: Any) -> str:
        self.nodes.append(helper.make_node(op_type, inputs, [output], **attrs))
        return output


def _frames(g: _Graph, padded: str, n_frames: str, params: FeatureParams) -> str:
    """[n_frames, n_fft] overlapping frames of the padded signal."""
    hop, n_fft = params.hop_length, params.n_fft
    if n_fft % hop == 0:
        # hop divides n_fft (the usual case): frames are runs of r consecutive hop-sized blocks,
        # so framing is a reshape plus r slices (memcpy), not a per-sample gather.
        r = n_fft // hop
        n_blocks = g.op("Add", [n_frames, g.i64([r - 1])])
        length = g.op("Mul", [n_blocks, g.i64([hop])])
        head = g.op("Slice", [padded, g.i64([0]), length, g.i64([0])])
        blocks = g.op("Reshape", [head, g.i64([-1, hop])], "blocks")
        parts = []
        for j in range(r):
            end = g.op("Add", [n_frames, g.i64([j])])
            parts.append(g.op("Slice", [blocks, g.i64([j]), end, g.i64([0])]))
        return g.op("Concat", parts, "frames", axis=1) if r > 1 else parts[0]
    zero = g.const(np.array(0, dtype=np.int64), "zero")
    one = g.const(np.array(1, dtype=np.int64), "one")
    count = g.op("Squeeze", [n_frames, g.i64([0])])
    starts = g.op("Mul", [g.op("Range", [zero, count, one]), g.const(np.array(hop, dtype=np.int64), "hop")])
    index = g.op("Add", [g.op("Unsqueeze", [starts, g.i64([1])]), g.i64(list(range(n_fft)))])
    return g.op("Gather", [padded, index], "frames", axis=0)


def _log(g: _Graph, mel: str, params: FeatureParams) -> str:
    to_db = np.float32(10.0 / math.log(10.0))
    if params.log_mode == "dcase":
        shifted = g.op("Add", [mel, g.const(np.float32(DCASE_EPS), "eps")])
        scale = np.float32((20.0 / params.power) / math.log(10.0))
        return g.op("Mul", [g.op("Log", [shifted]), g.const(scale, "db_scale")], "logmel")
    amin = g.const(np.float32(BLOG_AMIN), "amin")
    db_scale = g.const(to_db, "db_scale")
    db = g.op("Mul", [g.op("Log", [g.op("Max", [mel, amin])]), db_scale])
    ref = g.op("ReduceMax", [mel], keepdims=0)
    ref_db = g.op("Mul", [g.op("Log", [g.op("Max", [ref, amin])]), db_scale])
    rel = g.op("Sub", [db, ref_db])
    floor = g.op("Sub", [g.op("ReduceMax", [rel], keepdims=0), g.const(np.float32(BLOG_TOP_DB), "top_db")])
    return g.op("Max", [rel, floor], "logmel")


def build_scoring_graph(params: FeatureParams, model: Autoencoder, *, doc: str = "") -> onnx.ModelProto:
    """The whole scorer as one ONNX model (opset 17; dynamic n_samples)."""
    if model.input_dim != params.vector_dims:
        raise ValueError(f"model expects {model.input_dim}-dim vectors, features give {params.vector_dims}")
    g = _Graph()
    pad = params.n_fft // 2

    wave64 = g.op("Cast", [INPUT_NAME], "wave64", to=TensorProto.DOUBLE)
    n_samples = g.op("Shape", [INPUT_NAME], "n_samples")
    padded = g.op("Pad", [wave64, g.i64([pad, pad])], "padded", mode="constant")
    n_frames = g.op("Add", [g.op("Div", [n_samples, g.i64([params.hop_length])]), g.i64([1])], "n_frames")

    frames = _frames(g, padded, n_frames, params)
    windowed = g.op("Mul", [frames, g.const(hann_window(params.n_fft).astype(np.float64), "hann")])
    spectrum = g.op(
        "DFT", [g.op("Unsqueeze", [windowed, g.i64([-1])])], "spectrum", axis=1, onesided=1, inverse=0
    )
    squares = g.op("Mul", [spectrum, spectrum], "squares")  # [n_frames, n_bins, (re, im)]
    mel_t = mel_filterbank(params).T  # [n_bins, n_mels]
    if params.power == 2.0:
        # re^2 and im^2 go through the mel matrix separately (each row twice), which spares a
        # ReduceSum pass. Squares are non-negative, so float32 loses nothing to cancellation: the
        # cancellation-prone part (the FFT) already ran in float64.
        flat = g.op("Reshape", [g.op("Cast", [squares], to=TensorProto.FLOAT), g.i64([0, -1])])
        mel_matrix = np.repeat(mel_t, 2, axis=0).astype(np.float32)
    else:
        power = g.op("ReduceSum", [squares, g.i64([-1])], "power", keepdims=0)
        power = g.op("Pow", [power, g.const(np.float64(params.power / 2.0), "pow")])
        flat = g.op("Cast", [power], to=TensorProto.FLOAT)
        mel_matrix = mel_t.astype(np.float32)
    mel = g.op("MatMul", [flat, g.const(mel_matrix, "mel_matrix")], "mel")
    logmel = _log(g, mel, params)  # [n_frames, n_mels]
    g.op_named("ReduceMean", [logmel], OUTPUT_NAMES[2], axes=[0], keepdims=0)

    n_vectors = g.op("Sub", [n_frames, g.i64([params.frames - 1])], "n_vectors")
    zero = g.const(np.array(0, dtype=np.int64), "zero")
    one = g.const(np.array(1, dtype=np.int64), "one")
    starts = g.op("Range", [zero, g.op("Squeeze", [n_vectors, g.i64([0])]), one])
    index = g.op("Add", [g.op("Unsqueeze", [starts, g.i64([1])]), g.i64(list(range(params.frames)))])
    stacked = g.op("Gather", [logmel, index], axis=0)  # [n_vectors, frames, n_mels]
    vectors = g.op("Reshape", [stacked, g.i64([-1, params.vector_dims])], "vectors")

    mean = g.const(model.mean.astype(np.float32), "", exact_name=_MEAN)
    inv_std = g.const((1.0 / model.std).astype(np.float32), "", exact_name=_INV_STD)
    z = g.op("Mul", [g.op("Sub", [vectors, mean]), inv_std], "standardised")
    h = z
    last = len(model.weights) - 1
    for i, (w, b) in enumerate(zip(model.weights, model.biases, strict=True)):
        wn = g.const(w.astype(np.float32), "", exact_name=f"ae_weight_{i}")
        bn = g.const(b.astype(np.float32), "", exact_name=f"ae_bias_{i}")
        h = g.op("Add", [g.op("MatMul", [h, wn]), bn], f"dense{i}")
        if i < last:
            h = g.op("Relu", [h])
    residual = g.op("Sub", [z, h])
    errors = g.op_named(
        "ReduceMean", [g.op("Mul", [residual, residual])], OUTPUT_NAMES[1], axes=[1], keepdims=0
    )
    g.op_named("ReduceMean", [errors], OUTPUT_NAMES[0], axes=[0], keepdims=0)

    graph = helper.make_graph(
        g.nodes,
        "humwatch_scorer",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["n_samples"])],
        [
            helper.make_tensor_value_info(OUTPUT_NAMES[0], TensorProto.FLOAT, []),
            helper.make_tensor_value_info(OUTPUT_NAMES[1], TensorProto.FLOAT, ["n_vectors"]),
            helper.make_tensor_value_info(OUTPUT_NAMES[2], TensorProto.FLOAT, [params.n_mels]),
        ],
        initializer=g.initializers,
        doc_string=doc,
    )
    model_proto = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="humwatch"
    )
    model_proto.ir_version = 8  # readable by onnxruntime >= 1.10
    onnx.checker.check_model(model_proto)
    return model_proto


def export_scoring_model(params: FeatureParams, model: Autoencoder, *, doc: str = "") -> bytes:
    return build_scoring_graph(params, model, doc=doc).SerializeToString()


def autoencoder_from_onnx(onnx_bytes: bytes) -> Autoencoder:
    """Read the standardisation and dense weights back out of a scoring graph."""
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
