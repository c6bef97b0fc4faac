"""The drift check: an EventBridge schedule from context -> `drift_check`, failures to operators."""

from __future__ import annotations

from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from constructs import Construct

from humwatch_cdk.function import HumwatchFunction

# Lambda retries a failed asynchronous (scheduled) invocation this often before giving up on it.
ASYNC_RETRY_ATTEMPTS = 2


class DriftSchedule(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        drift_check: HumwatchFunction,
        schedule: str,
        failure_topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        self.rule = events.Rule(
            self,
            "Schedule",
            description="humwatch: daily drift and silent-device check",
            schedule=events.Schedule.expression(schedule),
            targets=[targets.LambdaFunction(drift_check.function, retry_attempts=2)],
        )
        # A run that still fails after its retries is not dropped: Lambda sends the invocation
        # record (with the error message) to the operations topic. The stack grants the function
        # sns:Publish on that topic; the L1 resource adds no second, broader grant (the L2 would).
        self.failure_destination = lambda_.CfnEventInvokeConfig(
            self,
            "FailureDestination",
            function_name=drift_check.function.function_name,
            qualifier="$LATEST",
            maximum_retry_attempts=ASYNC_RETRY_ATTEMPTS,
            destination_config=lambda_.CfnEventInvokeConfig.DestinationConfigProperty(
                on_failure=lambda_.CfnEventInvokeConfig.OnFailureProperty(destination=failure_topic.topic_arn)
            ),
        )
