"""Given the synthesized stack, alerts reach people (SMS only when critical) and every alarm reaches
the operations topic."""

from __future__ import annotations

import json
from typing import Any

from infra_cfn import as_list, resources_of, statements


def _topic_ids(synthesized: Any) -> tuple[str, str]:
    stack = synthesized.stack
    return (
        stack.get_logical_id(stack.alerts.alert_topic.node.default_child),
        stack.get_logical_id(stack.alerts.ops_topic.node.default_child),
    )


def test_topics_are_kms_encrypted_and_ssl_only(synthesized: Any) -> None:
    stack = synthesized.stack
    key_id = stack.get_logical_id(stack.alerts.key.node.default_child)
    topics = resources_of(synthesized.template, "AWS::SNS::Topic")
    assert set(topics) == set(_topic_ids(synthesized))
    for topic in topics.values():
        assert topic["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    ssl_only: set[str] = set()
    for policy in resources_of(synthesized.template, "AWS::SNS::TopicPolicy").values():
        for s in statements(policy["Properties"]["PolicyDocument"]):
            if s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}:
                ssl_only |= {t["Ref"] for t in policy["Properties"]["Topics"]}
    assert ssl_only == set(topics)


def test_cloudwatch_may_use_the_topic_key(synthesized: Any) -> None:
    stack = synthesized.stack
    key = resources_of(synthesized.template, "AWS::KMS::Key")[
        stack.get_logical_id(stack.alerts.key.node.default_child)
    ]
    assert key["Properties"]["EnableKeyRotation"] is True
    cloudwatch = [
        s for s in key["Properties"]["KeyPolicy"]["Statement"]
        if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
    ]  # fmt: skip
    assert cloudwatch and set(as_list(cloudwatch[0]["Action"])) == {"kms:Decrypt", "kms:GenerateDataKey*"}


def test_subscriptions_follow_context_and_sms_is_critical_only(synthesized: Any) -> None:
    alert_id, ops_id = _topic_ids(synthesized)
    subs = [s["Properties"] for s in resources_of(synthesized.template, "AWS::SNS::Subscription").values()]
    emails = {s["Endpoint"] for s in subs if s["Protocol"] == "email" and s["TopicArn"] == {"Ref": alert_id}}
    assert emails == set(synthesized.context["alertEmails"])
    ops = {s["Endpoint"] for s in subs if s["Protocol"] == "email" and s["TopicArn"] == {"Ref": ops_id}}
    assert ops == set(synthesized.context["opsEmails"])
    sms = [s for s in subs if s["Protocol"] == "sms"]
    assert {s["Endpoint"] for s in sms} == set(synthesized.context["alertPhoneNumbers"])
    for s in sms:
        assert s["TopicArn"] == {"Ref": alert_id}
        assert s["FilterPolicy"] == {"severity": ["critical"]}
    # Email gets every alert, warnings included.
    assert all("FilterPolicy" not in s for s in subs if s["Protocol"] == "email")


def _alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v["Properties"] for k, v in resources_of(template, "AWS::CloudWatch::Alarm").items()}


def test_every_alarm_notifies_the_ops_topic(synthesized: Any) -> None:
    _, ops_id = _topic_ids(synthesized)
    alarms = _alarms(synthesized.template)
    assert alarms
    for alarm in alarms.values():
        assert alarm["AlarmActions"] == [{"Ref": ops_id}]


def test_alarms_cover_dlq_functions_iot_rules_and_silence(synthesized: Any) -> None:
    stack, alarms = synthesized.stack, list(_alarms(synthesized.template).values())
    dlq_id = stack.get_logical_id(stack.processing.dlq.node.default_child)
    train_dlq_id = stack.get_logical_id(stack.training.dlq.node.default_child)
    queue_id = stack.get_logical_id(stack.processing.queue.node.default_child)

    def dims(alarm: dict[str, Any]) -> list[Any]:
        return [d["Value"] for d in alarm.get("Dimensions", [])]

    dlq = [a for a in alarms if a["MetricName"] == "ApproximateNumberOfMessagesVisible"]
    # One alarm per dead-letter queue, clip events and training requests, on the first message
    assert sorted(str(dims(a)) for a in dlq) == sorted(
        str([{"Fn::GetAtt": [queue, "QueueName"]}]) for queue in (dlq_id, train_dlq_id)
    )
    for alarm in dlq:
        assert alarm["Threshold"] == 1 and alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"

    for fn in stack.functions:
        ref = {"Ref": stack.get_logical_id(fn.function.node.default_child)}
        for metric in ("Errors", "Throttles"):
            assert [a for a in alarms if a["MetricName"] == metric and dims(a) == [ref]], (fn.node.id, metric)

    rule_errors = [a for a in alarms if a["MetricName"] == "IotRuleErrors"]
    assert len(rule_errors) == 1 and rule_errors[0]["Namespace"] == "Humwatch"
    (metric_filter,) = resources_of(synthesized.template, "AWS::Logs::MetricFilter").values()
    error_log_id = stack.get_logical_id(stack.ingest.error_log_group.node.default_child)
    assert metric_filter["Properties"]["LogGroupName"] == {"Ref": error_log_id}

    (silence,) = [a for a in alarms if a["MetricName"] == "NumberOfMessagesSent"]
    assert dims(silence) == [{"Fn::GetAtt": [queue_id, "QueueName"]}]
    assert silence["ComparisonOperator"] == "LessThanThreshold"
    assert silence["TreatMissingData"] == "breaching"  # no data at all is the outage
    assert silence["Period"] == synthesized.context["noClipsAlarmMinutes"] * 60


def test_dashboard_shows_every_alarm(synthesized: Any) -> None:
    (dashboard,) = resources_of(synthesized.template, "AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for alarm_id in _alarms(synthesized.template):
        assert alarm_id in body
