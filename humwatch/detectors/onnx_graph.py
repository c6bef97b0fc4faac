"""A tiny ONNX graph builder: named constants, unique node names, one place for the opset.

The detectors compose one graph from a waveform to a score out of small pieces (framing, DFT by
MatMul, pooling, a Gaussian head). Writing them against this helper keeps each piece a short
function and the whole graph a single `onnx.ModelProto`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

OPSET = 17


class GraphBuilder:
    """Accumulates nodes and initializers; `model()` returns the checked ModelProto."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._nodes: list[Any] = []
        self._initializers: list[Any] = []
        self._inputs: list[Any] = []
        self._outputs: list[Any] = []
        self._count = 0

    def fresh(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, value: np.ndarray | float | int | list[int], hint: str = "c") -> str:
        from onnx import numpy_helper

        array = np.asarray(value)
        if array.dtype.kind == "f":
            array = array.astype(np.float32)
        elif array.dtype.kind in "iu":
            array = array.astype(np.int64)
        name = self.fresh(hint)
        self._initializers.append(numpy_helper.from_array(array, name))
        return name

    def op(self, op_type: str, inputs: list[str], hint: str | None = None, **attrs: Any) -> str:
        from onnx import helper

        out = self.fresh(hint or op_type.lower())
        self._nodes.append(helper.make_node(op_type, inputs, [out], name=self.fresh(op_type), **attrs))
        return out

    def op_multi(self, op_type: str, inputs: list[str], n_outputs: int, **attrs: Any) -> list[str]:
        """A node with several outputs (TopK: values, indices)."""
        from onnx import helper

        outs = [self.fresh(op_type.lower()) for _ in range(n_outputs)]
        self._nodes.append(helper.make_node(op_type, inputs, outs, name=self.fresh(op_type), **attrs))
        return outs

    def input(self, name: str, shape: list[int | str | None]) -> str:
        from onnx import TensorProto, helper

        self._inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, shape))
        return name

    def output(self, tensor: str, name: str, shape: list[int | str | None]) -> None:
        """Expose `tensor` as graph output `name` (an Identity keeps internal names private)."""
        from onnx import TensorProto, helper

        self._nodes.append(helper.make_node("Identity", [tensor], [name], name=self.fresh("out")))
        self._outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, shape))

    def model(self) -> Any:
        import onnx
        from onnx import helper

        graph = helper.make_graph(self._nodes, self.name, self._inputs, self._outputs, self._initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
        model.ir_version = 8  # readable by every onnxruntime >= 1.14 (Lambda layer pins a recent one)
        onnx.checker.check_model(model)
        return model


def session(onnx_bytes: bytes) -> Any:
    """onnxruntime session the way the Scorer runs it: one thread, no spinning."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return ort.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])
