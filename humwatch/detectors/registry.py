"""The detector types humwatch can train, and the one place a type name becomes a detector.

Adding a detector: its own folder under humwatch/detectors/ (a class with `options_model`, `fit`
and `describe`: `humwatch.detectors.base.Detector`), a `DetectorType` member and its line in
`_IMPLEMENTATIONS`. Nothing else dispatches on the type; scoring needs no dispatch at all (every
bundle is one ONNX graph).
"""

from __future__ import annotations

import importlib
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from humwatch.detectors.base import Detector, TrainOptions
from humwatch.errors import DetectorOptionsError


class DetectorType(StrEnum):
    """A model type; the value is what model.json `model_type` and `--model-type` say."""

    SPECTRAL_GAUSS = "spectral-gauss"
    BLOG_AE = "blog-ae"


DEFAULT_DETECTOR = DetectorType.SPECTRAL_GAUSS

# Imported on first use: the implementations pull in scipy and onnx, which scoring never needs.
_IMPLEMENTATIONS: dict[DetectorType, str] = {
    DetectorType.SPECTRAL_GAUSS: "humwatch.detectors.spectral_gauss:SpectralGauss",
    DetectorType.BLOG_AE: "humwatch.detectors.blog_ae:BlogAutoencoder",
}


def parse_detector_type(value: str | DetectorType) -> DetectorType:
    try:
        return DetectorType(value)
    except ValueError:
        choices = ", ".join(t.value for t in DetectorType)
        raise DetectorOptionsError(f"unknown model type {value!r} (expected one of {choices})") from None


def get_detector(detector_type: str | DetectorType) -> Detector:
    module_name, class_name = _IMPLEMENTATIONS[parse_detector_type(detector_type)].split(":")
    detector: Detector = getattr(importlib.import_module(module_name), class_name)()
    return detector


def parse_options(detector_type: str | DetectorType, options: dict[str, Any]) -> TrainOptions:
    """The type's options model from keyword options, with one clear message per problem."""
    kind = parse_detector_type(detector_type)
    model = get_detector(kind).options_model
    unknown = sorted(set(options) - set(model.model_fields))
    if unknown:
        accepted = ", ".join(sorted(model.model_fields))
        raise DetectorOptionsError(
            f"{kind.value} does not use the option(s) {', '.join(unknown)} (its options: {accepted})"
        )
    try:
        return model.model_validate(options)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
        raise DetectorOptionsError(f"invalid {kind.value} options: {problems}") from None
