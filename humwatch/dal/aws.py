"""boto3 clients with explicit retries/timeouts, and the one table of what AWS error codes mean.

Every other `humwatch.dal` module builds its clients here and wraps its calls in
`translate_errors()`, so "is this worth retrying?" is decided once, in `ERROR_CODES`: each S3 and
DynamoDB error code humwatch can meet (and the generic ones other services share) is sorted into
an `AwsErrorKind`, and each kind has one `Disposition` (`DISPOSITIONS`):

- retried: throttling, timeouts, connection failures and 5xx become `TransientError` (the SQS
  record goes back to the queue); deployment faults (permissions, a missing bucket or table, a
  disabled key) and requests AWS cannot accept (a bug in humwatch) propagate unchanged and are
  retried too, until the queue's DLQ and its alarm hold them: the clip is not at fault, and once
  the deployment or code is fixed the DLQ can be redriven without losing a clip;
- rejected: a missing object or item (`is_not_found`) and a ranged read that cannot be satisfied
  (`is_range_not_satisfiable`: for `bytes=0-N`, an empty object) are the input's fault; the dal
  module that made the call turns them into its domain error (`NotFound`, `AudioRejected`);
- a condition the caller set did not hold (`is_condition_failed`): the caller's answer (a
  duplicate write, a lost optimistic lock, a full quota).

A code not in the table is retried (DLQ as the backstop) unless its HTTP status says what it is
(5xx and 429: transient): an unexpected failure parks the record in the DLQ, it is never recorded
as bad audio.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from enum import StrEnum
from types import MappingProxyType
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    ReadTimeoutError,
)

from humwatch.errors import Disposition, TransientError

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


class AwsErrorKind(StrEnum):
    """What an AWS error code says about the call that got it (see `DISPOSITIONS`)."""

    TRANSIENT = "transient"  # throttling, timeouts, 5xx: may succeed later
    NOT_FOUND = "not_found"  # the object (or version) named does not exist
    RANGE_NOT_SATISFIABLE = "range_not_satisfiable"  # a ranged GET past the end: `bytes=0-N` of 0 bytes
    CONDITION_FAILED = "condition_failed"  # a condition the caller set did not hold
    DEPLOYMENT = "deployment"  # permissions, credentials, a missing bucket/table/topic/key, wrong region
    BAD_REQUEST = "bad_request"  # AWS cannot accept the request humwatch built (a bug in humwatch)
    UNKNOWN = "unknown"  # not in the table and no status that says more


# Retry vs reject, per kind. Deployment faults and bad requests are retried on purpose: the clip is
# not at fault, so the record goes back to the queue until the DLQ holds it (its alarm tells the
# operator), and after the fix a DLQ redrive scores it. CONDITION_FAILED is answered by the caller
# that set the condition (TableClient returns False/None); if one ever escapes it is retried.
DISPOSITIONS: Mapping[AwsErrorKind, Disposition] = MappingProxyType(
    {
        AwsErrorKind.TRANSIENT: Disposition.RETRY,
        AwsErrorKind.NOT_FOUND: Disposition.REJECT,
        AwsErrorKind.RANGE_NOT_SATISFIABLE: Disposition.REJECT,
        AwsErrorKind.CONDITION_FAILED: Disposition.RETRY,
        AwsErrorKind.DEPLOYMENT: Disposition.RETRY,
        AwsErrorKind.BAD_REQUEST: Disposition.RETRY,
        AwsErrorKind.UNKNOWN: Disposition.RETRY,
    }
)

_T, _NF, _RANGE, _COND, _DEP, _BAD = (
    AwsErrorKind.TRANSIENT,
    AwsErrorKind.NOT_FOUND,
    AwsErrorKind.RANGE_NOT_SATISFIABLE,
    AwsErrorKind.CONDITION_FAILED,
    AwsErrorKind.DEPLOYMENT,
    AwsErrorKind.BAD_REQUEST,
)

# The one table. S3: every code of the S3 error-code list that an object or bucket call can return,
# plus the bare status codes botocore reports for HEAD (no body, so no code). DynamoDB: every
# error its service model declares plus the generic ones of the JSON protocol. Then the generic
# codes of the other services humwatch calls (SNS, iot-data, KMS through SSE).
# tests/unit/test_aws_errors.py checks that every error S3's and DynamoDB's botocore models
# declare is here.
ERROR_CODES: Mapping[str, AwsErrorKind] = MappingProxyType(
    {
        # --- S3 ---------------------------------------------------------------------------------
        "InternalError": _T,
        "ServiceUnavailable": _T,
        "SlowDown": _T,
        "RequestTimeout": _T,
        "OperationAborted": _T,  # a conflicting operation on the bucket is in progress
        "TemporaryRedirect": _T,  # DNS of a new bucket not yet propagated
        "ExpiredToken": _T,  # the function's role credentials rotated: the next call has new ones
        "TokenRefreshRequired": _T,
        "RequestTimeTooSkewed": _T,
        "500": _T,
        "502": _T,
        "503": _T,
        "504": _T,
        "NoSuchKey": _NF,
        "NoSuchVersion": _NF,
        "404": _NF,  # HEAD of a missing key (HEAD of a missing bucket reads the same)
        "InvalidRange": _RANGE,
        "416": _RANGE,
        "PreconditionFailed": _COND,  # If-Match: the object was replaced since the event
        "412": _COND,
        "NotModified": _COND,
        "304": _COND,
        "AccessDenied": _DEP,
        "403": _DEP,
        "AllAccessDisabled": _DEP,
        "AccountProblem": _DEP,
        "NotSignedUp": _DEP,
        "InvalidAccessKeyId": _DEP,
        "InvalidToken": _DEP,
        "SignatureDoesNotMatch": _DEP,
        "AuthorizationHeaderMalformed": _DEP,  # the client's region is not the bucket's
        "PermanentRedirect": _DEP,
        "Redirect": _DEP,
        "301": _DEP,
        "NoSuchBucket": _DEP,
        "InvalidBucketName": _DEP,
        "InvalidBucketState": _DEP,
        "BucketAlreadyExists": _DEP,
        "BucketAlreadyOwnedByYou": _DEP,
        "InvalidPayer": _DEP,
        "UserKeyMustBeSpecified": _DEP,
        "EncryptionTypeMismatch": _DEP,
        # Archived by a lifecycle rule someone added (humwatch never archives clips): the object
        # is readable again after a restore, so retry into the DLQ rather than reject the clip.
        "InvalidObjectState": _DEP,
        "ObjectNotInActiveTierError": _DEP,
        "KMS.DisabledException": _DEP,
        "KMS.KMSInvalidStateException": _DEP,
        "KMS.NotFoundException": _DEP,
        "KMS.AccessDeniedException": _DEP,
        "KMS.ThrottlingException": _T,
        "InvalidArgument": _BAD,
        "InvalidRequest": _BAD,
        "400": _BAD,
        "BadDigest": _BAD,
        "InvalidDigest": _BAD,
        "EntityTooLarge": _BAD,
        "EntityTooSmall": _BAD,
        "KeyTooLongError": _BAD,
        "MetadataTooLarge": _BAD,
        "MalformedXML": _BAD,
        "MethodNotAllowed": _BAD,
        "405": _BAD,
        "MissingContentLength": _BAD,
        "IncompleteBody": _BAD,
        "InvalidURI": _BAD,
        "InvalidStorageClass": _BAD,
        "InvalidEncryptionAlgorithmError": _BAD,
        "InvalidPrefix": _BAD,
        "InvalidWriteOffset": _BAD,
        "UnsupportedMediaType": _BAD,
        "NotImplemented": _BAD,
        "NoSuchUpload": _BAD,
        "NoSuchPart": _BAD,  # a multipart part that does not exist (humwatch uploads in one part)
        "TooManyParts": _BAD,
        "IdempotencyParameterMismatch": _BAD,
        "ObjectAlreadyInActiveTierError": _BAD,
        "AnnotationLimitExceeded": _BAD,
        "AnnotationNameTooLong": _BAD,
        "InvalidAnnotationName": _BAD,
        "NoSuchAnnotation": _BAD,
        # --- DynamoDB ---------------------------------------------------------------------------
        "ProvisionedThroughputExceededException": _T,
        "ThrottlingException": _T,
        "RequestLimitExceeded": _T,
        "InternalServerError": _T,
        "TransactionConflictException": _T,
        "TransactionInProgressException": _T,
        "ReplicatedWriteConflictException": _T,
        "LimitExceededException": _T,  # too many control-plane operations at once
        "ResourceInUseException": _T,  # the table is being created or updated
        "TableInUseException": _T,
        "BackupInUseException": _T,
        "ExportConflictException": _T,
        "ImportConflictException": _T,
        "ConditionalCheckFailedException": _COND,
        "DuplicateItemException": _COND,
        # humwatch makes no transactions; the cancellation reasons would say which condition failed.
        "TransactionCanceledException": _COND,
        "ResourceNotFoundException": _DEP,  # the table (or an SNS/iot-data resource) is missing
        "TableNotFoundException": _DEP,
        "IndexNotFoundException": _DEP,
        "AccessDeniedException": _DEP,
        "UnrecognizedClientException": _DEP,
        "InvalidSignatureException": _DEP,
        "IncompleteSignature": _DEP,
        "MissingAuthenticationToken": _DEP,
        "MissingAuthenticationTokenException": _DEP,
        "ExpiredTokenException": _T,
        "TableAlreadyExistsException": _DEP,
        "GlobalTableAlreadyExistsException": _DEP,
        "GlobalTableNotFoundException": _DEP,
        "ReplicaAlreadyExistsException": _DEP,
        "ReplicaNotFoundException": _DEP,
        "BackupNotFoundException": _DEP,
        "ExportNotFoundException": _DEP,
        "ImportNotFoundException": _DEP,
        "PolicyNotFoundException": _DEP,
        "ContinuousBackupsUnavailableException": _DEP,
        "PointInTimeRecoveryUnavailableException": _DEP,
        "ValidationException": _BAD,  # also an item over 400 KB: humwatch's items are bounded
        "SerializationException": _BAD,
        "ItemCollectionSizeLimitExceededException": _BAD,  # only with local indexes (none here)
        "IdempotentParameterMismatchException": _BAD,
        "InvalidExportTimeException": _BAD,
        "InvalidRestoreTimeException": _BAD,
        # --- generic, SNS, iot-data, KMS --------------------------------------------------------
        "Throttling": _T,
        "ThrottledException": _T,
        "Throttled": _T,
        "RequestThrottled": _T,
        "RequestThrottledException": _T,
        "TooManyRequestsException": _T,
        "KMSThrottlingException": _T,
        "KMSThrottling": _T,
        "RequestTimeoutException": _T,
        "InternalFailure": _T,
        "InternalFailureException": _T,
        "InternalErrorException": _T,
        "ServiceUnavailableException": _T,
        "GatewayTimeoutException": _T,
        "ConcurrentAccess": _T,
        "AuthorizationError": _DEP,
        "ForbiddenException": _DEP,
        "UnauthorizedException": _DEP,
        "NotFound": _DEP,  # SNS: the topic does not exist
        "KMSAccessDenied": _DEP,
        "KMSDisabled": _DEP,
        "KMSInvalidState": _DEP,
        "KMSNotFound": _DEP,
        "KMSOptInRequired": _DEP,
        "OptInRequired": _DEP,
        "InvalidParameter": _BAD,
        "ParameterValueInvalid": _BAD,
        "InvalidRequestException": _BAD,
        "RequestEntityTooLargeException": _BAD,
        "MethodNotAllowedException": _BAD,
        "UnsupportedDocumentEncodingException": _BAD,
        "ConflictException": _COND,
    }
)

_TRANSIENT_TRANSPORT = (ReadTimeoutError, ConnectTimeoutError, EndpointConnectionError, ConnectionClosedError)


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


def regional_s3_client(*, endpoint_url: str | None = None, region: str | None = None) -> Any:
    """An S3 client whose presigned URLs name the bucket's regional host
    (`BUCKET.s3.REGION.amazonaws.com`, also in us-east-1): a browser page's Content-Security-Policy
    allows that host by name (the console's `media-src`). With an endpoint (moto), URLs point there."""
    endpoint = endpoint_url or endpoint_url_from_env()
    config = S3_CONFIG
    if not endpoint:
        config = S3_CONFIG.merge(
            Config(s3={"addressing_style": "virtual", "us_east_1_regional_endpoint": "regional"})
        )
    with _SESSION_LOCK:
        return session().client(
            "s3",  # type: ignore[call-overload]
            endpoint_url=endpoint,
            region_name=region or region_name(),
            config=config,
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


def http_status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def classify(exc: BaseException) -> AwsErrorKind:
    """The kind of an AWS failure: the table for a ClientError's code, then its HTTP status."""
    if isinstance(exc, ClientError):
        kind = ERROR_CODES.get(error_code(exc))
        if kind is not None:
            return kind
        status = http_status(exc)
        return AwsErrorKind.TRANSIENT if status >= 500 or status == 429 else AwsErrorKind.UNKNOWN
    if isinstance(exc, _TRANSIENT_TRANSPORT):
        return AwsErrorKind.TRANSIENT
    if isinstance(exc, NoCredentialsError):
        return AwsErrorKind.DEPLOYMENT
    if isinstance(exc, ParamValidationError):
        return AwsErrorKind.BAD_REQUEST
    return AwsErrorKind.UNKNOWN


def disposition_of(exc: BaseException) -> Disposition:
    return DISPOSITIONS[classify(exc)]


def is_transient(exc: BaseException) -> bool:
    return classify(exc) is AwsErrorKind.TRANSIENT


def is_not_found(exc: BaseException) -> bool:
    return classify(exc) is AwsErrorKind.NOT_FOUND


def is_range_not_satisfiable(exc: BaseException) -> bool:
    return classify(exc) is AwsErrorKind.RANGE_NOT_SATISFIABLE


def is_condition_failed(exc: BaseException) -> bool:
    return classify(exc) is AwsErrorKind.CONDITION_FAILED


def to_domain_error(exc: BaseException) -> BaseException:
    """TransientError for what is transient; anything else unchanged: the dal module that made the
    call knows what a missing object or a failed condition means for it, and the rest is retried
    by `humwatch.errors.disposition` (unknown exceptions are retried, the DLQ is the backstop)."""
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
