"""The learning loop end to end: the local stack with the real process_clip and train_model handlers.

A device provisioned without a model learns its baseline from clips put straight into its S3
prefix (the contract's key format), is trained by train_model (the first run is SIGKILLed right
after its model files are uploaded and retried), promoted, and monitors: an injected fault
alerts. An operator then labels a false alarm normal and the fault anomaly and retrains: the
candidate's report shows the false alarm now under the threshold and it is promoted
(autoPromote). A retrain that would miss a labelled anomaly, requested twice with the same id,
trains once and is not promoted.
"""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from humwatch import contracts as c
from humwatch.dal import aws
from humwatch.dal.history import HistoryTable
from humwatch.dal.model_store import ModelStore
from humwatch.dal.train_queue import TrainQueue
from humwatch.local.devices import provision_local_device
from humwatch.local.killed_invocation import KillNextBatch
from humwatch.local.settings import LocalStackOptions
from humwatch.local.stack import LocalStack
from humwatch.records import CandidateStatus, DeviceLifecycle, ModelCandidate
from humwatch.research.synth import MachineSpec, synth_clip

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

THING = "fan-21"
BASELINE = 20
CLIP_S = 5.0
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=4)
SPEC = MachineSpec.from_seed("fan", 7)


def _flac(samples: np.ndarray) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples.astype(np.float32), 16000, format="FLAC", subtype="PCM_16")
    return buf.getvalue()


def normal(seed: int) -> bytes:
    return _flac(synth_clip(SPEC, seed=100 + seed, duration_s=CLIP_S))


def _with_tone(seed: int, hz: float, amplitude: float) -> bytes:
    fan = synth_clip(SPEC, seed=seed, duration_s=CLIP_S)
    return _flac(fan + amplitude * np.sin(2 * np.pi * hz * np.arange(fan.size) / 16000))


def whining(seed: int) -> bytes:
    """A failing bearing's whine: several times the threshold."""
    return _with_tone(700 + seed, 3000.0, 0.3)


def new_neighbour(seed: int) -> bytes:
    """The fan plus a steady 2 kHz hum from a unit installed next to it: normal for this site, but
    just over the first model's threshold (a false alarm an operator labels normal)."""
    return _with_tone(300 + seed, 2000.0, 0.15)


@dataclass
class LoopRun:
    stack: LocalStack
    history: HistoryTable
    store: ModelStore
    killed: int = 0
    partial_bundle_visible_after_kill: bool = True
    model_files_after_kill: list[str] = field(default_factory=list)
    first: ModelCandidate | None = None
    fault_clips: list[str] = field(default_factory=list)
    false_alarm_clips: list[str] = field(default_factory=list)
    alerts_after_fault: int = 0
    relabelled: ModelCandidate | None = None
    relabelled_report: dict[str, Any] = field(default_factory=dict)
    missing: list[ModelCandidate] = field(default_factory=list)
    missing_report: dict[str, Any] = field(default_factory=dict)
    pointer_after_missing: str | None = None
    events: list[str] = field(default_factory=list)


def _put(stack: LocalStack, data: bytes, minutes: float) -> str:
    clip_id = str(uuid.uuid4())
    key = c.clip_key(THING, T0 + timedelta(minutes=minutes), clip_id, "flac")
    aws.client("s3").put_object(Bucket=stack.info.bucket, Key=key, Body=data, ContentType="audio/flac")
    return clip_id


def _candidates(run: LoopRun) -> list[ModelCandidate]:
    return run.history.candidates.list(THING)


def _wait(stack: LocalStack, what: str, predicate: Any, timeout_s: float = 120.0) -> None:
    assert stack.wait_for(predicate, timeout_s=timeout_s, interval_s=0.5), f"timed out waiting for {what}"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopRun]:
    options = LocalStackOptions(
        workdir=tmp_path_factory.mktemp("learning"),
        drift_interval_s=0,
        batch_window_s=0.5,
        # A killed training run comes back after 25 s, when its 15 s claim lease has run out.
        train_visibility_timeout_s=25,
        function_env={
            "HUMWATCH_BASELINE_CLIPS": str(BASELINE),
            "HUMWATCH_BASELINE_HOURS": "1",
            "HUMWATCH_MIN_TRAIN_CLIPS": "10",
            "HUMWATCH_AUTO_PROMOTE": "true",
            "HUMWATCH_MODEL_REFRESH_S": "0",
            "HUMWATCH_ALERT_K": "3",
            "HUMWATCH_ALERT_N": "5",
            "HUMWATCH_ALERT_EVIDENCE": "0",
        },
    )
    events: list[str] = []
    stack = LocalStack(options, on_event=events.append).start()
    try:
        history = HistoryTable(stack.info.table)
        result = LoopRun(stack, history, ModelStore(stack.info.bucket), events=events)
        killer = KillNextBatch(
            stack.train_event_source.invoke, function="train_model", after_bundle_upload=True, timeout_s=180
        )
        stack.train_event_source.invoke = killer
        killer.arm()
        provision_local_device(stack, THING, model_id=None, machine_type="fan")

        # The baseline: the first training run is killed after its model files were uploaded.
        for i in range(BASELINE):
            _put(stack, normal(i), minutes=5 * i)
        _wait(stack, "the killed training run", lambda: bool(killer.killed))
        result.killed = len(killer.killed)
        result.partial_bundle_visible_after_kill = bool(_candidates(result))
        s3 = aws.client("s3")
        listed = s3.list_objects_v2(Bucket=stack.info.bucket, Prefix=c.MODELS_PREFIX + THING + "/")
        result.model_files_after_kill = [o["Key"] for o in listed.get("Contents", [])]
        # ... and retried once its lease ran out: promoted, monitoring.
        _wait(
            stack,
            "the device to monitor",
            lambda: (
                (info := history.devices.get(THING)) is not None and info.state is DeviceLifecycle.MONITORING
            ),
        )
        result.first = _candidates(result)[0]

        # An injected fault, then a new neighbour's hum (a false alarm).
        result.fault_clips = [_put(stack, whining(i), minutes=100 + 5 * i) for i in range(4)]
        _wait(stack, "the fault alert", lambda: len(stack.inbox.alerts()) >= 1)
        result.alerts_after_fault = len(stack.inbox.alerts())
        result.false_alarm_clips = [_put(stack, new_neighbour(i), minutes=120 + 5 * i) for i in range(4)]
        assert stack.wait_until_drained(60)
        flagged = {r.clip_id for r in history.clips.query(THING) if r.is_anomaly}
        for clip_id in result.false_alarm_clips:
            if clip_id in flagged:
                history.clips.set_label(THING, clip_id, "normal", "the new compressor next door")
        for clip_id in result.fault_clips:
            history.clips.set_label(THING, clip_id, "anomaly", "bearing whine confirmed")

        # Retrain with those labels: the candidate passes and is promoted (autoPromote).
        queue = TrainQueue(stack.info.train_queue_url)
        now = datetime.now(UTC).replace(microsecond=0)
        queue.send(
            c.TrainRequest(
                thing=THING,
                request_id="retrain-labels",
                reason=c.TrainReason.RETRAIN,
                since=T0,
                until=now,
                requested_at=now,
            )
        )
        _wait(stack, "the relabelled candidate", lambda: len(_candidates(result)) >= 2)
        result.relabelled = next(x for x in _candidates(result) if x.request_id == "retrain-labels")
        result.relabelled_report = result.store.get_gate_report(THING, result.relabelled.version) or {}

        # An operator labels a normal baseline clip anomaly: a retrain would miss it. Sent twice.
        baseline_clip = next(r for r in history.clips.query(THING, newest_first=False))
        history.clips.set_label(THING, baseline_clip.clip_id, "anomaly", "subtle rattle, heard on site")
        later = now + timedelta(seconds=1)
        request = c.TrainRequest(
            thing=THING, request_id="retrain-missing", reason=c.TrainReason.RETRAIN,
            since=T0, until=later, requested_at=later,
        )  # fmt: skip
        queue.send(request)
        queue.send(request)
        _wait(
            stack, "both deliveries", lambda: stack.train_queue.depth() == 0 and len(_candidates(result)) >= 3
        )
        time.sleep(3)  # the second delivery, if any, has been handled
        assert stack.train_event_source.wait_drained(60)
        result.missing = [x for x in _candidates(result) if x.request_id == "retrain-missing"]
        if result.missing:
            result.missing_report = result.store.get_gate_report(THING, result.missing[0].version) or {}
        pointer = history.models.pointer(THING)
        result.pointer_after_missing = pointer.version if pointer else None
        yield result
    finally:
        stack.stop()


def test_a_killed_training_run_leaves_no_visible_candidate_and_is_retried(run: LoopRun) -> None:
    assert run.killed == 1
    assert run.model_files_after_kill, "the kill came after the model files were uploaded"
    assert not run.partial_bundle_visible_after_kill
    assert run.first is not None and run.first.status is not CandidateStatus.CANDIDATE


def test_a_device_without_a_model_learns_trains_promotes_and_monitors(run: LoopRun) -> None:
    info = run.history.devices.get(THING)
    assert info is not None and info.model_id == c.device_model_id(THING)
    assert run.first is not None and run.first.reason == "baseline" and run.first.passed
    assert run.first.n_clips == BASELINE
    baseline = [r for r in run.history.clips.query(THING) if r.status.value == "BASELINE"]
    assert len(baseline) >= BASELINE and all(r.score is None for r in baseline)


def test_an_injected_fault_alerts_once_the_device_monitors(run: LoopRun) -> None:
    assert run.alerts_after_fault == 1
    alert = run.stack.inbox.alerts()[0]
    assert alert.device == THING
    scored = {r.clip_id: r for r in run.history.clips.query(THING)}
    assert all(scored[x].is_anomaly and scored[x].model_id == THING for x in run.fault_clips)


def test_a_false_alarm_labelled_normal_is_under_the_retrained_candidates_threshold(run: LoopRun) -> None:
    report = run.relabelled_report
    normals = {n["clip_id"]: n for n in report["labelled_normals"]}
    assert normals, "no false alarm was flagged by the first model"
    assert {n["verdict"] for n in normals.values()} == {"now below threshold"}
    assert all(a["verdict"] == "caught" for a in report["labelled_anomalies"])
    assert run.relabelled is not None and run.relabelled.status is CandidateStatus.PROMOTED


def test_a_candidate_that_misses_a_labelled_anomaly_is_not_promoted(run: LoopRun) -> None:
    assert run.missing_report["missed_anomalies"] >= 1 and not run.missing_report["passed"]
    assert run.missing[0].status is CandidateStatus.CANDIDATE
    assert run.relabelled is not None and run.pointer_after_missing == run.relabelled.version


def test_a_duplicated_training_request_trains_once(run: LoopRun) -> None:
    assert len(run.missing) == 1
