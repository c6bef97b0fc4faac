"""Typed settings of the Lambda functions (and the local stack), read from environment variables.

Validated once at cold start: a missing or malformed variable raises `ConfigError` naming every
bad variable on its own line, so a misconfigured deployment fails on its first invocation with a
readable message instead of mid-batch. Defaults come from `humwatch.contracts.PIPELINE`.

Each function gets its own settings class with exactly the resources it needs:
`PresignSettings`, `ProcessSettings`, `DriftSettings`, `TrainSettings`, `ConsoleSettings`
(`load_settings(cls)`).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from humwatch import contracts as c
from humwatch.alerts.policy import AlertPolicy
from humwatch.errors import ConfigError

_DEFAULT_POLICY = AlertPolicy()

_ARN_RE = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$")
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_TABLE_RE = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")

# Hard ceiling for presigned URLs: a leaked URL must stop working soon.
MAX_URL_EXPIRY_S = 900
# The console's audio links live at most 5 minutes: long enough to press play, short enough that
# a copied link is useless soon after.
MAX_AUDIO_URL_EXPIRY_S = 300

_ORIGIN_RE = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?$")
_URL_RE = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?(/[A-Za-z0-9._~/-]*)?$")

# Upload URLs a device may ask for per clock hour, as a multiple of what it needs at its interval:
# room for retries and for draining a spool after an outage, not for a leaked certificate.
UPLOAD_QUOTA_HEADROOM = 3


def default_uploads_per_hour(clip_interval_s: int) -> int:
    """3x the clips a device sends per hour at `clip_interval_s` (36 at the default 300 s)."""
    return UPLOAD_QUOTA_HEADROOM * math.ceil(3600 / clip_interval_s)


def _check_bucket(value: str) -> str:
    if not _BUCKET_RE.match(value):
        raise ValueError("must be an S3 bucket name (3-63 lower-case letters, digits, '.', '-')")
    return value


def _check_table(value: str) -> str:
    if not _TABLE_RE.match(value):
        raise ValueError("must be a DynamoDB table name (3-255 of A-Z a-z 0-9 _ . -)")
    return value


class BaseSettings(BaseModel):
    """Tunables shared by every function. Field aliases are the environment variable names."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    service_name: str = Field("humwatch", alias="POWERTOOLS_SERVICE_NAME", min_length=1)
    metrics_namespace: str = Field("Humwatch", alias="POWERTOOLS_METRICS_NAMESPACE", min_length=1)
    endpoint_url: str | None = Field(None, alias="AWS_ENDPOINT_URL")


class _StorageSettings(BaseSettings):
    """The bucket and the history table, which every function uses."""

    bucket: str = Field(alias="HUMWATCH_BUCKET")
    table: str = Field(alias="HUMWATCH_TABLE")

    @field_validator("bucket")
    @classmethod
    def _bucket_name(cls, value: str) -> str:
        return _check_bucket(value)

    @field_validator("table")
    @classmethod
    def _table_name(cls, value: str) -> str:
        return _check_table(value)


class _AlertPolicySettings(BaseSettings):
    """The alert policy: process_clip runs it on every clip, train_model replays it for a candidate."""

    alert_k: int = Field(_DEFAULT_POLICY.k, alias="HUMWATCH_ALERT_K", ge=1, le=100)
    alert_n: int = Field(_DEFAULT_POLICY.n, alias="HUMWATCH_ALERT_N", ge=1, le=100)
    # Evidence (CUSUM) alert threshold in log(score / threshold) units; 0 turns that rule off.
    alert_evidence: float = Field(
        _DEFAULT_POLICY.evidence_threshold, alias="HUMWATCH_ALERT_EVIDENCE", ge=0, le=100
    )
    alert_cooldown_min: float = Field(60.0, alias="HUMWATCH_ALERT_COOLDOWN_MIN", ge=0)
    critical_ratio: float = Field(2.0, alias="HUMWATCH_CRITICAL_RATIO", gt=1.0)

    @model_validator(mode="after")
    def _k_within_n(self) -> _AlertPolicySettings:
        if self.alert_k > self.alert_n:
            raise ValueError(
                f"HUMWATCH_ALERT_K ({self.alert_k}) must not exceed HUMWATCH_ALERT_N ({self.alert_n})"
            )
        return self

    @property
    def alert_policy(self) -> AlertPolicy:
        return AlertPolicy(
            k=self.alert_k,
            n=self.alert_n,
            cooldown=timedelta(minutes=self.alert_cooldown_min),
            critical_ratio=self.critical_ratio,
            evidence_threshold=self.alert_evidence,
        )


class _BaselineSettings(BaseSettings):
    """When a learning device's baseline is complete (cdk.json baselineClips, baselineHours)."""

    # One day of clips at the default 5-minute interval, so day and night are both in it.
    baseline_clips: int = Field(288, alias="HUMWATCH_BASELINE_CLIPS", ge=5, le=100_000)
    baseline_hours: float = Field(24.0, alias="HUMWATCH_BASELINE_HOURS", gt=0, le=24 * 90)


class _SilenceSettings(BaseSettings):
    """When a device counts as silent: no clip for this many capture intervals."""

    clip_interval_s: int = Field(300, alias="HUMWATCH_CLIP_INTERVAL_S", ge=1, le=86_400)
    silent_after_intervals: int = Field(3, alias="HUMWATCH_SILENT_AFTER_INTERVALS", ge=1, le=10_000)

    @property
    def silent_after(self) -> timedelta:
        return timedelta(seconds=self.clip_interval_s * self.silent_after_intervals)


class _TableSettings(_StorageSettings, _SilenceSettings):
    alert_topic_arn: str = Field(alias="HUMWATCH_ALERT_TOPIC_ARN")
    # Drift/silence notices go here when set, else to the alert topic.
    ops_topic_arn: str | None = Field(None, alias="HUMWATCH_OPS_TOPIC_ARN")
    default_model_id: str | None = Field(None, alias="HUMWATCH_DEFAULT_MODEL_ID")

    @field_validator("alert_topic_arn", "ops_topic_arn")
    @classmethod
    def _topic_arn(cls, value: str | None) -> str | None:
        if value is not None and not _ARN_RE.match(value):
            raise ValueError("must be an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)")
        return value

    @property
    def notice_topic_arn(self) -> str:
        return self.ops_topic_arn or self.alert_topic_arn


class PresignSettings(_StorageSettings):
    """presign_upload: signs PUT URLs, counts each device's uploads per hour in the history table,
    and answers over iot-data."""

    iot_data_endpoint: str = Field(alias="HUMWATCH_IOT_DATA_ENDPOINT", min_length=1)
    max_uploads_per_hour: int = Field(
        default_uploads_per_hour(300), alias="HUMWATCH_MAX_UPLOADS_PER_HOUR", ge=1, le=1_000_000
    )
    max_clip_bytes: int = Field(c.PIPELINE.max_clip_bytes, alias="HUMWATCH_MAX_CLIP_BYTES", ge=1)
    url_expiry_s: int = Field(
        c.PIPELINE.url_expiry_s, alias="HUMWATCH_URL_EXPIRY_S", ge=1, le=MAX_URL_EXPIRY_S
    )
    max_clip_age_days: int = Field(30, alias="HUMWATCH_MAX_CLIP_AGE_DAYS", ge=1, le=3650)

    @field_validator("iot_data_endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        # AWS gives a host name (xxx-ats.iot.REGION.amazonaws.com); the client wants a URL.
        return value if value.startswith(("https://", "http://")) else f"https://{value}"


class ProcessSettings(_TableSettings, _AlertPolicySettings, _BaselineSettings):
    """process_clip: scores clips, writes history, alerts; collects a learning device's baseline."""

    max_clip_bytes: int = Field(c.PIPELINE.max_clip_bytes, alias="HUMWATCH_MAX_CLIP_BYTES", ge=1)
    history_ttl_days: int = Field(90, alias="HUMWATCH_HISTORY_TTL_DAYS", ge=0)  # 0 = keep forever
    # Scorers are re-checked against the registry this often (seconds), not on every clip.
    model_refresh_s: float = Field(60.0, alias="HUMWATCH_MODEL_REFRESH_S", ge=0)
    # Where a completed baseline asks for training. Unset: learning devices keep learning, and
    # each clip logs a warning that says so.
    train_queue_url: str | None = Field(None, alias="HUMWATCH_TRAIN_QUEUE_URL", min_length=1)
    # The operator console (CDK: the CloudFront URL): alerts end with a link to the clip's page.
    console_url: str | None = Field(None, alias="HUMWATCH_CONSOLE_URL")

    @field_validator("console_url")
    @classmethod
    def _console_url(cls, value: str | None) -> str | None:
        if value is not None and not _URL_RE.match(value):
            raise ValueError(
                "must be an http(s) URL (the console's address, e.g. https://d1234.cloudfront.net)"
            )
        return value.rstrip("/") if value else value


class TrainSettings(_StorageSettings, _AlertPolicySettings, _BaselineSettings):
    """train_model: trains a device's candidate model, gates it and promotes it when allowed."""

    max_clip_bytes: int = Field(c.PIPELINE.max_clip_bytes, alias="HUMWATCH_MAX_CLIP_BYTES", ge=1)
    # Promote a passing retrain candidate without an operator (a first model always is).
    auto_promote: bool = Field(False, alias="HUMWATCH_AUTO_PROMOTE")
    # Days of the device's history the gate replays through the alert policy.
    replay_days: int = Field(14, alias="HUMWATCH_REPLAY_DAYS", ge=1, le=90)
    # Fewer usable clips than this is an error recorded on the device, not a model.
    min_train_clips: int = Field(20, alias="HUMWATCH_MIN_TRAIN_CLIPS", ge=5, le=100_000)
    # How long a run holds its request before a retry may take it over: past the function's
    # timeout the run is dead. Shorter than the queue's visibility timeout, so the retry finds it free.
    run_lease_s: int = Field(
        c.PIPELINE.train_model_timeout_s + 60, alias="HUMWATCH_TRAIN_LEASE_S", ge=10, le=43_200
    )
    clip_interval_s: int = Field(300, alias="HUMWATCH_CLIP_INTERVAL_S", ge=1, le=86_400)


class DriftSettings(_TableSettings):
    """drift_check: compares recent clips with the training statistics of their model."""

    drift_window_h: float = Field(24.0, alias="HUMWATCH_DRIFT_WINDOW_H", gt=0, le=24 * 90)
    drift_min_clips: int = Field(20, alias="HUMWATCH_DRIFT_MIN_CLIPS", ge=2)
    drift_cooldown_h: float = Field(72.0, alias="HUMWATCH_DRIFT_COOLDOWN_H", ge=0)


class ConsoleSettings(_StorageSettings, _SilenceSettings):
    """console_api: the operator console's API (reads history and models, presigns audio GETs,
    labels, acknowledges, promotes)."""

    # The console's origin (scheme://host[:port]): the only one its API answers CORS for.
    console_origin: str = Field(alias="HUMWATCH_CONSOLE_ORIGIN")
    audio_url_expiry_s: int = Field(
        MAX_AUDIO_URL_EXPIRY_S, alias="HUMWATCH_AUDIO_URL_EXPIRY_S", ge=1, le=MAX_AUDIO_URL_EXPIRY_S
    )
    max_clip_bytes: int = Field(c.PIPELINE.max_clip_bytes, alias="HUMWATCH_MAX_CLIP_BYTES", ge=1)

    @field_validator("console_origin")
    @classmethod
    def _origin(cls, value: str) -> str:
        value = value.rstrip("/")
        if not _ORIGIN_RE.match(value):
            raise ValueError(
                "must be an origin: scheme://host[:port], no path (e.g. https://d1234.cloudfront.net)"
            )
        return value


SettingsT = TypeVar("SettingsT", bound=BaseSettings)


def _describe(error: Mapping[str, Any], model: type[BaseModel]) -> str:
    loc = error.get("loc") or ()
    name = str(loc[0]) if loc else ""
    field = model.model_fields.get(name)
    variable = field.alias if field is not None and field.alias else name
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    if error.get("type") == "missing":
        return f"{variable}: required but not set"
    if not variable:
        return message
    given = error.get("input")
    return f"{variable}: {message} (got {given!r})"


def load_settings(cls: type[SettingsT], env: Mapping[str, str] | None = None) -> SettingsT:
    """Build settings from the environment; ConfigError lists every missing/bad variable."""
    source = dict(os.environ if env is None else env)
    # An empty variable means "not set" (CloudFormation often renders optional values as "").
    values = {k: v for k, v in source.items() if v != ""}
    try:
        return cls.model_validate(values)
    except ValidationError as exc:
        problems = [_describe(err, cls) for err in exc.errors()]
        raise ConfigError(f"invalid configuration for {cls.__name__}:\n  " + "\n  ".join(problems)) from None
