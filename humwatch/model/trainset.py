"""The one training-set loader: which clips train, how they are decoded, what was rejected, and
the dataset fingerprint that model.json records.

Every detector trains through `TrainingSet`, so the rules are the same for all of them:
- normal and unlabelled clips train; anomaly clips are skipped and counted (never trained on);
- each clip is decoded at the model's sample rate and channel with the audio limits serving
  applies; a clip that fails is listed with its reason, never raised;
- the fingerprint is a sha256 over the sorted content hashes of the clips that trained, so the
  same clips in any order or folder give the same fingerprint.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, Protocol, TypeVar

import numpy as np

from humwatch.audio import AudioLimits, decode_audio
from humwatch.errors import AudioRejected, DatasetError
from humwatch.progress import progress_bar

MODEL_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # goes into S3 keys and table keys
Channel = int | Literal["mean"]
T = TypeVar("T")


class ClipLike(Protocol):
    """What training needs of a clip (humwatch.datasets.LabelledClip fits)."""

    @property
    def path(self) -> Path: ...
    @property
    def label(self) -> str | None: ...


def group_of(clip: ClipLike) -> str:
    """Calibration strata: the machine a clip comes from (manifest columns), else its folder."""
    meta = getattr(clip, "meta", None) or {}
    parts = [str(meta[k]) for k in ("machine_type", "machine_id", "machine_seed", "section") if meta.get(k)]
    return "/".join(parts) if parts else str(Path(clip.path).parent)


def dataset_fingerprint(file_hashes: Iterable[str]) -> str:
    """sha256 over the sorted content hashes: same clips (in any order, any folder) -> same id."""
    return hashlib.sha256("\n".join(sorted(file_hashes)).encode()).hexdigest()


def new_version(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")


def check_model_id(model_id: str) -> str:
    if not MODEL_ID_PATTERN.match(model_id):
        raise ValueError(f"model id {model_id!r} must be 1-64 letters, digits, '-' or '_'")
    return model_id


@dataclass
class TrainingSet:
    """Normal clips to train on, decoded lazily (a pass holds one clip's samples at a time)."""

    clips: Sequence[ClipLike]
    sample_rate: int
    channel: Channel = 0
    limits: AudioLimits = field(default_factory=AudioLimits)
    progress: bool = False
    normal: list[ClipLike] = field(init=False)
    kept: list[tuple[Path, str]] = field(init=False, default_factory=list)
    hashes: list[str] = field(init=False, default_factory=list)
    rejected: list[dict[str, str]] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        self.normal = [c for c in self.clips if c.label in ("normal", None)]
        if not self.normal:
            raise DatasetError("no normal clips to train on (anomaly clips are never used for training)")

    @property
    def skipped_anomalies(self) -> int:
        return len(self.clips) - len(self.normal)

    @property
    def fingerprint(self) -> str:
        return dataset_fingerprint(self.hashes)

    def _decode(self, data: bytes | Path) -> np.ndarray:
        return decode_audio(
            data, target_sample_rate=self.sample_rate, channel=self.channel, limits=self.limits
        ).samples

    def decode_all(self) -> Iterator[np.ndarray]:
        """The first pass: every normal clip's samples (float32 mono at the model's rate), once;
        records what decoded (`kept`: path and calibration group) and what not (`rejected`)."""
        self.kept, self.hashes, self.rejected = [], [], []
        bar = progress_bar(
            self.normal, enabled=self.progress, desc="clips", total=len(self.normal), unit="clip"
        )
        for clip in bar:
            path = Path(clip.path)
            try:
                data = path.read_bytes()
                samples = self._decode(data)
            except AudioRejected as exc:
                self.rejected.append({"file": path.name, "code": exc.code, "message": exc.message})
                continue
            except OSError as exc:
                self.rejected.append(
                    {"file": path.name, "code": "not_audio", "message": f"cannot read: {exc.strerror}"}
                )
                continue
            self.kept.append((path, group_of(clip)))
            self.hashes.append(hashlib.sha256(data).hexdigest())
            yield samples

    def decode_again(self, indices: Iterable[int]) -> Iterator[np.ndarray]:
        """Decode kept clips again by index (a hold-out scored after the model is built)."""
        for i in indices:
            yield self._decode(self.kept[int(i)][0])

    def require(self, minimum: int, who: str) -> None:
        """DatasetError unless at least `minimum` clips decoded, naming the first rejection."""
        if len(self.kept) < minimum:
            detail = (
                f" ({len(self.rejected)} rejected: {self.rejected[0]['message']})" if self.rejected else ""
            )
            raise DatasetError(
                f"{who} needs at least {minimum} usable normal clips, got {len(self.kept)}{detail}"
            )
