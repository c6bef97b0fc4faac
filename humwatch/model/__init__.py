"""The model layer every detector shares: one of each.

- `bundle`: model.onnx + model.json, validated on load (runs in Lambda);
- `session`: the one onnxruntime session factory (runs in Lambda);
- `graph`: the one ONNX graph builder and opset (training only);
- `calibration`: the one threshold fit (training only);
- `trainset`: the one training-set loader: decode loop, rejections, dataset fingerprint.
Detectors (`humwatch.detectors`) build on these; nothing here knows a detector type.
"""
