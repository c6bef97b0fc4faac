"""Deployment settings: every knob lives in `cdk.json` context, validated once at synth time."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from humwatch.alerts.policy import AlertPolicy
from humwatch.config import MAX_AUDIO_URL_EXPIRY_S, default_uploads_per_hour
from humwatch.contracts import FUNCTION_RUNTIME_ENV, PIPELINE

_DEFAULT_POLICY = AlertPolicy()  # the alert defaults live in one place

# Training runs at once, whatever the backlog of requests: the least an SQS event source allows
# (its MaximumConcurrency is 2 to 1000). Training requests are rare (a baseline completing, an
# operator's retrain), so two at a time only queues them for minutes.
TRAIN_MODEL_MAX_CONCURRENCY = 2

# The console's presigned audio links: the most humwatch.config allows (5 minutes).
CONSOLE_AUDIO_URL_EXPIRY_S = MAX_AUDIO_URL_EXPIRY_S

# EventBridge cron: six fields inside cron(...); rate(...) is accepted too.
_SCHEDULE_RE = re.compile(r"^(cron\((\S+ ){5}\S+\)|rate\(\d+ (minute|minutes|hour|hours|day|days)\))$")
_E164_RE = re.compile(r"^\+[1-9]\d{6,14}$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class SettingsError(ValueError):
    """A context value is missing or invalid; the message names the `cdk.json` key."""


class DeploySettings(BaseModel):
    """The `cdk.json` context knobs (camelCase keys there, snake_case here)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="forbid")

    stack_name: str = Field(default="Humwatch", pattern=r"^[A-Za-z][A-Za-z0-9-]{0,127}$", alias="stackName")
    alert_emails: tuple[str, ...] = Field(default=(), alias="alertEmails")
    alert_phone_numbers: tuple[str, ...] = Field(default=(), alias="alertPhoneNumbers")
    ops_emails: tuple[str, ...] = Field(default=(), alias="opsEmails")
    clip_retention_days: int = Field(default=90, ge=1, alias="clipRetentionDays")
    report_retention_days: int = Field(default=365, ge=1, alias="reportRetentionDays")
    access_log_retention_days: int = Field(default=90, ge=1, alias="accessLogRetentionDays")
    history_ttl_days: int = Field(default=90, ge=0, alias="historyTtlDays")
    alert_k: int = Field(default=_DEFAULT_POLICY.k, ge=1, alias="alertK")
    alert_n: int = Field(default=_DEFAULT_POLICY.n, ge=1, alias="alertN")
    alert_evidence: float = Field(
        default=_DEFAULT_POLICY.evidence_threshold, ge=0, le=100, alias="alertEvidence"
    )
    alert_cooldown_minutes: int = Field(default=60, ge=0, alias="alertCooldownMinutes")
    critical_ratio: float = Field(default=2.0, gt=1.0, alias="criticalRatio")
    drift_schedule: str = Field(default="cron(15 6 * * ? *)", alias="driftSchedule")
    drift_window_hours: int = Field(default=24, ge=1, le=24 * 90, alias="driftWindowHours")
    drift_min_clips: int = Field(default=20, ge=2, alias="driftMinClips")
    drift_cooldown_hours: int = Field(default=72, ge=0, alias="driftCooldownHours")
    default_model_id: str = Field(default="fan-demo", min_length=1, alias="defaultModelId")
    # A device provisioned without a model learns its own normal: its baseline is complete once it
    # has sent baselineClips clips over at least baselineHours (one day at the default interval, so
    # day and night are both in it); then train_model trains it a model.
    baseline_clips: int = Field(default=288, ge=5, le=100_000, alias="baselineClips")
    baseline_hours: float = Field(default=24.0, gt=0, le=24 * 90, alias="baselineHours")
    # Promote a retrained candidate that passes the gate without an operator (a first model always is).
    auto_promote: bool = Field(default=False, alias="autoPromote")
    # Days of the device's history the gate replays through the alert policy with the candidate.
    replay_days: int = Field(default=14, ge=1, le=90, alias="replayDays")
    clip_interval_seconds: int = Field(default=300, ge=10, alias="clipIntervalSeconds")
    silent_after_intervals: int = Field(default=3, ge=1, alias="silentAfterIntervals")
    max_clip_bytes: int = Field(default=PIPELINE.max_clip_bytes, ge=1, alias="maxClipBytes")
    max_clip_age_days: int = Field(default=30, ge=1, le=3650, alias="maxClipAgeDays")
    model_refresh_seconds: int = Field(default=60, ge=0, alias="modelRefreshSeconds")
    url_expiry_seconds: int = Field(default=PIPELINE.url_expiry_s, ge=60, le=900, alias="urlExpirySeconds")
    no_clips_alarm_minutes: int = Field(default=60, ge=5, le=1440, alias="noClipsAlarmMinutes")
    process_clip_max_concurrency: int = Field(
        default=PIPELINE.process_clip_max_concurrency, ge=2, le=1000, alias="processClipMaxConcurrency"
    )
    # Reserved concurrency caps each function (a flood of requests cannot run up the bill or starve
    # the account's other functions) and guarantees it that much. 0 reserves nothing: an account
    # must keep 100 unreserved executions, so new accounts with a low quota cannot reserve.
    presign_reserved_concurrency: int = Field(default=10, ge=0, le=1000, alias="presignReservedConcurrency")
    # At least processClipMaxConcurrency (AWS: less would throttle what the event source hands it).
    process_clip_reserved_concurrency: int = Field(
        default=PIPELINE.process_clip_max_concurrency, ge=0, le=1000, alias="processClipReservedConcurrency"
    )
    drift_check_reserved_concurrency: int = Field(
        default=1, ge=0, le=1000, alias="driftCheckReservedConcurrency"
    )
    # At least TRAIN_MODEL_MAX_CONCURRENCY, as for process_clip.
    train_model_reserved_concurrency: int = Field(
        default=TRAIN_MODEL_MAX_CONCURRENCY, ge=0, le=1000, alias="trainModelReservedConcurrency"
    )
    # Upload URLs per device per clock hour; 0: 3x the clips an hour of clipIntervalSeconds.
    max_uploads_per_hour: int = Field(default=0, ge=0, le=1_000_000, alias="maxUploadsPerHour")
    # Defaults chosen from measurements (benchmarks/lambda_functions.py; why: docs/deploy.md).
    presign_memory_mb: int = Field(default=512, ge=128, le=10240, alias="presignMemoryMb")
    process_clip_memory_mb: int = Field(default=512, ge=128, le=10240, alias="processClipMemoryMb")
    drift_check_memory_mb: int = Field(default=1769, ge=128, le=10240, alias="driftCheckMemoryMb")
    # 1769 MB is one full vCPU: training is CPU-bound numpy work on one device's clips.
    train_model_memory_mb: int = Field(default=1769, ge=128, le=10240, alias="trainModelMemoryMb")
    log_retention_days: int = Field(default=30, ge=1, alias="logRetentionDays")
    iot_data_endpoint: str = Field(default="", alias="iotDataEndpoint")
    # X-Ray active tracing of the functions. Off by default: Lambda samples 1 request a second + 5%
    # whatever the fleet, $19 a month at 1,000 devices (7% of the bill) for traces that logs with
    # device and clip ids and the metrics already cover; turn it on while investigating latency.
    tracing: bool = Field(default=False, alias="tracing")
    # IoT Core's logging options and the Device Defender audit configuration exist once per account
    # and region: false leaves them to whoever already manages them there (docs/deploy.md).
    iot_account_settings: bool = Field(default=True, alias="iotAccountSettings")
    iot_log_level: Literal["DEBUG", "INFO", "WARN", "ERROR", "DISABLED"] = Field(
        default="WARN", alias="iotLogLevel"
    )
    iot_audit_frequency: Literal["DAILY", "WEEKLY", "BIWEEKLY", "MONTHLY"] = Field(
        default="DAILY", alias="iotAuditFrequency"
    )
    # The operator console (site, user pool, HTTP API, console_api); false deploys none of it.
    console: bool = Field(default=True, alias="console")
    # Interactive: a clip page decodes the clip and computes its spectrogram while someone waits, and
    # a cold start imports numpy and Powertools; 1024 MB halves both against 512 (CPU scales with
    # memory) for a few hundred requests a day. Not measured yet.
    console_api_memory_mb: int = Field(default=1024, ge=128, le=10240, alias="consoleApiMemoryMb")
    # A page asks a few routes at once, for a handful of operators; the API's throttle (10 requests/s)
    # stays below what 10 concurrent executions serve. 0 reserves nothing, as for the other functions.
    console_api_reserved_concurrency: int = Field(
        default=10, ge=0, le=1000, alias="consoleApiReservedConcurrency"
    )

    @field_validator("alert_emails", "alert_phone_numbers", "ops_emails", mode="before")
    @classmethod
    def _split_lists(cls, value: Any) -> Any:
        # `cdk synth -c alertEmails=a@x.org,b@x.org` passes a string; cdk.json passes a list.
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("alert_emails", "ops_emails")
    @classmethod
    def _emails(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [v for v in value if not _EMAIL_RE.match(v)]
        if bad:
            raise ValueError(f"not an email address: {bad}")
        return value

    @field_validator("alert_phone_numbers")
    @classmethod
    def _phones(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [v for v in value if not _E164_RE.match(v)]
        if bad:
            raise ValueError(f"phone numbers must be E.164 like +15551234567: {bad}")
        return value

    @field_validator("drift_schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        if not _SCHEDULE_RE.match(value.strip()):
            raise ValueError(f"not an EventBridge schedule expression: {value!r} (e.g. 'cron(15 6 * * ? *)')")
        return value.strip()

    @model_validator(mode="after")
    def _k_of_n(self) -> DeploySettings:
        if self.alert_k > self.alert_n:
            raise ValueError(f"alertK ({self.alert_k}) must not exceed alertN ({self.alert_n})")
        return self

    @model_validator(mode="after")
    def _reservation_covers_the_event_source(self) -> DeploySettings:
        reserved, maximum = self.process_clip_reserved_concurrency, self.process_clip_max_concurrency
        if 0 < reserved < maximum:
            raise ValueError(
                f"processClipReservedConcurrency ({reserved}) must be 0 or at least "
                f"processClipMaxConcurrency ({maximum})"
            )
        return self

    @model_validator(mode="after")
    def _training_reservation_covers_its_event_source(self) -> DeploySettings:
        reserved = self.train_model_reserved_concurrency
        if 0 < reserved < TRAIN_MODEL_MAX_CONCURRENCY:
            raise ValueError(
                f"trainModelReservedConcurrency ({reserved}) must be 0 or at least "
                f"{TRAIN_MODEL_MAX_CONCURRENCY} (the training queue's event source runs that many at once)"
            )
        return self

    @classmethod
    def from_context(cls, get: Any) -> DeploySettings:
        """`get` is `node.try_get_context`; unknown knobs in cdk.json are ignored (CDK adds its own)."""
        values = {}
        for field in cls.model_fields.values():
            assert field.alias is not None
            value = get(field.alias)
            if value is not None:
                values[field.alias] = value
        return cls.parse(values)

    @classmethod
    def parse(cls, values: dict[str, Any]) -> DeploySettings:
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'context'}: {err['msg']}" for err in exc.errors()
            )
            raise SettingsError(f"invalid cdk.json context: {problems}") from None

    def common_environment(self) -> dict[str, str]:
        """Variables every function reads through `humwatch.config` (see its settings classes)."""
        return dict(FUNCTION_RUNTIME_ENV)

    @property
    def upload_quota_per_hour(self) -> int:
        """maxUploadsPerHour, or 3x the clips an hour at clipIntervalSeconds (36 at 300 s)."""
        return self.max_uploads_per_hour or default_uploads_per_hour(self.clip_interval_seconds)

    def presign_environment(self) -> dict[str, str]:
        return {
            **self.common_environment(),
            "HUMWATCH_MAX_UPLOADS_PER_HOUR": str(self.upload_quota_per_hour),
            "HUMWATCH_MAX_CLIP_BYTES": str(self.max_clip_bytes),
            "HUMWATCH_URL_EXPIRY_S": str(self.url_expiry_seconds),
            "HUMWATCH_MAX_CLIP_AGE_DAYS": str(self.max_clip_age_days),
        }

    def _table_environment(self) -> dict[str, str]:
        return {
            **self.common_environment(),
            "HUMWATCH_DEFAULT_MODEL_ID": self.default_model_id,
            "HUMWATCH_CLIP_INTERVAL_S": str(self.clip_interval_seconds),
            "HUMWATCH_SILENT_AFTER_INTERVALS": str(self.silent_after_intervals),
        }

    def _alert_policy_environment(self) -> dict[str, str]:
        """process_clip alerts with this policy; train_model replays a candidate through it."""
        return {
            "HUMWATCH_ALERT_K": str(self.alert_k),
            "HUMWATCH_ALERT_N": str(self.alert_n),
            "HUMWATCH_ALERT_EVIDENCE": str(self.alert_evidence),
            "HUMWATCH_ALERT_COOLDOWN_MIN": str(self.alert_cooldown_minutes),
            "HUMWATCH_CRITICAL_RATIO": str(self.critical_ratio),
        }

    def _baseline_environment(self) -> dict[str, str]:
        """process_clip decides when a baseline is complete; train_model trains on the same span."""
        return {
            "HUMWATCH_BASELINE_CLIPS": str(self.baseline_clips),
            "HUMWATCH_BASELINE_HOURS": str(self.baseline_hours),
        }

    def process_environment(self) -> dict[str, str]:
        return {
            **self._table_environment(),
            **self._alert_policy_environment(),
            **self._baseline_environment(),
            "HUMWATCH_MAX_CLIP_BYTES": str(self.max_clip_bytes),
            "HUMWATCH_HISTORY_TTL_DAYS": str(self.history_ttl_days),
            "HUMWATCH_MODEL_REFRESH_S": str(self.model_refresh_seconds),
        }

    def train_environment(self) -> dict[str, str]:
        return {
            **self.common_environment(),
            **self._alert_policy_environment(),
            **self._baseline_environment(),
            "HUMWATCH_AUTO_PROMOTE": "true" if self.auto_promote else "false",
            "HUMWATCH_REPLAY_DAYS": str(self.replay_days),
            "HUMWATCH_CLIP_INTERVAL_S": str(self.clip_interval_seconds),
            # The clips it reads back are the ones presign_upload let through.
            "HUMWATCH_MAX_CLIP_BYTES": str(self.max_clip_bytes),
        }

    def console_environment(self) -> dict[str, str]:
        """console_api's knobs; its resources and its origin (a deploy-time URL) come from the stack."""
        return {
            **self.common_environment(),
            "HUMWATCH_CLIP_INTERVAL_S": str(self.clip_interval_seconds),
            "HUMWATCH_SILENT_AFTER_INTERVALS": str(self.silent_after_intervals),
            # The clips it decodes for a spectrogram are the ones presign_upload let through.
            "HUMWATCH_MAX_CLIP_BYTES": str(self.max_clip_bytes),
            "HUMWATCH_AUDIO_URL_EXPIRY_S": str(CONSOLE_AUDIO_URL_EXPIRY_S),
        }

    def drift_environment(self) -> dict[str, str]:
        return {
            **self._table_environment(),
            "HUMWATCH_DRIFT_WINDOW_H": str(self.drift_window_hours),
            "HUMWATCH_DRIFT_MIN_CLIPS": str(self.drift_min_clips),
            "HUMWATCH_DRIFT_COOLDOWN_H": str(self.drift_cooldown_hours),
        }
