"""The local stack's event routing against a real moto server and a real mosquitto broker:
Lambda's SQS batch semantics (partial failures, visibility, DLQ), the SNS alert inbox, the
iot-data shim and the IoT rules engine. The real handlers are exercised by tests/e2e."""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from humwatch import contracts, pki
from humwatch.dal import aws
from humwatch.dal.device_channel import DeviceChannel
from humwatch.dal.local_resources import LocalResources
from humwatch.dal.notifier import Notifier
from humwatch.dal.provisioning import StackResources
from humwatch.dal.sqs_queue import SqsQueue
from humwatch.local.alert_inbox import AlertInbox
from humwatch.local.iot_data_shim import IotDataEndpoint
from humwatch.local.iot_rules import ROUTER_IDENTITY, IotRulesEngine, TopicRule
from humwatch.local.mqtt_broker import MosquittoBroker
from humwatch.local.sqs_event_source import SqsEventSource
from humwatch.local.stack import device_acl


@pytest.fixture
def clip_queue(aws_stack: StackResources, moto_endpoint: str) -> SqsQueue:
    # One-second visibility so a failed record is back within the test.
    LocalResources(endpoint_url=moto_endpoint, region="us-east-1").set_visibility_timeout(
        aws_stack.queue_url, 1
    )
    queue = SqsQueue(aws_stack.queue_url, endpoint_url=moto_endpoint)
    _purge(queue)  # drop the s3:TestEvent S3 sends when the notification is configured
    return queue


def _purge(queue: SqsQueue) -> None:
    while messages := queue.receive(wait_s=0):
        queue.delete([m.receipt_handle for m in messages])


def _send(queue: SqsQueue, n: int) -> list[str]:
    return [queue.send(json.dumps({"n": i})) for i in range(n)]


class RecordingFunction:
    """Stands in for a handler: records each batch's bodies, fails the bodies it is told to."""

    def __init__(self, fail_bodies: set[int] = frozenset(), raise_error: bool = False) -> None:  # type: ignore[assignment]
        self.fail_bodies = set(fail_bodies)
        self.raise_error = raise_error
        self.batches: list[list[dict[str, Any]]] = []

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        records = event["Records"]
        self.batches.append(records)
        if self.raise_error:
            raise RuntimeError("handler crashed")
        failed = [r["messageId"] for r in records if json.loads(r["body"])["n"] in self.fail_bodies]
        return {"batchItemFailures": [{"itemIdentifier": m} for m in failed]}


def test_given_five_records_when_batch_size_is_three_then_two_batches_in_lambda_shape(
    clip_queue: SqsQueue,
) -> None:
    fn = RecordingFunction()
    source = SqsEventSource(clip_queue, fn, batch_size=3, batch_window_s=0.5, region="us-east-1")
    _send(clip_queue, 5)

    first, second = source.poll_once(), source.poll_once()

    assert first is not None and second is not None
    assert sorted([first.size, second.size]) == [2, 3]
    record = fn.batches[0][0]
    assert record["eventSource"] == "aws:sqs" and record["eventSourceARN"] == clip_queue.arn
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert {"messageId", "receiptHandle", "body", "md5OfBody", "awsRegion"} <= set(record)
    assert clip_queue.depth() == 0


def test_given_one_failed_record_then_only_it_comes_back_after_the_visibility_timeout(
    clip_queue: SqsQueue,
) -> None:
    fn = RecordingFunction(fail_bodies={1})
    source = SqsEventSource(clip_queue, fn, batch_size=10, batch_window_s=0.3, region="us-east-1")
    _send(clip_queue, 3)

    result = source.poll_once()
    assert result is not None and result.size == 3 and len(result.failed_ids) == 1
    time.sleep(1.2)
    retry = source.poll_once()

    assert retry is not None and retry.size == 1
    assert json.loads(fn.batches[1][0]["body"])["n"] == 1
    assert fn.batches[1][0]["attributes"]["ApproximateReceiveCount"] == "2"


def test_given_a_crashing_handler_then_the_whole_batch_stays_in_the_queue(clip_queue: SqsQueue) -> None:
    source = SqsEventSource(
        clip_queue, RecordingFunction(raise_error=True), batch_size=10, batch_window_s=0.2, region="us-east-1"
    )
    _send(clip_queue, 2)

    result = source.poll_once()

    assert result is not None and result.error is not None and len(result.failed_ids) == 2
    assert clip_queue.depth() == 2


def test_given_a_record_that_always_fails_then_it_lands_in_the_dlq_after_max_receives(
    clip_queue: SqsQueue, aws_stack: StackResources, moto_endpoint: str
) -> None:
    dlq = SqsQueue(aws_stack.dlq_url, endpoint_url=moto_endpoint)
    max_receives = clip_queue.max_receive_count()
    assert max_receives == contracts.PIPELINE.clip_max_receive_count
    fn = RecordingFunction(fail_bodies={0})
    source = SqsEventSource(clip_queue, fn, batch_size=10, batch_window_s=0, region="us-east-1")
    _send(clip_queue, 1)

    deadline = time.monotonic() + 30
    while dlq.depth() == 0 and time.monotonic() < deadline:
        source.poll_once()
        time.sleep(0.3)

    assert len(fn.batches) == max_receives  # received exactly maxReceiveCount times, then moved
    assert dlq.depth() == 1 and clip_queue.depth() == 0


def test_given_the_source_is_running_when_stopped_then_its_thread_ends(clip_queue: SqsQueue) -> None:
    fn = RecordingFunction()
    source = SqsEventSource(clip_queue, fn, batch_size=10, batch_window_s=0.2, region="us-east-1").start()
    _send(clip_queue, 4)

    assert source.wait_drained(10)
    source.stop()

    assert not source.running
    assert sum(len(b) for b in fn.batches) == 4


def test_given_an_alert_published_then_the_inbox_prints_and_saves_it(
    aws_stack: StackResources, moto_endpoint: str, tmp_path: Path
) -> None:
    local = LocalResources(endpoint_url=moto_endpoint, region="us-east-1")
    inbox_url = local.create_inbox("inbox", [aws_stack.alert_topic_arn, aws_stack.ops_topic_arn])
    seen: list[str] = []
    inbox = AlertInbox(
        SqsQueue(inbox_url, endpoint_url=moto_endpoint),
        tmp_path / "inbox",
        on_alert=lambda a: seen.append(a.render()),
    )
    notifier = Notifier(client=aws.client("sns", endpoint_url=moto_endpoint))

    notifier.publish(
        aws_stack.alert_topic_arn,
        "fan-02 sounds abnormal",
        "score 2.4x",
        {"severity": "critical", "device": "fan-02"},
    )
    while inbox.poll_once():
        pass

    assert len(inbox.received) == 1
    alert = inbox.received[0]
    assert (alert.subject, alert.severity, alert.device) == ("fan-02 sounds abnormal", "critical", "fan-02")
    assert "Subject: fan-02 sounds abnormal" in seen[0] and "score 2.4x" in seen[0]
    assert Path(alert.path).read_text() == seen[0]
    assert json.loads(Path(alert.path).with_suffix(".json").read_text())["subject"] == alert.subject


# --- MQTT: rules engine, iot-data shim, device ACL ------------------------------------------------------
Broker = MosquittoBroker


@pytest.fixture
def mqtt_env(tmp_path: Path) -> Iterator[tuple[pki.CA, Broker]]:
    """mosquitto with the local stack's device ACL (the only broker: there is no fallback)."""
    ca = pki.make_ca(tmp_path / "pki")
    cert, key = pki.issue_server_cert(ca, tmp_path / "pki")
    broker = MosquittoBroker(tmp_path / "broker", ca=ca, server_cert=cert, server_key=key, acl=device_acl())
    broker.start()
    try:
        yield ca, broker
    finally:
        broker.stop()


def _device(
    ca: pki.CA, broker: Broker, thing: str, tmp_path: Path, topic: str
) -> tuple[mqtt.Client, list[bytes]]:
    cert, key = pki.issue_cert(ca, thing, tmp_path / thing)
    received: list[bytes] = []
    subscribed = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=thing)
    client.tls_set(ca_certs=str(ca.cert_path), certfile=str(cert), keyfile=str(key))
    client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
    client.on_subscribe = lambda *a: subscribed.set()
    client.on_message = lambda c, u, m: received.append(bytes(m.payload))
    client.connect(broker.host, broker.port)
    client.loop_start()
    assert subscribed.wait(5)
    return client, received


def _wait(predicate: Any, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_given_rules_engine_when_device_requests_upload_then_rule_gets_thing_from_topic_and_reply_arrives(
    mqtt_env: tuple[pki.CA, Broker], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The presign stand-in answers through boto3's iot-data client, which signs its requests.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    ca, broker = mqtt_env
    cert, key = pki.issue_cert(ca, ROUTER_IDENTITY, tmp_path / "router")
    events: list[dict[str, Any]] = []
    engine: IotRulesEngine

    def presign(event: dict[str, Any]) -> None:
        events.append(event)
        # Answer through the iot-data API, as the presign function does.
        DeviceChannel(shim.url, client=aws.client("iot-data", endpoint_url=shim.url)).publish(
            contracts.upload_response_topic(event["thing"]), {"clip_id": event["clip_id"], "url": "u"}
        )

    engine = IotRulesEngine(
        host=broker.host,
        port=broker.port,
        ca_file=ca.cert_path,
        cert_file=cert,
        key_file=key,
        rules=[TopicRule(contracts.UPLOAD_REQUEST_RULE, contracts.UPLOAD_REQUEST_FILTER, presign)],
    )
    shim = IotDataEndpoint(engine.publish).start()
    engine.start()
    device, replies = _device(ca, broker, "fan-01", tmp_path, contracts.upload_response_topic("fan-01"))
    try:
        # The payload claims another thing: the rule must take the name from the topic only. The
        # device publishes with Basic Ingest, as in AWS; the rule sees the plain topic.
        device.publish(
            contracts.upload_request_ingest_topic("fan-01"),
            json.dumps({"clip_id": "c1", "thing": "fan-99"}),
            qos=1,
        )
        assert _wait(lambda: len(replies) == 1)
    finally:
        device.disconnect()
        device.loop_stop()
        engine.stop()
        shim.stop()

    assert events[0]["thing"] == "fan-01"
    assert json.loads(replies[0]) == {"clip_id": "c1", "url": "u"}
    assert shim.published == 1


def test_given_device_acl_then_a_device_publishes_only_its_own_basic_ingest_topics(
    mqtt_env: tuple[pki.CA, Broker], tmp_path: Path
) -> None:
    ca, broker = mqtt_env
    cert, key = pki.issue_cert(ca, ROUTER_IDENTITY, tmp_path / "router")
    events: list[dict[str, Any]] = []
    engine = IotRulesEngine(
        host=broker.host,
        port=broker.port,
        ca_file=ca.cert_path,
        cert_file=cert,
        key_file=key,
        rules=[TopicRule(contracts.UPLOAD_REQUEST_RULE, contracts.UPLOAD_REQUEST_FILTER, events.append)],
    ).start()
    device, _ = _device(ca, broker, "fan-01", tmp_path, contracts.upload_response_topic("fan-01"))
    try:
        # Another thing's Basic Ingest topic, and the plain topic (the IoT policy grants neither)
        spoofs = [contracts.upload_request_ingest_topic("fan-02"), contracts.upload_request_topic("fan-01")]
        for topic in spoofs:
            device.publish(topic, json.dumps({"clip_id": "spoof"}), qos=1)
        device.publish(contracts.upload_request_ingest_topic("fan-01"), json.dumps({"clip_id": "own"}), qos=1)
        assert _wait(lambda: len(events) >= 1)
        time.sleep(0.3)
    finally:
        device.disconnect()
        device.loop_stop()
        engine.stop()

    assert [e["clip_id"] for e in events] == ["own"]


def _tls_handshake_without_certificate(broker: Broker, ca: pki.CA) -> ssl.SSLError | None:
    """Open a TCP connection (it must be accepted) and run a TLS 1.2 handshake that trusts the CA
    but offers no client certificate. TLS 1.2 because there the server checks the client
    certificate inside the handshake; TLS 1.3 reports the refusal only on the first read."""
    context = ssl.create_default_context(cafile=str(ca.cert_path))
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    with socket.create_connection((broker.host, broker.port), timeout=5) as raw:
        try:
            with context.wrap_socket(raw, server_hostname=broker.host):
                return None
        except ssl.SSLError as exc:
            return exc


def test_given_no_client_certificate_then_the_broker_refuses_the_tls_handshake(
    mqtt_env: tuple[pki.CA, Broker], tmp_path: Path
) -> None:
    ca, broker = mqtt_env
    # Given a live broker: a device with a certificate from the CA connects and subscribes
    device, _ = _device(ca, broker, "fan-01", tmp_path, contracts.upload_response_topic("fan-01"))
    device.disconnect()
    device.loop_stop()

    # When a client without a certificate connects to the same port (TCP accepted: no OSError)
    refusal = _tls_handshake_without_certificate(broker, ca)

    # Then the TLS handshake itself fails with the server's alert, before any MQTT is spoken (a
    # certificate problem on the client's side would be CERTIFICATE_VERIFY_FAILED instead)
    assert refusal is not None, "the broker completed a TLS handshake without a client certificate"
    assert refusal.reason == "SSLV3_ALERT_HANDSHAKE_FAILURE", refusal
