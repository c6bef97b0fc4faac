"""Fault injection for the fleet load test: S3 answering 500 for a while.

`S3Outage` is WSGI middleware in front of the local stack's moto server. It is installed only when
`LocalStackOptions(s3_fault_injection=True)` (off by default; `benchmarks/fleet_load.py` and its
test use it) and does nothing until `begin(duration_s)`. While an outage is on, every S3 request
gets `500 InternalError`, the answer S3 gives in a partial outage, whoever sends it: a device's PUT
to its presigned URL or process_clip's GET through boto3. The other services on the same port
(SQS, DynamoDB, SNS, IoT) pass through untouched. A request is S3's when its SigV4 credential
scope (the Authorization header, or a presigned URL's `X-Amz-Credential`) names the `s3` service.
A refused request never reaches moto, so no object is created and no event is sent.
"""

from __future__ import annotations

import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

S3_SCOPE = "/s3/aws4_request"
_ERROR_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b"<Error><Code>InternalError</Code>"
    b"<Message>We encountered an internal error. Please try again.</Message></Error>"
)


def is_s3_request(environ: dict[str, Any]) -> bool:
    """True when the request is signed for the S3 service (header or presigned URL)."""
    if S3_SCOPE in str(environ.get("HTTP_AUTHORIZATION", "")):
        return True
    query = urllib.parse.parse_qs(str(environ.get("QUERY_STRING", "")))
    return any(value.endswith(S3_SCOPE) for value in query.get("X-Amz-Credential", []))


class S3Outage:
    """`outage.wrap(app)` in front of moto; `outage.begin(30)` -> S3 answers 500 for 30 s."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._app: WsgiApp | None = None
        self._until = 0.0
        self._lock = threading.Lock()
        self.refused: Counter[str] = Counter()  # by HTTP method, over every outage

    def wrap(self, app: WsgiApp) -> WsgiApp:
        self._app = app
        return self

    def begin(self, duration_s: float) -> None:
        with self._lock:
            self._until = self._clock() + duration_s

    def end(self) -> None:
        with self._lock:
            self._until = 0.0

    @property
    def active(self) -> bool:
        return self._clock() < self._until

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if self._app is None:
            raise RuntimeError("S3Outage.wrap(app) was not called")
        if not (self.active and is_s3_request(environ)):
            return self._app(environ, start_response)
        method = str(environ.get("REQUEST_METHOD", "?"))
        with self._lock:
            self.refused[method] += 1
        # Read the body the client is sending (a clip): answering without reading it could reset
        # the connection, and the client would see a broken pipe instead of S3's 500.
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length:
            environ["wsgi.input"].read(length)
        start_response(
            "500 Internal Server Error",
            [
                ("Content-Type", "application/xml"),
                ("Content-Length", str(len(_ERROR_BODY))),
                ("x-amz-request-id", "LOCALS3OUTAGE"),
            ],
        )
        return [_ERROR_BODY]
