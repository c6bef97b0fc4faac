"""Given the synthesized stack: every function's concurrency is capped as cdk.json says, and the
per-device upload quota reaches presign_upload with the table, its one write and an alarm."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from humwatch_cdk.settings import DeploySettings, SettingsError
from infra_cfn import as_list, resources_of, statements

from humwatch.config import PresignSettings, load_settings
from humwatch.contracts import ENV_TABLE
from humwatch.observability import Metric

# The `synth_with` fixture of tests/infra/conftest.py: synth_with(**context) -> (stack, template)
SynthWith = Callable[..., tuple[Any, dict[str, Any]]]

# CDK's own deploy-time custom resources (S3 bucket notifications, the console's file copy):
# CloudFormation runs them once per deployment, never under load, and CDK offers no way to
# configure them (scan-exceptions.yaml too).
CDK_DEPLOY_TIME_FUNCTIONS = ("BucketNotificationsHandler", "CustomCDKBucketDeployment")


def _function_ids(synthesized: Any) -> dict[str, str]:
    """The pipeline's functions and, when deployed, the console's."""
    stack = synthesized.stack
    functions = [*stack.functions, *([stack.console.function] if stack.console else [])]
    return {fn.node.id: stack.get_logical_id(fn.function.node.default_child) for fn in functions}


def test_every_function_has_reserved_or_event_source_maximum_concurrency_as_configured(
    synthesized: Any,
) -> None:
    # Given every Lambda function in the template and the settings it was built from
    settings = synthesized.stack.settings
    functions = resources_of(synthesized.template, "AWS::Lambda::Function")
    ids = _function_ids(synthesized)
    others = set(functions) - set(ids.values())
    assert all(fid.startswith(CDK_DEPLOY_TIME_FUNCTIONS) for fid in others), others
    mappings = resources_of(synthesized.template, "AWS::Lambda::EventSourceMapping").values()
    maximum = {
        m["Properties"]["FunctionName"]["Ref"]: m["Properties"]
        .get("ScalingConfig", {})
        .get("MaximumConcurrency")
        for m in mappings
    }
    # Then each of humwatch's functions is capped: a reservation, or its event source's maximum
    for fid in ids.values():
        props = functions[fid]["Properties"]
        assert props.get("ReservedConcurrentExecutions") or maximum.get(fid), fid
    # And the numbers are cdk.json's
    reserved = {
        name: functions[fid]["Properties"].get("ReservedConcurrentExecutions") for name, fid in ids.items()
    }
    assert reserved == {
        "PresignUpload": settings.presign_reserved_concurrency,
        "ProcessClip": settings.process_clip_reserved_concurrency,
        "DriftCheck": settings.drift_check_reserved_concurrency,
        "TrainModel": settings.train_model_reserved_concurrency,
        "ConsoleApiFunction": settings.console_api_reserved_concurrency,
    }
    assert (reserved["PresignUpload"], reserved["ProcessClip"], reserved["DriftCheck"]) == (10, 10, 1)
    assert reserved["TrainModel"] == 2
    assert reserved["ConsoleApiFunction"] == 10
    assert maximum[ids["ProcessClip"]] == settings.process_clip_max_concurrency
    assert reserved["ProcessClip"] >= maximum[ids["ProcessClip"]]  # AWS: less would throttle it
    assert reserved["TrainModel"] >= maximum[ids["TrainModel"]]


def test_a_reservation_of_zero_reserves_nothing_instead_of_stopping_the_function(
    synth_with: SynthWith,
) -> None:
    # (Lambda reads ReservedConcurrentExecutions = 0 as "never run"; the knob's 0 means "no cap")
    stack, template = synth_with(
        presignReservedConcurrency=0, processClipReservedConcurrency=0, driftCheckReservedConcurrency=3
    )
    functions = resources_of(template, "AWS::Lambda::Function")
    props = {
        fn.node.id: functions[stack.get_logical_id(fn.function.node.default_child)]["Properties"]
        for fn in stack.functions
    }
    assert "ReservedConcurrentExecutions" not in props["PresignUpload"]
    assert "ReservedConcurrentExecutions" not in props["ProcessClip"]
    assert props["DriftCheck"]["ReservedConcurrentExecutions"] == 3


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"presignReservedConcurrency": -1}, "presignReservedConcurrency: .*greater than or equal to 0"),
        ({"driftCheckReservedConcurrency": "one"}, "driftCheckReservedConcurrency: .*integer"),
        (
            {"processClipReservedConcurrency": 5, "processClipMaxConcurrency": 20},
            "processClipReservedConcurrency \\(5\\) must be 0 or at least processClipMaxConcurrency \\(20\\)",
        ),
        ({"maxUploadsPerHour": -5}, "maxUploadsPerHour: .*greater than or equal to 0"),
    ],
)
def test_a_bad_concurrency_or_quota_knob_is_named(values: dict[str, object], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        DeploySettings.parse(values)


@pytest.mark.parametrize(
    ("values", "quota"),
    [({}, 36), ({"clipIntervalSeconds": 60}, 180), ({"clipIntervalSeconds": 60, "maxUploadsPerHour": 7}, 7)],
)
def test_the_upload_quota_defaults_to_three_times_the_clips_an_hour(
    values: dict[str, object], quota: int
) -> None:
    settings = DeploySettings.parse(values)
    environment = settings.presign_environment()
    assert environment["HUMWATCH_MAX_UPLOADS_PER_HOUR"] == str(quota)
    resources = {"HUMWATCH_BUCKET": "b-1", "HUMWATCH_TABLE": "t-1", "HUMWATCH_IOT_DATA_ENDPOINT": "x"}
    assert load_settings(PresignSettings, {**resources, **environment}).max_uploads_per_hour == quota


def test_presign_gets_the_table_and_may_only_update_items_in_it(synthesized: Any) -> None:
    stack = synthesized.stack
    functions = resources_of(synthesized.template, "AWS::Lambda::Function")
    presign = functions[_function_ids(synthesized)["PresignUpload"]]["Properties"]
    table_id = stack.get_logical_id(stack.history.table.node.default_child)
    variables = presign["Environment"]["Variables"]
    assert variables[ENV_TABLE] == {"Ref": table_id}
    assert variables["HUMWATCH_MAX_UPLOADS_PER_HOUR"] == str(stack.settings.upload_quota_per_hour)
    role = {"Ref": stack.get_logical_id(stack.presign.role.node.default_child)}
    dynamodb = [
        st
        for policy in resources_of(synthesized.template, "AWS::IAM::Policy").values()
        if role in policy["Properties"]["Roles"]
        for st in statements(policy["Properties"]["PolicyDocument"])
        if any(a.startswith("dynamodb:") for a in as_list(st["Action"]))
    ]
    assert [(as_list(st["Action"]), as_list(st["Resource"])) for st in dynamodb] == [
        (["dynamodb:UpdateItem"], [f"<{table_id}.Arn>"])
    ]


def test_quota_refusals_raise_an_alarm_to_operators(synthesized: Any) -> None:
    stack = synthesized.stack
    ops_topic = {"Ref": stack.get_logical_id(stack.alerts.ops_topic.node.default_child)}
    alarms = [
        a["Properties"]
        for a in resources_of(synthesized.template, "AWS::CloudWatch::Alarm").values()
        if a["Properties"]["MetricName"] == Metric.UPLOAD_QUOTA_EXCEEDED
    ]
    assert len(alarms) == 1
    (alarm,) = alarms
    # The metric as Powertools publishes it: namespace Humwatch, dimension service=humwatch
    assert alarm["Namespace"] == "Humwatch"
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "humwatch"}]
    assert alarm["Statistic"] == "Sum" and alarm["Threshold"] == 1
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["AlarmActions"] == [ops_topic]
