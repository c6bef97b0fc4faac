"""The heartbeat: what the cloud needs to tell a healthy device from a struggling or silent one."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from humwatch_edge import __version__
from humwatch_edge.contract import format_timestamp
from humwatch_edge.spool import SpoolStats


def build_telemetry(stats: SpoolStats, *, last_error: str | None, extra: dict[str, Any]) -> dict[str, Any]:
    """Fields of humwatch.contracts.Telemetry first, then device extras (the model allows them)."""
    counters = stats.counters
    payload: dict[str, Any] = {
        "sent_at": format_timestamp(datetime.now(timezone.utc)),
        "version": __version__,
        "spool_clips": stats.clips,
        "spool_bytes": stats.bytes,
        "dropped_clips": counters.dropped_clips,
        "disk_free_bytes": stats.disk_free_bytes,
        "last_upload_at": counters.last_upload_at,
        "last_error": last_error if last_error is not None else counters.last_error,
        "uploaded_clips": counters.uploaded_clips,
        "rejected_clips": counters.rejected_clips,
        "dropped_oldest": counters.dropped_oldest,
        "refused_new": counters.refused_new,
        "oldest_clip_at": stats.oldest.captured_at if stats.oldest else None,
    }
    payload.update(extra)
    return payload


def encode_telemetry(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()
