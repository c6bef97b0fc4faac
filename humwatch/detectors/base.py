"""What every detector is to the rest of humwatch: options it validates, and a fit that turns a
`TrainingSet` into one ONNX graph (waveform -> `score`, `band_means`, ...) plus its threshold.

The trainer (`humwatch.detectors.training`) does everything that is the same for all detectors
(loading clips, model.json, saving), so a detector only says how it learns "normal".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from humwatch.audio import AudioLimits
from humwatch.features import FeatureParams
from humwatch.model.bundle import ModelManifest
from humwatch.model.calibration import DEFAULT_TARGET_FPR, check_target_fpr
from humwatch.model.trainset import Channel, TrainingSet, check_model_id


class TrainOptions(BaseModel):
    """Options every detector takes. A detector's own options subclass this; an option its
    type does not use is an error (extra="forbid"), never silently dropped."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    model_id: str = "model"
    seed: int = 0
    target_fpr: float = DEFAULT_TARGET_FPR
    params: FeatureParams = Field(default_factory=FeatureParams)
    channel: Channel = 0
    limits: AudioLimits = Field(default_factory=AudioLimits)
    progress: bool = False

    @field_validator("model_id")
    @classmethod
    def _model_id(cls, value: str) -> str:
        return check_model_id(value)

    @field_validator("target_fpr")
    @classmethod
    def _target_fpr(cls, value: float) -> float:
        return check_target_fpr(value)


@dataclass
class FittedModel:
    """What a detector's fit returns; the trainer writes it into the bundle."""

    onnx_bytes: bytes
    onnx_outputs: tuple[str, ...]
    threshold: dict[str, Any]  # humwatch.model.calibration.fit_threshold's block
    score_samples: np.ndarray  # the normal scores the threshold was fitted on
    score_samples_kind: str  # "holdout" or "out-of-fold"
    band_means: np.ndarray  # [n_clips, n_mels] every training clip's band means (drift reference)
    training: dict[str, Any] = field(default_factory=dict)  # detector-specific model.json training fields
    manifest_extra: dict[str, Any] = field(default_factory=dict)  # detector-specific top-level fields


class Detector(Protocol):
    """One model type. Implementations live in their own folder and are listed in the registry."""

    options_model: type[TrainOptions]

    def fit(self, training_set: TrainingSet, options: Any) -> FittedModel:
        """Learn from the (not yet decoded) training set; raise DatasetError on too little data."""

    def describe(self, manifest: ModelManifest) -> str:
        """One line on how the bundle was trained (for `humwatch train`)."""
