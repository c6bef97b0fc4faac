"""process_clip Lambda: SQS batch of S3 ObjectCreated notifications for `clips/`.

Each record is processed on its own; only records that raised (transient failures) are reported
in `batchItemFailures` and come back from the queue (then the DLQ after maxReceiveCount).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from humwatch.observability import log_metrics, logger, tracer
from humwatch.services.process import process_message
from humwatch.services.wiring import process_deps

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@tracer.capture_method
def record_handler(record: SQSRecord) -> int:
    try:
        return len(process_message(record.body, process_deps()))
    except Exception:
        logger.exception("record failed; it goes back to the queue", extra={"message_id": record.message_id})
        raise


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
