"""process_clip against a moto server, fed real S3 -> SQS notifications and a real trained model.

Clips are PUT to the bucket; moto's bucket notification puts the S3 event on the clip queue; the
test receives those SQS messages and hands them to the handler as the Lambda event source would.
The model is the default detector (spectral-gauss), what users get; the tests marked with the
`detector` parameter also run the blog-ae autoencoder through the same handler.
"""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from botocore.exceptions import ClientError
from lambda_harness import invoke, load_handler, receive_lambda_event
from trained_bundles import TrainedBundles

from humwatch import contracts as c
from humwatch.dal import aws
from humwatch.dal.history import HistoryTable
from humwatch.dal.model_store import ModelStore
from humwatch.dal.provisioning import StackResources
from humwatch.detectors import DEFAULT_DETECTOR
from humwatch.errors import TransientError
from humwatch.explain import describe_why
from humwatch.model.bundle import ModelBundle
from humwatch.records import ClipStatus
from humwatch.research.synth import MachineSpec, synth_clip
from humwatch.services import wiring

THING = "fan-07"
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
BOTH_DETECTORS = pytest.mark.parametrize("detector", [DEFAULT_DETECTOR, "blog-ae"])


def encode(samples: np.ndarray, fmt: str = "FLAC") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, 16000, format=fmt, subtype="PCM_16")
    return buf.getvalue()


def normal_clip(seed: int) -> bytes:
    return encode(synth_clip(MachineSpec.from_seed("fan", 0), seed=1000 + seed, duration_s=3.0))


def whining_clip(seed: int) -> bytes:
    """The normal fan with a loud 3 kHz whine on top (a failing bearing or belt): over twice the
    threshold of either detector (spectral-gauss about 12-15x, blog-ae about 2.5x)."""
    fan = synth_clip(MachineSpec.from_seed("fan", 0), seed=3000 + seed, duration_s=3.0)
    whine = 0.3 * np.sin(2 * np.pi * 3000.0 * np.arange(fan.size) / 16000)
    return encode((fan + whine).astype(np.float32))


def silent_clip() -> bytes:
    return encode(np.zeros(48_000, dtype=np.float32))


@pytest.fixture
def detector() -> str:
    """The detector type the published model has; `BOTH_DETECTORS` tests parametrize it."""
    return DEFAULT_DETECTOR


@pytest.fixture
def published(
    aws_stack: StackResources, trained_bundles: TrainedBundles, detector: str, history: HistoryTable
) -> ModelBundle:
    bundle = ModelBundle.load(trained_bundles.dir_for(detector))
    assert bundle.manifest.model_type == detector
    store = ModelStore(aws_stack.bucket, client=aws.client("s3", endpoint_url=aws_stack.endpoint_url))
    store.publish(bundle, "fan-test", history, make_default=True)
    history.devices.put(THING, machine_type="fan")
    return bundle


@pytest.fixture
def handler(functions_env: dict[str, str], published: ModelBundle):
    return load_handler("process_clip")


def upload(stack: StackResources, data: bytes, minutes: float, ext: str = "flac") -> tuple[str, str]:
    clip_id = str(uuid.uuid4())
    key = c.clip_key(THING, T0 + timedelta(minutes=minutes), clip_id, ext)
    s3 = aws.client("s3", endpoint_url=stack.endpoint_url)
    s3.put_object(Bucket=stack.bucket, Key=key, Body=data, ContentType=f"audio/{ext}")
    return clip_id, key


def clips_of(history: HistoryTable) -> dict[str, Any]:
    return {r.clip_id: r for r in history.clips.query(THING)}


@BOTH_DETECTORS
def test_normal_clips_are_scored_into_history_without_alerts(aws_stack, handler, history, alert_inbox):
    # Given two normal clips uploaded (one FLAC, one WAV)
    a, _ = upload(aws_stack, normal_clip(1), 0)
    b, _ = upload(
        aws_stack,
        encode(synth_clip(MachineSpec.from_seed("fan", 0), seed=2000, duration_s=3.0), "WAV"),
        1,
        "wav",
    )
    # When the notifications are processed
    result = invoke(handler, receive_lambda_event(aws_stack, expected=2))
    # Then both have a SCORED item under the threshold, with model, band means and the S3 etag
    assert result == {"batchItemFailures": []}
    items = clips_of(history)
    assert set(items) == {a, b}
    for item in items.values():
        assert item.status is ClipStatus.SCORED and not item.is_anomaly and item.ratio < 1.0
        assert item.model_id == "fan-test" and item.band_means and len(item.band_means) == 64
        assert item.etag and item.duration_s == pytest.approx(3.0) and item.ttl
    state = history.alert_states.get(THING)
    assert state is not None and len(state.alert.recent) == 2 and not state.alert.episode_open
    assert alert_inbox.messages() == []


@BOTH_DETECTORS
def test_the_same_s3_event_twice_gives_one_item_and_one_alert(
    aws_stack, handler, history, alert_inbox, detector
):
    # Given three whining clips (anomalous, over 2x the threshold: a critical alert)
    ids = [upload(aws_stack, whining_clip(i), i)[0] for i in range(3)]
    event = receive_lambda_event(aws_stack, expected=3)
    # When the same event is delivered twice
    first = invoke(handler, event)
    second = invoke(handler, event)
    # Then there is one item per clip and exactly one alert
    assert first == second == {"batchItemFailures": []}
    items = clips_of(history)
    assert set(items) == set(ids) and all(i.is_anomaly for i in items.values())
    alerts = alert_inbox.messages()
    assert len(alerts) == 1
    alert = alerts[0]
    attrs = {k: v["Value"] for k, v in alert["MessageAttributes"].items()}
    assert attrs == {"severity": "critical", "device": THING, "machine_type": "fan", "kind": "anomaly"}
    assert THING in alert["Subject"] and "CRITICAL" in alert["Subject"]
    assert "3 of the last 3" in alert["Message"]
    assert f"humwatch history --device {THING} --since 24h" in alert["Message"]
    state = history.alert_states.get(THING)
    assert state is not None and state.alerts_sent == 1 and state.pending_alert is None
    # and spectral-gauss says why, in the history and in words in the alert: the 3 kHz whine's band
    if detector == DEFAULT_DETECTOR:
        for item in items.values():
            assert item.why is not None and item.why.band_hz is not None
            assert item.why.band_hz[0] <= 3000.0 <= item.why.band_hz[1] and item.why.deviation > 3.0
        said = describe_why(items[ids[-1]].why)
        assert f"Why:            {said}" in alert["Message"] and "kHz band" in said
    else:  # the autoencoder cannot say which part of the sound moved
        assert all(i.why is None for i in items.values()) and "Why:" not in alert["Message"]
    # and the anomalies are on the by-day index
    assert {r.clip_id for r in history.clips.anomalies(T0)} | {
        r.clip_id for r in history.clips.anomalies(T0 + timedelta(minutes=3))
    } >= set(ids)


def test_the_evidence_rule_set_in_the_environment_alerts_before_k_of_n(
    aws_stack, handler, history, alert_inbox, monkeypatch
):
    # Given the function configured for 5 of 5 or evidence 2.5 (as cdk.json's alertEvidence sets it)
    monkeypatch.setenv("HUMWATCH_ALERT_K", "5")
    monkeypatch.setenv("HUMWATCH_ALERT_N", "5")
    monkeypatch.setenv("HUMWATCH_ALERT_EVIDENCE", "2.5")
    wiring.reset()
    # When three whining clips arrive (each far over the threshold: each adds the cap, 1.25)
    for i in range(3):
        upload(aws_stack, whining_clip(i), i)
    invoke(handler, receive_lambda_event(aws_stack, expected=3))
    # Then one alert is sent on the second clip, long before 5 of 5, and it shows the evidence
    alerts = alert_inbox.messages()
    assert len(alerts) == 1
    assert "2 of the last 2 clips" in alerts[0]["Message"]
    assert "Evidence:       2.5" in alerts[0]["Message"]
    state = history.alert_states.get(THING)
    assert state is not None and state.alert.episode_open and state.alerts_sent == 1


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"this is not audio, just text pretending to be FLAC" * 10, "not_audio"),
        (silent_clip(), "silent"),
        (normal_clip(5)[: len(normal_clip(5)) // 3], "truncated"),
    ],
    ids=["corrupt", "silent", "truncated"],
)
def test_bad_clips_become_rejected_items_never_retried_never_alerting(
    aws_stack, handler, history, alert_inbox, data, reason
):
    # Given two anomalous clips already counted (one more would alert) and a bad clip
    for i in range(2):
        upload(aws_stack, whining_clip(i), i)
    invoke(handler, receive_lambda_event(aws_stack, expected=2))
    bad_id, _ = upload(aws_stack, data, 5)
    # When the bad clip is processed
    result = invoke(handler, receive_lambda_event(aws_stack, expected=1))
    # Then it is recorded as REJECTED with its reason, not retried, and nothing alerts
    assert result == {"batchItemFailures": []}
    item = clips_of(history)[bad_id]
    assert item.status is ClipStatus.REJECTED
    assert item.reason == reason
    assert item.reason_message and item.score is None and not item.is_anomaly
    assert alert_inbox.messages() == []
    state = history.alert_states.get(THING)
    assert state is not None and len(state.alert.recent) == 2 and state.last_status is ClipStatus.REJECTED


def test_a_zero_byte_clip_is_rejected_in_one_invocation_never_retried_never_alerting(
    aws_stack, handler, history, alert_inbox
):
    # Given two anomalous clips already counted (one more would alert) and a zero-byte object
    for i in range(2):
        upload(aws_stack, whining_clip(i), i)
    invoke(handler, receive_lambda_event(aws_stack, expected=2))
    empty_id, _ = upload(aws_stack, b"", 5)
    # When its notification is processed once
    result = invoke(handler, receive_lambda_event(aws_stack, expected=1))
    # Then the record is done (not reported for retry), the clip is REJECTED as empty, no alert
    assert result == {"batchItemFailures": []}
    item = clips_of(history)[empty_id]
    assert item.status is ClipStatus.REJECTED and item.reason == "empty"
    assert item.size == 0 and item.score is None
    assert alert_inbox.messages() == []
    state = history.alert_states.get(THING)
    assert state is not None and len(state.alert.recent) == 2 and state.last_status is ClipStatus.REJECTED


def test_a_clip_emptied_after_its_notification_is_rejected_on_the_first_try(
    aws_stack, handler, history, alert_inbox
):
    # Given a clip whose notification announced its real size, then overwritten with zero bytes
    clip_id, key = upload(aws_stack, normal_clip(4), 0)
    first_event = receive_lambda_event(aws_stack, expected=1)
    s3 = aws.client("s3", endpoint_url=aws_stack.endpoint_url)
    s3.put_object(Bucket=aws_stack.bucket, Key=key, Body=b"", ContentType="audio/flac")
    assert '"size": 0' not in first_event["Records"][0]["body"]
    # When that first notification is processed (the ranged GET meets S3's InvalidRange)
    result = invoke(handler, first_event)
    # Then it is REJECTED as empty in this one invocation, not left to retry into the DLQ
    assert result == {"batchItemFailures": []}
    item = clips_of(history)[clip_id]
    assert item.status is ClipStatus.REJECTED and item.reason == "empty"
    # And the overwrite's own notification is a duplicate of that item, not a second one
    assert invoke(handler, receive_lambda_event(aws_stack, expected=1)) == {"batchItemFailures": []}
    assert len(list(history.clips.query(THING))) == 1
    assert alert_inbox.messages() == []


def test_an_oversize_object_is_rejected_from_the_event_size_without_download(
    aws_stack, functions_env, published, history, monkeypatch
):
    monkeypatch.setenv("HUMWATCH_MAX_CLIP_BYTES", "50000")
    wiring.reset()
    handler = load_handler("process_clip")
    deps = wiring.process_deps()

    def no_download(*args: Any, **kwargs: Any) -> bytes:
        raise AssertionError("an oversize clip must not be downloaded")

    monkeypatch.setattr(deps.clips, "get_bytes", no_download)
    clip_id, _ = upload(aws_stack, normal_clip(1), 0)  # ~60-90 kB FLAC
    result = invoke(handler, receive_lambda_event(aws_stack, expected=1))
    assert result == {"batchItemFailures": []}
    item = clips_of(history)[clip_id]
    assert item.status is ClipStatus.REJECTED and item.reason == "too_large"


def test_a_throttled_write_fails_only_its_own_record(aws_stack, handler, history, alert_inbox):
    # Given three clips in one batch, and DynamoDB throttling the history write of the second
    ids = [upload(aws_stack, normal_clip(i), i)[0] for i in range(3)]
    event = receive_lambda_event(aws_stack, expected=3)
    victim = ids[1]
    client = wiring.process_deps().history.table._client
    real_put = client.put_item
    throttled: list[str] = []

    def put_item(**kwargs: Any) -> Any:
        if victim in kwargs["Item"]["sk"]["S"] and not throttled:
            throttled.append(victim)
            throttle: Any = {
                "Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"},
                "ResponseMetadata": {"HTTPStatusCode": 400},
            }
            raise ClientError(throttle, "PutItem")
        return real_put(**kwargs)

    client.put_item = put_item
    # When the batch is processed
    result = invoke(handler, event)
    # Then only that record is reported for retry; the others are done
    victim_message = next(r["messageId"] for r in event["Records"] if victim in r["body"])
    assert result == {"batchItemFailures": [{"itemIdentifier": victim_message}]}
    assert set(clips_of(history)) == {ids[0], ids[2]}
    # And its redelivery succeeds, leaving one item per clip
    retry = {"Records": [r for r in event["Records"] if r["messageId"] == victim_message]}
    assert invoke(handler, retry) == {"batchItemFailures": []}
    assert set(clips_of(history)) == set(ids)
    state = history.alert_states.get(THING)
    assert state is not None and len(state.alert.recent) == 3


def test_a_newly_published_version_is_picked_up_without_a_cold_start(
    aws_stack, handler, history, published: ModelBundle
):
    first_id, _ = upload(aws_stack, normal_clip(1), 0)
    invoke(handler, receive_lambda_event(aws_stack, expected=1))
    assert clips_of(history)[first_id].model_version == published.manifest.version
    # When a new version is published (same weights, new version name)
    v2 = ModelBundle(
        published.manifest.model_copy(update={"version": "20991231T000000Z"}), published.onnx_bytes
    )
    ModelStore(aws_stack.bucket, client=aws.client("s3", endpoint_url=aws_stack.endpoint_url)).publish(
        v2, "fan-test", history
    )
    second_id, _ = upload(aws_stack, normal_clip(2), 1)
    invoke(handler, receive_lambda_event(aws_stack, expected=1))
    # Then the next clip is scored by it
    assert clips_of(history)[second_id].model_version == "20991231T000000Z"


def test_s3_test_events_and_foreign_keys_are_ignored(aws_stack, handler, history):
    s3 = aws.client("s3", endpoint_url=aws_stack.endpoint_url)
    s3.put_object(Bucket=aws_stack.bucket, Key="clips/not-a-clip.txt", Body=b"x")
    event = receive_lambda_event(aws_stack, expected=1)
    event["Records"].append(
        dict(
            event["Records"][0],
            messageId=str(uuid.uuid4()),
            body='{"Service":"Amazon S3","Event":"s3:TestEvent"}',
        )
    )
    assert invoke(handler, event) == {"batchItemFailures": []}
    assert list(history.clips.query(THING)) == []


def test_keys_with_encoded_characters_are_decoded(aws_stack, handler, history):
    # S3 sends keys quote_plus-encoded: the ':' of the timestamp arrives as %3A
    clip_id, key = upload(aws_stack, normal_clip(3), 0)
    event = receive_lambda_event(aws_stack, expected=1)
    assert any("%3A" in r["body"] for r in event["Records"])
    invoke(handler, event)
    assert clips_of(history)[clip_id].s3_key == key


def test_an_alert_whose_publish_failed_is_sent_once_by_the_retry(aws_stack, handler, history, alert_inbox):
    # Given three anomalous clips, and SNS timing out on the first publish attempt
    ids = [upload(aws_stack, whining_clip(10 + i), i)[0] for i in range(3)]
    event = receive_lambda_event(aws_stack, expected=3)
    notifier = wiring.process_deps().notifier
    real_publish = notifier.publish
    calls: list[str] = []

    def flaky_publish(*args: Any, **kwargs: Any) -> str:
        calls.append("call")
        if len(calls) == 1:
            raise TransientError("SNS timed out")
        return real_publish(*args, **kwargs)

    notifier.publish = flaky_publish  # type: ignore[method-assign]
    # When the batch runs, the record that fired the alert fails and comes back
    result = invoke(handler, event)
    failed = [f["itemIdentifier"] for f in result["batchItemFailures"]]
    assert len(failed) == 1
    state = history.alert_states.get(THING)
    assert state is not None and state.pending_alert is not None  # kept in the outbox
    assert alert_inbox.messages() == []
    # Then its redelivery publishes the pending alert exactly once
    retry = {"Records": [r for r in event["Records"] if r["messageId"] in failed]}
    assert invoke(handler, retry) == {"batchItemFailures": []}
    assert len(alert_inbox.messages()) == 1
    state = history.alert_states.get(THING)
    assert state is not None and state.pending_alert is None and state.alerts_sent == 1
    assert set(clips_of(history)) == set(ids)


def test_with_a_console_the_alert_links_to_the_clips_page(aws_stack, handler, alert_inbox, monkeypatch):
    # Given process_clip configured with the console's address (CDK: the CloudFront URL)
    monkeypatch.setenv("HUMWATCH_CONSOLE_URL", "https://d1234.cloudfront.net")
    wiring.reset()
    # When three whining clips raise an alert
    ids = [upload(aws_stack, whining_clip(i), i)[0] for i in range(3)]
    invoke(handler, receive_lambda_event(aws_stack, expected=3))
    # Then the alert ends with the page of the clip that made it fire: no token, no presigned URL
    (alert,) = alert_inbox.messages()
    link = alert["Message"].rstrip().splitlines()[-1].strip()
    assert link == f"https://d1234.cloudfront.net/#/devices/{THING}/clips/{ids[-1]}"
    assert "X-Amz-" not in alert["Message"]
