"""The learning loop against a moto server: process_clip collects a learning device's baseline and
asks for training; the train_model handler trains, gates and promotes; the device's own model then
scores its clips. Real S3 -> SQS notifications, real training requests on the train queue."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import numpy as np
import pytest
import soundfile as sf
from lambda_harness import invoke, load_handler, receive_lambda_event
from ops_seed import run, stack_args

from humwatch import contracts as c
from humwatch.dal import aws
from humwatch.dal.history import HistoryTable
from humwatch.dal.model_store import ModelStore
from humwatch.dal.provisioning import StackResources
from humwatch.records import CandidateStatus, ClipStatus, DeviceLifecycle
from humwatch.research.synth import MachineSpec, synth_clip
from humwatch.services.promotion import promote, rollback

THING = "fan-11"
BASELINE = 12
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
SHAFT_RPM = 927.1  # the fan's nameplate speed (MachineSpec.from_seed("fan", 5): 15.45 Hz)


def _encode(samples: np.ndarray) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, 16000, format="FLAC", subtype="PCM_16")
    return buf.getvalue()


def normal_clip(seed: int) -> bytes:
    return _encode(synth_clip(MachineSpec.from_seed("fan", 5), seed=500 + seed, duration_s=3.0))


def whining_clip(seed: int) -> bytes:
    fan = synth_clip(MachineSpec.from_seed("fan", 5), seed=900 + seed, duration_s=3.0)
    return _encode((fan + 0.3 * np.sin(2 * np.pi * 3000.0 * np.arange(fan.size) / 16000)).astype(np.float32))


@pytest.fixture
def learning_env(functions_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    settings = {
        "HUMWATCH_BASELINE_CLIPS": str(BASELINE),
        "HUMWATCH_BASELINE_HOURS": "1",
        "HUMWATCH_MIN_TRAIN_CLIPS": "10",
    }
    for key, value in settings.items():
        monkeypatch.setenv(key, value)
    return {**functions_env, **settings}


@pytest.fixture
def handlers(learning_env: dict[str, str]) -> tuple[Any, Any]:
    return load_handler("process_clip"), load_handler("train_model")


def upload(stack: StackResources, data: bytes, minutes: float) -> str:
    clip_id = str(uuid.uuid4())
    key = c.clip_key(THING, T0 + timedelta(minutes=minutes), clip_id, "flac")
    aws.client("s3", endpoint_url=stack.endpoint_url).put_object(Bucket=stack.bucket, Key=key, Body=data)
    return clip_id


def process(stack: StackResources, handler: Any, count: int) -> None:
    done = 0
    while done < count:
        event = receive_lambda_event(stack, expected=min(5, count - done))
        assert invoke(handler, event) == {"batchItemFailures": []}
        done += sum(1 for r in event["Records"] if "s3:TestEvent" not in r["body"])


def train_event(stack: StackResources) -> dict[str, Any]:
    sqs = aws.client("sqs", endpoint_url=stack.endpoint_url)
    messages = sqs.receive_message(QueueUrl=stack.train_queue_url, MaxNumberOfMessages=10).get("Messages", [])
    assert messages, "no training request on the train queue"
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {},
                "messageAttributes": {},
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:humwatch-train-requests",
                "awsRegion": "us-east-1",
            }
            for m in messages
        ]
    }


def learn_baseline(
    stack: StackResources, handler: Any, history: HistoryTable, *, shaft_rpm: float | None = None
) -> None:
    history.devices.register_provisioned(THING, model_id=None, machine_type="fan")
    if shaft_rpm is not None:
        # The operator states the nameplate speed: `humwatch device learn` (just before the clips)
        with mock.patch("humwatch.cli.learning._now", return_value=T0 - timedelta(minutes=1)):
            said = run(["device", "learn", THING, "--shaft-rpm", f"{shaft_rpm:g}", *stack_args(stack)])
        assert said.exit_code == 0, said.output
        assert f"shaft speed {shaft_rpm:g} rpm" in said.output
        assert history.devices.get(THING).shaft_rpm == shaft_rpm
    for i in range(BASELINE):
        upload(stack, normal_clip(i), minutes=10 * i)
    process(stack, handler, BASELINE)


def test_a_learning_device_keeps_baseline_clips_and_asks_for_training_once_complete(
    aws_stack, handlers, history, alert_inbox
):
    process_clip, _ = handlers
    # Given a device provisioned without a model, and its baseline clips minus one
    history.devices.register_provisioned(THING, model_id=None, machine_type="fan")
    for i in range(BASELINE - 1):
        upload(aws_stack, normal_clip(i), minutes=10 * i)
    process(aws_stack, process_clip, BASELINE - 1)
    # Then the clips are kept as BASELINE with band statistics, nothing alerts, it still learns
    items = list(history.clips.query(THING))
    assert len(items) == BASELINE - 1 and all(r.status is ClipStatus.BASELINE for r in items)
    assert all(r.band_means and len(r.band_means) == 64 and r.score is None for r in items)
    assert history.devices.get(THING).state is DeviceLifecycle.LEARNING
    # When the last clip of the baseline (spanning over an hour) arrives
    upload(aws_stack, normal_clip(99), minutes=10 * (BASELINE - 1))
    process(aws_stack, process_clip, 1)
    # Then the device is training and one request for its baseline is on the train queue
    info = history.devices.get(THING)
    assert info.state is DeviceLifecycle.TRAINING and info.training_request_id.startswith("baseline-")
    body = json.loads(train_event(aws_stack)["Records"][0]["body"])
    assert body["thing"] == THING and body["reason"] == "baseline"
    assert alert_inbox.messages() == []


def test_train_model_promotes_a_first_model_that_then_flags_a_fault(
    aws_stack, handlers, history, alert_inbox
):
    process_clip, train_model = handlers
    # Given a device whose baseline completed, its nameplate shaft speed stated by an operator
    learn_baseline(aws_stack, process_clip, history, shaft_rpm=SHAFT_RPM)
    event = train_event(aws_stack)
    # When train_model handles the request (twice: a duplicated delivery)
    assert invoke(train_model, event) == {"batchItemFailures": []}
    assert invoke(train_model, event) == {"batchItemFailures": []}
    # Then one candidate was trained, passed its gate, and the device monitors with its own model
    candidates = history.candidates.list(THING)
    assert len(candidates) == 1 and candidates[0].status is CandidateStatus.PROMOTED and candidates[0].passed
    info = history.devices.get(THING)
    assert info.state is DeviceLifecycle.MONITORING and info.model_id == c.device_model_id(THING)
    assert history.models.pointer(THING).version == candidates[0].version
    store = ModelStore(aws_stack.bucket, client=aws.client("s3", endpoint_url=aws_stack.endpoint_url))
    report = store.get_gate_report(THING, candidates[0].version)
    assert report["passed"] and report["training"]["clips"] == BASELINE
    # and the device's model knows the shaft speed, so its why says shaft orders; the registry keeps it
    bundle = store.load_bundle(THING, candidates[0].version)
    assert bundle.manifest.why is not None and bundle.manifest.why.shaft_hz == pytest.approx(SHAFT_RPM / 60.0)
    assert info.shaft_rpm == SHAFT_RPM
    assert [check["name"] for check in report["checks"]] == [
        "labelled anomalies",
        "labelled normals",
        "replay",
    ]
    # When a normal clip and then whining clips arrive
    normal = upload(aws_stack, normal_clip(200), minutes=200)
    whines = [upload(aws_stack, whining_clip(i), minutes=210 + i) for i in range(3)]
    process(aws_stack, process_clip, 4)
    # Then they are scored by the device's own model: the normal under, the fault over, and an alert
    items = {r.clip_id: r for r in history.clips.query(THING, since=T0 + timedelta(minutes=199))}
    assert items[normal].status is ClipStatus.SCORED and not items[normal].is_anomaly
    assert items[normal].model_id == THING and items[normal].model_version == candidates[0].version
    assert all(items[w].is_anomaly for w in whines)
    assert len(alert_inbox.messages()) == 1


def test_too_few_usable_clips_is_recorded_on_the_device_and_learning_starts_over(
    aws_stack, handlers, history
):
    process_clip, train_model = handlers
    # Given a completed baseline (of a machine whose speed was stated) of which an operator
    # labelled most clips anomaly
    learn_baseline(aws_stack, process_clip, history, shaft_rpm=SHAFT_RPM)
    for record in list(history.clips.query(THING))[:5]:
        history.clips.set_label(THING, record.clip_id, "anomaly", "not how it should sound")
    # When train_model handles the request
    assert invoke(train_model, train_event(aws_stack)) == {"batchItemFailures": []}
    # Then no candidate exists, the device learns again and says why
    info = history.devices.get(THING)
    assert history.candidates.list(THING) == []
    assert info.state is DeviceLifecycle.LEARNING and "training needs at least 10" in info.training_note
    # and learning again keeps the stated shaft speed for the next run
    assert info.shaft_rpm == SHAFT_RPM


def test_promote_and_rollback_move_the_pointer_between_a_device_s_own_versions(aws_stack, handlers, history):
    process_clip, train_model = handlers
    learn_baseline(aws_stack, process_clip, history)
    invoke(train_model, train_event(aws_stack))
    first = history.models.pointer(THING).version
    # Given a retrain candidate (a request as `humwatch model retrain` sends it)
    now = T0 + timedelta(hours=3)
    request = c.TrainRequest(
        thing=THING, request_id="retrain-test", reason=c.TrainReason.RETRAIN,
        since=T0, until=now, requested_at=now + timedelta(seconds=5),
    )  # fmt: skip
    aws.client("sqs", endpoint_url=aws_stack.endpoint_url).send_message(
        QueueUrl=aws_stack.train_queue_url, MessageBody=request.model_dump_json()
    )
    invoke(train_model, train_event(aws_stack))
    waiting = [cand for cand in history.candidates.list(THING) if cand.status is CandidateStatus.CANDIDATE]
    # Then it waits (autoPromote is off) and the device says so
    assert len(waiting) == 1 and history.models.pointer(THING).version == first
    assert f"humwatch model promote {THING} {waiting[0].version}" in history.devices.get(THING).training_note
    # When an operator promotes it, then rolls back
    promote(history, THING, waiting[0].version, now=now)
    assert history.models.pointer(THING).version == waiting[0].version
    restored = rollback(history, THING, now=now + timedelta(minutes=1))
    # Then the first version scores again and the second is marked rolled back
    assert restored.version == first and history.models.pointer(THING).version == first
    assert history.candidates.get(THING, waiting[0].version).status is CandidateStatus.ROLLED_BACK
