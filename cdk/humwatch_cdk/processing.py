"""Clip processing: S3 `ObjectCreated` on clips/ -> KMS-encrypted SQS (+ DLQ) -> `process_clip`."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from constructs import Construct

from humwatch.contracts import AUDIO_SUFFIXES, CLIPS_PREFIX, PipelineSettings
from humwatch_cdk.function import HumwatchFunction
from humwatch_cdk.queues import queue_with_dlq


class ClipProcessing(Construct):
    """Queue settings come from `humwatch.contracts.PIPELINE`, shared with the local stack."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.Key,
        bucket: s3.IBucket,
        process_clip: HumwatchFunction,
        pipeline: PipelineSettings,
        max_concurrency: int,
    ) -> None:
        super().__init__(scope, construct_id)
        # Both queues use the stack's customer managed key (the topics' key: no second key to pay
        # for). S3 can only deliver event notifications to a KMS-encrypted queue whose key policy
        # lets it, which the AWS managed SQS key's never does; CDK's SqsDestination adds that grant.
        self.queue, self.dlq = queue_with_dlq(
            self,
            "ClipEvents",
            key=key,
            visibility_timeout=cdk.Duration.seconds(pipeline.clip_queue_visibility_timeout_s),
            retention=cdk.Duration.days(4),
            max_receive_count=pipeline.clip_max_receive_count,
        )
        for suffix in AUDIO_SUFFIXES:
            bucket.add_event_notification(
                s3.EventType.OBJECT_CREATED,
                s3n.SqsDestination(self.queue),
                s3.NotificationKeyFilter(prefix=CLIPS_PREFIX, suffix=suffix),
            )
        self.event_source = event_sources.SqsEventSource(
            self.queue,
            batch_size=pipeline.clip_batch_size,
            max_batching_window=cdk.Duration.seconds(pipeline.clip_batch_window_s),
            report_batch_item_failures=True,
            max_concurrency=max_concurrency,
        )
        process_clip.function.add_event_source(self.event_source)
