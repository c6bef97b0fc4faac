"""console_api Lambda: the operator console's API behind API Gateway (HTTP API, payload 2.0).

API Gateway's JWT authorizer (Cognito) sits on every route, so every event carries verified
claims; the routes, the group checks and the error statuses are `humwatch.console.routes`.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from humwatch.console.routes import app
from humwatch.observability import log_metrics, logger, tracer


@logger.inject_lambda_context(clear_state=True, correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
