"""A work queue with its dead-letter queue, both under the stack's customer managed key.

Clip events and training requests are queued the same way: SSL only, one data key per queue and
hour (KMS requests stay a handful per hour whatever the rate), a DLQ that keeps what failed for 14
days. What differs (visibility timeout, retention, receives before the DLQ) is an argument.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sqs as sqs
from constructs import Construct

DLQ_RETENTION = cdk.Duration.days(14)
DATA_KEY_REUSE = cdk.Duration.hours(1)


def queue_with_dlq(
    scope: Construct,
    queue_id: str,
    *,
    key: kms.IKey,
    visibility_timeout: cdk.Duration,
    retention: cdk.Duration,
    max_receive_count: int,
) -> tuple[sqs.Queue, sqs.Queue]:
    """(queue, its DLQ) as children of `scope`: `queue_id` and "DeadLetters"."""
    dlq = sqs.Queue(
        scope,
        "DeadLetters",
        encryption=sqs.QueueEncryption.KMS,
        encryption_master_key=key,
        data_key_reuse=DATA_KEY_REUSE,
        enforce_ssl=True,
        retention_period=DLQ_RETENTION,
    )
    queue = sqs.Queue(
        scope,
        queue_id,
        encryption=sqs.QueueEncryption.KMS,
        encryption_master_key=key,
        data_key_reuse=DATA_KEY_REUSE,
        enforce_ssl=True,
        visibility_timeout=visibility_timeout,
        retention_period=retention,
        dead_letter_queue=sqs.DeadLetterQueue(queue=dlq, max_receive_count=max_receive_count),
    )
    return queue, dlq
