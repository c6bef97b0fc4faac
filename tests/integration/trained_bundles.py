"""Real (tiny) model bundles for the integration tests, trained once per detector type per session."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from humwatch.datasets import LabelledClip
from humwatch.detectors import train_bundle

# blog-ae only needs a few epochs here: these tests check the plumbing around a model, not its
# accuracy. spectral-gauss has no epochs (and options a detector does not use are an error).
TRAINING_OPTIONS: dict[str, dict[str, Any]] = {"blog-ae": {"epochs": 3}}


@dataclass
class TrainedBundles:
    """Bundle folders by detector type, each trained on first use (about 1 s) on the same clips."""

    clips: list[LabelledClip]
    root: Path
    _dirs: dict[str, Path] = field(default_factory=dict)

    def dir_for(self, detector: str) -> Path:
        if detector not in self._dirs:
            out = self.root / detector
            options = TRAINING_OPTIONS.get(detector, {})
            train_bundle(detector, self.clips, out, model_id="fan-test", seed=0, **options)
            self._dirs[detector] = out
        return self._dirs[detector]
