"""`humwatch history`: clip results over time, one device or all, every clip or anomalies only.

Every read is a Query: a device's clips on the table keys, all devices' clips per device (device
list from the registry) merged by capture time, and anomalies across devices on the sparse
`anomalies-by-day` index one UTC day at a time (newest day first), so `--limit` stops early.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from humwatch.dal.history import HistoryTable
from humwatch.errors import NotFound
from humwatch.ops.timeparse import TimeParseError, days_between
from humwatch.records import ClipRecord

# Without --since, anomalies across devices look back this far (the index is partitioned by day).
DEFAULT_ANOMALY_LOOKBACK = timedelta(days=7)

HISTORY_COLUMNS: tuple[str, ...] = (
    "captured_at",
    "device",
    "clip_id",
    "status",
    "score",
    "threshold",
    "ratio",
    "anomaly",
    "label",
    "model",
    "reason",
)


@dataclass(frozen=True)
class HistoryQuery:
    device: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    anomalies: bool = False
    limit: int | None = 100
    page_size: int | None = None


def require_device(table: HistoryTable, thing: str) -> None:
    """A clear error for a device the stack has never heard of (registry, state, or any clip)."""
    if table.devices.get(thing) is not None or table.alert_states.get(thing) is not None:
        return
    if next(table.clips.query(thing, limit=1), None) is not None:
        return
    known = sorted(d.thing for d in table.devices.all())
    hint = f" (known devices: {', '.join(known)})" if known else " (no devices registered yet)"
    raise NotFound(f"unknown device {thing!r}{hint}")


def _newest_first(streams: Iterable[Iterator[ClipRecord]]) -> Iterator[ClipRecord]:
    return heapq.merge(*streams, key=lambda r: (r.captured_at, r.thing, r.clip_id), reverse=True)


def _anomalies_across_devices(
    table: HistoryTable, since: datetime, until: datetime, page_size: int | None
) -> Iterator[ClipRecord]:
    for day in reversed(days_between(since, until)):
        for record in table.clips.anomalies(day, newest_first=True, page_size=page_size):
            if since <= record.captured_at <= until:
                yield record


def query_history(table: HistoryTable, query: HistoryQuery, *, now: datetime) -> Iterator[ClipRecord]:
    """Clip records newest first, at most `query.limit` (None = all)."""
    if query.since and query.until and query.since > query.until:
        raise TimeParseError("--since is after --until")
    if query.device is not None:
        require_device(table, query.device)
        records: Iterator[ClipRecord] = table.clips.query(
            query.device,
            since=query.since,
            until=query.until,
            newest_first=True,
            anomalies_only=query.anomalies,
            page_size=query.page_size,
        )
    elif query.anomalies:
        until = query.until or now
        since = query.since or (until - DEFAULT_ANOMALY_LOOKBACK)
        records = _anomalies_across_devices(
            table, since.astimezone(UTC), until.astimezone(UTC), query.page_size
        )
    else:
        things = sorted(d.thing for d in table.devices.all())
        records = _newest_first(
            table.clips.query(
                thing, since=query.since, until=query.until, newest_first=True, page_size=query.page_size
            )
            for thing in things
        )
    return itertools.islice(records, query.limit) if query.limit else records


def history_row(record: ClipRecord) -> dict[str, Any]:
    """One output row: the table/CSV columns first, then the rest of the record for JSON."""
    model = f"{record.model_id}@{record.model_version}" if record.model_id else None
    row: dict[str, Any] = {
        "captured_at": record.captured_at,
        "device": record.thing,
        "clip_id": record.clip_id,
        "status": record.status.value,
        "score": record.score,
        "threshold": record.threshold,
        "ratio": record.ratio,
        "anomaly": record.is_anomaly if record.status.value == "SCORED" else None,
        "label": record.label,
        "model": model,
        "reason": record.reason,
    }
    extra = record.model_dump(exclude={"band_means", "ttl", "thing"}, exclude_none=True)
    for key, value in extra.items():
        row.setdefault(key, value)
    return row
