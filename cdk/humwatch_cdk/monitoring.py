"""Operations: alarms that notify the ops topic, and one CloudWatch dashboard."""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from humwatch.contracts import FUNCTION_RUNTIME_ENV
from humwatch.observability import Metric
from humwatch_cdk.function import HumwatchFunction

METRIC_NAMESPACE = "Humwatch"
IOT_RULE_ERRORS_METRIC = "IotRuleErrors"
FIVE_MINUTES = cdk.Duration.minutes(5)
AT_LEAST = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD


class Monitoring(Construct):
    """Every alarm sends to `ops_topic`: a full DLQ (clips or training requests), failing or throttled
    functions, IoT rule errors, upload quota refusals, and no clip arriving for `no_clips_minutes`
    (a fleet-wide outage looks like silence)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        ops_topic: sns.ITopic,
        functions: Sequence[HumwatchFunction],
        clip_queue: sqs.Queue,
        dead_letter_queue: sqs.Queue,
        train_dead_letter_queue: sqs.Queue,
        rule_error_log_group: logs.ILogGroup,
        no_clips_minutes: int,
    ) -> None:
        super().__init__(scope, construct_id)
        self._action = actions.SnsAction(ops_topic)
        self.alarms: list[cloudwatch.Alarm] = []

        dlq_depth = dead_letter_queue.metric_approximate_number_of_messages_visible(
            period=FIVE_MINUTES, statistic="Maximum"
        )
        self._alarm("DeadLetterDepth", dlq_depth, "clip events are in the dead-letter queue", threshold=1)
        # A request that failed train_max_receive_count times: that device stays without a model
        # (or on its old one) until an operator looks.
        train_dlq_depth = train_dead_letter_queue.metric_approximate_number_of_messages_visible(
            period=FIVE_MINUTES, statistic="Maximum"
        )
        self._alarm(
            "TrainDeadLetterDepth",
            train_dlq_depth,
            "training requests are in the training dead-letter queue",
            threshold=1,
        )

        for fn in functions:
            name = fn.node.id
            errors = fn.function.metric_errors(period=FIVE_MINUTES, statistic="Sum")
            throttles = fn.function.metric_throttles(period=FIVE_MINUTES, statistic="Sum")
            self._alarm(f"{name}Errors", errors, f"{name} raised errors", threshold=1)
            self._alarm(f"{name}Throttles", throttles, f"{name} was throttled", threshold=1)

        # IoT rule failures land in the error action's log group; count them as a metric so the
        # alarm does not depend on AWS/IoT's per-action dimension combinations.
        rule_errors_filter = logs.MetricFilter(
            self,
            "IotRuleErrorCount",
            log_group=rule_error_log_group,
            filter_pattern=logs.FilterPattern.all_events(),
            metric_namespace=METRIC_NAMESPACE,
            metric_name=IOT_RULE_ERRORS_METRIC,
            metric_value="1",
        )
        rule_errors = rule_errors_filter.metric(period=FIVE_MINUTES, statistic="Sum")
        self._alarm("IotRuleErrors", rule_errors, "an IoT rule action failed", threshold=1)

        # Powertools publishes humwatch's own metrics with the service as their one dimension.
        quota_refusals = cloudwatch.Metric(
            namespace=FUNCTION_RUNTIME_ENV["POWERTOOLS_METRICS_NAMESPACE"],
            metric_name=Metric.UPLOAD_QUOTA_EXCEEDED,
            dimensions_map={"service": FUNCTION_RUNTIME_ENV["POWERTOOLS_SERVICE_NAME"]},
            period=FIVE_MINUTES,
            statistic="Sum",
        )
        self._alarm(
            "UploadQuotaExceeded",
            quota_refusals,
            "a device asked for more upload URLs than maxUploadsPerHour (a leaked certificate, a "
            "runaway device, or one draining its spool after a long outage; docs/operations.md)",
            threshold=1,
        )

        clips_arriving = clip_queue.metric_number_of_messages_sent(
            period=cdk.Duration.minutes(no_clips_minutes), statistic="Sum"
        )
        self._alarm(
            "NoClipsArriving",
            clips_arriving,
            f"no clip arrived for {no_clips_minutes} minutes",
            threshold=1,
            comparison=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            missing=cloudwatch.TreatMissingData.BREACHING,
        )

        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", default_interval=cdk.Duration.hours(24))
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(title="Clips queued", left=[clips_arriving.with_(period=FIVE_MINUTES)]),
            cloudwatch.GraphWidget(
                title="Dead-letter queue depth",
                left=[dlq_depth.with_(label="clip events"), train_dlq_depth.with_(label="training requests")],
            ),
            cloudwatch.GraphWidget(title="IoT rule errors", left=[rule_errors]),
            cloudwatch.GraphWidget(title="Upload quota refusals", left=[quota_refusals]),
        )
        self.dashboard.add_widgets(
            *(
                cloudwatch.GraphWidget(
                    title=fn.node.id,
                    left=[fn.function.metric_invocations(period=FIVE_MINUTES), fn.function.metric_errors()],
                    right=[fn.function.metric_duration(statistic="p95")],
                )
                for fn in functions
            )
        )
        self.dashboard.add_widgets(cloudwatch.AlarmStatusWidget(title="Alarms", alarms=self.alarms, width=24))

    def _alarm(
        self,
        construct_id: str,
        metric: cloudwatch.IMetric,
        description: str,
        *,
        threshold: float,
        comparison: cloudwatch.ComparisonOperator = AT_LEAST,
        missing: cloudwatch.TreatMissingData = cloudwatch.TreatMissingData.NOT_BREACHING,
    ) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            metric=metric,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=comparison,
            treat_missing_data=missing,
            alarm_description=f"humwatch: {description}",
        )
        alarm.add_alarm_action(self._action)
        self.alarms.append(alarm)
        return alarm
