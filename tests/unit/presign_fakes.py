"""In-memory stand-ins for presign_upload's dependencies: what was signed, sent and counted."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from humwatch.config import PresignSettings
from humwatch.dal.upload_quotas import hour_start
from humwatch.services.presign import PresignDeps

PRESIGN_ENV = {
    "HUMWATCH_BUCKET": "clips-bucket",
    "HUMWATCH_TABLE": "history",
    "HUMWATCH_IOT_DATA_ENDPOINT": "x-ats.iot.us-east-1.amazonaws.com",
}


class RecordingSigner:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def presign_put(self, key: str, *, content_type: str, content_md5: str, expires_in: int) -> str:
        self.calls.append(
            {"key": key, "content_type": content_type, "md5": content_md5, "expires_in": expires_in}
        )
        return f"https://bucket.example/{key}?sig"


class RecordingChannel:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def publish(self, topic: str, payload: dict[str, Any], *, qos: int = 1) -> None:
        self.sent.append((topic, payload))


class MemoryQuotas:
    """`UploadQuotas` semantics in a dict: per device and clock hour, refuse past `limit`."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, datetime], int] = {}

    def take(self, thing: str, at: datetime, *, limit: int) -> int | None:
        slot = (thing, hour_start(at))
        if self.counts.get(slot, 0) >= limit:
            return None
        self.counts[slot] = self.counts.get(slot, 0) + 1
        return self.counts[slot]


def make_deps(clock: Any, **env: str) -> PresignDeps:
    settings = PresignSettings.model_validate({**PRESIGN_ENV, **env})
    return PresignDeps(
        settings=settings,
        clips=RecordingSigner(),
        channel=RecordingChannel(),
        quotas=MemoryQuotas(),
        clock=clock,
    )
