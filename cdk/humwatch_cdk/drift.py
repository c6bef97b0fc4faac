"""The drift check: an EventBridge schedule from context -> `drift_check`."""

from __future__ import annotations

from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from constructs import Construct

from humwatch_cdk.function import HumwatchFunction


class DriftSchedule(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, drift_check: HumwatchFunction, schedule: str
    ) -> None:
        super().__init__(scope, construct_id)
        self.rule = events.Rule(
            self,
            "Schedule",
            description="humwatch: daily drift and silent-device check",
            schedule=events.Schedule.expression(schedule),
            targets=[targets.LambdaFunction(drift_check.function, retry_attempts=2)],
        )
