"""PUT a clip to its presigned URL (stdlib http.client: no extra dependency on the device)."""

from __future__ import annotations

import http.client
import re
import ssl
from urllib.parse import urlsplit

from humwatch_edge.errors import TransientDeliveryError, UrlRefused

_S3_CODE = re.compile(rb"<Code>([^<]{1,100})</Code>")
_S3_MESSAGE = re.compile(rb"<Message>([^<]{1,300})</Message>")


def _describe(status: int, reason: str, body: bytes) -> str:
    code, message = _S3_CODE.search(body), _S3_MESSAGE.search(body)
    detail = (
        " ".join(m.group(1).decode("utf-8", "replace") for m in (code, message) if m is not None)
        or body[:200].decode("utf-8", "replace").strip()
    )
    return f"HTTP {status} {reason}" + (f": {detail}" if detail else "")


def put_clip(url: str, headers: dict[str, str], data: bytes, *, timeout_s: float) -> int:
    """PUT `data`; return the 2xx status, or raise UrlRefused (ask for a new URL) or
    TransientDeliveryError (back off, then try again)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UrlRefused(f"presigned URL is not http(s): {url[:60]!r}")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(
            parts.hostname, parts.port, timeout=timeout_s, context=ssl.create_default_context()
        )
    else:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout_s)
    request_headers = dict(headers)
    request_headers["Content-Length"] = str(len(data))
    try:
        connection.request("PUT", path, body=data, headers=request_headers)
        response = connection.getresponse()
        body = response.read(4096)
        status, reason = response.status, response.reason
    except (OSError, http.client.HTTPException) as exc:
        raise TransientDeliveryError(f"PUT failed: {type(exc).__name__}: {exc}") from exc
    finally:
        connection.close()
    if 200 <= status < 300:
        return status
    description = _describe(status, reason, body)
    if status in (408, 429) or status >= 500:
        raise TransientDeliveryError(description)
    # 403 (expired, signature mismatch), 400 (bad digest, malformed) and the rest of 4xx: this URL
    # will not work; a new one might.
    raise UrlRefused(description)
