"""Pure logic of the local stack: Lambda event shapes, batch failure parsing, SNS envelopes,
rule events and settings validation (no network)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from humwatch import contracts
from humwatch.dal.sqs_queue import QueueMessage
from humwatch.errors import ConfigError
from humwatch.local.alert_inbox import parse_sns_envelope
from humwatch.local.iot_rules import TopicRule, rule_event
from humwatch.local.schedule import scheduled_event
from humwatch.local.settings import LocalStackOptions
from humwatch.local.sqs_event_source import failed_message_ids, sqs_lambda_event

IDS = {"a", "b", "c"}


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (None, set()),
        ({}, set()),
        ({"batchItemFailures": []}, set()),
        ({"batchItemFailures": [{"itemIdentifier": "b"}]}, {"b"}),
        # AWS: an identifier that is empty, missing or unknown fails the whole batch.
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, IDS),
        ({"batchItemFailures": [{"itemIdentifier": "zzz"}]}, IDS),
        ({"batchItemFailures": [{}]}, IDS),
        ({"batchItemFailures": "b"}, IDS),
    ],
)
def test_given_handler_response_then_failed_ids_follow_report_batch_item_failures(
    response: object, expected: set[str]
) -> None:
    assert failed_message_ids(response, IDS) == expected


def test_given_queue_messages_then_event_has_the_sqs_lambda_shape() -> None:
    message = QueueMessage(
        message_id="m1",
        receipt_handle="r1",
        body="{}",
        md5_of_body="x",
        attributes={"ApproximateReceiveCount": "2"},
        message_attributes={"k": {"StringValue": "v", "DataType": "String"}},
    )
    event = sqs_lambda_event([message], queue_arn="arn:q", region="eu-west-1")
    (record,) = event["Records"]
    assert record["messageId"] == "m1" and record["receiptHandle"] == "r1"
    assert record["eventSource"] == "aws:sqs" and record["eventSourceARN"] == "arn:q"
    assert record["awsRegion"] == "eu-west-1"
    assert record["messageAttributes"]["k"]["stringValue"] == "v"
    assert record["attributes"]["ApproximateReceiveCount"] == "2"


def test_given_sns_envelope_then_subject_message_and_attributes_are_read() -> None:
    body = json.dumps(
        {
            "Type": "Notification",
            "TopicArn": "arn:aws:sns:us-east-1:1:humwatch-alerts",
            "Subject": "fan-02 sounds abnormal",
            "Message": "score 2.1x threshold",
            "MessageAttributes": {"severity": {"Type": "String", "Value": "warning"}},
            "Timestamp": "2026-11-26T14:05:00Z",
            "MessageId": "id",
        }
    )
    alert = parse_sns_envelope(body)
    assert alert.topic_name == "humwatch-alerts" and alert.severity == "warning"
    assert "Subject: fan-02 sounds abnormal" in alert.render()


def test_given_request_topic_then_rule_event_takes_thing_from_topic_not_payload() -> None:
    event = rule_event("humwatch/fan-01/telemetry", b'{"spool_clips": 3, "thing": "fan-99"}')
    assert event == {"spool_clips": 3, "thing": "fan-01"}


def test_given_upload_request_then_only_the_contract_fields_and_the_topic_thing_reach_presign() -> None:
    payload = b'{"clip_id": "c", "size": 10, "thing": "fan-99", "key": "clips/fan-99/x.flac"}'
    event = rule_event("humwatch/fan-01/upload/request", payload, contracts.upload_request_rule_event)
    assert event == {"clip_id": "c", "size": 10, "thing": "fan-01"}


@pytest.mark.parametrize(
    ("published_on", "seen"),
    [
        # Basic Ingest to this rule: the rule sees the topic without `$aws/rules/<rule>/`
        (contracts.upload_request_ingest_topic("fan-01"), "humwatch/fan-01/upload/request"),
        ("humwatch/fan-01/upload/request", "humwatch/fan-01/upload/request"),
        # Basic Ingest to another rule, or a topic outside the rule's FROM: not this rule's
        (contracts.basic_ingest_topic(contracts.TELEMETRY_RULE, "humwatch/fan-01/upload/request"), None),
        (contracts.telemetry_ingest_topic("fan-01"), None),
    ],
)
def test_given_a_published_topic_then_the_rule_sees_it_as_iot_core_would(
    published_on: str, seen: str | None
) -> None:
    rule = TopicRule(contracts.UPLOAD_REQUEST_RULE, contracts.UPLOAD_REQUEST_FILTER, lambda event: None)
    assert rule.rule_topic(published_on) == seen
    assert rule.subscriptions == (
        "humwatch/+/upload/request",
        "$aws/rules/humwatch_upload_request/humwatch/+/upload/request",
    )


@pytest.mark.parametrize("payload", [b"not json", b"[1, 2]"])
def test_given_payload_that_is_not_a_json_object_then_rule_event_fails(payload: bytes) -> None:
    with pytest.raises(ValueError):
        rule_event("humwatch/fan-01/telemetry", payload)


def test_scheduled_event_has_the_eventbridge_shape() -> None:
    event = scheduled_event(rule_name="drift", region="us-east-1", account="123456789012")
    assert event["detail-type"] == "Scheduled Event" and event["source"] == "aws.events"
    assert event["resources"] == ["arn:aws:events:us-east-1:123456789012:rule/drift"]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"visibility_timeout_s": 0}, "visibility_timeout_s"),
        ({"visibility_timeout_s": 5, "batch_window_s": 5}, "must be longer than the batch window"),
        ({"region": "nowhere"}, "region"),
        ({"function_env": {"AWS_ENDPOINT_URL": "x"}}, "not a function setting the local stack can pass on"),
        ({"function_env": {"HUMWATCH_BUCKET": "x"}}, "HUMWATCH_BUCKET"),
        ({"log_level": "LOUD"}, "log_level"),
        ({"no_such_option": 1}, "no_such_option"),
    ],
)
def test_given_bad_local_settings_then_a_config_error_names_the_value(
    values: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match="invalid local stack settings") as info:
        LocalStackOptions.build(**values)
    assert message in str(info.value)


def test_given_defaults_then_batch_window_is_the_deployed_one() -> None:
    assert LocalStackOptions.build().effective_batch_window_s == 5


def test_given_a_malformed_set_option_then_local_up_fails_with_a_one_line_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from humwatch.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["local", "up", "--set", "HUMWATCH_ALERT_K"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "expected NAME=VALUE" in err and "Traceback" not in err


def test_given_no_running_stack_then_local_status_says_how_to_start_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from humwatch.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["local", "status", "--dir", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "error: no local stack in" in capsys.readouterr().err


def test_given_a_handler_file_then_local_lambda_calls_it_with_a_lambda_context(tmp_path: Path) -> None:
    from humwatch.local.lambda_runtime import LocalLambda

    (tmp_path / "echo").mkdir()
    (tmp_path / "echo" / "handler.py").write_text(
        "def handler(event, context):\n"
        "    return {'event': event, 'name': context.function_name,\n"
        "            'arn': context.invoked_function_arn, 'left': context.get_remaining_time_in_millis()}\n"
    )
    fn = LocalLambda("echo", timeout_s=3, functions_dir=tmp_path, region="eu-west-1")

    result = fn.invoke({"x": 1})

    assert result["event"] == {"x": 1} and result["name"] == "echo"
    assert result["arn"] == "arn:aws:lambda:eu-west-1:123456789012:function:echo"
    assert 0 < result["left"] <= 3000
    assert fn.stats.invocations == 1 and fn.stats.errors == 0


def test_given_no_handler_file_then_loading_fails_with_a_config_error(tmp_path: Path) -> None:
    from humwatch.local.lambda_runtime import LocalLambda

    with pytest.raises(ConfigError, match="Lambda handler not found"):
        LocalLambda("missing", timeout_s=3, functions_dir=tmp_path).load()


def test_given_a_relative_clip_folder_then_the_device_process_gets_an_absolute_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The device program runs in its own directory: a relative folder would point nowhere.
    from humwatch.local.devices import EdgeUploaderProcess, ProvisionedDevice

    monkeypatch.chdir(tmp_path)
    device = ProvisionedDevice(
        thing="fan-01",
        directory=Path("devices/fan-01"),
        config_path=Path("devices/fan-01/config.toml"),
        cert_file=Path("c"),
        key_file=Path("k"),
        ca_file=Path("ca"),
        mqtt_host="127.0.0.1",
        mqtt_port=8883,
    )
    process = EdgeUploaderProcess(device, folder=Path("clips/fan-01"))
    assert process.env["HUMWATCH_EDGE_CAPTURE_FOLDER"] == str(tmp_path / "clips" / "fan-01")
    assert process.env["HUMWATCH_EDGE_CAPTURE_LOOP"] == "false"
