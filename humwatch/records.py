"""Typed records stored in the history table (see docs/architecture.md, "History table").

They live outside `humwatch.dal` so logic and CLI code can use them without importing boto3;
the history table classes in `humwatch.dal` (composed by `dal/history.py`) convert them to and
from DynamoDB items.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from humwatch.alerts.policy import AlertState
from humwatch.explain import Why


class ClipStatus(StrEnum):
    SCORED = "SCORED"
    REJECTED = "REJECTED"
    # Decoded and validated while the device learns its normal: kept with its statistics, never
    # scored or alerted on (there is no model of the device yet).
    BASELINE = "BASELINE"


class DeviceLifecycle(StrEnum):
    """Where a device is in learning its own normal (docs/learning.md).

    learning -> training -> monitoring, and back to learning on request (`humwatch device learn`).
    """

    LEARNING = "learning"
    TRAINING = "training"
    MONITORING = "monitoring"


Label = Literal["anomaly", "normal"]
LABELS: tuple[str, ...] = ("anomaly", "normal")


class ClipRecord(BaseModel):
    """One clip's result: exactly one per uploaded object (conditional write on its key)."""

    model_config = ConfigDict(extra="ignore")

    thing: str
    clip_id: str
    captured_at: datetime
    status: ClipStatus
    processed_at: datetime
    s3_key: str
    etag: str = ""
    size: int | None = None
    # SCORED
    score: float | None = None
    threshold: float | None = None
    ratio: float | None = None
    is_anomaly: bool = False
    model_id: str | None = None
    model_version: str | None = None
    duration_s: float | None = None
    sample_rate: int | None = None
    band_means: list[float] | None = None
    processing_ms: float | None = None
    why: Why | None = None  # which member fired and where (humwatch.explain); a few small fields
    # REJECTED: a stable reason code (AudioRejectReason or "too_large", ...) and a sentence
    reason: str | None = None
    reason_message: str | None = None
    # operator feedback
    label: Label | None = None
    label_note: str | None = None
    labelled_at: datetime | None = None
    ttl: int | None = None  # epoch seconds; DynamoDB TTL deletes the item after it


@dataclass(frozen=True)
class ClipSample:
    """What the drift check reads of one clip result (a projection of its item)."""

    captured_at: datetime
    status: ClipStatus
    score: float | None
    is_anomaly: bool
    model_id: str | None
    model_version: str | None
    band_means: tuple[float, ...] | None
    # An operator's label: the drift notice says what a retrain would train on (learning.selection).
    label: Label | None = None


class NoticeTimes(BaseModel):
    """The device's `drift-notices` item: when the drift check last sent each kind of notice, so
    that a cooldown spanning several runs needs one read instead of the earlier reports."""

    thing: str
    drift_notice_at: datetime | None = None
    silence_notice_at: datetime | None = None


class PendingAlert(BaseModel):
    """An alert decided and saved with the state but not yet confirmed published (outbox):
    a retry of the record publishes it again instead of losing it."""

    clip_id: str
    subject: str
    body: str
    attributes: dict[str, str]


class DeviceState(BaseModel):
    """The `state` item of a device: alert state, last result, optimistic-lock revision."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    thing: str
    alert: AlertState = Field(default_factory=AlertState)
    last_clip_at: datetime | None = None
    last_status: ClipStatus | None = None
    last_score: float | None = None
    last_ratio: float | None = None
    model_id: str | None = None
    model_version: str | None = None
    pending_alert: PendingAlert | None = None
    alerts_sent: int = 0
    rev: int = 0  # 0 = not stored yet


class DeviceInfo(BaseModel):
    """Registry entry of a device: which model scores it and what kind of machine it is, and
    whether an operator revoked it (`humwatch device revoke`: its certificates were deactivated)."""

    thing: str
    model_id: str | None = None  # None -> the default model
    machine_type: str = "machine"
    created_at: datetime
    description: str | None = None
    revoked_at: datetime | None = None
    revoked_certificates: tuple[str, ...] = ()  # certificate ids deactivated then
    revoke_reason: str | None = None
    # The learning loop. A device registered before it existed (no `state`) is monitoring.
    state: DeviceLifecycle = DeviceLifecycle.MONITORING
    learning_since: datetime | None = None  # clips captured from then on form the baseline
    baseline_hours: float | None = None  # this learning round's span, else HUMWATCH_BASELINE_HOURS
    training_request_id: str | None = None
    baseline_count: int = 0  # baseline clips kept in this learning round (process_clip counts them)
    training_note: str | None = None  # what the last training run left to know or do, in words
    # The machine's nominal shaft speed from its nameplate (`humwatch device learn --shaft-rpm`):
    # the models trained for the device say shaft orders (humwatch.explain). None: not known.
    shaft_rpm: float | None = Field(default=None, gt=0.0)

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def learning(self) -> bool:
        """No model scores this device's clips: they build its baseline (learning or training)."""
        return self.state is not DeviceLifecycle.MONITORING


class CandidateStatus(StrEnum):
    CANDIDATE = "candidate"  # trained and gated; waits for `humwatch model promote`
    PROMOTED = "promoted"  # scores the device's clips now, or did until a later promotion
    REJECTED = "rejected"  # failed the gate while commissioning (the device keeps learning)
    ROLLED_BACK = "rolled-back"  # was promoted, then `humwatch model rollback` left it


class ModelCandidate(BaseModel):
    """A model trained for one device by train_model (pk `registry`, sk `candidate#{thing}#{version}`).

    Written after its bundle and gate report are complete in S3, so a candidate that exists is
    whole (a run killed halfway leaves objects no one lists)."""

    thing: str
    model_id: str
    version: str
    sha256: str
    request_id: str
    reason: str  # "baseline" or "retrain"
    created_at: datetime
    status: CandidateStatus = CandidateStatus.CANDIDATE
    passed: bool
    summary: str  # one line: what the gate found
    report_key: str
    n_clips: int
    promoted_at: datetime | None = None


class ModelPointer(BaseModel):
    """Registry entry of a model: the version that scores clips now."""

    model_id: str
    version: str
    sha256: str
    published_at: datetime


class TelemetryRecord(BaseModel):
    """The last heartbeat of a device, as the device sent it, plus when it arrived."""

    thing: str
    received_at: datetime | None = None
    payload: dict[str, Any]
