"""presign_upload Lambda: the IoT rule on `humwatch/+/upload/request` (contracts.UPLOAD_REQUEST_RULE_SQL:
the contract's fields by name plus `topic(2) AS thing`, so the thing name is only the topic's).

Answers the device on `humwatch/{thing}/upload/response` with a presigned PUT URL or an error.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from humwatch.observability import logger, metrics, tracer
from humwatch.services.events import IotUploadRequestEvent
from humwatch.services.presign import handle_upload_request
from humwatch.services.wiring import presign_deps


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=IotUploadRequestEvent)
def handler(event: IotUploadRequestEvent, context: LambdaContext) -> dict[str, Any]:
    logger.append_keys(device=event.thing)
    return handle_upload_request(event.thing, event.payload(), presign_deps())
