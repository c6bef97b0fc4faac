"""Given the synthesized stack, a device can only act as itself, and the rules route its messages."""

from __future__ import annotations

import re
from typing import Any

from infra_cfn import as_list, only, render, resources_of

from humwatch.contracts import (
    TELEMETRY_RULE,
    UPLOAD_REQUEST_RULE,
    ResourceNames,
    telemetry_ingest_topic,
    upload_response_topic,
)

THING = "${iot:Connection.Thing.ThingName}"
ARN_PREFIX = "arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>:"


def _first_action(rule_properties: dict[str, Any]) -> str:
    (action_type,) = rule_properties["TopicRulePayload"]["Actions"][0]
    return str(action_type)


def _device_policy(template: dict[str, Any]) -> dict[str, Any]:
    _, policy = only(template, "AWS::IoT::Policy")
    return policy["Properties"]


def test_device_policy_has_the_shared_name(template: dict[str, Any]) -> None:
    assert _device_policy(template)["PolicyName"] == ResourceNames().iot_policy


def test_every_device_policy_resource_is_scoped_to_the_connected_thing(template: dict[str, Any]) -> None:
    for statement in as_list(_device_policy(template)["PolicyDocument"]["Statement"]):
        assert statement["Effect"] == "Allow"
        for resource in as_list(render(statement["Resource"])):
            assert resource.startswith(ARN_PREFIX), resource
            path = resource.removeprefix(ARN_PREFIX)
            # Exactly one policy variable, the thing name, and no wildcard that spans things.
            assert THING in path, resource
            assert re.findall(r"\$\{[^}]+\}", path) == [THING], resource
            assert not re.search(r"[*+#?]", path.replace(THING, "")), resource


def test_device_policy_allows_exactly_its_own_topics(template: dict[str, Any]) -> None:
    allowed: dict[str, set[str]] = {}
    statements = as_list(_device_policy(template)["PolicyDocument"]["Statement"])
    for statement in statements:
        for action in as_list(statement["Action"]):
            allowed.setdefault(action, set()).update(
                r.removeprefix(ARN_PREFIX) for r in as_list(render(statement["Resource"]))
            )
    assert allowed == {
        "iot:Connect": {f"client/{THING}"},
        # Basic Ingest only, each topic to its own rule: no messaging bill, and no plain topic to publish on
        "iot:Publish": {
            f"topic/$aws/rules/{UPLOAD_REQUEST_RULE}/humwatch/{THING}/upload/request",
            f"topic/{telemetry_ingest_topic(THING)}",
        },
        "iot:Subscribe": {f"topicfilter/{upload_response_topic(THING)}"},
        "iot:Receive": {f"topic/{upload_response_topic(THING)}"},
    }
    (connect,) = [s for s in statements if s["Action"] == ["iot:Connect"]]
    assert connect["Condition"] == {"Bool": {"iot:Connection.Thing.IsAttached": "true"}}


def test_upload_request_rule_invokes_presign_with_the_thing_from_the_topic(synthesized: Any) -> None:
    stack, template = synthesized.stack, synthesized.template
    rule_id, rule = only(template, "AWS::IoT::TopicRule", lambda p: _first_action(p) == "Lambda")
    # The name devices address with Basic Ingest; the SQL reads the plain topic (topic(2): the thing)
    assert rule["Properties"]["RuleName"] == UPLOAD_REQUEST_RULE == "humwatch_upload_request"
    payload = rule["Properties"]["TopicRulePayload"]
    sql = payload["Sql"]
    # Named contract fields only: a `thing` a device writes into its payload never reaches the function.
    assert sql.startswith("SELECT clip_id, captured_at, content_type, size, md5, sample_rate, duration_s, ")
    assert sql.endswith(", topic(2) AS thing FROM 'humwatch/+/upload/request'")
    assert "*" not in sql.split("FROM")[0]
    presign_id = stack.get_logical_id(stack.presign.function.node.default_child)
    assert payload["Actions"] == [{"Lambda": {"FunctionArn": {"Fn::GetAtt": [presign_id, "Arn"]}}}]
    assert "CloudwatchLogs" in payload["ErrorAction"]
    (permission,) = [
        p["Properties"]
        for p in resources_of(template, "AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == "iot.amazonaws.com"
    ]
    assert permission["SourceArn"] == {"Fn::GetAtt": [rule_id, "Arn"]}
    assert permission["FunctionName"] == {"Fn::GetAtt": [presign_id, "Arn"]}


def test_telemetry_rule_writes_the_device_telemetry_item(synthesized: Any) -> None:
    stack, template = synthesized.stack, synthesized.template
    _, rule = only(template, "AWS::IoT::TopicRule", lambda p: _first_action(p) == "DynamoDBv2")
    assert rule["Properties"]["RuleName"] == TELEMETRY_RULE == "humwatch_telemetry"
    payload = rule["Properties"]["TopicRulePayload"]
    sql = payload["Sql"]
    assert sql.startswith("SELECT *, concat('device#', topic(2)) AS pk, 'telemetry' AS sk")
    assert sql.endswith("FROM 'humwatch/+/telemetry'")
    assert "topic(2) AS thing" in sql  # the thing comes from the topic, never from the payload
    (action,) = payload["Actions"]
    table_id = stack.get_logical_id(stack.history.table.node.default_child)
    assert action["DynamoDBv2"]["PutItem"] == {"TableName": {"Ref": table_id}}
    assert "CloudwatchLogs" in payload["ErrorAction"]


def test_rule_roles_may_only_write_their_target_and_the_error_log(template: dict[str, Any]) -> None:
    # The roles the topic rules name (the account-level IoT roles: tests/infra/test_infra_iot_account.py)
    rules = str(list(resources_of(template, "AWS::IoT::TopicRule").values()))
    iot_roles = [
        logical_id
        for logical_id, role in resources_of(template, "AWS::IAM::Role").items()
        if "iot.amazonaws.com" in str(role["Properties"]["AssumeRolePolicyDocument"])
        and f"'{logical_id}', 'Arn'" in rules
    ]
    assert len(iot_roles) == 2
    for policy in resources_of(template, "AWS::IAM::Policy").values():
        if not any({"Ref": role} in policy["Properties"]["Roles"] for role in iot_roles):
            continue
        stmts = policy["Properties"]["PolicyDocument"]["Statement"]
        actions = {a for s in stmts for a in as_list(s["Action"])}
        assert actions <= {"logs:CreateLogStream", "logs:PutLogEvents", "dynamodb:PutItem"}


def test_telemetry_rule_writes_the_same_item_shape_as_the_local_stack(template: dict[str, Any]) -> None:
    # Given the attributes the rule adds to the heartbeat
    _, rule = only(template, "AWS::IoT::TopicRule", lambda p: _first_action(p) == "DynamoDBv2")
    added = set(re.findall(r" AS (\w+)", rule["Properties"]["TopicRulePayload"]["Sql"]))

    # When the local stack stores a heartbeat through DeviceTelemetry.put
    from humwatch.dal.devices import DeviceTelemetry
    from humwatch.dal.table_client import TableClient

    class RecordingClient:
        def __init__(self) -> None:
            self.items: list[dict[str, Any]] = []

        def put_item(self, **request: Any) -> dict[str, Any]:
            self.items.append(request["Item"])
            return {}

    client = RecordingClient()
    DeviceTelemetry(TableClient("history", client=client)).put("fan-01", {"version": "1.0", "spool_clips": 0})

    # Then both add exactly the same attributes to what the device sent
    (item,) = client.items
    assert set(item) - {"version", "spool_clips"} == added
