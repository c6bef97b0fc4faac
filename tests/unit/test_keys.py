"""Key building: S3 clip keys and table keys round-trip and cannot escape a thing's prefix."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote_plus

import pytest
from hypothesis import given
from hypothesis import strategies as st

from humwatch import contracts as c
from humwatch.dal.clip_results import clip_item
from humwatch.records import ClipRecord, ClipStatus
from humwatch.services.events import S3Notification

things = st.from_regex(r"\A[A-Za-z0-9_-]{1,64}\Z")
instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)
).map(lambda t: t.replace(microsecond=0))


@given(thing=things, captured=instants, clip_id=st.uuids(), ext=st.sampled_from(["flac", "wav"]))
def test_clip_keys_round_trip(thing, captured, clip_id, ext):
    key = c.clip_key(thing, captured, clip_id, ext)
    parsed = c.parse_clip_key(key)
    assert (parsed.thing, parsed.captured_at, parsed.clip_id, parsed.ext) == (
        thing,
        captured,
        str(clip_id),
        ext,
    )
    assert key.startswith(f"clips/{thing}/{captured:%Y/%m/%d}/")


def test_clip_key_uses_utc_day_and_timestamp():
    local = datetime(2026, 11, 27, 1, 30, tzinfo=timezone(timedelta(hours=3)))  # 2026-11-26 22:30Z
    key = c.clip_key("fan-1", local, "0b9d8a52-3f4e-4c1a-9d2b-6f1e2a3b4c5d", "flac")
    assert key == "clips/fan-1/2026/11/26/2026-11-26T22:30:00Z_0b9d8a52-3f4e-4c1a-9d2b-6f1e2a3b4c5d.flac"


@pytest.mark.parametrize("thing", ["../other", "a/b", "", "fan 1"])
def test_clip_key_refuses_thing_names_that_could_escape_the_prefix(thing):
    with pytest.raises(ValueError):
        c.clip_key(thing, datetime(2026, 1, 1, tzinfo=UTC), uuid.uuid4(), "flac")


def test_clip_key_refuses_a_non_uuid_clip_id():
    with pytest.raises(ValueError):
        c.clip_key("fan-1", datetime(2026, 1, 1, tzinfo=UTC), "../../x", "flac")


def test_s3_event_keys_are_unquoted_plus():
    key = "clips/fan-1/2026/11/26/2026-11-26T22:30:00Z_0b9d8a52-3f4e-4c1a-9d2b-6f1e2a3b4c5d.flac"
    body = {
        "Records": [
            {
                "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": "b"}, "object": {"key": quote_plus(key), "size": 3, "eTag": "abc"}},
            }
        ]
    }
    record = S3Notification.model_validate(body).records[0]
    assert quote_plus(key) != key and record.key == key
    assert S3Notification.model_validate({"Service": "Amazon S3", "Event": "s3:TestEvent"}).is_test_event


def test_anomalous_clip_items_carry_the_sparse_index_keys_and_normal_ones_do_not():
    at = datetime(2026, 11, 26, 23, 59, 59, tzinfo=UTC)
    base: dict[str, Any] = {
        "thing": "fan-1",
        "clip_id": "cid",
        "captured_at": at,
        "status": ClipStatus.SCORED,
        "processed_at": at,
        "s3_key": "k",
    }
    anomalous = clip_item(ClipRecord(**base, is_anomaly=True))
    normal = clip_item(ClipRecord(**base, is_anomaly=False))
    assert anomalous["pk"] == "device#fan-1" and anomalous["sk"] == "clip#2026-11-26T23:59:59Z#cid"
    assert anomalous["gsi1pk"] == "anomaly#2026-11-26"
    assert anomalous["gsi1sk"] == "2026-11-26T23:59:59Z#fan-1#cid"
    assert "gsi1pk" not in normal and "gsi1sk" not in normal
