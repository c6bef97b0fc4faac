"""Device ingest through AWS IoT Core: the device policy, the presign function and two topic rules.

Devices reach both rules with Basic Ingest (`$aws/rules/<rule>/<topic>`, humwatch.contracts), so the
rules carry the fixed names the devices address; their SQL reads the plain topic as before.
"""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_iot as iot
from aws_cdk import aws_logs as logs
from constructs import Construct

from humwatch.contracts import (
    PK,
    SK,
    TELEMETRY_FILTER,
    TELEMETRY_RULE,
    TELEMETRY_SK,
    UPLOAD_REQUEST_RULE,
    UPLOAD_REQUEST_RULE_SQL,
    device_pk,
    telemetry_ingest_topic,
    upload_request_ingest_topic,
    upload_response_topic,
)
from humwatch_cdk.function import HumwatchFunction, log_retention

# The only policy variable the device policy uses: the thing a certificate is attached to.
THING_VARIABLE = "${iot:Connection.Thing.ThingName}"
IOT_SQL_VERSION = "2016-03-23"

UPLOAD_REQUEST_SQL = UPLOAD_REQUEST_RULE_SQL
# The same item humwatch.dal.devices.DeviceTelemetry.put writes locally: the heartbeat as sent, plus
# its keys, the thing (from the topic, never the payload) and received_at formatted like
# contracts.format_timestamp.
TELEMETRY_SQL = (
    f"SELECT *, concat('{device_pk('')}', topic(2)) AS {PK}, '{TELEMETRY_SK}' AS {SK}, topic(2) AS thing, "
    "parse_time(\"yyyy-MM-dd'T'HH:mm:ss'Z'\", timestamp(), 'UTC') AS received_at "
    f"FROM '{TELEMETRY_FILTER}'"
)


def iot_arn(resource: str) -> str:
    return f"arn:{cdk.Aws.PARTITION}:iot:{cdk.Aws.REGION}:{cdk.Aws.ACCOUNT_ID}:{resource}"


def device_policy_document() -> dict[str, Any]:
    """Each thing may act only as itself: its own client id, its own two Basic Ingest topics (one
    per rule, nothing else under `$aws/rules/`) and its own response topic."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ConnectAsOwnThingName",
                "Effect": "Allow",
                "Action": ["iot:Connect"],
                "Resource": [iot_arn(f"client/{THING_VARIABLE}")],
                "Condition": {"Bool": {"iot:Connection.Thing.IsAttached": "true"}},
            },
            {
                "Sid": "PublishOwnRequestsAndTelemetryToTheirRules",
                "Effect": "Allow",
                "Action": ["iot:Publish"],
                "Resource": [
                    iot_arn(f"topic/{upload_request_ingest_topic(THING_VARIABLE)}"),
                    iot_arn(f"topic/{telemetry_ingest_topic(THING_VARIABLE)}"),
                ],
            },
            {
                "Sid": "SubscribeOwnResponses",
                "Effect": "Allow",
                "Action": ["iot:Subscribe"],
                "Resource": [iot_arn(f"topicfilter/{upload_response_topic(THING_VARIABLE)}")],
            },
            {
                "Sid": "ReceiveOwnResponses",
                "Effect": "Allow",
                "Action": ["iot:Receive"],
                "Resource": [iot_arn(f"topic/{upload_response_topic(THING_VARIABLE)}")],
            },
        ],
    }


class DeviceIngest(Construct):
    """Upload requests go to `presign_upload`; telemetry is written straight into the table."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        policy_name: str,
        presign: HumwatchFunction,
        table_name: str,
        table_arn: str,
        log_retention_days: int,
    ) -> None:
        super().__init__(scope, construct_id)
        self.policy = iot.CfnPolicy(
            self, "DevicePolicy", policy_name=policy_name, policy_document=device_policy_document()
        )
        self.error_log_group = logs.LogGroup(
            self,
            "RuleErrors",
            retention=log_retention(log_retention_days),
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        self.upload_rule_role = self._rule_role("UploadRuleRole", "upload requests")
        self.telemetry_rule_role = self._rule_role("TelemetryRuleRole", "telemetry")
        self.telemetry_rule_role.add_to_policy(
            iam.PolicyStatement(actions=["dynamodb:PutItem"], resources=[table_arn])
        )

        self.upload_rule = iot.CfnTopicRule(
            self,
            "UploadRequestRule",
            rule_name=UPLOAD_REQUEST_RULE,
            topic_rule_payload=iot.CfnTopicRule.TopicRulePayloadProperty(
                description="humwatch: device upload request -> presign_upload",
                sql=UPLOAD_REQUEST_SQL,
                aws_iot_sql_version=IOT_SQL_VERSION,
                rule_disabled=False,
                actions=[
                    iot.CfnTopicRule.ActionProperty(
                        lambda_=iot.CfnTopicRule.LambdaActionProperty(
                            function_arn=presign.function.function_arn
                        )
                    )
                ],
                error_action=self._error_action(self.upload_rule_role),
            ),
        )
        presign.function.add_permission(
            "InvokeFromUploadRule",
            principal=iam.ServicePrincipal("iot.amazonaws.com"),
            source_arn=self.upload_rule.attr_arn,
            source_account=cdk.Aws.ACCOUNT_ID,
        )
        self.telemetry_rule = iot.CfnTopicRule(
            self,
            "TelemetryRule",
            rule_name=TELEMETRY_RULE,
            topic_rule_payload=iot.CfnTopicRule.TopicRulePayloadProperty(
                description="humwatch: device telemetry -> history table (device#<thing> / telemetry)",
                sql=TELEMETRY_SQL,
                aws_iot_sql_version=IOT_SQL_VERSION,
                rule_disabled=False,
                actions=[
                    iot.CfnTopicRule.ActionProperty(
                        dynamo_d_bv2=iot.CfnTopicRule.DynamoDBv2ActionProperty(
                            put_item=iot.CfnTopicRule.PutItemInputProperty(table_name=table_name),
                            role_arn=self.telemetry_rule_role.role_arn,
                        )
                    )
                ],
                error_action=self._error_action(self.telemetry_rule_role),
            ),
        )
        self.rules = (self.upload_rule, self.telemetry_rule)
        # Read by operators when a rule action fails (the alarm counts these lines).
        self.error_log_group_name = self.error_log_group.log_group_name
        self.policy_document_json = json.dumps(device_policy_document())

    def _rule_role(self, construct_id: str, what: str) -> iam.Role:
        role = iam.Role(
            self,
            construct_id,
            assumed_by=iam.ServicePrincipal("iot.amazonaws.com"),
            description=f"humwatch IoT rule for {what}: its action and its error action only",
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.error_log_group.log_group_arn],
            )
        )
        return role

    def _error_action(self, role: iam.Role) -> iot.CfnTopicRule.ActionProperty:
        return iot.CfnTopicRule.ActionProperty(
            cloudwatch_logs=iot.CfnTopicRule.CloudwatchLogsActionProperty(
                log_group_name=self.error_log_group.log_group_name, role_arn=role.role_arn
            )
        )
