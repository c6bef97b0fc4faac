"""drift_check Lambda: EventBridge schedule (daily). Writes one drift report per device."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from humwatch.observability import logger, metrics, tracer
from humwatch.services.drift_check import run_drift_check
from humwatch.services.events import ScheduledEvent
from humwatch.services.wiring import drift_deps


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=ScheduledEvent)
def handler(event: ScheduledEvent, context: LambdaContext) -> dict[str, Any]:
    return run_drift_check(drift_deps()).as_dict()
