"""IoT Core settings that exist once per account and region: logging, and the Device Defender audit.

Both are account singletons in CloudFormation (`AWS::IoT::Logging`, `AWS::IoT::AccountAuditConfiguration`),
so the stack creates them only with `iotAccountSettings` (default true); an account where another
stack or team already owns them sets it to false (docs/deploy.md).
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_iot as iot
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct

from humwatch_cdk.function import log_retention

# The log group IoT Core's v2 logging writes to (fixed by AWS). Created here so it has a retention.
IOT_LOG_GROUP = "AWSIotLogsV2"

# The Device Defender checks the audit runs: certificates (shared, revoked, expiring, one client id
# used by two connections), the policies (overly permissive) and logging (disabled). The CFN property
# of each is its lower-case name (DEVICE_CERTIFICATE_SHARED_CHECK -> device_certificate_shared_check).
AUDIT_CHECKS = (
    "DEVICE_CERTIFICATE_SHARED_CHECK",
    "DEVICE_CERTIFICATE_EXPIRING_CHECK",
    "REVOKED_DEVICE_CERTIFICATE_STILL_ACTIVE_CHECK",
    "CA_CERTIFICATE_EXPIRING_CHECK",
    "REVOKED_CA_CERTIFICATE_STILL_ACTIVE_CHECK",
    "CONFLICTING_CLIENT_IDS_CHECK",
    "IOT_POLICY_OVERLY_PERMISSIVE_CHECK",
    "LOGGING_DISABLED_CHECK",
)

# What those checks read: the IoT actions of AWS's AWSIoTDeviceDefenderAudit managed policy, less the
# IAM, Cognito and role-alias reads that only the checks left off here need. Listing and the logging
# options have no resource-level permissions; the reads of one item are scoped to that item's type.
AUDIT_ACCOUNT_ACTIONS = (
    "iot:GetLoggingOptions",
    "iot:GetV2LoggingOptions",
    "iot:ListCertificates",
    "iot:ListCACertificates",
    "iot:ListPolicies",
)
AUDIT_ITEM_ACTIONS = {
    "cert/*": ("iot:DescribeCertificate", "iot:GetEffectivePolicies"),
    "cacert/*": ("iot:DescribeCACertificate",),
    "policy/*": ("iot:GetPolicy",),
}

# A weekly or fortnightly audit runs on Mondays, a monthly one on the 1st.
_AUDIT_DAY_OF_WEEK = "MON"
_AUDIT_DAY_OF_MONTH = "1"


def _iot_arn(resource: str) -> str:
    return f"arn:{cdk.Aws.PARTITION}:iot:{cdk.Aws.REGION}:{cdk.Aws.ACCOUNT_ID}:{resource}"


def iot_service_principal() -> iam.ServicePrincipal:
    """IoT Core, acting for this account only (no confused deputy from another account)."""
    return iam.ServicePrincipal(
        "iot.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": cdk.Aws.ACCOUNT_ID}}
    )


class IotCoreLogging(Construct):
    """IoT Core's account logging at `level` into AWSIotLogsV2, kept `log_retention_days`."""

    def __init__(self, scope: Construct, construct_id: str, *, level: str, log_retention_days: int) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=IOT_LOG_GROUP,
            retention=log_retention(log_retention_days),
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        # An inline policy is part of the role resource, so the logging options (which name the
        # role) are only set once the role can write; it can write to this log group and no other.
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iot_service_principal(),
            description=f"humwatch: IoT Core writes its logs to {IOT_LOG_GROUP}, nothing else",
            inline_policies={
                "WriteIotLogs": iam.PolicyDocument(
                    statements=[
                        iam.PolicyStatement(
                            actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                            resources=[self.log_group.log_group_arn],
                        )
                    ]
                )
            },
        )
        self.logging = iot.CfnLogging(
            self,
            "Options",
            account_id=cdk.Aws.ACCOUNT_ID,
            role_arn=self.role.role_arn,
            default_log_level=level,
        )


class DeviceDefenderAudit(Construct):
    """Device Defender audits the account's certificates, policies and logging on a schedule and
    sends each audit's result to `notification_topic` (encrypted with `topic_key`)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        frequency: str,
        notification_topic: sns.ITopic,
        topic_key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        read_statements = [iam.PolicyStatement(actions=list(AUDIT_ACCOUNT_ACTIONS), resources=["*"])]
        read_statements += [
            iam.PolicyStatement(actions=list(actions), resources=[_iot_arn(resource)])
            for resource, actions in AUDIT_ITEM_ACTIONS.items()
        ]
        self.audit_role = iam.Role(
            self,
            "AuditRole",
            assumed_by=iot_service_principal(),
            description="humwatch: Device Defender reads certificates, policies and logging options",
            inline_policies={"ReadForAuditChecks": iam.PolicyDocument(statements=read_statements)},
        )
        self.notification_role = iam.Role(
            self,
            "NotificationRole",
            assumed_by=iot_service_principal(),
            description="humwatch: Device Defender publishes audit results to the operations topic",
            inline_policies={
                "PublishAuditResults": iam.PolicyDocument(
                    statements=[
                        iam.PolicyStatement(
                            actions=["sns:Publish"], resources=[notification_topic.topic_arn]
                        ),
                        iam.PolicyStatement(
                            actions=["kms:GenerateDataKey", "kms:Decrypt"], resources=[topic_key.key_arn]
                        ),
                    ]
                )
            },
        )
        enabled = iot.CfnAccountAuditConfiguration.AuditCheckConfigurationProperty(enabled=True)
        checks: dict[str, Any] = {check.lower(): enabled for check in AUDIT_CHECKS}
        self.configuration = iot.CfnAccountAuditConfiguration(
            self,
            "Configuration",
            account_id=cdk.Aws.ACCOUNT_ID,
            role_arn=self.audit_role.role_arn,
            audit_check_configurations=iot.CfnAccountAuditConfiguration.AuditCheckConfigurationsProperty(
                **checks
            ),
            audit_notification_target_configurations=(
                iot.CfnAccountAuditConfiguration.AuditNotificationTargetConfigurationsProperty(
                    sns=iot.CfnAccountAuditConfiguration.AuditNotificationTargetProperty(
                        enabled=True,
                        target_arn=notification_topic.topic_arn,
                        role_arn=self.notification_role.role_arn,
                    )
                )
            ),
        )
        self.schedule = iot.CfnScheduledAudit(
            self,
            "Schedule",
            frequency=frequency,
            day_of_week=_AUDIT_DAY_OF_WEEK if frequency in ("WEEKLY", "BIWEEKLY") else None,
            day_of_month=_AUDIT_DAY_OF_MONTH if frequency == "MONTHLY" else None,
            target_check_names=list(AUDIT_CHECKS),
        )
        # A scheduled audit may only name checks the account configuration has enabled.
        self.schedule.node.add_dependency(self.configuration)
