"""Create the stack's data resources against any AWS API endpoint (the local moto server).

One helper used by the integration tests and the local stack, so both run against the same
bucket/table/queue/topic layout the CDK stack deploys: bucket with S3 -> SQS notifications on
`clips/`, history table with the sparse anomaly GSI and TTL, clip queue with a DLQ, SNS topics.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from humwatch import contracts as c
from humwatch.dal import aws


@dataclass(frozen=True)
class StackResources:
    bucket: str
    table: str
    queue_url: str
    queue_arn: str
    dlq_url: str
    dlq_arn: str
    train_queue_url: str
    train_dlq_url: str
    alert_topic_arn: str
    ops_topic_arn: str
    region: str
    endpoint_url: str | None

    def environment(self) -> dict[str, str]:
        """The functions' environment variables for this stack (see humwatch.config)."""
        env = {
            c.ENV_BUCKET: self.bucket,
            c.ENV_TABLE: self.table,
            c.ENV_ALERT_TOPIC_ARN: self.alert_topic_arn,
            "HUMWATCH_OPS_TOPIC_ARN": self.ops_topic_arn,
            c.ENV_TRAIN_QUEUE_URL: self.train_queue_url,
            "AWS_REGION": self.region,
        }
        if self.endpoint_url:
            env["AWS_ENDPOINT_URL"] = self.endpoint_url
        return env


def create_table(ddb: Any, name: str) -> None:
    ddb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": c.PK, "AttributeType": "S"},
            {"AttributeName": c.SK, "AttributeType": "S"},
            {"AttributeName": c.ANOMALY_INDEX_PK, "AttributeType": "S"},
            {"AttributeName": c.ANOMALY_INDEX_SK, "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": c.PK, "KeyType": "HASH"},
            {"AttributeName": c.SK, "KeyType": "RANGE"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": c.ANOMALY_INDEX,
                "KeySchema": [
                    {"AttributeName": c.ANOMALY_INDEX_PK, "KeyType": "HASH"},
                    {"AttributeName": c.ANOMALY_INDEX_SK, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    ddb.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": c.TTL_ATTRIBUTE}
    )


def provision_stack(
    names: c.ResourceNames | None = None,
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    pipeline: c.PipelineSettings = c.PIPELINE,
) -> StackResources:
    """Create every data resource (idempotent enough for a fresh moto server; not for AWS)."""
    names = names or c.ResourceNames()
    region = region or aws.region_name()
    endpoint_url = endpoint_url or aws.endpoint_url_from_env()
    s3 = aws.client("s3", endpoint_url=endpoint_url, region=region)
    sqs = aws.client("sqs", endpoint_url=endpoint_url, region=region)
    sns = aws.client("sns", endpoint_url=endpoint_url, region=region)
    ddb = aws.client("dynamodb", endpoint_url=endpoint_url, region=region)

    if region == "us-east-1":
        s3.create_bucket(Bucket=names.bucket)
    else:
        s3.create_bucket(Bucket=names.bucket, CreateBucketConfiguration={"LocationConstraint": region})
    create_table(ddb, names.table)

    queue_url, queue_arn, dlq_url, dlq_arn = _queue_with_dlq(
        sqs,
        names.clip_queue,
        names.clip_dlq,
        visibility_timeout_s=pipeline.clip_queue_visibility_timeout_s,
        max_receive_count=pipeline.clip_max_receive_count,
    )
    train_queue_url, _, train_dlq_url, _ = _queue_with_dlq(
        sqs,
        names.train_queue,
        names.train_dlq,
        visibility_timeout_s=pipeline.train_queue_visibility_timeout_s,
        max_receive_count=pipeline.train_max_receive_count,
    )
    s3.put_bucket_notification_configuration(
        Bucket=names.bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "Id": "clips-to-queue",
                    "QueueArn": queue_arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": c.CLIPS_PREFIX}]}},
                }
            ]
        },
    )
    alert_topic_arn = sns.create_topic(Name=names.alert_topic)["TopicArn"]
    ops_topic_arn = sns.create_topic(Name=names.ops_topic)["TopicArn"]
    return StackResources(
        bucket=names.bucket,
        table=names.table,
        queue_url=queue_url,
        queue_arn=queue_arn,
        dlq_url=dlq_url,
        dlq_arn=dlq_arn,
        train_queue_url=train_queue_url,
        train_dlq_url=train_dlq_url,
        alert_topic_arn=alert_topic_arn,
        ops_topic_arn=ops_topic_arn,
        region=region,
        endpoint_url=endpoint_url,
    )


def _queue_with_dlq(
    sqs: Any, name: str, dlq_name: str, *, visibility_timeout_s: int, max_receive_count: int
) -> tuple[str, str, str, str]:
    """A queue that moves a message to its DLQ after `max_receive_count` receives: url, arn of both."""

    def arn(url: str) -> str:
        return str(
            sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        )

    dlq_url = str(sqs.create_queue(QueueName=dlq_name)["QueueUrl"])
    dlq_arn = arn(dlq_url)
    queue_url = str(
        sqs.create_queue(
            QueueName=name,
            Attributes={
                "VisibilityTimeout": str(visibility_timeout_s),
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive_count)}
                ),
            },
        )["QueueUrl"]
    )
    return queue_url, arn(queue_url), dlq_url, dlq_arn
