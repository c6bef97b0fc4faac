"""boto3 clients with explicit retries/timeouts, and the one mapping of AWS failures to domain errors.

Every other `humwatch.dal` module builds its clients here and wraps its calls in
`translate_errors()`, so "is this worth retrying?" is decided once: throttling, timeouts,
connection failures and 5xx become `TransientError` (the SQS record goes back to the queue);
anything else propagates unchanged (a bug or a permissions problem: retried by the queue, then DLQ).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from humwatch.errors import TransientError

# Lambda's own budget is short (process_clip: 60 s); a few quick standard-mode retries absorb
# blips, anything longer belongs to the queue's redelivery.
BOTO_CONFIG = Config(
    retries={"max_attempts": 3, "mode": "standard"},
    connect_timeout=3,
    read_timeout=10,
    tcp_keepalive=True,
)

# S3 presigned URLs must be SigV4 (SigV2 is refused in newer regions) so the signature covers
# Content-MD5 and Content-Type as signed headers.
S3_CONFIG = BOTO_CONFIG.merge(Config(signature_version="s3v4"))

DEFAULT_REGION = "us-east-1"

THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "TransactionInProgressException",
        "SlowDown",
        "RequestTimeout",
        "RequestTimeoutException",
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "KMSThrottlingException",
    }
)


def region_name() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION


def endpoint_url_from_env() -> str | None:
    """`AWS_ENDPOINT_URL` points every client at the local moto server (unset in AWS)."""
    return os.environ.get("AWS_ENDPOINT_URL") or None


_SESSION: boto3.session.Session | None = None
_SESSION_LOCK = threading.RLock()


def session() -> boto3.session.Session:
    """One boto3 session per process: its loaders cache the service models, so building a client
    costs milliseconds instead of re-reading JSON (cold starts, tests)."""
    global _SESSION
    with _SESSION_LOCK:
        if _SESSION is None:
            _SESSION = boto3.session.Session()
        return _SESSION


def client(service: str, *, endpoint_url: str | None = None, region: str | None = None) -> Any:
    with _SESSION_LOCK:  # creating clients from one session is not thread-safe
        return session().client(
            service,  # type: ignore[call-overload]
            endpoint_url=endpoint_url or endpoint_url_from_env(),
            region_name=region or region_name(),
            config=S3_CONFIG if service == "s3" else BOTO_CONFIG,
        )


def resource(service: str, *, endpoint_url: str | None = None, region: str | None = None) -> Any:
    with _SESSION_LOCK:
        return session().resource(
            service,  # type: ignore[call-overload]
            endpoint_url=endpoint_url or endpoint_url_from_env(),
            region_name=region or region_name(),
            config=BOTO_CONFIG,
        )


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, ClientError):
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        return error_code(exc) in THROTTLING_CODES or status >= 500 or status == 429
    return isinstance(
        exc, ReadTimeoutError | ConnectTimeoutError | EndpointConnectionError | ConnectionClosedError
    )


def to_domain_error(exc: BaseException) -> BaseException:
    """The domain error an AWS failure stands for (TransientError), or the failure itself."""
    if is_transient(exc):
        detail = error_code(exc) if isinstance(exc, ClientError) else type(exc).__name__
        return TransientError(f"AWS call failed transiently ({detail}): {exc}")
    return exc


@contextmanager
def translate_errors() -> Iterator[None]:
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        mapped = to_domain_error(exc)
        if mapped is exc:
            raise
        raise mapped from exc
