"""drift_check: per registered device, compare the last window of clips with the training
statistics of the model that scored them; write a report, emit metrics, notify on drift/silence.

One report per device and day at `reports/drift/{yyyy-mm-dd}/{thing}.json` (also for devices with
too few clips: verdict `insufficient_data`, so operators see every device). Notices go to the ops
topic (or the alert topic) with severity `warning`; each kind (drift, silence) is sent at most once
per `HUMWATCH_DRIFT_COOLDOWN_H`, judged from the previous reports.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from humwatch.alerts.message import render_notice
from humwatch.config import DriftSettings
from humwatch.dal.history import HistoryTable
from humwatch.dal.model_store import ModelStore
from humwatch.dal.notifier import Notifier
from humwatch.dal.report_store import ReportStore
from humwatch.drift import (
    DriftLimits,
    DriftReport,
    Verdict,
    assess_drift,
    reference_from_manifest,
    silence_status,
)
from humwatch.observability import Metric, clip_context, count, gauge, logger, tracer
from humwatch.records import ClipRecord, ClipStatus, DeviceInfo


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class DriftDeps:
    settings: DriftSettings
    history: HistoryTable
    reports: ReportStore
    models: ModelStore
    notifier: Notifier
    clock: Callable[[], datetime] = field(default=_utcnow)


@dataclass(frozen=True)
class DriftRunSummary:
    devices: int
    reports: dict[str, str]  # thing -> S3 key
    verdicts: dict[str, str]
    drifted: list[str]
    silent: list[str]
    notices_sent: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "devices": self.devices,
            "reports": self.reports,
            "verdicts": self.verdicts,
            "drifted": self.drifted,
            "silent": self.silent,
            "notices_sent": self.notices_sent,
        }


def run_drift_check(deps: DriftDeps, *, now: datetime | None = None) -> DriftRunSummary:
    now = now or deps.clock()
    reports: dict[str, str] = {}
    verdicts: dict[str, str] = {}
    drifted: list[str] = []
    silent: list[str] = []
    notices = 0
    devices = deps.history.devices.all()
    for device in devices:
        with clip_context(device.thing):
            report, key, sent = check_device(device, deps, now=now)
        reports[device.thing] = key
        verdicts[device.thing] = report.verdict.value
        notices += sent
        if report.drifted:
            drifted.append(device.thing)
        if report.silent:
            silent.append(device.thing)
    gauge(Metric.SILENT_DEVICES, len(silent))
    logger.info("drift check done", extra={"devices": len(devices), "drifted": drifted, "silent": silent})
    return DriftRunSummary(len(devices), reports, verdicts, drifted, silent, notices)


def _model_of(clips: list[ClipRecord]) -> tuple[str, str] | None:
    """The (model_id, version) that scored most of the recent clips (newest wins ties)."""
    votes = Counter((c.model_id, c.model_version) for c in clips if c.model_id and c.model_version)
    if not votes:
        return None
    (model_id, version), _ = max(votes.items(), key=lambda kv: kv[1])
    return str(model_id), str(version)


@tracer.capture_method
def check_device(device: DeviceInfo, deps: DriftDeps, *, now: datetime) -> tuple[DriftReport, str, int]:
    settings = deps.settings
    window_start = now - timedelta(hours=settings.drift_window_h)
    clips = list(deps.history.clips.query(device.thing, since=window_start, until=now, newest_first=False))
    state = deps.history.alert_states.get(device.thing)
    last_clip_at = state.last_clip_at if state else None
    if last_clip_at is None:  # no state item yet (or none kept): the newest clip, however old
        newest = next(iter(deps.history.clips.query(device.thing, limit=1)), None)
        last_clip_at = newest.captured_at if newest else None
    silence = silence_status(
        device.thing,
        last_clip_at=last_clip_at,
        registered_at=device.created_at,
        now=now,
        interval=timedelta(seconds=settings.clip_interval_s),
        intervals=settings.silent_after_intervals,
    )
    scored = [c for c in clips if c.status is ClipStatus.SCORED and c.band_means and c.score is not None]
    rejected = sum(1 for c in clips if c.status is ClipStatus.REJECTED)
    model = _model_of(scored)
    limits = DriftLimits(min_clips=settings.drift_min_clips)
    if model is None:
        report = DriftReport(
            thing=device.thing,
            model_id=None,
            model_version=None,
            generated_at=now,
            window_start=window_start,
            window_end=now,
            n_clips=0,
            n_rejected=rejected,
            verdict=Verdict.INSUFFICIENT_DATA,
            reasons=["no scored clips in the window"],
            last_clip_at=last_clip_at,
        )
    else:
        model_id, version = model
        same_model = [c for c in scored if (c.model_id, c.model_version) == model]
        bundle = deps.models.load_bundle(model_id, version)
        report = assess_drift(
            thing=device.thing,
            reference=reference_from_manifest(bundle.manifest),
            band_means=[c.band_means or [] for c in same_model],
            scores=[float(c.score or 0.0) for c in same_model],
            anomalies=sum(1 for c in same_model if c.is_anomaly),
            window_start=window_start,
            window_end=now,
            generated_at=now,
            model_id=model_id,
            model_version=version,
            n_rejected=rejected,
            last_clip_at=last_clip_at,
            limits=limits,
        )
    report.silent = silence.silent
    report.silent_for_s = silence.silent_for.total_seconds() if silence.silent_for is not None else None
    if report.drift_score is not None and math.isfinite(report.drift_score):
        gauge(Metric.DRIFT_SCORE, report.drift_score)

    sent = _notify(device, report, deps, now=now)
    key = deps.reports.put_drift_report(report)
    logger.info(
        "drift report written",
        extra={"verdict": report.verdict.value, "drift_score": report.drift_score, "silent": report.silent},
    )
    return report, key, sent


def _last_notice(thing: str, deps: DriftDeps, *, now: datetime, kind: str) -> datetime | None:
    """When the last `kind` notice for this device went out, if within the cooldown."""
    cooldown = timedelta(hours=deps.settings.drift_cooldown_h)
    if cooldown <= timedelta(0):
        return None
    latest: datetime | None = None
    days = math.ceil(cooldown / timedelta(days=1))
    for offset in range(days + 1):
        previous = deps.reports.get_drift_report((now - timedelta(days=offset)).date(), thing)
        if previous is None:
            continue
        sent_at = previous.drift_notice_at if kind == "drift" else previous.silence_notice_at
        notified = previous.notified_drift if kind == "drift" else previous.notified_silence
        if sent_at is None and notified:
            sent_at = previous.generated_at
        if sent_at is not None and sent_at <= now and now - sent_at < cooldown:
            latest = sent_at if latest is None else max(latest, sent_at)
    return latest


def _notify(device: DeviceInfo, report: DriftReport, deps: DriftDeps, *, now: datetime) -> int:
    sent = 0
    topic = deps.settings.notice_topic_arn
    report.drift_notice_at = _last_notice(device.thing, deps, now=now, kind="drift")
    report.silence_notice_at = _last_notice(device.thing, deps, now=now, kind="silence")
    if report.drifted and report.drift_notice_at is None:
        message = render_notice(
            "drift",
            device.thing,
            device.machine_type,
            "sound has drifted from the training data",
            [
                *report.reasons,
                f"Model: {report.model_id} version {report.model_version}; {report.n_clips} clips since "
                f"{report.window_start:%Y-%m-%d %H:%M} UTC.",
                "Consider retraining on recent normal recordings, or check the microphone placement.",
            ],
        )
        deps.notifier.publish(topic, message.subject, message.body, message.attributes)
        report.notified_drift = True
        report.drift_notice_at = now
        count(Metric.ALERTS_SENT)
        sent += 1
    if report.silent and report.silence_notice_at is None:
        last = f"{report.last_clip_at:%Y-%m-%d %H:%M} UTC" if report.last_clip_at else "never"
        message = render_notice(
            "silence",
            device.thing,
            device.machine_type,
            "no clips received",
            [
                f"Last clip: {last}.",
                f"Expected one every {deps.settings.clip_interval_s} s; silent for "
                f"{(report.silent_for_s or 0) / 3600:.1f} h.",
                "Check the device's power, network and `humwatch devices` for its last telemetry.",
            ],
        )
        deps.notifier.publish(topic, message.subject, message.body, message.attributes)
        report.notified_silence = True
        report.silence_notice_at = now
        count(Metric.ALERTS_SENT)
        sent += 1
    return sent
