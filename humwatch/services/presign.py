"""presign_upload: validate a device's upload request and answer with a presigned PUT URL.

The thing name comes from the MQTT topic (the IoT rule's `topic(2)`), never from the payload, and
the key is built by `contracts.clip_key` from that name, so no request can reach another thing's
prefix. The URL's signature covers Content-MD5 and Content-Type: S3 refuses any body whose MD5
differs from what the device announced (which also pins the size).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from pydantic import ValidationError

from humwatch import contracts as c
from humwatch.config import MAX_URL_EXPIRY_S, PresignSettings
from humwatch.errors import RequestRejected
from humwatch.observability import Metric, count, logger

MAX_FUTURE_SKEW = timedelta(days=1)


class ReasonCode:
    INVALID_REQUEST = "invalid_request"
    BAD_CLIP_ID = "bad_clip_id"
    BAD_CONTENT_TYPE = "unsupported_content_type"
    TOO_LARGE = "too_large"
    BAD_MD5 = "bad_md5"
    BAD_CAPTURED_AT = "bad_captured_at"
    BAD_THING = "bad_thing"


class UrlSigner(Protocol):
    def presign_put(self, key: str, *, content_type: str, content_md5: str, expires_in: int) -> str: ...


class ResponsePublisher(Protocol):
    def publish(self, topic: str, payload: dict[str, Any], *, qos: int = 1) -> None: ...


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class PresignDeps:
    settings: PresignSettings
    clips: UrlSigner
    channel: ResponsePublisher
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
            f"content_type {request.content_type!r} not allowed (use one of {allowed})",
            code=ReasonCode.BAD_CONTENT_TYPE,
        )
    if request.size > max_bytes:
        raise RequestRejected(
            f"size {request.size} exceeds the limit of {max_bytes} bytes", code=ReasonCode.TOO_LARGE
        )
    decode_md5(request.md5)
    captured = request.captured_at
    if captured.tzinfo is None:
        raise RequestRejected("captured_at must carry a timezone (UTC 'Z')", code=ReasonCode.BAD_CAPTURED_AT)
    if captured > now + MAX_FUTURE_SKEW:
        raise RequestRejected(
            f"captured_at {c.format_timestamp(captured)} is in the future (device clock?)",
            code=ReasonCode.BAD_CAPTURED_AT,
        )
    if captured < now - max_age:
        raise RequestRejected(
            f"captured_at {c.format_timestamp(captured)} is older than {max_age.days} days",
            code=ReasonCode.BAD_CAPTURED_AT,
        )
    return request


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


def _clip_id_of(payload: Mapping[str, Any]) -> str | None:
    value = payload.get("clip_id")
    return str(value)[:64] if value is not None else None


def handle_upload_request(thing: str, payload: Mapping[str, Any], deps: PresignDeps) -> dict[str, Any]:
    """Validate, sign, answer the device on its response topic; return the answer sent."""
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
        response = build_upload_response(
            thing, request, signer=deps.clips, now=now, expiry_s=settings.url_expiry_s
        )
        answer = response.model_dump()
        count(Metric.UPLOADS_PRESIGNED)
        logger.info("upload presigned", extra={"key": response.key, "size": request.size})
    except RequestRejected as exc:
        answer = c.UploadError(
            clip_id=_clip_id_of(payload), error=c.ErrorBody(code=exc.code, message=exc.message)
        ).model_dump()
        count(Metric.UPLOADS_REFUSED)
        logger.warning("upload request rejected", extra={"code": exc.code, "reason": exc.message})
    if c.is_valid_thing_name(thing):
        deps.channel.publish(c.upload_response_topic(thing), answer, qos=1)
    return answer
