"""Parse the times operators type: relative ages (`90m`, `24h`, `7d`, `2w`) or ISO dates/times."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from humwatch.errors import HumwatchError

_RELATIVE_RE = re.compile(r"^\s*(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>s|m|h|d|w)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class TimeParseError(HumwatchError):
    """A `--since`/`--until` value is neither a relative age nor an ISO date/time."""

    code = "bad_time"


def parse_duration(text: str) -> timedelta:
    """`24h` -> 24 hours. Units: s, m (minutes), h, d, w."""
    m = _RELATIVE_RE.match(text)
    if not m:
        raise TimeParseError(f"not a duration: {text!r} (use e.g. 30m, 24h, 7d, 2w)")
    return timedelta(seconds=float(m["n"]) * _UNIT_SECONDS[m["unit"].lower()])


def parse_when(text: str, *, now: datetime) -> datetime:
    """A point in time, UTC-aware.

    `24h`/`7d` mean that long before `now`; an ISO date (`2026-11-20`) means its midnight UTC;
    an ISO date-time without an offset is read as UTC (the table stores UTC, and so do the alerts).
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if _RELATIVE_RE.match(text):
        return now.astimezone(UTC) - parse_duration(text)
    raw = text.strip()
    try:
        if len(raw) == 10:
            d = date.fromisoformat(raw)
            return datetime(d.year, d.month, d.day, tzinfo=UTC)
        ts = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise TimeParseError(
            f"not a time: {text!r} (use an age such as 24h or 7d, or ISO such as 2026-11-26T14:00:00Z)"
        ) from None
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC)


def days_between(start: datetime, end: datetime) -> list[str]:
    """UTC day partitions (`yyyy-mm-dd`) covering [start, end], oldest first."""
    if end < start:
        return []
    first = start.astimezone(UTC).date()
    last = end.astimezone(UTC).date()
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def humanize_age(then: datetime | None, *, now: datetime) -> str:
    """`3m ago`, `2h ago`, `4d ago` for the devices view; `never` when unknown."""
    if then is None:
        return "never"
    seconds = (now - then).total_seconds()
    if seconds < 0:
        return "in the future"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit} ago"
    return f"{int(seconds)}s ago"
