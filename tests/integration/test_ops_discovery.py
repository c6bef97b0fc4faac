"""Stack discovery from CloudFormation outputs on a moto server (no --table, no --bucket)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from ops_seed import run, seed_device

from humwatch.dal import aws
from humwatch.dal.history import HistoryTable
from humwatch.dal.provisioning import StackResources
from humwatch.dal.stack_discovery import stack_outputs
from humwatch.errors import ConfigError

NOW = datetime.now(UTC).replace(microsecond=0)


def _deploy_outputs_stack(stack: StackResources, name: str) -> None:
    """A stack whose outputs name the provisioned table and bucket, as `cdk deploy` leaves them."""
    template = {
        "Resources": {"Marker": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {
            "HistoryTableName": {"Value": stack.table},
            "ClipsBucketName": {"Value": stack.bucket},
            "DevicePolicyName": {"Value": "humwatch-device-policy"},
        },
    }
    cfn = aws.client("cloudformation", endpoint_url=stack.endpoint_url, region=stack.region)
    cfn.create_stack(StackName=name, TemplateBody=json.dumps(template))


def test_commands_find_the_table_through_the_stack_outputs(
    aws_stack: StackResources, history: HistoryTable
) -> None:
    # Given a deployed stack and a device with history
    _deploy_outputs_stack(aws_stack, "HumwatchTest")
    seed_device(history, "fan-01", [0.3, 1.4], start=NOW - timedelta(minutes=10))
    assert aws_stack.endpoint_url
    endpoint = ["--endpoint-url", aws_stack.endpoint_url, "--region", aws_stack.region]

    # When the operator names only the stack
    result = run(["history", "--stack", "HumwatchTest", "--format", "json", *endpoint])

    # Then the table comes from its outputs
    assert result.exit_code == 0, result.output
    assert [row["score"] for row in json.loads(result.stdout)] == [1.4, 0.3]
    outputs = stack_outputs("HumwatchTest", aws_stack.region, aws_stack.endpoint_url)
    assert outputs["HistoryTableName"] == aws_stack.table

    # And HUMWATCH_STACK works the same way
    devices = run(["devices", "--format", "json", *endpoint], env={"HUMWATCH_STACK": "HumwatchTest"})
    assert devices.exit_code == 0 and json.loads(devices.stdout)[0]["device"] == "fan-01"


def test_missing_stack_is_a_clear_error(aws_stack: StackResources) -> None:
    assert aws_stack.endpoint_url
    result = run(["history", "--stack", "NoSuchStack", "--endpoint-url", aws_stack.endpoint_url])
    assert isinstance(result.exception, ConfigError)
    message = str(result.exception)
    assert "cannot resolve the table" in message and "CloudFormation stack 'NoSuchStack' not found" in message
