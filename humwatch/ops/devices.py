"""`humwatch devices`: one line per device from the registry, its alert state and last heartbeat."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from humwatch.alerts.policy import AlertPolicy, window_evidence
from humwatch.contracts import parse_timestamp
from humwatch.dal.history import HistoryTable
from humwatch.drift import silence_status
from humwatch.errors import ConfigError
from humwatch.learning.selection import BaselineProgress, baseline_progress
from humwatch.ops.timeparse import humanize_age
from humwatch.records import DeviceInfo, DeviceState, TelemetryRecord

ENV_CLIP_INTERVAL = "HUMWATCH_CLIP_INTERVAL_S"
ENV_SILENT_AFTER = "HUMWATCH_SILENT_AFTER_INTERVALS"
DEFAULT_CLIP_INTERVAL_S = 300.0
DEFAULT_SILENT_AFTER_INTERVALS = 3

DEVICE_COLUMNS: tuple[str, ...] = (
    "device",
    "state",
    "last_clip",
    "last_score",
    "last_ratio",
    "alert",
    "recent",
    "evidence",
    "model",
    "silent",
    "heartbeat",
    "note",
)


@dataclass(frozen=True)
class SilencePolicy:
    """A device is silent when no clip arrived for `after_intervals` capture intervals."""

    clip_interval_s: float = DEFAULT_CLIP_INTERVAL_S
    after_intervals: int = DEFAULT_SILENT_AFTER_INTERVALS

    @property
    def limit(self) -> timedelta:
        return timedelta(seconds=self.clip_interval_s * self.after_intervals)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SilencePolicy:
        def number(name: str, default: float) -> float:
            text = env.get(name)
            if not text:
                return default
            try:
                value = float(text)
            except ValueError:
                raise ConfigError(f"{name} must be a number of seconds/intervals, got {text!r}") from None
            if value <= 0:
                raise ConfigError(f"{name} must be positive, got {text!r}")
            return value

        return cls(
            number(ENV_CLIP_INTERVAL, DEFAULT_CLIP_INTERVAL_S),
            max(1, round(number(ENV_SILENT_AFTER, DEFAULT_SILENT_AFTER_INTERVALS))),
        )


@dataclass(frozen=True)
class DeviceStatus:
    device: str
    machine_type: str
    model_id: str | None  # None: the device has no model and there is no default model
    model_version: str | None  # the published (current) version of model_id
    last_scored_by: str | None  # model@version that scored the last clip
    model_source: str  # "device" (registry mapping), "default" (registry default) or "last clip"
    last_clip_at: datetime | None
    last_status: str | None
    last_score: float | None
    last_ratio: float | None
    alert: str  # ok | ALERT warning | ALERT critical | acked warning | no data
    anomalous_recent: int
    recent_window: int
    # The alert policy's evidence over that window (it alerts at HUMWATCH_ALERT_EVIDENCE, default
    # 2.5): how close a device is to alerting while few of its clips cross the threshold.
    evidence: float
    last_alert_at: datetime | None
    acked_at: datetime | None
    heartbeat_at: datetime | None
    silent: bool  # never for a revoked device: its silence is expected
    silent_reason: str | None
    revoked_at: datetime | None = None  # `humwatch device revoke` deactivated its certificates
    state: str = "monitoring"  # learning | training | monitoring (docs/learning.md)
    learning_since: datetime | None = None
    baseline: str | None = None  # a learning device's progress ("37 clips over 3.1 h")
    training_note: str | None = None  # what the last training run left to know or do

    def row(self, *, now: datetime) -> dict[str, Any]:
        model = self.model_id or "-"
        if self.model_id and self.model_version:
            model = f"{self.model_id}@{self.model_version}"
        if self.model_source == "default" and self.model_id:
            model += " (default)"
        row: dict[str, Any] = {
            "device": self.device,
            "last_clip": humanize_age(self.last_clip_at, now=now),
            "last_score": self.last_score,
            "last_ratio": self.last_ratio,
            "alert": self.alert,
            "recent": f"{self.anomalous_recent}/{self.recent_window}" if self.recent_window else "-",
            "evidence": round(self.evidence, 1) if self.recent_window else None,
            "model": model,
            "silent": self._silence_text(now),
            "heartbeat": humanize_age(self.heartbeat_at, now=now),
            "note": self._note(),
        }
        row.update({f"{k}": v for k, v in asdict(self).items() if k not in row})
        return row

    def _note(self) -> str:
        parts = [f"baseline {self.baseline}"] if self.baseline and self.state != "monitoring" else []
        if self.training_note:
            parts.append(self.training_note)
        return "; ".join(parts) or "-"

    def _silence_text(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return f"REVOKED {humanize_age(self.revoked_at, now=now)}"
        return f"SILENT ({self.silent_reason})" if self.silent else "no"


def alert_text(state: DeviceState | None) -> str:
    if state is None:
        return "no data"
    alert = state.alert
    if alert.episode_open and alert.last_alert_at is not None:
        severity = alert.last_severity.value if alert.last_severity else "warning"
        return f"acked {severity}" if alert.is_acknowledged else f"ALERT {severity}"
    if alert.episode_open:
        return "firing"
    return "ok"


def _heartbeat_time(telemetry: TelemetryRecord | None) -> datetime | None:
    if telemetry is None:
        return None
    if telemetry.received_at is not None:
        return telemetry.received_at
    sent = telemetry.payload.get("sent_at")
    try:
        return parse_timestamp(str(sent)) if sent else None
    except ValueError:
        return None


def silence(
    last_clip_at: datetime | None,
    heartbeat_at: datetime | None,
    policy: SilencePolicy,
    *,
    registered_at: datetime | None,
    now: datetime,
) -> tuple[bool, str | None]:
    """(silent, why), by the same rule as the drift check (`humwatch.drift.silence_status`: a
    device that never sent a clip counts from its registration). Heartbeats do not count as clips:
    a device that heartbeats but uploads nothing is still silent, and the reason says its uploader
    is alive (look at its spool)."""
    status = silence_status(
        "",
        last_clip_at=last_clip_at,
        registered_at=registered_at,
        now=now,
        interval=timedelta(seconds=policy.clip_interval_s),
        intervals=policy.after_intervals,
    )
    if not status.silent:
        return False, None
    alive = heartbeat_at is not None and now - heartbeat_at <= policy.limit
    since = humanize_age(status.last_seen_at, now=now).removesuffix(" ago")
    why = f"no clip for {since}" if last_clip_at is not None else f"no clip since registration {since} ago"
    return True, why + (", heartbeat ok" if alive else "")


def device_status(
    info: DeviceInfo,
    state: DeviceState | None,
    telemetry: TelemetryRecord | None,
    *,
    default_model: str | None,
    published: Mapping[str, str] | None = None,
    policy: SilencePolicy,
    now: datetime,
    baseline: BaselineProgress | None = None,
) -> DeviceStatus:
    heartbeat_at = _heartbeat_time(telemetry)
    last_clip_at = state.last_clip_at if state else None
    silent, why = silence(last_clip_at, heartbeat_at, policy, registered_at=info.created_at, now=now)
    if info.revoked:
        silent, why = False, None
    # What scores the next clip: the device's mapping, else the registry default; when neither is
    # set (the functions may take a default from their environment) show what scored the last clip.
    model_id = info.model_id or default_model or (state.model_id if state else None)
    source = "device" if info.model_id else ("default" if default_model else "last clip")
    if info.learning:
        # Nothing scores a learning device's clips (its model, if any, waits for the new baseline).
        model_id, source = info.model_id, "device"
    recent = state.alert.recent if state else ()
    return DeviceStatus(
        device=info.thing,
        machine_type=info.machine_type,
        model_id=model_id,
        # The version is known only once a clip was scored with the device's current model.
        model_version=(published or {}).get(model_id or ""),
        last_scored_by=f"{state.model_id}@{state.model_version}" if state and state.model_id else None,
        model_source=source,
        last_clip_at=last_clip_at,
        last_status=state.last_status.value if state and state.last_status else None,
        last_score=state.last_score if state else None,
        last_ratio=state.last_ratio if state else None,
        alert=alert_text(state),
        anomalous_recent=sum(1 for f in recent if f.is_anomaly),
        recent_window=len(recent),
        # Allowance and cap are not deployment settings, so the defaults are what the Lambda uses.
        evidence=window_evidence(AlertPolicy(), recent)[0],
        last_alert_at=state.alert.last_alert_at if state else None,
        acked_at=state.alert.acked_at if state else None,
        heartbeat_at=heartbeat_at,
        silent=silent,
        silent_reason=why,
        revoked_at=info.revoked_at,
        state=info.state.value,
        learning_since=info.learning_since,
        baseline=baseline.describe() if baseline is not None else None,
        training_note=info.training_note,
    )


def list_device_status(
    table: HistoryTable, *, policy: SilencePolicy, now: datetime, only: str | None = None
) -> list[DeviceStatus]:
    """Every registered device: one Query of the registry, then the devices' alert states and
    heartbeats in BatchGetItem calls of 100 (200 calls for 10,000 devices, not 20,000 GetItems)."""
    default_model = table.models.default_model_id()
    published = {m.model_id: m.version for m in table.models.all()}
    devices = sorted(table.devices.all(), key=lambda d: d.thing)
    if only is not None:
        devices = [d for d in devices if d.thing == only]
    things = [d.thing for d in devices]
    states = table.alert_states.get_many(things)
    heartbeats = table.telemetry.get_many(things)
    return [
        device_status(
            info,
            states.get(info.thing),
            heartbeats.get(info.thing),
            default_model=default_model,
            published=published,
            policy=policy,
            now=now,
            baseline=_baseline(table, info),
        )
        for info in devices
    ]


def _baseline(table: HistoryTable, info: DeviceInfo) -> BaselineProgress | None:
    """A learning device's clips so far (one Query of its baseline window)."""
    if not info.learning or info.learning_since is None:
        return None
    records = list(table.clips.query(info.thing, since=info.learning_since, newest_first=False))
    return baseline_progress(records, needed_clips=0, needed_hours=0.0)
