"""Given the synthesized stack, IoT Core logs at WARN to CloudWatch and Device Defender audits the
account's certificates, policies and logging on a schedule, each through a least-privilege role."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import assertions
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from humwatch_cdk.iot_account import AUDIT_CHECKS, IOT_LOG_GROUP, DeviceDefenderAudit
from infra_cfn import as_list, only, render, resources_of

# The `synth_with` fixture of tests/infra/conftest.py: synth_with(**context) -> (stack, template)
SynthWith = Callable[..., tuple[Any, dict[str, Any]]]

READ_PREFIXES = ("iot:Get", "iot:List", "iot:Describe")
# The checks issue 17 asks for, by what they look at.
REQUIRED_CHECKS = {
    "DEVICE_CERTIFICATE_SHARED_CHECK",
    "REVOKED_DEVICE_CERTIFICATE_STILL_ACTIVE_CHECK",
    "DEVICE_CERTIFICATE_EXPIRING_CHECK",
    "IOT_POLICY_OVERLY_PERMISSIVE_CHECK",
    "LOGGING_DISABLED_CHECK",
}


def _role(template: dict[str, Any], role_arn: Any) -> dict[str, Any]:
    (logical_id, _) = role_arn["Fn::GetAtt"]
    role = template["Resources"][logical_id]
    assert role["Type"] == "AWS::IAM::Role"
    return dict(role["Properties"])


def _statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [render(s) for p in role["Policies"] for s in as_list(p["PolicyDocument"]["Statement"])]


def _assumed_by_iot_of_this_account_only(role: dict[str, Any]) -> None:
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "iot.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


def test_iot_core_logs_at_warn_into_a_log_group_with_retention(synthesized: Any) -> None:
    template = synthesized.template
    _, logging = only(template, "AWS::IoT::Logging")
    props = logging["Properties"]
    assert props["DefaultLogLevel"] == "WARN"
    assert props["AccountId"] == {"Ref": "AWS::AccountId"}

    # The log group IoT writes to is the stack's, so it expires like every other log
    log_id, group = only(template, "AWS::Logs::LogGroup", lambda p: p.get("LogGroupName") == IOT_LOG_GROUP)
    assert group["Properties"]["RetentionInDays"] == synthesized.stack.settings.log_retention_days

    # And the logging role can write to that log group and nothing else
    role = _role(template, props["RoleArn"])
    _assumed_by_iot_of_this_account_only(role)
    assert _statements(role) == [
        {
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Effect": "Allow",
            "Resource": f"<{log_id}.Arn>",
        }
    ]


def test_the_audit_enables_the_certificate_policy_and_logging_checks(synthesized: Any) -> None:
    template = synthesized.template
    _, configuration = only(template, "AWS::IoT::AccountAuditConfiguration")
    enabled = {
        name
        for name, value in configuration["Properties"]["AuditCheckConfigurations"].items()
        if value["Enabled"]
    }
    # CloudFormation names the checks in PascalCase; the scheduled audit in UPPER_SNAKE_CASE
    assert {name.lower() for name in enabled} == {check.replace("_", "").lower() for check in AUDIT_CHECKS}
    assert set(AUDIT_CHECKS) >= REQUIRED_CHECKS

    # And the scheduled audit runs exactly those checks, daily by default, after they are enabled
    config_id, _ = only(template, "AWS::IoT::AccountAuditConfiguration")
    _, schedule = only(template, "AWS::IoT::ScheduledAudit")
    assert schedule["Properties"]["Frequency"] == "DAILY"
    assert set(schedule["Properties"]["TargetCheckNames"]) == set(AUDIT_CHECKS)
    assert config_id in schedule["DependsOn"]


def test_the_audit_role_only_reads_iot(synthesized: Any) -> None:
    _, configuration = only(synthesized.template, "AWS::IoT::AccountAuditConfiguration")
    role = _role(synthesized.template, configuration["Properties"]["RoleArn"])
    _assumed_by_iot_of_this_account_only(role)
    assert "ManagedPolicyArns" not in role  # not AWSIoTDeviceDefenderAudit: no IAM or Cognito reads
    actions = [a for s in _statements(role) for a in as_list(s["Action"])]
    assert actions and all(a.startswith(READ_PREFIXES) and "*" not in a for a in actions), actions
    # Reads of one item are scoped to its resource type; only listing and logging options use "*"
    for statement in _statements(role):
        if statement["Resource"] == "*":
            assert all(a.startswith("iot:List") or a.endswith("LoggingOptions") for a in statement["Action"])


def test_audit_results_go_to_the_operations_topic(synthesized: Any) -> None:
    stack, template = synthesized.stack, synthesized.template
    _, configuration = only(template, "AWS::IoT::AccountAuditConfiguration")
    target = configuration["Properties"]["AuditNotificationTargetConfigurations"]["Sns"]
    ops_topic = {"Ref": stack.get_logical_id(stack.alerts.ops_topic.node.default_child)}
    assert target["Enabled"] is True and target["TargetArn"] == ops_topic
    role = _role(template, target["RoleArn"])
    _assumed_by_iot_of_this_account_only(role)
    key_id = stack.get_logical_id(stack.alerts.key.node.default_child)
    assert {(tuple(as_list(s["Action"])), s["Resource"]) for s in _statements(role)} == {
        (("sns:Publish",), render(ops_topic)),
        (("kms:GenerateDataKey", "kms:Decrypt"), f"<{key_id}.Arn>"),
    }


@pytest.mark.parametrize(
    ("frequency", "day_of_week", "day_of_month"),
    [("DAILY", None, None), ("WEEKLY", "MON", None), ("BIWEEKLY", "MON", None), ("MONTHLY", None, "1")],
)
def test_a_less_frequent_audit_names_its_day(
    frequency: str, day_of_week: str | None, day_of_month: str | None
) -> None:
    # Given the audit construct alone in a stack, with the frequency from cdk.json
    stack = cdk.Stack(cdk.App(), "AuditOnly")
    key = kms.Key(stack, "Key")
    DeviceDefenderAudit(
        stack, "Audit", frequency=frequency, notification_topic=sns.Topic(stack, "T"), topic_key=key
    )
    (schedule,) = assertions.Template.from_stack(stack).find_resources("AWS::IoT::ScheduledAudit").values()
    props = schedule["Properties"]
    # Then the schedule names the day CloudFormation requires for it, and only that one
    assert props["Frequency"] == frequency
    assert props.get("DayOfWeek") == day_of_week and props.get("DayOfMonth") == day_of_month


@pytest.mark.slow
def test_an_account_that_manages_iot_itself_gets_neither_logging_nor_audit(
    tmp_path: Any, synth_with: SynthWith
) -> None:
    # Given iotAccountSettings=false (another stack owns the account's IoT logging and audit)
    _, template = synth_with(outdir=str(tmp_path), iotAccountSettings=False)
    # Then none of the account singletons is in the template, and the rest of IoT still is
    types = {r["Type"] for r in template["Resources"].values()}
    assert not types & {
        "AWS::IoT::Logging",
        "AWS::IoT::AccountAuditConfiguration",
        "AWS::IoT::ScheduledAudit",
    }
    assert "AWS::IoT::TopicRule" in types
    assert not [g for g in resources_of(template, "AWS::Logs::LogGroup").values()
                if g["Properties"].get("LogGroupName") == IOT_LOG_GROUP]  # fmt: skip
