"""process_clip: turn S3 `ObjectCreated` notifications into history items, alert state and alerts.

Per clip object: parse the key (thing, capture time, clip id); reject oversize objects from the
event's size before downloading; download, decode, validate, score with the device's current
model; write exactly one history item (conditional on the key: a redelivered event is scored
again, finds the item there and finishes from the stored one, see `_duplicate`); fold the result
into the device's alert state (optimistic lock on `rev`, re-read and re-apply on conflict);
publish an SNS alert when the policy fires.

Failure semantics (see `humwatch.errors.disposition`): bad input (AudioRejected: empty, not
audio, truncated, ...; a vanished object) becomes a REJECTED item with its reason on the first
try and is never retried or alerted on; transient failures and deployment faults raise (the AWS
codes are sorted in `humwatch.dal.aws`), so the SQS batch reports only that record in
`batchItemFailures` and the DLQ is the backstop.

Alerts use an outbox: the rendered alert is saved in the state (`pending_alert`) together with the
state change that decided it, published, then cleared. A crash or throttle between those steps
leaves it pending and the record's retry publishes it, so an alert is never lost (and the state's
clip ids keep a redelivered clip from being counted or alerted twice).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from humwatch import contracts as c
from humwatch.alerts.evidence import DEFAULT_NORMAL_GAP
from humwatch.alerts.message import AlertContext, render_alert
from humwatch.alerts.policy import AlertDecision, ClipFlag, evaluate
from humwatch.audio import AudioLimits, DecodedAudio, decode_audio
from humwatch.config import ProcessSettings
from humwatch.dal.clip_store import ClipStore
from humwatch.dal.history import HistoryTable
from humwatch.dal.notifier import Notifier
from humwatch.dal.train_queue import TrainQueue
from humwatch.errors import (
    AudioRejected,
    AudioRejectReason,
    ConflictError,
    ModelBundleError,
    NotFound,
    TransientError,
)
from humwatch.explain import describe_why
from humwatch.features import band_means
from humwatch.learning.selection import baseline_progress
from humwatch.observability import Metric, clip_context, count, gauge, logger, milliseconds, tracer
from humwatch.records import ClipRecord, ClipStatus, DeviceInfo, DeviceLifecycle, DeviceState, PendingAlert
from humwatch.scoring import decode_for
from humwatch.services.events import S3EventRecord, S3Notification
from humwatch.services.scorers import DeviceModel, ScorerCache

STATE_ATTEMPTS = 8


class Outcome(StrEnum):
    SCORED = "scored"
    BASELINE = "baseline"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"


@dataclass(frozen=True)
class ClipOutcome:
    key: str
    outcome: Outcome
    thing: str | None = None
    clip_id: str | None = None
    reason: str | None = None
    alert_sent: bool = False
    ratio: float | None = None


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class ProcessDeps:
    settings: ProcessSettings
    history: HistoryTable
    clips: ClipStore
    notifier: Notifier
    scorers: ScorerCache
    train_queue: TrainQueue | None = None  # where a completed baseline asks for training
    clock: Callable[[], datetime] = field(default=_utcnow)
    sleep: Callable[[float], None] = field(default=time.sleep)


# --- entry points ----------------------------------------------------------------------------------
def process_message(body: str, deps: ProcessDeps) -> list[ClipOutcome]:
    """One SQS message body (an S3 notification). Raises only for what is worth retrying."""
    try:
        notification = S3Notification.model_validate(json.loads(body))
    except ValueError:
        # Not an S3 notification at all: retrying cannot fix it; the queue is ours, so log loudly.
        logger.error("SQS message is not an S3 event notification; dropped", extra={"size": len(body)})
        count(Metric.CLIPS_REJECTED)
        return [ClipOutcome(key="", outcome=Outcome.IGNORED, reason="not_an_s3_event")]
    if notification.is_test_event:
        logger.info("s3:TestEvent ignored")
        return []
    return [process_record(record, deps) for record in notification.records]


def process_record(record: S3EventRecord, deps: ProcessDeps) -> ClipOutcome:
    """One S3 event record (one object)."""
    key = record.key
    if not record.is_object_created:
        return ClipOutcome(key=key, outcome=Outcome.IGNORED, reason=f"event {record.eventName}")
    if record.s3.bucket.name != deps.clips.bucket:
        logger.warning("event for another bucket ignored", extra={"bucket": record.s3.bucket.name})
        return ClipOutcome(key=key, outcome=Outcome.IGNORED, reason="other_bucket")
    try:
        parsed = c.parse_clip_key(key)
    except ValueError:
        logger.warning("object key is not a clip key; ignored", extra={"key": key})
        return ClipOutcome(key=key, outcome=Outcome.IGNORED, reason="not_a_clip_key")
    with clip_context(parsed.thing, parsed.clip_id, key=key):
        return _process_clip(record, parsed, deps)


# --- one clip --------------------------------------------------------------------------------------
@tracer.capture_method
def _process_clip(record: S3EventRecord, parsed: c.ClipKey, deps: ProcessDeps) -> ClipOutcome:
    started = time.perf_counter()
    thing, clip_id = parsed.thing, parsed.clip_id
    etag = (record.s3.object.eTag or "").strip('"')
    size = record.s3.object.size

    learning = _learning_device(thing, deps)
    base: dict[str, Any] = {
        "thing": thing,
        "clip_id": clip_id,
        "captured_at": parsed.captured_at,
        "s3_key": record.key,
        "etag": etag,
        "size": size,
        "ttl": _ttl(deps),
    }
    model: DeviceModel | None = None
    limits = AudioLimits(max_bytes=deps.settings.max_clip_bytes)
    try:
        if size is not None and size > deps.settings.max_clip_bytes:
            raise AudioRejected(
                f"object is {size} bytes, over the {deps.settings.max_clip_bytes}-byte limit",
                code=AudioRejectReason.TOO_LARGE.value,
            )
        if size == 0:
            # Known from the event: no GET (ClipStore also rejects an object emptied since).
            raise AudioRejected("object is 0 bytes", code=AudioRejectReason.EMPTY.value)
        if learning is None:
            model = deps.scorers.for_device(thing)
        data = deps.clips.get_bytes(record.key, max_bytes=deps.settings.max_clip_bytes)
        if model is None:
            assert learning is not None
            return _baseline_clip(record, decode_audio(data, limits=limits), learning, base, started, deps)
        audio = decode_for(model.scorer, data, limits=limits)
        score = model.scorer.score(audio)
    except (AudioRejected, NotFound) as exc:
        reason = exc.code if isinstance(exc, AudioRejected) else "missing_object"
        item = ClipRecord(
            **base,
            status=ClipStatus.REJECTED,
            processed_at=deps.clock(),
            reason=reason,
            reason_message=exc.message,
            model_id=model.model_id if model else None,
            model_version=model.version if model else None,
            processing_ms=(time.perf_counter() - started) * 1000.0,
        )
        if not deps.history.clips.put(item):
            return _duplicate(item, deps)
        _update_state(item, deps, flag=None, model=model)
        count(Metric.CLIPS_REJECTED)
        logger.warning("clip rejected", extra={"reason": reason, "detail": exc.message})
        return ClipOutcome(
            key=record.key, outcome=Outcome.REJECTED, thing=thing, clip_id=clip_id, reason=reason
        )

    elapsed_ms = (time.perf_counter() - started) * 1000.0
    item = ClipRecord(
        **base,
        status=ClipStatus.SCORED,
        processed_at=deps.clock(),
        score=score.score,
        threshold=score.threshold,
        ratio=score.ratio,
        is_anomaly=score.is_anomaly,
        model_id=model.model_id,
        model_version=model.version,
        duration_s=audio.duration_s,
        sample_rate=audio.sample_rate,
        band_means=[round(float(v), 4) for v in score.band_means],
        processing_ms=round(elapsed_ms, 3),
        why=score.why,
    )
    if not deps.history.clips.put(item):
        return _duplicate(item, deps)
    count(Metric.CLIPS_SCORED)
    gauge(Metric.ANOMALY_SCORE, score.ratio)
    milliseconds(Metric.PROCESSING_MS, elapsed_ms)
    logger.info(
        "clip scored",
        extra={"score": score.score, "ratio": round(score.ratio, 3), "is_anomaly": score.is_anomaly},
    )
    flag = ClipFlag(
        clip_id=clip_id,
        captured_at=parsed.captured_at,
        is_anomaly=score.is_anomaly,
        ratio=score.ratio,
        normal_gap=score.normal_gap,
    )
    sent = _update_state(item, deps, flag=flag, model=model)
    return ClipOutcome(
        key=record.key,
        outcome=Outcome.SCORED,
        thing=thing,
        clip_id=clip_id,
        alert_sent=sent,
        ratio=score.ratio,
    )


# --- a learning device: its clips build the baseline --------------------------------------------
def _learning_device(thing: str, deps: ProcessDeps) -> DeviceInfo | None:
    """The device's registry entry when it is learning (or training), else None.

    An unregistered device is registered on its first clip (listings and drift checks see it) and
    scored by the default model, as before the learning loop. A learning device is read again on
    every clip (it is one GetItem): the clip after a promotion is scored, not cached as baseline."""
    info = deps.scorers.device(thing)
    if info is None:
        deps.history.devices.put(thing, overwrite=False)
        deps.scorers.forget_device(thing)
        return None
    if not info.learning:
        return None
    deps.scorers.forget_device(thing)
    fresh = deps.scorers.device(thing)
    return fresh if fresh is not None and fresh.learning else None


def _baseline_clip(
    record: S3EventRecord,
    audio: DecodedAudio,
    info: DeviceInfo,
    base: dict[str, Any],
    started: float,
    deps: ProcessDeps,
) -> ClipOutcome:
    """A valid clip of a learning device: kept with its band statistics, never scored or alerted."""
    item = ClipRecord(
        **base,
        status=ClipStatus.BASELINE,
        processed_at=deps.clock(),
        duration_s=audio.duration_s,
        sample_rate=audio.sample_rate,
        band_means=[round(float(v), 4) for v in band_means(audio.samples)],
        processing_ms=round((time.perf_counter() - started) * 1000.0, 3),
    )
    if not deps.history.clips.put(item):
        return _duplicate(item, deps)
    _update_state(item, deps, flag=None, model=None)
    count(Metric.BASELINE_CLIPS)
    logger.info("baseline clip kept")
    if info.learning_since is not None:
        kept = deps.history.devices.count_baseline_clip(info.thing, learning_since=info.learning_since)
        if kept is not None:  # None: learning restarted since this device entry was read
            _check_baseline(info, deps, kept=kept)
    return ClipOutcome(key=record.key, outcome=Outcome.BASELINE, thing=item.thing, clip_id=item.clip_id)


def _check_baseline(info: DeviceInfo, deps: ProcessDeps, *, kept: int | None = None) -> None:
    """Ask for training once the baseline has enough clips over enough hours.

    `kept` is the round's counter of baseline clips (one UpdateItem per clip): below the clips
    needed, the baseline cannot be complete and its clips are not read (without the counter every
    clip would read the whole baseline so far). The request id names the learning round, so the
    message may be sent twice (two clips finishing the baseline at once, a retry after a crash
    between send and state change) and trains once."""
    if info.state is not DeviceLifecycle.LEARNING or info.learning_since is None:
        return
    settings = deps.settings
    if kept is not None and kept < settings.baseline_clips:
        return
    records = list(deps.history.clips.query(info.thing, since=info.learning_since, newest_first=False))
    progress = baseline_progress(
        records,
        needed_clips=settings.baseline_clips,
        needed_hours=info.baseline_hours if info.baseline_hours is not None else settings.baseline_hours,
        clip_interval=timedelta(seconds=settings.clip_interval_s),
    )
    if not progress.complete:
        return
    if deps.train_queue is None:
        logger.warning("baseline complete but HUMWATCH_TRAIN_QUEUE_URL is unset: nothing will train it")
        return
    assert progress.last_at is not None
    request = c.TrainRequest(
        thing=info.thing,
        request_id=f"baseline-{c.format_timestamp(info.learning_since)}",
        reason=c.TrainReason.BASELINE,
        since=info.learning_since,
        until=progress.last_at,
        requested_at=deps.clock(),
    )
    deps.train_queue.send(request)
    if deps.history.devices.begin_training(
        info.thing, request_id=request.request_id, learning_since=info.learning_since
    ):
        deps.scorers.forget_device(info.thing)
        logger.info("baseline complete; training requested", extra={"progress": progress.describe()})


def _ttl(deps: ProcessDeps) -> int | None:
    days = deps.settings.history_ttl_days
    return int((deps.clock() + timedelta(days=days)).timestamp()) if days > 0 else None


def _duplicate(attempted: ClipRecord, deps: ProcessDeps) -> ClipOutcome:
    """The conditional write found an item: a redelivered event (rare, so it was cheaper to score
    again than to look the item up before every clip). Finish from the stored item."""
    existing = deps.history.clips.get(attempted.thing, attempted.captured_at, attempted.clip_id)
    return _finish_duplicate(existing or attempted, deps)


def _finish_duplicate(existing: ClipRecord, deps: ProcessDeps) -> ClipOutcome:
    """A redelivered event: the item exists. Make sure the state counted it and no alert is stuck
    in the outbox (the first delivery may have failed after writing the item)."""
    sent = False
    if existing.status is ClipStatus.SCORED and existing.ratio is not None:
        model: DeviceModel | None = None
        try:
            model = deps.scorers.for_device(existing.thing)
        except ModelBundleError as exc:
            # The device's model cannot be resolved or loaded now (unpublished, removed, broken):
            # the clip was scored when its item was written, and the state only needs the model's
            # machine type and normal gap, so count it with the defaults rather than block it.
            # A TransientError propagates: the record is retried like any other transient failure
            # (the retry lands here again). Anything else is a bug and must reach the DLQ.
            logger.warning(
                "duplicate clip: model unavailable, default gap used", extra={"detail": exc.message}
            )
        flag = ClipFlag(
            clip_id=existing.clip_id,
            captured_at=existing.captured_at,
            is_anomaly=existing.is_anomaly,
            ratio=existing.ratio,
            # The model that scored it is the device's current one unless it was replaced since.
            normal_gap=model.scorer.normal_gap if model else DEFAULT_NORMAL_GAP,
        )
        sent = _update_state(existing, deps, flag=flag, model=model)
    elif existing.status is ClipStatus.BASELINE:
        # The first delivery may have died before asking for training.
        info = deps.history.devices.get(existing.thing)
        if info is not None:
            _check_baseline(info, deps)
    count(Metric.DUPLICATE_EVENTS)
    logger.info("duplicate clip event; item already written")
    return ClipOutcome(
        key=existing.s3_key,
        outcome=Outcome.DUPLICATE,
        thing=existing.thing,
        clip_id=existing.clip_id,
        alert_sent=sent,
    )


# --- alert state -----------------------------------------------------------------------------------
def _apply(
    state: DeviceState, item: ClipRecord, flag: ClipFlag | None, model: DeviceModel | None, deps: ProcessDeps
) -> tuple[DeviceState, AlertDecision | None]:
    decision = None
    update: dict[str, Any] = {}
    if flag is not None:
        if any(f.clip_id == flag.clip_id for f in state.alert.recent):
            return state, None  # already counted
        alert, decision = evaluate(deps.settings.alert_policy, state.alert, flag)
        update["alert"] = alert
    if state.last_clip_at is None or item.captured_at >= state.last_clip_at:
        update.update(
            last_clip_at=item.captured_at,
            last_status=item.status,
            last_score=item.score,
            last_ratio=item.ratio,
            model_id=item.model_id or state.model_id,
            model_version=item.model_version or state.model_version,
        )
    if decision is not None:
        message = render_alert(
            decision,
            AlertContext(
                thing=item.thing,
                machine_type=model.machine_type if model else "machine",
                captured_at=item.captured_at,
                clip_id=item.clip_id,
                score=float(item.score or 0.0),
                threshold=float(item.threshold or 1.0),
                model_id=item.model_id or "?",
                model_version=item.model_version or "?",
                first_anomaly_at=_first_anomaly(update.get("alert", state.alert).recent, decision),
                console_url=deps.settings.console_url,
                # Said only of a clip over the threshold (the evidence rule may fire on one under it).
                why=describe_why(item.why) if item.why is not None and item.is_anomaly else None,
            ),
        )
        update["pending_alert"] = PendingAlert(
            clip_id=item.clip_id, subject=message.subject, body=message.body, attributes=message.attributes
        )
        update["alerts_sent"] = state.alerts_sent + 1
    return state.model_copy(update=update), decision


def _first_anomaly(recent: tuple[ClipFlag, ...], decision: AlertDecision) -> datetime | None:
    times = [f.captured_at for f in recent if f.clip_id in decision.clip_ids]
    return min(times) if times else None


def _retry_pause(attempt: int, deps: ProcessDeps) -> None:
    deps.sleep(min(0.4, 0.01 * 2**attempt) * (0.5 + random.random()))


def _update_state(
    item: ClipRecord, deps: ProcessDeps, *, flag: ClipFlag | None, model: DeviceModel | None
) -> bool:
    """Fold the clip into the device state (optimistic lock); publish a pending alert. True if sent."""
    thing = item.thing
    for attempt in range(STATE_ATTEMPTS):
        state = deps.history.alert_states.get(thing) or DeviceState(thing=thing)
        new_state, decision = _apply(state, item, flag, model, deps)
        if new_state == state:
            break
        try:
            state = deps.history.alert_states.save(thing, new_state, state.rev)
        except ConflictError:
            _retry_pause(attempt, deps)
            continue
        if decision is not None:
            logger.info(
                "alert decided",
                extra={
                    "severity": decision.severity.value,
                    "reason": decision.reason.value,
                    "rev": state.rev,
                },
            )
        break
    else:
        raise TransientError(f"alert state of {thing} kept changing; retrying the record later")
    return _flush_pending_alert(state, deps)


def _flush_pending_alert(state: DeviceState, deps: ProcessDeps) -> bool:
    pending = state.pending_alert
    if pending is None:
        return False
    deps.notifier.publish(deps.settings.alert_topic_arn, pending.subject, pending.body, pending.attributes)
    count(Metric.ALERTS_SENT)
    logger.info("alert published", extra={"severity": pending.attributes.get("severity")})
    for attempt in range(STATE_ATTEMPTS):
        current = deps.history.alert_states.get(state.thing)
        if current is None or current.pending_alert != pending:
            return True
        try:
            deps.history.alert_states.save(
                state.thing, current.model_copy(update={"pending_alert": None}), current.rev
            )
            return True
        except ConflictError:
            _retry_pause(attempt, deps)
    # Published but not cleared: a later clip of this device may publish it once more (at least once).
    return True
