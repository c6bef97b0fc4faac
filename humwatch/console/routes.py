"""The console API's routes (Powertools `APIGatewayHttpResolver`, HTTP API payload 2.0).

Thin: each route checks the caller's group, parses its input into a typed model and calls one
view. API Gateway's JWT authorizer has answered 401 before any of this runs. Errors become HTTP
statuses in one place (`error_status`), always as `{"message": ...}` and never with a trace.
CORS headers are API Gateway's to add (its CORS configuration replaces whatever a function
returns); the function adds the same ones for its one allowed origin, so it reads the same
without that configuration.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, TypeVar

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from pydantic import BaseModel, ValidationError

from humwatch.console import auth, views
from humwatch.console import models as m
from humwatch.errors import (
    AccessDenied,
    AlreadyExists,
    ConflictError,
    GateFailed,
    HumwatchError,
    NotFound,
    RequestRejected,
    TransientError,
    Unauthenticated,
)
from humwatch.observability import logger
from humwatch.ops.timeparse import TimeParseError
from humwatch.services.wiring import console_deps

ModelT = TypeVar("ModelT", bound=BaseModel)

# The one table from domain error to HTTP status; the first class that matches wins.
ERROR_STATUS: tuple[tuple[type[HumwatchError], HTTPStatus], ...] = (
    (Unauthenticated, HTTPStatus.UNAUTHORIZED),
    (AccessDenied, HTTPStatus.FORBIDDEN),
    (NotFound, HTTPStatus.NOT_FOUND),
    (GateFailed, HTTPStatus.CONFLICT),
    (ConflictError, HTTPStatus.CONFLICT),
    (AlreadyExists, HTTPStatus.CONFLICT),
    (RequestRejected, HTTPStatus.BAD_REQUEST),
    (TimeParseError, HTTPStatus.BAD_REQUEST),
    (TransientError, HTTPStatus.SERVICE_UNAVAILABLE),
)
_UNAVAILABLE = "the service is busy: try again in a moment"
_INTERNAL = "internal error (logged)"

app = APIGatewayHttpResolver()


# --- routes -------------------------------------------------------------------------------------------
@app.get("/me")
def get_me() -> dict[str, Any]:
    return _json(views.me(_reader()))


@app.get("/devices")
def get_devices() -> dict[str, Any]:
    _reader()
    return _json(views.devices(console_deps(), now=_now()))


@app.get("/devices/<thing>")
def get_device(thing: str) -> dict[str, Any]:
    _reader()
    return _json(views.device(console_deps(), thing, now=_now()))


@app.get("/devices/<thing>/clips")
def get_clips(thing: str) -> dict[str, Any]:
    _reader()
    query = _parse(m.ClipQuery, app.current_event.query_string_parameters or {})
    return _json(views.clips(console_deps(), thing, query, now=_now()))


@app.get("/devices/<thing>/clips/<clip_id>")
def get_clip(thing: str, clip_id: str) -> dict[str, Any]:
    _reader()
    return _json(views.clip_detail(console_deps(), thing, clip_id, now=_now()))


@app.post("/devices/<thing>/clips/<clip_id>/label")
def post_label(thing: str, clip_id: str) -> dict[str, Any]:
    caller = _operator()
    body = _parse(m.LabelRequest, _body())
    return _json(views.label(console_deps(), caller, thing, clip_id, body))


@app.post("/devices/<thing>/ack")
def post_ack(thing: str) -> dict[str, Any]:
    caller = _operator()
    return _json(views.acknowledge(console_deps(), caller, thing, now=_now()))


@app.get("/models")
def get_models() -> dict[str, Any]:
    _reader()
    return _json(views.model_list(console_deps()))


@app.get("/devices/<thing>/candidates")
def get_candidates(thing: str) -> dict[str, Any]:
    _reader()
    return _json(views.candidates(console_deps(), thing))


@app.post("/devices/<thing>/promote")
def post_promote(thing: str) -> dict[str, Any]:
    caller = _operator()
    body = _parse(m.PromoteRequest, _body())
    return _json(views.promote(console_deps(), caller, thing, body, now=_now()))


@app.post("/devices/<thing>/rollback")
def post_rollback(thing: str) -> dict[str, Any]:
    caller = _operator()
    return _json(views.rollback(console_deps(), caller, thing, now=_now()))


# --- errors and CORS ----------------------------------------------------------------------------------
def error_status(exc: Exception) -> tuple[HTTPStatus, str]:
    """(status, message) for any exception: a domain error's own message for what the caller
    can act on; for the rest a fixed sentence (the details stay in the log)."""
    for error_class, status in ERROR_STATUS:
        if isinstance(exc, error_class):
            return status, (_UNAVAILABLE if status is HTTPStatus.SERVICE_UNAVAILABLE else exc.message)
    return HTTPStatus.INTERNAL_SERVER_ERROR, _INTERNAL


@app.exception_handler(Exception)
def handle_error(exc: Exception) -> Response:
    status, message = error_status(exc)
    if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
        logger.exception("console request failed")
    return _response(status, {"message": message}, headers=_cors_headers())


@app.not_found
def handle_not_found(exc: Exception) -> Response:
    # What API Gateway answers for a route it does not have.
    return _response(HTTPStatus.NOT_FOUND, {"message": "Not Found"})


def cors(resolver: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response:
    response = next_middleware(resolver)
    response.headers.update(_cors_headers())
    return response


app.use([cors])


# --- helpers ------------------------------------------------------------------------------------------
def _caller() -> auth.Caller:
    caller = auth.caller_from_claims(auth.claims_of(app.current_event.raw_event))
    logger.append_keys(user=caller.username)
    return caller


def _reader() -> auth.Caller:
    return auth.require_reader(_caller())


def _operator() -> auth.Caller:
    return auth.require_operator(_caller())


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _body() -> Any:
    text = app.current_event.decoded_body or ""
    if not text.strip():
        return {}
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise RequestRejected("the request body is not JSON") from None


def _parse(model: type[ModelT], data: Any) -> ModelT:
    """Validate input into `model`; a 400 naming each bad field (pydantic's wording, no input echoed)."""
    if not isinstance(data, Mapping):
        raise RequestRejected("the request body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}" for err in exc.errors()[:5]
        )
        raise RequestRejected(f"invalid request: {problems}") from None


def _json(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json")


def _response(status: HTTPStatus, body: dict[str, Any], *, headers: dict[str, str] | None = None) -> Response:
    return Response(
        status_code=status.value,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body),
        headers=headers or {},
    )


def _cors_headers() -> dict[str, str]:
    headers = {"Vary": "Origin"}
    origin = (app.current_event.headers or {}).get("origin")
    try:
        allowed = console_deps().settings.console_origin
    except HumwatchError:  # misconfigured: the error itself says so; allow no origin meanwhile
        return headers
    if origin and origin == allowed:
        headers["Access-Control-Allow-Origin"] = origin
    return headers
