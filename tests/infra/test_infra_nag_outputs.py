"""Given the synthesized app, cdk-nag finds nothing unacknowledged and CDK itself warns of nothing."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Annotations, Match
from infra_cfn import render


def _nag_reports(synthesized: Any) -> list[dict[str, Any]]:
    reports = synthesized.validation_report["pluginReports"]
    return [r for r in reports if r["pluginName"] == "AwsSolutions"]


def test_cdk_nag_reports_no_violations(synthesized: Any) -> None:
    (report,) = _nag_reports(synthesized)
    assert report["conclusion"] == "success"
    assert report["violations"] == []


def test_every_acknowledgement_names_a_finding_and_a_specific_reason(synthesized: Any) -> None:
    (report,) = _nag_reports(synthesized)
    suppressed = report["suppressedViolations"]
    assert suppressed, "expected the documented acknowledgements to be in use"
    for finding in suppressed:
        assert finding["acknowledgedId"] == f"AwsSolutions::{finding['ruleName']}"
        assert len(finding["reason"]) >= 60, finding["ruleName"]
    # Wildcards are acknowledged one resource at a time, never for a whole rule.
    assert not any(f["ruleName"] == "AwsSolutions-IAM5" for f in suppressed)


def test_no_error_or_warning_annotations(synthesized: Any) -> None:
    annotations = Annotations.from_stack(synthesized.stack)
    assert annotations.find_error("*", Match.any_value()) == []
    assert annotations.find_warning("*", Match.any_value()) == []


def test_outputs_tell_the_user_what_was_created(template: dict[str, Any]) -> None:
    from humwatch.contracts import StackOutput

    outputs = template["Outputs"]
    # Exactly the keys of the contract: the operator CLI reads names by these keys, nothing else
    assert set(outputs) == {key.value for key in StackOutput}
    command = render(outputs["ProvisionDeviceCommand"]["Value"])
    assert command.startswith("humwatch provision-device THING_NAME --stack <AWS::StackName>")
    assert "describe-endpoint" in outputs["IotEndpointCommand"]["Value"]


def test_operator_cli_discovers_every_name_it_needs_from_the_outputs(template: dict[str, Any]) -> None:
    # Given the output keys, when the CLI reads them as it does from a deployed stack
    from humwatch.ops.settings import from_outputs

    found = from_outputs({key: f"value-of-{key}" for key in template["Outputs"]})

    # Then table, bucket, policy and alert topic resolve, and no hint is mistaken for an endpoint
    assert found["table"] == "value-of-HistoryTableName"
    assert found["bucket"] == "value-of-ClipsBucketName"
    assert found["iot_policy"] == "value-of-DevicePolicyName"
    assert found["alert_topic_arn"] == "value-of-AlertTopicArn"
    assert "iot_data_endpoint" not in found
