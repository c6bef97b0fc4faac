"""Anomaly detectors: every model type behind one `Detector` interface and one registry.

Every type produces the same kind of bundle (model.onnx waveform -> `score`, `band_means`, ...
plus model.json per `humwatch.model.bundle.ModelManifest`), so `humwatch.scoring.Scorer` and the
Lambda functions score any of them unchanged.

- `spectral-gauss` (default, `spectral_gauss/`): an ensemble of shrinkage Gaussians on clip
  statistics, calibrated on out-of-fold scores of every training clip (docs/detectors.md).
- `blog-ae` (`blog_ae/`): the AWS blog's autoencoder, kept for comparison.
How to add a third: `humwatch.detectors.registry` (and docs/architecture.md).
"""

from humwatch.detectors.registry import (
    DEFAULT_DETECTOR,
    DetectorType,
    get_detector,
    parse_detector_type,
    parse_options,
)
from humwatch.detectors.training import train_bundle

__all__ = [
    "DEFAULT_DETECTOR",
    "DetectorType",
    "get_detector",
    "parse_detector_type",
    "parse_options",
    "train_bundle",
]
