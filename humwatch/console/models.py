"""The console API's request and response models (docs/console.md, "API").

Requests are validated after the caller's group was checked (a viewer's write is 403 whatever it
sends); a bad one is a 400 that names the field. Responses are plain JSON: timestamps RFC3339 UTC
with a `Z`, and rows of the operator commands as those commands print them with `--format json`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

MAX_PAGE = 500
DEFAULT_PAGE = 100


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ClipQuery(_Request):
    """`GET /devices/{thing}/clips` query string. since/until: RFC3339 or a duration back from now
    (`24h`, `7d`), as the CLI takes them."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    since: str | None = Field(None, max_length=40)
    until: str | None = Field(None, max_length=40)
    limit: int = Field(DEFAULT_PAGE, ge=1, le=MAX_PAGE)
    next_token: str | None = Field(None, alias="next", max_length=2048)
    anomalies: bool = False


class LabelRequest(_Request):
    label: Literal["normal", "anomaly"]
    note: str | None = Field(None, max_length=1000)


class PromoteRequest(_Request):
    version: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    force: StrictBool = False


class _Response(BaseModel):
    model_config = ConfigDict(frozen=True)


# A row of `humwatch devices --format json` (humwatch.ops.devices.DeviceStatus.row), as JSON.
DeviceRow = dict[str, Any]


class Me(_Response):
    username: str
    groups: list[str]
    can_write: bool


class DevicesResponse(_Response):
    devices: list[DeviceRow]


class ModelSummary(_Response):
    model_id: str
    version: str
    threshold: float
    band_edges_hz: list[float] | None  # n_mels + 1 edges; None when the manifest cannot be read


class DeviceResponse(_Response):
    device: DeviceRow
    model: ModelSummary | None


class ClipItem(_Response):
    clip_id: str
    captured_at: str
    status: str
    score: float | None
    threshold: float | None
    ratio: float | None
    is_anomaly: bool
    model_id: str | None
    model_version: str | None
    reason: str | None
    label: str | None
    label_note: str | None
    duration_s: float | None
    # Which part of the detector fired and where (humwatch.explain.Why), when the model can tell.
    why: dict[str, Any] | None = None


class ClipPage(_Response):
    items: list[ClipItem]
    next: str | None  # opaque: give it back as `next` for the following page


class Spectrogram(_Response):
    db: list[list[float]]  # n_mels rows (lowest band first) x frame columns, dB to 0.1
    n_mels: int
    frame_s: float  # seconds per column (frames averaged to keep at most MAX_COLUMNS)
    band_edges_hz: list[float]
    min_db: float
    max_db: float


class Bands(_Response):
    clip: list[float] | None  # the clip's mean level per band (dB)
    normal_mean: list[float] | None  # the model's training clips: mean of their band means
    normal_std: list[float] | None  # ... and its spread


class ClipDetail(_Response):
    clip: ClipItem
    audio_url: str | None  # presigned GET; None when the clip's audio is no longer stored
    audio_expires_at: str | None
    spectrogram: Spectrogram | None  # None when the stored object is not decodable audio
    bands: Bands
    explanation: str


class LabelResponse(_Response):
    clip: ClipItem


class AckResponse(_Response):
    device: DeviceRow
    acknowledged: bool
    message: str


class ModelsResponse(_Response):
    models: list[dict[str, Any]]
    candidates: list[dict[str, Any]]


class CandidatesResponse(_Response):
    candidates: list[dict[str, Any]]


class CandidateResponse(_Response):
    candidate: dict[str, Any]
