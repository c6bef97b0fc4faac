"""Alert and operations topics: KMS-encrypted, SSL-only; email and SMS subscriptions from context."""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

# The message attribute humwatch.dal.notifier sets, and the value SMS subscribers receive.
SEVERITY_ATTRIBUTE = "severity"
CRITICAL = "critical"


class AlertTopics(Construct):
    """`alert_topic` carries machine alerts to people; `ops_topic` carries alarms to operators."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        alert_emails: tuple[str, ...],
        alert_phone_numbers: tuple[str, ...],
        ops_emails: tuple[str, ...],
    ) -> None:
        super().__init__(scope, construct_id)
        # A customer managed key: CloudWatch alarms cannot publish to a topic encrypted with the
        # AWS managed SNS key, because its key policy cannot be changed to let CloudWatch use it.
        self.key = kms.Key(
            self,
            "Key",
            description="humwatch: encrypts the alert and operations topics and the clip queues",
            enable_key_rotation=True,
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                resources=["*"],  # in a key policy, "*" means this key
            )
        )
        self.alert_topic = sns.Topic(
            self, "AlertTopic", display_name="humwatch alerts", master_key=self.key, enforce_ssl=True
        )
        self.ops_topic = sns.Topic(
            self, "OpsTopic", display_name="humwatch operations", master_key=self.key, enforce_ssl=True
        )
        for email in alert_emails:
            self.alert_topic.add_subscription(subscriptions.EmailSubscription(email))
        critical_only = {
            SEVERITY_ATTRIBUTE: sns.SubscriptionFilter.string_filter(allowlist=[CRITICAL]),
        }
        for phone in alert_phone_numbers:
            # SMS is for waking someone up: warnings go to email only.
            sms = subscriptions.SmsSubscription(phone, filter_policy=critical_only)
            self.alert_topic.add_subscription(sms)
        for email in ops_emails:
            self.ops_topic.add_subscription(subscriptions.EmailSubscription(email))
