"""Model training: training requests -> KMS-encrypted SQS (+ DLQ) -> `train_model`, one per run.

process_clip sends a request when a device's baseline completes, and `humwatch model retrain`
sends one on an operator's word (it finds the queue through the `TrainQueueUrl` output).
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda_event_sources as event_sources
from constructs import Construct

from humwatch.contracts import PipelineSettings
from humwatch_cdk.function import HumwatchFunction
from humwatch_cdk.queues import DLQ_RETENTION, queue_with_dlq


class ModelTraining(Construct):
    """Queue settings come from `humwatch.contracts.PIPELINE`, shared with the local stack."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.Key,
        train_model: HumwatchFunction,
        pipeline: PipelineSettings,
        max_concurrency: int,
    ) -> None:
        super().__init__(scope, construct_id)
        # The stack's customer managed key, as the clip queues: requests name devices and time
        # windows, and one key for every queue and topic is one key to pay for and audit.
        self.queue, self.dlq = queue_with_dlq(
            self,
            "Requests",
            key=key,
            # 6x the function's timeout (AWS's advice for SQS event sources), so a request a run
            # still holds is not handed to a second run.
            visibility_timeout=cdk.Duration.seconds(pipeline.train_queue_visibility_timeout_s),
            # As long as the DLQ: a request that waits behind a long backlog is still worth running.
            retention=DLQ_RETENTION,
            max_receive_count=pipeline.train_max_receive_count,
        )
        # One request per invocation: a run is minutes of one device's clips, and a failure then
        # returns exactly that request to the queue. max_concurrency caps runs at once (the S3
        # reads and the bill), whatever the backlog.
        self.event_source = event_sources.SqsEventSource(
            self.queue,
            batch_size=1,
            report_batch_item_failures=True,
            max_concurrency=max_concurrency,
        )
        train_model.function.add_event_source(self.event_source)
