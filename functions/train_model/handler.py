"""train_model Lambda: SQS training requests (one per invocation) -> a device's candidate model.

A request that raised (another run holds it, a throttled dependency) is reported in
`batchItemFailures` and comes back after the visibility timeout; the DLQ is the backstop. A run
killed mid-way leaves no candidate anyone lists, and its retry takes the request over
(`humwatch.services.train`).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from humwatch.observability import log_metrics, logger, tracer
from humwatch.services.train import train_from_message
from humwatch.services.wiring import train_deps

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@tracer.capture_method
def record_handler(record: SQSRecord) -> str:
    try:
        return train_from_message(record.body, train_deps()).outcome
    except Exception:
        logger.exception(
            "training request failed; it goes back to the queue", extra={"message_id": record.message_id}
        )
        raise


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
