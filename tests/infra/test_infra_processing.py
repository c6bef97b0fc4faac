"""Given the synthesized stack, clip uploads reach process_clip through an encrypted queue with a DLQ."""

from __future__ import annotations

from typing import Any

from infra_cfn import only, resources_of, statements

from humwatch.contracts import AUDIO_SUFFIXES, CLIPS_PREFIX, PIPELINE


def _queue_ids(synthesized: Any) -> tuple[str, str]:
    stack = synthesized.stack
    processing = stack.processing
    return (
        stack.get_logical_id(processing.queue.node.default_child),
        stack.get_logical_id(processing.dlq.node.default_child),
    )


def test_s3_notifies_the_queue_for_audio_under_clips_only(synthesized: Any) -> None:
    queue_id, _ = _queue_ids(synthesized)
    _, notifications = only(synthesized.template, "Custom::S3BucketNotifications")
    configs = notifications["Properties"]["NotificationConfiguration"]["QueueConfigurations"]
    filters = set()
    for config in configs:
        assert config["Events"] == ["s3:ObjectCreated:*"]
        assert config["QueueArn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
        rules = {r["Name"]: r["Value"] for r in config["Filter"]["Key"]["FilterRules"]}
        filters.add((rules["prefix"], rules["suffix"]))
    assert filters == {(CLIPS_PREFIX, suffix) for suffix in AUDIO_SUFFIXES}


def test_queue_is_encrypted_and_dead_letters_after_the_shared_receive_count(synthesized: Any) -> None:
    queue_id, dlq_id = _queue_ids(synthesized)
    queues = resources_of(synthesized.template, "AWS::SQS::Queue")
    queue, dlq = queues[queue_id]["Properties"], queues[dlq_id]["Properties"]
    # Both with the stack's customer managed key (what checkov's CKV_AWS_27 looks for), one data key
    # per hour, and S3 may use that key to deliver its notifications
    key_arn = {
        "Fn::GetAtt": [
            synthesized.stack.get_logical_id(synthesized.stack.alerts.key.node.default_child),
            "Arn",
        ]
    }
    for props in (queue, dlq):
        assert props["KmsMasterKeyId"] == key_arn and "SqsManagedSseEnabled" not in props
        assert props["KmsDataKeyReusePeriodSeconds"] == 3600
    _, key = only(synthesized.template, "AWS::KMS::Key")
    s3_actions = {
        action
        for st in statements(key["Properties"]["KeyPolicy"])
        if st["Principal"] == {"Service": "s3.amazonaws.com"}
        for action in st["Action"]
    }
    assert {"kms:Decrypt", "kms:GenerateDataKey*"} <= s3_actions
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]},
        "maxReceiveCount": PIPELINE.clip_max_receive_count,
    }
    assert queue["VisibilityTimeout"] == PIPELINE.clip_queue_visibility_timeout_s
    assert queue["VisibilityTimeout"] >= 6 * PIPELINE.process_clip_timeout_s
    assert "RedrivePolicy" not in dlq


def test_both_queues_deny_requests_without_tls(synthesized: Any) -> None:
    queue_ids = set(_queue_ids(synthesized))
    covered: set[str] = set()
    for policy in resources_of(synthesized.template, "AWS::SQS::QueuePolicy").values():
        props = policy["Properties"]
        denies_plain_http = any(
            s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
            for s in statements(props["PolicyDocument"])
        )
        if denies_plain_http:
            covered |= {q["Ref"] for q in props["Queues"]}
    assert queue_ids <= covered


def test_event_source_mapping_batches_reports_partial_failures_and_caps_concurrency(synthesized: Any) -> None:
    stack = synthesized.stack
    queue_id, _ = _queue_ids(synthesized)
    _, mapping = only(
        synthesized.template,
        "AWS::Lambda::EventSourceMapping",
        lambda props: props["EventSourceArn"] == {"Fn::GetAtt": [queue_id, "Arn"]},
    )
    props = mapping["Properties"]
    assert props["EventSourceArn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    process_clip_id = stack.get_logical_id(stack.process_clip.function.node.default_child)
    assert props["FunctionName"] == {"Ref": process_clip_id}
    assert props["BatchSize"] == PIPELINE.clip_batch_size
    assert props["MaximumBatchingWindowInSeconds"] == PIPELINE.clip_batch_window_s
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["ScalingConfig"] == {"MaximumConcurrency": stack.settings.process_clip_max_concurrency}


def test_drift_check_runs_on_the_configured_schedule(synthesized: Any) -> None:
    stack = synthesized.stack
    _, rule = only(synthesized.template, "AWS::Events::Rule")
    props = rule["Properties"]
    assert props["ScheduleExpression"] == synthesized.context["driftSchedule"]
    drift_id = stack.get_logical_id(stack.drift_check.function.node.default_child)
    assert [t["Arn"] for t in props["Targets"]] == [{"Fn::GetAtt": [drift_id, "Arn"]}]


def test_a_drift_check_that_fails_for_good_reaches_the_operators(synthesized: Any) -> None:
    # Given the scheduled (asynchronous) invocations of drift_check
    stack = synthesized.stack
    drift_id = stack.get_logical_id(stack.drift_check.function.node.default_child)
    _, config = only(synthesized.template, "AWS::Lambda::EventInvokeConfig")
    props = config["Properties"]
    # Then after two retries the failed invocation goes to the operations topic (its failure
    # destination), which the function's role may publish to
    assert props["FunctionName"] == {"Ref": drift_id} and props["Qualifier"] == "$LATEST"
    assert props["MaximumRetryAttempts"] == 2
    ops_topic = {"Ref": stack.get_logical_id(stack.alerts.ops_topic.node.default_child)}
    assert props["DestinationConfig"] == {"OnFailure": {"Destination": ops_topic}}
    role = {"Ref": stack.get_logical_id(stack.drift_check.role.node.default_child)}
    published = [
        st["Resource"]
        for policy in resources_of(synthesized.template, "AWS::IAM::Policy").values()
        if role in policy["Properties"]["Roles"]
        for st in policy["Properties"]["PolicyDocument"]["Statement"]
        if "sns:Publish" in st["Action"]
    ]
    assert any(ops_topic in (r if isinstance(r, list) else [r]) for r in published), published
