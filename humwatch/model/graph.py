"""The one ONNX graph builder: named constants, unique tensor names, one opset.

Every detector writes its scoring graph (waveform -> `score`, `band_means`, ...) with this
builder, so there is one `OPSET` and one IR version to keep readable by the Lambda layer's
onnxruntime. Training-time only: the `onnx` package never reaches Lambda.
"""

from __future__ import annotations

from typing import Any

import numpy as np

OPSET = 17
IR_VERSION = 8  # readable by every onnxruntime >= 1.14 (the Lambda layer pins a recent one)
INPUT_NAME = "waveform"


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

    def const(
        self,
        value: np.ndarray | np.generic | float | int | list[int],
        hint: str = "c",
        *,
        dtype: type[np.generic] | None = None,
        name: str | None = None,
    ) -> str:
        """An initializer. Floats become float32 and integers int64 unless `dtype` says otherwise
        (the log-mel front end keeps its DFT in float64); `name` fixes the tensor's name so that
        weights can be read back out of a saved graph."""
        from onnx import numpy_helper

        array = np.asarray(value)
        if dtype is not None:
            array = array.astype(dtype)
        elif array.dtype.kind == "f":
            array = array.astype(np.float32)
        elif array.dtype.kind in "iu":
            array = array.astype(np.int64)
        tensor_name = name or self.fresh(hint)
        self._initializers.append(numpy_helper.from_array(array, tensor_name))
        return tensor_name

    def op(self, op_type: str, inputs: list[str], hint: str | None = None, **attrs: Any) -> str:
        return self.op_multi(op_type, inputs, 1, hint=hint, **attrs)[0]

    def op_multi(
        self, op_type: str, inputs: list[str], n_outputs: int, *, hint: str | None = None, **attrs: Any
    ) -> list[str]:
        """A node with several outputs (TopK: values, indices)."""
        from onnx import helper

        outs = [self.fresh(hint or op_type.lower()) for _ in range(n_outputs)]
        self._nodes.append(helper.make_node(op_type, inputs, outs, name=self.fresh(op_type), **attrs))
        return outs

    def input(self, name: str, shape: list[int | str | None]) -> str:
        from onnx import TensorProto, helper

        self._inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, shape))
        return name

    def output(
        self,
        tensor: str,
        name: str,
        shape: list[int | str | None],
        dtype: type[np.generic] = np.float32,
    ) -> None:
        """Expose `tensor` as graph output `name` (an Identity keeps internal names private)."""
        from onnx import helper

        self._nodes.append(helper.make_node("Identity", [tensor], [name], name=self.fresh("out")))
        elem_type = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
        self._outputs.append(helper.make_tensor_value_info(name, elem_type, shape))

    def model(self, doc: str = "") -> Any:
        import onnx
        from onnx import helper

        graph = helper.make_graph(
            self._nodes, self.name, self._inputs, self._outputs, self._initializers, doc_string=doc
        )
        model = helper.make_model(
            graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="humwatch"
        )
        model.ir_version = IR_VERSION
        onnx.checker.check_model(model)
        return model

    def serialize(self, doc: str = "") -> bytes:
        return bytes(self.model(doc).SerializeToString())
