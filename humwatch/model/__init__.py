"""The blog autoencoder model: trainer, ONNX export, bundle, calibration.

Submodules are imported explicitly (`humwatch.model.bundle` is what the Lambda runtime needs;
`autoencoder`, `onnx_export` and `calibration` are training-time only).
"""
