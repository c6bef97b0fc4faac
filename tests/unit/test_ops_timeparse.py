"""Parsing the times operators type, and the day partitions of the anomaly index."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from humwatch.ops.timeparse import TimeParseError, days_between, humanize_age, parse_duration, parse_when

NOW = datetime(2026, 11, 26, 14, 30, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("24h", NOW - timedelta(hours=24)),
        ("7d", NOW - timedelta(days=7)),
        ("90m", NOW - timedelta(minutes=90)),
        ("2w", NOW - timedelta(weeks=2)),
        ("45s", NOW - timedelta(seconds=45)),
        (" 1.5H ", NOW - timedelta(hours=1.5)),
    ],
)
def test_relative_ages_count_back_from_now(text: str, expected: datetime) -> None:
    assert parse_when(text, now=NOW) == expected


def test_iso_forms_are_utc() -> None:
    assert parse_when("2026-11-20", now=NOW) == datetime(2026, 11, 20, tzinfo=UTC)
    assert parse_when("2026-11-20T08:15:00Z", now=NOW) == datetime(2026, 11, 20, 8, 15, tzinfo=UTC)
    # no offset -> UTC, like everything the table stores
    assert parse_when("2026-11-20T08:15:00", now=NOW) == datetime(2026, 11, 20, 8, 15, tzinfo=UTC)
    # an explicit offset is converted
    assert parse_when("2026-11-20T10:15:00+02:00", now=NOW) == datetime(2026, 11, 20, 8, 15, tzinfo=UTC)
    assert parse_when("2026-11-20T10:15:00+02:00", now=NOW).tzinfo == UTC


@pytest.mark.parametrize("text", ["yesterday", "7 days", "-3h", "2026-13-01", "h", ""])
def test_nonsense_is_a_clear_error(text: str) -> None:
    with pytest.raises(TimeParseError, match="not a time"):
        parse_when(text, now=NOW)


def test_duration_units_and_errors() -> None:
    assert parse_duration("3d") == timedelta(days=3)
    with pytest.raises(TimeParseError, match=r"use e\.g\. 30m, 24h, 7d"):
        parse_duration("3 fortnights")


def test_now_must_be_aware() -> None:
    with pytest.raises(ValueError):
        parse_when("1h", now=datetime(2026, 1, 1))


def test_days_between_covers_both_ends_in_utc() -> None:
    start = datetime(2026, 11, 24, 23, 30, tzinfo=UTC)
    end = datetime(2026, 11, 26, 0, 10, tzinfo=UTC)
    assert days_between(start, end) == ["2026-11-24", "2026-11-25", "2026-11-26"]
    # a local time just after midnight in UTC+2 is still the previous UTC day
    local = datetime(2026, 11, 26, 1, 0, tzinfo=timezone(timedelta(hours=2)))
    assert days_between(local, local) == ["2026-11-25"]
    assert days_between(end, start) == []


def test_humanize_age() -> None:
    assert humanize_age(None, now=NOW) == "never"
    assert humanize_age(NOW - timedelta(seconds=42), now=NOW) == "42s ago"
    assert humanize_age(NOW - timedelta(minutes=3, seconds=59), now=NOW) == "3m ago"
    assert humanize_age(NOW - timedelta(hours=5), now=NOW) == "5h ago"
    assert humanize_age(NOW - timedelta(days=2, hours=23), now=NOW) == "2d ago"
    assert humanize_age(NOW + timedelta(minutes=1), now=NOW) == "in the future"
