"""One Lambda function with its own role, log group and the humwatch layers."""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from humwatch_cdk.layers import RuntimeLayers

REPO_ROOT = Path(__file__).resolve().parents[2]
RUNTIME = lambda_.Runtime.PYTHON_3_12


class HumwatchFunction(Construct):
    """`functions/<name>/handler.py` as a Lambda function.

    `reserved_concurrency` caps (and reserves) its concurrent executions; None leaves it to the
    account's unreserved pool (a queue-driven function is capped at its event source instead).
    The role is created here and starts empty apart from writing to this function's own log group
    (and X-Ray when `tracing`); the stack grants each function exactly the named actions it needs.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        description: str,
        layers: RuntimeLayers,
        environment: dict[str, str],
        memory_mb: int,
        timeout: cdk.Duration,
        log_retention_days: int,
        reserved_concurrency: int | None = None,
        tracing: bool = False,
        ephemeral_storage_mb: int | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.tracing = tracing
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=log_retention(log_retention_days),
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"humwatch {name}: only the actions this function uses",
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            )
        )
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIME,
            architecture=lambda_.Architecture.X86_64,
            handler="handler.handler",
            code=lambda_.Code.from_asset(
                str(REPO_ROOT / "functions" / name), exclude=["__pycache__", "*.pyc", "tests"]
            ),
            description=description,
            layers=[layers.deps, layers.humwatch],
            # Untraced, Powertools' Tracer stays off too (no X-Ray SDK patching boto3 for nothing).
            environment=environment if tracing else {**environment, "POWERTOOLS_TRACE_DISABLED": "true"},
            memory_size=memory_mb,
            timeout=timeout,
            role=self.role,
            log_group=self.log_group,
            tracing=lambda_.Tracing.ACTIVE if tracing else lambda_.Tracing.DISABLED,
            # None: no reservation (0 would disable the function, so callers never pass it).
            reserved_concurrent_executions=reserved_concurrency,
            # None: Lambda's default /tmp (512 MB).
            ephemeral_storage_size=cdk.Size.mebibytes(ephemeral_storage_mb) if ephemeral_storage_mb else None,
        )


# CloudWatch Logs accepts only these retention periods (days).
_RETENTION_DAYS: tuple[tuple[int, logs.RetentionDays], ...] = (
    (1, logs.RetentionDays.ONE_DAY),
    (3, logs.RetentionDays.THREE_DAYS),
    (5, logs.RetentionDays.FIVE_DAYS),
    (7, logs.RetentionDays.ONE_WEEK),
    (14, logs.RetentionDays.TWO_WEEKS),
    (30, logs.RetentionDays.ONE_MONTH),
    (60, logs.RetentionDays.TWO_MONTHS),
    (90, logs.RetentionDays.THREE_MONTHS),
    (180, logs.RetentionDays.SIX_MONTHS),
    (365, logs.RetentionDays.ONE_YEAR),
    (731, logs.RetentionDays.TWO_YEARS),
    (1827, logs.RetentionDays.FIVE_YEARS),
    (3653, logs.RetentionDays.TEN_YEARS),
)


def log_retention(days: int) -> logs.RetentionDays:
    """The shortest retention period CloudWatch accepts that keeps at least `days` days."""
    for allowed, member in _RETENTION_DAYS:
        if allowed >= days:
            return member
    return logs.RetentionDays.TEN_YEARS
