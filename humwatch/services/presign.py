"""presign_upload: validate a device's upload request and answer with a presigned PUT URL.

The thing name comes from the MQTT topic (the IoT rule's `topic(2)`), never from the payload, and
the key is built by `contracts.clip_key` from that name, so no request can reach another thing's
prefix. The URL's signature covers Content-MD5 and Content-Type: S3 refuses any body whose MD5
differs from what the device announced (which also pins the size).

Order: validate (any payload: every field, type and range, nothing trusted), then count the
request against the device's hourly quota (`maxUploadsPerHour`; only valid requests count, so a
buggy device cannot lock itself out with garbage), then sign. Every refusal is answered on the
device's response topic as `{"clip_id", "error": {"code", "message"}}` (plus `retry_after_s` for
`quota_exceeded`) and signs nothing; a request whose topic names no valid thing cannot be answered
and is dropped with a metric.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from pydantic import ValidationError

from humwatch import contracts as c
from humwatch.config import MAX_URL_EXPIRY_S, PresignSettings
from humwatch.errors import QuotaExceeded, RequestRejected
from humwatch.observability import Metric, count, logger

MAX_FUTURE_SKEW = timedelta(days=1)
# What a clip may claim about itself (the decoder checks the audio again after the upload).
SAMPLE_RATES = (8_000, 192_000)
MAX_DURATION_S = 600.0
HOUR = timedelta(hours=1)


class ReasonCode:
    INVALID_REQUEST = "invalid_request"
    BAD_CLIP_ID = "bad_clip_id"
    BAD_CONTENT_TYPE = "unsupported_content_type"
    TOO_LARGE = "too_large"
    BAD_MD5 = "bad_md5"
    BAD_CAPTURED_AT = "bad_captured_at"
    BAD_THING = "bad_thing"
    QUOTA_EXCEEDED = QuotaExceeded.code


class UrlSigner(Protocol):
    def presign_put(self, key: str, *, content_type: str, content_md5: str, expires_in: int) -> str: ...


class ResponsePublisher(Protocol):
    def publish(self, topic: str, payload: dict[str, Any], *, qos: int = 1) -> None: ...


class UploadCounter(Protocol):
    """`humwatch.dal.upload_quotas.UploadQuotas`: count one upload in `at`'s hour unless `limit`
    were already counted (None then)."""

    def take(self, thing: str, at: datetime, *, limit: int) -> int | None: ...


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class PresignDeps:
    settings: PresignSettings
    clips: UrlSigner
    channel: ResponsePublisher
    quotas: UploadCounter
    clock: Callable[[], datetime] = field(default=_utcnow)


def decode_md5(value: str) -> bytes:
    """The Content-MD5 header: base64 of the 16-byte digest (not hex)."""
    try:
        digest = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise RequestRejected("md5 must be the base64 of the MD5 digest", code=ReasonCode.BAD_MD5) from exc
    if len(digest) != 16:
        raise RequestRejected(
            f"md5 must encode 16 bytes, got {len(digest)} (send base64, not hex)", code=ReasonCode.BAD_MD5
        )
    return digest


def validate_upload_request(
    thing: str,
    payload: Mapping[str, Any],
    *,
    now: datetime,
    max_bytes: int,
    max_age: timedelta,
) -> c.UploadRequest:
    """Check everything about a request before signing anything; RequestRejected(code) if bad."""
    if not c.is_valid_thing_name(thing):
        raise RequestRejected(f"invalid thing name {thing!r}", code=ReasonCode.BAD_THING)
    try:
        request = c.UploadRequest.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "request"
        code = ReasonCode.BAD_CLIP_ID if where == "clip_id" else ReasonCode.INVALID_REQUEST
        if where == "captured_at":
            code = ReasonCode.BAD_CAPTURED_AT
        raise RequestRejected(f"{where}: {first.get('msg', 'invalid')}", code=code) from None
    if request.content_type not in c.CONTENT_TYPES:
        allowed = ", ".join(sorted(c.CONTENT_TYPES))
        raise RequestRejected(
            f"content_type {request.content_type[:64]!r} not allowed (use one of {allowed})",
            code=ReasonCode.BAD_CONTENT_TYPE,
        )
    if request.size > max_bytes:
        raise RequestRejected(
            f"size {request.size} exceeds the limit of {max_bytes} bytes", code=ReasonCode.TOO_LARGE
        )
    decode_md5(request.md5)
    low, high = SAMPLE_RATES
    if not low <= request.sample_rate <= high:
        raise RequestRejected(
            f"sample_rate {request.sample_rate} is outside {low}-{high} Hz", code=ReasonCode.INVALID_REQUEST
        )
    if not (math.isfinite(request.duration_s) and request.duration_s <= MAX_DURATION_S):
        raise RequestRejected(
            f"duration_s must be a finite number of seconds up to {MAX_DURATION_S:g}",
            code=ReasonCode.INVALID_REQUEST,
        )
    _check_captured_at(request.captured_at, now=now, max_age=max_age)
    return request


def _check_captured_at(captured: datetime, *, now: datetime, max_age: timedelta) -> None:
    if captured.tzinfo is None:
        raise RequestRejected("captured_at must carry a timezone (UTC 'Z')", code=ReasonCode.BAD_CAPTURED_AT)
    try:
        in_future = captured > now + MAX_FUTURE_SKEW
        too_old = captured < now - max_age
    except OverflowError:  # e.g. 0001-01-01 with a positive offset: before year 1 in UTC
        in_future, too_old = captured.year > now.year, captured.year <= now.year
    if in_future:
        raise RequestRejected(
            f"captured_at {captured.isoformat()} is in the future (device clock?)",
            code=ReasonCode.BAD_CAPTURED_AT,
        )
    if too_old:
        raise RequestRejected(
            f"captured_at {captured.isoformat()} is older than {max_age.days} days",
            code=ReasonCode.BAD_CAPTURED_AT,
        )


def build_upload_response(
    thing: str, request: c.UploadRequest, *, signer: UrlSigner, now: datetime, expiry_s: int
) -> c.UploadResponse:
    expiry_s = min(expiry_s, MAX_URL_EXPIRY_S)
    ext = c.CONTENT_TYPES[request.content_type]
    key = c.clip_key(thing, request.captured_at, request.clip_id, ext)
    url = signer.presign_put(
        key, content_type=request.content_type, content_md5=request.md5, expires_in=expiry_s
    )
    return c.UploadResponse(
        clip_id=str(request.clip_id),
        url=url,
        headers={"Content-Type": request.content_type, "Content-MD5": request.md5},
        key=key,
        expires_at=c.format_timestamp(now + timedelta(seconds=expiry_s)),
    )


def take_upload_quota(thing: str, quotas: UploadCounter, *, now: datetime, limit: int) -> int:
    """Count this upload against the device's quota for the clock hour (UTC); QuotaExceeded with
    the seconds until the next hour when `limit` URLs were already granted in this one."""
    used = quotas.take(thing, now, limit=limit)
    if used is not None:
        return used
    next_hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0) + HOUR
    retry_after_s = max(1, math.ceil((next_hour - now).total_seconds()))
    raise QuotaExceeded(
        f"upload quota of {limit} per hour is used up; keep the clip and ask again in {retry_after_s} s",
        retry_after_s=retry_after_s,
    )


def _clip_id_of(payload: Mapping[str, Any]) -> str | None:
    """The request's clip id echoed back (only a string: a device that sent anything else cannot
    be matching answers by it)."""
    value = payload.get("clip_id")
    return value[:64] if isinstance(value, str) else None


def refusal(payload: Mapping[str, Any], exc: RequestRejected) -> dict[str, Any]:
    """The contract's error answer; `retry_after_s` only when there is one."""
    retry_after_s = exc.retry_after_s if isinstance(exc, QuotaExceeded) else None
    error = c.ErrorBody(code=exc.code, message=exc.message, retry_after_s=retry_after_s)
    answer = c.UploadError(clip_id=_clip_id_of(payload), error=error).model_dump()
    if retry_after_s is None:
        del answer["error"]["retry_after_s"]
    return answer


def handle_upload_request(thing: str, payload: Mapping[str, Any], deps: PresignDeps) -> dict[str, Any]:
    """Validate, count, sign, answer the device on its response topic; return the answer sent."""
    now = deps.clock()
    settings = deps.settings
    answer: dict[str, Any]
    try:
        request = validate_upload_request(
            thing,
            payload,
            now=now,
            max_bytes=settings.max_clip_bytes,
            max_age=timedelta(days=settings.max_clip_age_days),
        )
        used = take_upload_quota(thing, deps.quotas, now=now, limit=settings.max_uploads_per_hour)
        response = build_upload_response(
            thing, request, signer=deps.clips, now=now, expiry_s=settings.url_expiry_s
        )
        answer = response.model_dump()
        count(Metric.UPLOADS_PRESIGNED)
        logger.info(
            "upload presigned", extra={"key": response.key, "size": request.size, "uploads_this_hour": used}
        )
    except QuotaExceeded as exc:
        answer = refusal(payload, exc)
        count(Metric.UPLOAD_QUOTA_EXCEEDED)
        logger.warning(
            "upload quota exceeded",
            extra={"limit": settings.max_uploads_per_hour, "retry_after_s": exc.retry_after_s},
        )
    except RequestRejected as exc:
        answer = refusal(payload, exc)
        if not c.is_valid_thing_name(thing):
            # No topic to answer on: dropped, and counted so a misrouted rule shows up.
            count(Metric.UPLOAD_REQUESTS_DROPPED)
            logger.warning("upload request dropped: invalid thing name", extra={"reason": exc.message})
            return answer
        count(Metric.UPLOADS_REFUSED)
        logger.warning("upload request rejected", extra={"code": exc.code, "reason": exc.message})
    deps.channel.publish(c.upload_response_topic(thing), answer, qos=1)
    return answer
