"""The one onnxruntime session factory: training, calibration, evaluation and Lambda all run a
graph the same way, so a threshold is fitted on exactly the numbers serving computes.

One thread without spinning: onnxruntime's default spinning pool costs ~5 ms per call on graphs
this small, and a Lambda has one vCPU's worth of time to share anyway (docs/model.md).
Imports only onnxruntime (it runs in Lambda).
"""

from __future__ import annotations

import onnxruntime as ort

from humwatch.errors import ModelBundleError


def session_options() -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    options.log_severity_level = 3  # warnings about unused initialisers are noise in Lambda logs
    return options


def create_session(onnx_bytes: bytes) -> ort.InferenceSession:
    """A CPU session for a serialized graph; a graph onnxruntime cannot load is a ModelBundleError."""
    try:
        return ort.InferenceSession(onnx_bytes, session_options(), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors for bad graphs
        raise ModelBundleError(f"model.onnx cannot be loaded by onnxruntime: {exc}") from None
