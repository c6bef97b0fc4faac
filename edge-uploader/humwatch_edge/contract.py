"""The device side of the upload contract (mirrors humwatch.contracts; tests check they agree).

The uploader must not import the cloud package, so the few shapes it needs are restated here.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

TOPIC_ROOT = "humwatch"
CONTENT_TYPE_FLAC = "audio/flac"
THING_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def upload_request_topic(thing: str) -> str:
    return f"{TOPIC_ROOT}/{thing}/upload/request"


def upload_response_topic(thing: str) -> str:
    return f"{TOPIC_ROOT}/{thing}/upload/response"


def telemetry_topic(thing: str) -> str:
    return f"{TOPIC_ROOT}/{thing}/telemetry"


# Requests and heartbeats go straight to their IoT rules with Basic Ingest (`$aws/rules/<rule>/`
# before the topic): IoT Core bills no messaging for them. The rule names are the stack's fixed ones.
BASIC_INGEST_PREFIX = "$aws/rules/"
UPLOAD_REQUEST_RULE = "humwatch_upload_request"
TELEMETRY_RULE = "humwatch_telemetry"


def upload_request_ingest_topic(thing: str) -> str:
    return f"{BASIC_INGEST_PREFIX}{UPLOAD_REQUEST_RULE}/{upload_request_topic(thing)}"


def telemetry_ingest_topic(thing: str) -> str:
    return f"{BASIC_INGEST_PREFIX}{TELEMETRY_RULE}/{telemetry_topic(thing)}"


def format_timestamp(ts: datetime) -> str:
    """RFC3339 UTC, whole seconds, with a Z: the form the cloud uses in keys."""
    if ts.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return ts.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def upload_request_payload(
    *, clip_id: str, captured_at: str, size: int, md5: str, sample_rate: int, duration_s: float
) -> bytes:
    return json.dumps(
        {
            "clip_id": clip_id,
            "captured_at": captured_at,
            "content_type": CONTENT_TYPE_FLAC,
            "size": size,
            "md5": md5,
            "sample_rate": sample_rate,
            "duration_s": round(duration_s, 3),
        },
        separators=(",", ":"),
    ).encode()


@dataclass(frozen=True)
class UploadGrant:
    """A successful response: where and how to PUT the clip."""

    clip_id: str
    url: str
    headers: dict[str, str]
    key: str
    expires_at: str


@dataclass(frozen=True)
class UploadRefusal:
    """A refusal: `code` is the cloud's error code (e.g. `bad_request`); `retry_after_s` is how
    long to wait before asking again, when the cloud says (`quota_exceeded`)."""

    clip_id: str | None
    code: str
    message: str
    retry_after_s: float | None = None


# The device asked for more upload URLs this hour than its quota allows: the clip is fine, keep it
# and ask again after `retry_after_s` (the next hour).
QUOTA_EXCEEDED = "quota_exceeded"
# The cloud's quota window is a clock hour: a longer wait than this is not one it would ask for.
MAX_RETRY_AFTER_S = 3600.0

# The presign function answers with an error only for requests that can never succeed (invalid
# id, size over the limit, unsupported type, bad MD5, captured_at out of range); its transient
# failures produce no answer at all (the device times out and backs off). Codes listed here are
# the exception: the cloud may send them for "try again later".
TRANSIENT_REFUSAL_CODES = frozenset(
    {"transient", "throttled", "internal_error", "unavailable", QUOTA_EXCEEDED}
)


def is_permanent_refusal(code: str) -> bool:
    return code not in TRANSIENT_REFUSAL_CODES


def parse_upload_response(payload: bytes) -> UploadGrant | UploadRefusal:
    """Parse a response; raises ValueError for anything that is neither shape."""
    data: Any = json.loads(payload)
    if not isinstance(data, dict):
        raise ValueError("upload response is not a JSON object")
    clip_id = data.get("clip_id")
    if "error" in data:
        error = data["error"]
        retry_after_s = None
        if isinstance(error, dict):
            code, message = str(error.get("code", "error")), str(error.get("message", ""))
            retry_after_s = _retry_after(error.get("retry_after_s"))
        else:
            code, message = "error", str(error)
        return UploadRefusal(
            clip_id=None if clip_id is None else str(clip_id),
            code=code,
            message=message,
            retry_after_s=retry_after_s,
        )
    try:
        headers = data["headers"]
        if not isinstance(headers, dict):
            raise ValueError("headers must be an object")
        return UploadGrant(
            clip_id=str(clip_id),
            url=str(data["url"]),
            headers={str(k): str(v) for k, v in headers.items()},
            key=str(data["key"]),
            expires_at=str(data["expires_at"]),
        )
    except KeyError as exc:
        raise ValueError(f"upload response misses {exc.args[0]!r}") from exc


def _retry_after(value: Any) -> float | None:
    """A usable wait in seconds, within [0, MAX_RETRY_AFTER_S], or None when there is none."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return min(max(float(value), 0.0), MAX_RETRY_AFTER_S)
