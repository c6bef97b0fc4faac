"""Anomaly detectors beyond the blog autoencoder, and the one place `--model-type` dispatches.

Every model type produces the same kind of bundle (model.onnx waveform -> `score`, `band_means`,
plus model.json per `humwatch.model.bundle.ModelManifest`), so `humwatch.scoring.Scorer` and the
Lambda functions score any of them unchanged.

- `spectral-gauss` (default): an ensemble of shrinkage Gaussians on clip statistics (band
  modulation spectra in wide and narrow bands, fine-resolution line spectrum, log-mel frames,
  level), combined by the max of their standardised scores and calibrated on out-of-fold scores
  of every training clip. See docs/detectors.md.
- `blog-ae`: the AWS blog's autoencoder (`humwatch.training.train_model`), kept for comparison.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from humwatch.model.bundle import ModelBundle
    from humwatch.training import ClipLike

MODEL_TYPES: tuple[str, ...] = ("spectral-gauss", "blog-ae")
DEFAULT_MODEL_TYPE = "spectral-gauss"


def train_bundle(
    model_type: str, clips: Sequence[ClipLike], out_dir: str | Path | None, **options: Any
) -> ModelBundle:
    """Train a bundle of `model_type`; options are those of the type's trainer.

    `epochs` and `holdout_fraction` only mean something to `blog-ae` (spectral-gauss has no
    epochs and calibrates on out-of-fold scores of every clip) and are ignored by the others.
    """
    if model_type == "blog-ae":
        from humwatch.training import train_model

        return train_model(clips, out_dir, **options)
    if model_type == "spectral-gauss":
        from humwatch.detectors.train import train_spectral_model

        options.pop("epochs", None)
        options.pop("holdout_fraction", None)
        return train_spectral_model(clips, out_dir, **options)
    raise ValueError(f"unknown model type {model_type!r} (expected one of {', '.join(MODEL_TYPES)})")
