"""The single-table history store (docs/architecture.md): clip results, state, registry."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from humwatch.contracts import ANOMALY_INDEX, ANOMALY_INDEX_PK, ANOMALY_INDEX_SK, PK, SK, TTL_ATTRIBUTE


class HistoryTable(Construct):
    """On-demand, point-in-time recovery, TTL on `ttl`, sparse GSI of anomalies by day."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        string = dynamodb.AttributeType.STRING
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name=PK, type=string),
            sort_key=dynamodb.Attribute(name=SK, type=string),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            time_to_live_attribute=TTL_ATTRIBUTE,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.table.add_global_secondary_index(
            index_name=ANOMALY_INDEX,
            partition_key=dynamodb.Attribute(name=ANOMALY_INDEX_PK, type=string),
            sort_key=dynamodb.Attribute(name=ANOMALY_INDEX_SK, type=string),
            projection_type=dynamodb.ProjectionType.ALL,
        )
        self.anomaly_index_arn = f"{self.table.table_arn}/index/{ANOMALY_INDEX}"
