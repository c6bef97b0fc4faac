"""train_model: a device's clips -> a candidate model of its own -> gate report -> promotion.

Per request (one SQS message, `contracts.TrainRequest`):
1. claim the request id (`dal.training_runs`): a duplicate of a served request does nothing; a run
   that died (its lease ran out) is taken over by the retry;
2. select the training clips from the history (`learning.selection`): valid clips of the window,
   labelled-normal clips always, labelled-anomaly and flagged clips never; spread over the window;
3. download them and train the default detector (out-of-fold calibration, and the device's shaft
   speed when an operator stated it: `DeviceInfo.shaft_rpm`) under a version named after the
   request, so a retry rewrites the same version;
4. score the labelled clips and the last `replay_days` of clips with the candidate, build the gate
   report (`learning.gate`);
5. write model.onnx, model.json, the report, and only then the candidate item: a run killed at any
   point before leaves nothing anyone lists;
6. promote a first model that passed (and a retrain with autoPromote); a first model that failed
   sends the device back to learning with the reason; a retrain candidate waits for an operator.

Too few usable clips is a `TrainingDataError`: recorded on the device (`humwatch devices` shows
it), the request is done, nothing is retried.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from humwatch import contracts as c
from humwatch.audio import AudioLimits
from humwatch.config import TrainSettings
from humwatch.dal.clip_store import ClipStore
from humwatch.dal.history import HistoryTable
from humwatch.dal.model_store import ModelStore
from humwatch.dal.training_runs import Claim
from humwatch.errors import AudioRejected, NotFound, TrainingDataError, TransientError
from humwatch.learning.gate import CandidateScore, GateReport, TrainingSummary, gate_report
from humwatch.learning.selection import spread_evenly, trains
from humwatch.observability import Metric, clip_context, count, logger
from humwatch.records import CandidateStatus, ClipRecord, ClipStatus, DeviceInfo, ModelCandidate
from humwatch.services.promotion import promote

if TYPE_CHECKING:
    from humwatch.scoring import Scorer

# More clips than this add little to a Gaussian model of one machine and cost minutes: a longer
# window is thinned evenly over time (day and night stay in).
MAX_TRAIN_CLIPS = 600
DOWNLOAD_THREADS = 8


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class TrainDeps:
    settings: TrainSettings
    history: HistoryTable
    clips: ClipStore
    models: ModelStore
    clock: Callable[[], datetime] = field(default=_utcnow)


@dataclass(frozen=True)
class TrainOutcome:
    request_id: str
    outcome: str  # promoted | candidate | rejected | duplicate | too_few_clips | unknown_device | bad_request
    thing: str | None = None
    version: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class _Clip:
    """What `train_bundle` needs of a clip (a downloaded file, unlabelled = normal)."""

    path: Path
    label: str | None = None


def train_from_message(body: str, deps: TrainDeps) -> TrainOutcome:
    """One SQS message body. Raises only for what is worth retrying."""
    try:
        request = c.TrainRequest.model_validate_json(body)
    except ValueError:
        logger.error("training request is not a TrainRequest; dropped", extra={"size": len(body)})
        return TrainOutcome(request_id="", outcome="bad_request")
    with clip_context(request.thing, None, request_id=request.request_id):
        return run_training(request, deps)


def run_training(request: c.TrainRequest, deps: TrainDeps) -> TrainOutcome:
    thing, runs = request.thing, deps.history.training_runs
    lease = timedelta(seconds=deps.settings.run_lease_s)
    claim = runs.claim(thing, request.request_id, now=deps.clock(), lease=lease)
    if claim is Claim.DONE:
        logger.info("training request already served; duplicate ignored")
        return TrainOutcome(request.request_id, "duplicate", thing)
    if claim is Claim.BUSY:
        raise TransientError(f"training request {request.request_id} is being served by another run")
    info = deps.history.devices.get(thing)
    if info is None:
        runs.finish(thing, request.request_id, outcome="unknown device")
        return TrainOutcome(request.request_id, "unknown_device", thing)
    try:
        outcome = _train(request, info, deps)
    except TrainingDataError as exc:
        outcome = _no_candidate(request, info, exc.message, deps)
    runs.finish(thing, request.request_id, outcome=f"{outcome.outcome} {outcome.version or ''}".strip())
    return outcome


def _no_candidate(request: c.TrainRequest, info: DeviceInfo, reason: str, deps: TrainDeps) -> TrainOutcome:
    count(Metric.TRAINING_FAILED)
    logger.warning("no candidate trained", extra={"detail": reason})
    if info.learning:
        # Start the baseline over from now, so completing it asks for a new run.
        deps.history.devices.start_learning(info.thing, at=deps.clock(), baseline_hours=info.baseline_hours)
        deps.history.devices.set_training_note(info.thing, f"{reason}; learning again")
    else:
        deps.history.devices.set_training_note(info.thing, reason)
    return TrainOutcome(request.request_id, "too_few_clips", info.thing, detail=reason)


def _train(request: c.TrainRequest, info: DeviceInfo, deps: TrainDeps) -> TrainOutcome:
    from humwatch.detectors.registry import DEFAULT_DETECTOR
    from humwatch.detectors.training import train_bundle
    from humwatch.model.trainset import new_version
    from humwatch.scoring import Scorer

    settings, thing = deps.settings, request.thing
    model_id = c.device_model_id(thing)
    version = new_version(request.requested_at)
    replay_since = min(request.since, request.until - timedelta(days=settings.replay_days))
    history = list(
        deps.history.clips.query(
            thing, since=replay_since, until=request.until, newest_first=False, page_size=1000
        )
    )
    labelled = [r for r in deps.history.clips.query(thing, labelled_only=True, page_size=1000)]
    training = _training_records(request, history, labelled)
    if len(training) < settings.min_train_clips:
        raise TrainingDataError(
            f"{len(training)} usable clips captured {c.format_timestamp(request.since)} to "
            f"{c.format_timestamp(request.until)}; training needs at least {settings.min_train_clips}"
        )

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="humwatch-train-") as tmp:
        files = _download_all(training, Path(tmp), deps)
        if len(files) < settings.min_train_clips:
            raise TrainingDataError(
                f"{len(files)} of {len(training)} training clips could be read; "
                f"training needs at least {settings.min_train_clips}"
            )
        # The nameplate shaft speed, when an operator stated it: the model's why says shaft orders.
        shaft = {"shaft_rpm": info.shaft_rpm} if info.shaft_rpm is not None else {}
        bundle = train_bundle(DEFAULT_DETECTOR, files, None, version=version, model_id=model_id, **shaft)
    train_s = time.perf_counter() - started
    scorer = Scorer(bundle)
    replayed = [r for r in history if r.captured_at >= request.until - timedelta(days=settings.replay_days)]
    scores = _score_all(scorer, [*labelled, *replayed], deps)
    times = sorted(r.captured_at for r in training)
    report = gate_report(
        thing=thing,
        model_id=model_id,
        version=version,
        reason=request.reason.value,
        created_at=deps.clock(),
        threshold=float(bundle.manifest.threshold.value),
        training=TrainingSummary(
            clips=bundle.manifest.training.n_clips,
            first_at=times[0],
            last_at=times[-1],
            span_hours=round((times[-1] - times[0]).total_seconds() / 3600, 2),
            rejected=len(files) - bundle.manifest.training.n_clips,
        ),
        labelled=[scores[r.clip_id] for r in labelled if r.clip_id in scores],
        history=[scores[r.clip_id] for r in replayed if r.clip_id in scores],
        replay_days=settings.replay_days,
        policy=settings.alert_policy,
    )
    # Files first, the candidate item last: a run killed before it leaves nothing listed.
    sha = deps.models.upload_bundle(bundle, model_id, replace=True)
    report_key = deps.models.put_gate_report(model_id, version, report.model_dump_json(indent=2).encode())
    candidate = ModelCandidate(
        thing=thing,
        model_id=model_id,
        version=version,
        sha256=sha,
        request_id=request.request_id,
        reason=request.reason.value,
        created_at=deps.clock(),
        passed=report.passed,
        summary=report.summary,
        report_key=report_key,
        n_clips=report.training.clips,
    )
    deps.history.candidates.put(candidate)
    count(Metric.CANDIDATES_TRAINED)
    logger.info(
        "candidate trained",
        extra={
            "model_version": version,
            "clips": report.training.clips,
            "train_s": round(train_s, 2),
            "passed": report.passed,
        },
    )
    return _decide(request, info, candidate, report, deps)


def _training_records(
    request: c.TrainRequest, history: Sequence[ClipRecord], labelled: Sequence[ClipRecord]
) -> list[ClipRecord]:
    chosen = {r.clip_id: r for r in history if r.captured_at >= request.since and trains(r)}
    for record in labelled:
        if record.label == "normal" and trains(record):
            chosen.setdefault(record.clip_id, record)
    ordered = sorted(chosen.values(), key=lambda r: r.captured_at)
    return spread_evenly(ordered, MAX_TRAIN_CLIPS)


def _limits(deps: TrainDeps) -> AudioLimits:
    return AudioLimits(max_bytes=deps.settings.max_clip_bytes)


def _download_all(records: Sequence[ClipRecord], directory: Path, deps: TrainDeps) -> list[_Clip]:
    def fetch(record: ClipRecord) -> _Clip | None:
        try:
            data = deps.clips.get_bytes(record.s3_key, max_bytes=deps.settings.max_clip_bytes)
        except (NotFound, AudioRejected):
            return None  # expired or replaced since it was recorded: train on the others
        path = directory / f"{record.clip_id}{Path(record.s3_key).suffix}"
        path.write_bytes(data)
        return _Clip(path)

    with ThreadPoolExecutor(DOWNLOAD_THREADS) as pool:
        return [clip for clip in pool.map(fetch, records) if clip is not None]


def _score_all(scorer: Scorer, records: Sequence[ClipRecord], deps: TrainDeps) -> dict[str, CandidateScore]:
    from humwatch.scoring import decode_for

    unique = {r.clip_id: r for r in records if r.status is not ClipStatus.REJECTED}

    def score(record: ClipRecord) -> CandidateScore:
        try:
            data = deps.clips.get_bytes(record.s3_key, max_bytes=deps.settings.max_clip_bytes)
            result = scorer.score(decode_for(scorer, data, limits=_limits(deps)))
        except (NotFound, AudioRejected):
            return CandidateScore(record, None)
        return CandidateScore(record, result.ratio, result.normal_gap)

    with ThreadPoolExecutor(DOWNLOAD_THREADS) as pool:
        return {s.record.clip_id: s for s in pool.map(score, unique.values())}


def _decide(
    request: c.TrainRequest, info: DeviceInfo, candidate: ModelCandidate, report: GateReport, deps: TrainDeps
) -> TrainOutcome:
    thing, version, devices = candidate.thing, candidate.version, deps.history.devices
    # Commissioning: the device learned a baseline and nothing scores it until a model is promoted.
    commissioning = request.reason is c.TrainReason.BASELINE or info.learning
    now = deps.clock()
    if commissioning and report.passed:
        promote(deps.history, thing, version, now=now)
        return TrainOutcome(request.request_id, "promoted", thing, version, report.summary)
    if commissioning:
        deps.history.candidates.set_status(thing, version, CandidateStatus.REJECTED)
        devices.start_learning(thing, at=now, baseline_hours=info.baseline_hours)
        devices.set_training_note(
            thing,
            f"candidate {version} failed its gate ({report.summary}); learning again "
            f"(promote it anyway: humwatch model promote {thing} {version} --force)",
        )
        return TrainOutcome(request.request_id, "rejected", thing, version, report.summary)
    if report.passed and report.missed_anomalies == 0 and deps.settings.auto_promote:
        promote(deps.history, thing, version, now=now)
        return TrainOutcome(request.request_id, "promoted", thing, version, report.summary)
    verdict = "passed" if report.passed else "failed"
    devices.set_training_note(
        thing, f"candidate {version} {verdict} its gate; waiting: humwatch model promote {thing} {version}"
    )
    return TrainOutcome(request.request_id, "candidate", thing, version, report.summary)
