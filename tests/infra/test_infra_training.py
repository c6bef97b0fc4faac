"""Given the synthesized stack, training requests reach train_model through an encrypted queue with a
DLQ, one request per run, and train_model may touch exactly what training needs."""

from __future__ import annotations

from typing import Any

import pytest
from humwatch_cdk.settings import TRAIN_MODEL_MAX_CONCURRENCY, DeploySettings, SettingsError
from infra_cfn import as_list, only, resources_of, statements

from humwatch.contracts import ENV_BUCKET, ENV_TABLE, ENV_TRAIN_QUEUE_URL, PIPELINE, StackOutput

SQS_CONSUME = {
    "sqs:ReceiveMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueUrl",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
}


def _id(stack: Any, construct: Any) -> str:
    return str(stack.get_logical_id(construct.node.default_child))


def _queue_ids(synthesized: Any) -> tuple[str, str]:
    stack = synthesized.stack
    return _id(stack, stack.training.queue), _id(stack, stack.training.dlq)


def _function_props(synthesized: Any, fn: Any) -> dict[str, Any]:
    functions = resources_of(synthesized.template, "AWS::Lambda::Function")
    props: dict[str, Any] = functions[_id(synthesized.stack, fn.function)]["Properties"]
    return props


def _grants(synthesized: Any, fn: Any) -> set[tuple[str, str]]:
    """Every (action, resource) pair the function's role is allowed, rendered as strings."""
    role = {"Ref": _id(synthesized.stack, fn.role)}
    return {
        (action, resource)
        for policy in resources_of(synthesized.template, "AWS::IAM::Policy").values()
        if role in policy["Properties"]["Roles"]
        for st in statements(policy["Properties"]["PolicyDocument"])
        if st["Effect"] == "Allow"
        for action in as_list(st["Action"])
        for resource in as_list(st["Resource"])
    }


def test_request_queues_use_the_stack_key_keep_14_days_and_dead_letter_after_the_shared_count(
    synthesized: Any,
) -> None:
    # Given the training request queue and its dead-letter queue
    queue_id, dlq_id = _queue_ids(synthesized)
    queues = resources_of(synthesized.template, "AWS::SQS::Queue")
    queue, dlq = queues[queue_id]["Properties"], queues[dlq_id]["Properties"]
    key_arn = {"Fn::GetAtt": [_id(synthesized.stack, synthesized.stack.alerts.key), "Arn"]}

    # Then both are encrypted with the stack's customer managed key and keep a request 14 days
    for props in (queue, dlq):
        assert props["KmsMasterKeyId"] == key_arn and "SqsManagedSseEnabled" not in props
        assert props["MessageRetentionPeriod"] == 14 * 24 * 3600
    # And a request that fails train_max_receive_count times moves to the DLQ
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]},
        "maxReceiveCount": PIPELINE.train_max_receive_count,
    }
    assert "RedrivePolicy" not in dlq
    # And a run that is still training keeps its request hidden from a second run
    assert queue["VisibilityTimeout"] == PIPELINE.train_queue_visibility_timeout_s
    assert queue["VisibilityTimeout"] >= 6 * PIPELINE.train_model_timeout_s


def test_both_request_queues_deny_requests_without_tls(synthesized: Any) -> None:
    covered: set[str] = set()
    for policy in resources_of(synthesized.template, "AWS::SQS::QueuePolicy").values():
        props = policy["Properties"]
        if any(
            s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
            for s in statements(props["PolicyDocument"])
        ):
            covered |= {q["Ref"] for q in props["Queues"]}
    assert set(_queue_ids(synthesized)) <= covered


def test_train_model_takes_one_request_per_run_reports_its_failure_and_runs_two_at_most(
    synthesized: Any,
) -> None:
    stack = synthesized.stack
    queue_id, _ = _queue_ids(synthesized)
    _, mapping = only(
        synthesized.template,
        "AWS::Lambda::EventSourceMapping",
        lambda props: props["EventSourceArn"] == {"Fn::GetAtt": [queue_id, "Arn"]},
    )
    props = mapping["Properties"]
    assert props["FunctionName"] == {"Ref": _id(stack, stack.train_model.function)}
    assert props["BatchSize"] == 1
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # 2: the least an SQS event source allows
    assert (
        props["ScalingConfig"]
        == {"MaximumConcurrency": TRAIN_MODEL_MAX_CONCURRENCY}
        == {"MaximumConcurrency": 2}
    )


def test_train_model_runs_with_the_pipeline_timeout_and_cdk_json_memory_and_reservation(
    synthesized: Any,
) -> None:
    stack = synthesized.stack
    props = _function_props(synthesized, stack.train_model)
    assert props["Timeout"] == PIPELINE.train_model_timeout_s
    assert props["MemorySize"] == stack.settings.train_model_memory_mb == 1769  # one full vCPU
    assert props["ReservedConcurrentExecutions"] == stack.settings.train_model_reserved_concurrency


def test_train_model_may_do_exactly_what_training_needs_and_nothing_else(synthesized: Any) -> None:
    # Given train_model's role
    stack = synthesized.stack
    queue_id, _ = _queue_ids(synthesized)
    bucket = f"<{_id(stack, stack.storage.bucket)}.Arn>"
    table = f"<{_id(stack, stack.history.table)}.Arn>"
    table_resources = {table, f"{table}/index/anomalies-by-day"}
    table_actions = {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem"}
    logs = f"<{_id(stack, stack.train_model.log_group)}.Arn>"

    # Then these pairs are all it may do: read clips and models, write under models/ only, list the
    # bucket (a 404 for a missing clip), read and write history items, consume its own queue
    expected = (
        {("s3:GetObject", f"{bucket}/clips/*"), ("s3:GetObject", f"{bucket}/models/*")}
        | {("s3:PutObject", f"{bucket}/models/*"), ("s3:ListBucket", bucket)}
        | {(action, resource) for action in table_actions for resource in table_resources}
        | {(action, f"<{queue_id}.Arn>") for action in SQS_CONSUME}
        | {("kms:Decrypt", f"<{_id(stack, stack.alerts.key)}.Arn>")}
        | {("logs:CreateLogStream", logs), ("logs:PutLogEvents", logs)}
    )
    grants = _grants(synthesized, stack.train_model)
    assert grants == expected, (grants - expected, expected - grants)
    # (so no Scan, no DeleteItem, no DeleteObject, no publishing and no sending)
    assert not {action for action, _ in grants} & {"dynamodb:Scan", "dynamodb:DeleteItem", "s3:DeleteObject"}


def test_process_clip_may_send_training_requests_to_the_train_queue_only(synthesized: Any) -> None:
    stack = synthesized.stack
    queue_id, dlq_id = _queue_ids(synthesized)
    grants = _grants(synthesized, stack.process_clip)
    assert {resource for action, resource in grants if action == "sqs:SendMessage"} == {f"<{queue_id}.Arn>"}
    # It only sends there: nothing else on the train queue, nothing at all on its DLQ
    assert {action for action, resource in grants if resource == f"<{queue_id}.Arn>"} == {"sqs:SendMessage"}
    assert not [grant for grant in grants if grant[1] == f"<{dlq_id}.Arn>"]


def test_functions_get_the_train_queue_and_the_learning_knobs(synthesized: Any) -> None:
    stack = synthesized.stack
    queue_id, _ = _queue_ids(synthesized)
    process = _function_props(synthesized, stack.process_clip)["Environment"]["Variables"]
    assert process[ENV_TRAIN_QUEUE_URL] == {"Ref": queue_id}
    assert process["HUMWATCH_BASELINE_CLIPS"] == "288"
    assert process["HUMWATCH_BASELINE_HOURS"] == "24.0"

    train = _function_props(synthesized, stack.train_model)["Environment"]["Variables"]
    assert train[ENV_BUCKET] == {"Ref": _id(stack, stack.storage.bucket)}
    assert train[ENV_TABLE] == {"Ref": _id(stack, stack.history.table)}
    # The same alert policy as process_clip (a candidate's replay runs it), from the same knobs
    for variable in ("ALERT_K", "ALERT_N", "ALERT_EVIDENCE", "ALERT_COOLDOWN_MIN", "CRITICAL_RATIO"):
        assert train[f"HUMWATCH_{variable}"] == process[f"HUMWATCH_{variable}"], variable
    assert train["HUMWATCH_ALERT_K"] == str(synthesized.context["alertK"])
    assert {k: train[k] for k in ("HUMWATCH_AUTO_PROMOTE", "HUMWATCH_REPLAY_DAYS")} == {
        "HUMWATCH_AUTO_PROMOTE": "false",
        "HUMWATCH_REPLAY_DAYS": "14",
    }
    # It trains and records; it notifies nobody
    assert "HUMWATCH_ALERT_TOPIC_ARN" not in train


def test_learning_knobs_reach_both_functions_environments() -> None:
    # Given knobs other than the defaults
    settings = DeploySettings.parse(
        {"baselineClips": 96, "baselineHours": 8, "autoPromote": True, "replayDays": 30, "alertK": 3}
    )
    # Then process_clip decides on the same baseline that train_model trains on
    for environment in (settings.process_environment(), settings.train_environment()):
        assert environment["HUMWATCH_BASELINE_CLIPS"] == "96"
        assert environment["HUMWATCH_BASELINE_HOURS"] == "8.0"
    train = settings.train_environment()
    assert train["HUMWATCH_AUTO_PROMOTE"] == "true"
    assert train["HUMWATCH_REPLAY_DAYS"] == "30"
    assert train["HUMWATCH_ALERT_K"] == "3"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"baselineClips": 4}, "baselineClips: .*greater than or equal to 5"),
        ({"baselineHours": 0}, "baselineHours: .*greater than 0"),
        ({"replayDays": 0}, "replayDays: .*greater than or equal to 1"),
        ({"replayDays": 91}, "replayDays: .*less than or equal to 90"),
        ({"autoPromote": "maybe"}, "autoPromote: .*valid boolean"),
        ({"trainModelMemoryMb": 64}, "trainModelMemoryMb: .*greater than or equal to 128"),
        (
            {"trainModelReservedConcurrency": 1},
            "trainModelReservedConcurrency \\(1\\) must be 0 or at least 2",
        ),
    ],
)
def test_a_bad_learning_knob_is_named(values: dict[str, object], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        DeploySettings.parse(values)


def test_the_cli_finds_the_train_queue_in_the_outputs(synthesized: Any) -> None:
    queue_id, _ = _queue_ids(synthesized)
    output = synthesized.template["Outputs"][StackOutput.TRAIN_QUEUE_URL.value]
    assert output["Value"] == {"Ref": queue_id}


def test_train_model_has_room_in_tmp_for_its_training_clips(synthesized: Any) -> None:
    # Given the deployed functions, when their settings are read, then train_model's /tmp holds
    # 3 GiB (600 clips of up to 5 MB) and the other functions keep Lambda's default
    stack = synthesized.stack
    storage = {
        fn.node.id: _function_props(synthesized, fn).get("EphemeralStorage", {}).get("Size")
        for fn in stack.functions
    }
    assert storage.pop("TrainModel") == 3072
    assert set(storage.values()) == {None}
