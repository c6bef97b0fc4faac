"""drift_check: per registered device, compare the last window of clips with the training
statistics of the model that scored them; write a report, emit metrics, notify on drift/silence.

One report per device and day at `reports/drift/{yyyy-mm-dd}/{thing}.json` (also for devices with
too few clips: verdict `insufficient_data`, so operators see every device). Notices go to the ops
topic (or the alert topic) with severity `warning`; each kind (drift, silence) is sent at most once
per `HUMWATCH_DRIFT_COOLDOWN_H`, judged from the device's `drift-notices` item (read for a page of
devices in one batch; a device without one, checked before that item existed, falls back to its
earlier reports once).

Per device the check makes one Query (the window's clips, projected to what drift needs; the
newest of them is the last clip, so silence needs no other read; a drift notice counts what a
retrain would train on from the same clips) and one S3 PUT (the report); the notice times are
written on a device's first check and when a notice goes out. Training statistics are loaded once
per model version per run. Devices are checked one after another: modelled, ~0.06 s
each at one vCPU, so a run covers ~15,000 devices within the 900 s timeout
(benchmarks/lambda_functions.py).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from humwatch.alerts.message import describe_duration, render_notice
from humwatch.config import DriftSettings
from humwatch.dal.history import HistoryTable
from humwatch.dal.model_store import ModelStore
from humwatch.dal.notifier import Notifier
from humwatch.dal.report_store import ReportStore
from humwatch.drift import (
    DriftLimits,
    DriftReport,
    TrainingReference,
    Verdict,
    assess_drift,
    reference_from_manifest,
    silence_status,
)
from humwatch.learning.selection import DEFAULT_RETRAIN_SINCE, TrainingPreview, training_preview
from humwatch.observability import Metric, clip_context, count, gauge, logger, tracer
from humwatch.records import ClipSample, ClipStatus, DeviceInfo, NoticeTimes


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


NOTICE_PAGE = 100  # devices whose notice times are read in one BatchGetItem


def run_drift_check(deps: DriftDeps, *, now: datetime | None = None) -> DriftRunSummary:
    now = now or deps.clock()
    reports: dict[str, str] = {}
    verdicts: dict[str, str] = {}
    drifted: list[str] = []
    silent: list[str] = []
    notices = 0
    # A revoked device (`humwatch device revoke`) is silent on purpose: no report, no silence notice.
    devices = [device for device in deps.history.devices.all() if not device.revoked]
    references: dict[tuple[str, str], TrainingReference] = {}
    for start in range(0, len(devices), NOTICE_PAGE):
        page = devices[start : start + NOTICE_PAGE]
        stored = deps.history.drift_notices.get_many([device.thing for device in page])
        for device in page:
            with clip_context(device.thing):
                report, key, sent = check_device(
                    device, deps, now=now, notices=stored.get(device.thing), references=references
                )
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


def _model_of(clips: list[ClipSample]) -> tuple[str, str] | None:
    """The (model_id, version) that scored most of the recent clips (newest wins ties)."""
    votes = Counter((c.model_id, c.model_version) for c in clips if c.model_id and c.model_version)
    if not votes:
        return None
    (model_id, version), _ = max(votes.items(), key=lambda kv: kv[1])
    return str(model_id), str(version)


def _reference(
    deps: DriftDeps, references: dict[tuple[str, str], TrainingReference], model_id: str, version: str
) -> TrainingReference:
    """A model version's training statistics, loaded once per run however many devices use it."""
    if (model_id, version) not in references:
        bundle = deps.models.load_bundle(model_id, version)
        references[(model_id, version)] = reference_from_manifest(bundle.manifest)
    return references[(model_id, version)]


@tracer.capture_method
def check_device(
    device: DeviceInfo,
    deps: DriftDeps,
    *,
    now: datetime,
    notices: NoticeTimes | None = None,
    references: dict[tuple[str, str], TrainingReference] | None = None,
) -> tuple[DriftReport, str, int]:
    settings = deps.settings
    references = {} if references is None else references
    window_start = now - timedelta(hours=settings.drift_window_h)
    clips = list(deps.history.clips.samples(device.thing, window_start, now))
    if clips:
        last_clip_at: datetime | None = clips[-1].captured_at  # oldest first: the last is the newest
    else:  # nothing in the window: the newest clip, however old (a silent device; rare)
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
        report = assess_drift(
            thing=device.thing,
            reference=_reference(deps, references, model_id, version),
            band_means=[c.band_means or () for c in same_model],
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

    previous = notices if notices is not None else _notices_from_reports(device.thing, deps, now=now)
    sent = _notify(device, report, deps, now=now, previous=previous, clips=clips)
    key = deps.reports.put_drift_report(report)
    latest = NoticeTimes(
        thing=device.thing,
        drift_notice_at=_latest(report.drift_notice_at, previous.drift_notice_at),
        silence_notice_at=_latest(report.silence_notice_at, previous.silence_notice_at),
    )
    if notices is None or latest != notices:  # written once, then only when a notice goes out
        deps.history.drift_notices.put(latest)
    logger.info(
        "drift report written",
        extra={"verdict": report.verdict.value, "drift_score": report.drift_score, "silent": report.silent},
    )
    return report, key, sent


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    return max((t for t in (a, b) if t is not None), default=None)


def _notices_from_reports(thing: str, deps: DriftDeps, *, now: datetime) -> NoticeTimes:
    """Notice times of a device checked before the `drift-notices` item existed: from the reports
    of the cooldown's days (read once; the run then writes the item)."""
    drift: datetime | None = None
    silence: datetime | None = None
    cooldown = timedelta(hours=deps.settings.drift_cooldown_h)
    if cooldown > timedelta(0):
        for offset in range(math.ceil(cooldown / timedelta(days=1)) + 1):
            previous = deps.reports.get_drift_report((now - timedelta(days=offset)).date(), thing)
            if previous is None:
                continue
            # Reports of older versions have the flag but not the time: the report's own time.
            drift_at = previous.drift_notice_at or (
                previous.generated_at if previous.notified_drift else None
            )
            silence_at = previous.silence_notice_at or (
                previous.generated_at if previous.notified_silence else None
            )
            drift, silence = _latest(drift, drift_at), _latest(silence, silence_at)
    return NoticeTimes(thing=thing, drift_notice_at=drift, silence_notice_at=silence)


def _in_cooldown(sent_at: datetime | None, deps: DriftDeps, *, now: datetime) -> datetime | None:
    """`sent_at` when a notice sent then still silences a new one at `now`, else None."""
    cooldown = timedelta(hours=deps.settings.drift_cooldown_h)
    if sent_at is None or cooldown <= timedelta(0) or sent_at > now or now - sent_at >= cooldown:
        return None
    return sent_at


def _retrain_advice(thing: str, preview: TrainingPreview, window_s: float) -> list[str]:
    """The retrain command, and what it would train on in words (counts from the check's window)."""
    window = describe_duration(window_s)
    kept = f", {preview.labelled_normal_kept} of them labelled normal" if preview.labelled_normal_kept else ""
    return [
        f"To retrain it on its recent clips: humwatch model retrain {thing} --since {DEFAULT_RETRAIN_SINCE}",
        f"{preview.clips} valid clips of the last {window} would train it{kept}; clips flagged by the "
        f"current model are left out unless labelled normal ({preview.flagged_left_out} in that time), "
        f"clips labelled anomaly are always left out ({preview.labelled_anomaly_left_out}).",
        f"The new model is gated before it scores (humwatch model candidates {thing}). If the machine "
        "itself has not changed, check the microphone placement first: a retrain learns it as normal.",
    ]


def _notify(
    device: DeviceInfo,
    report: DriftReport,
    deps: DriftDeps,
    *,
    now: datetime,
    previous: NoticeTimes,
    clips: list[ClipSample],
) -> int:
    sent = 0
    topic = deps.settings.notice_topic_arn
    report.drift_notice_at = _in_cooldown(previous.drift_notice_at, deps, now=now)
    report.silence_notice_at = _in_cooldown(previous.silence_notice_at, deps, now=now)
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
                # What a retrain would train on, counted from the clips the check already read.
                *_retrain_advice(device.thing, training_preview(clips), deps.settings.drift_window_h * 3600),
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
                f"Expected one every {describe_duration(deps.settings.clip_interval_s)}; silent for "
                f"{describe_duration(report.silent_for_s or 0)}.",
                "Check the device's power, network and `humwatch devices` for its last telemetry.",
            ],
        )
        deps.notifier.publish(topic, message.subject, message.body, message.attributes)
        report.notified_silence = True
        report.silence_notice_at = now
        count(Metric.ALERTS_SENT)
        sent += 1
    return sent
