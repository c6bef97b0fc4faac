"""`spectral-gauss` (the default detector): an ensemble of Gaussian models of clip statistics.

- `frontend`: waveform -> clip statistics, as ONNX graph pieces and a numpy reference;
- `gaussian`: the member models (diagonal, band-max, full-covariance frames);
- `ensemble`: members, their fit with out-of-fold scores, the combination and its graph head;
- `detector`: the `Detector` the registry trains (statistics from the serving front end).
"""

from humwatch.detectors.spectral_gauss.detector import SpectralGauss, SpectralGaussOptions

__all__ = ["SpectralGauss", "SpectralGaussOptions"]
