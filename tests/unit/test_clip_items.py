"""The clip result item's compact format: what it leaves out, how band means are packed, and that
items of the earlier format (every attribute, band means as numbers) read back the same."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from humwatch import contracts as c
from humwatch.dal.clip_results import (
    BAND_MEANS_SCALE,
    clip_item,
    clip_record,
    clip_sample,
    decode_band_means,
    encode_band_means,
)
from humwatch.dal.dynamo_items import deserialize_item, item_size, serialize_item
from humwatch.explain import Why
from humwatch.records import ClipRecord, ClipStatus

AT = datetime(2026, 11, 26, 23, 5, 0, tzinfo=UTC)
CLIP_ID = "0b7f5a4e-2f43-4c1e-9a55-0d7b1c3e9f11"
BANDS = [-25.0618, -12.3456, 0.0944, 3.14159, -99.999] + [-40.0] * 59


def scored(**update: Any) -> ClipRecord:
    record = ClipRecord(
        thing="fan-1",
        clip_id=CLIP_ID,
        captured_at=AT,
        status=ClipStatus.SCORED,
        processed_at=AT,
        s3_key=c.clip_key("fan-1", AT, CLIP_ID, "flac"),
        etag='"abc"',
        score=0.42,
        threshold=1.0,
        ratio=0.42,
        model_id="fan-a",
        model_version="v1",
        band_means=BANDS,
    )
    return record.model_copy(update=update)


def stored(item: dict[str, Any]) -> dict[str, Any]:
    """What a read returns: the item through DynamoDB's wire format and back."""
    return deserialize_item(serialize_item(item))


def test_band_means_pack_into_int16_hundredths_of_a_db_within_half_a_step() -> None:
    packed = encode_band_means(BANDS)
    assert packed is not None and len(packed) == 2 * len(BANDS)
    unpacked = decode_band_means(packed)
    assert max(abs(a - b) for a, b in zip(unpacked, BANDS, strict=True)) <= 0.5 / BAND_MEANS_SCALE


def test_band_means_outside_the_int16_range_are_not_packed() -> None:
    assert encode_band_means([-10.0, 400.0]) is None
    assert encode_band_means([]) is None
    with pytest.raises(ValueError, match="not int16"):
        decode_band_means(b"\x01\x02\x03")


def test_a_compact_item_leaves_out_what_its_keys_say_and_packs_the_band_means() -> None:
    item = clip_item(scored())
    assert item["sk"] == f"clip#2026-11-26T23:05:00Z#{CLIP_ID}"
    assert not {"clip_id", "captured_at", "s3_key"} & set(item)
    assert isinstance(item["band_means"], bytes) and len(item["band_means"]) == 128
    # And it reads back as the record that was written (band means to 0.01 dB)
    back = clip_record(stored(item))
    assert back.model_dump(exclude={"band_means"}) == scored().model_dump(exclude={"band_means"})
    assert back.band_means == pytest.approx(BANDS, abs=0.005)


def test_an_s3_key_the_keys_cannot_restore_and_unpackable_band_means_are_kept_as_they_are() -> None:
    by_hand = scored(s3_key="clips/fan-1/uploaded-by-hand.wav")
    item = clip_item(by_hand)
    assert item["s3_key"] == by_hand.s3_key
    assert clip_record(stored(item)).s3_key == by_hand.s3_key
    loud = clip_item(scored(band_means=[500.0, 1.0]))
    assert loud["band_means"] == [500.0, 1.0]
    assert clip_record(stored(loud)).band_means == [500.0, 1.0]


def test_an_item_of_the_earlier_format_reads_back_the_same() -> None:
    # Given an item as versions before the compact format wrote it: every attribute, numbers
    old = scored().model_dump(mode="python", exclude_none=True)
    old.update(pk="device#fan-1", sk=f"clip#2026-11-26T23:05:00Z#{CLIP_ID}")
    back = clip_record(stored(old))
    assert back == scored()
    sample = clip_sample(stored(old))
    assert sample.band_means == tuple(BANDS) and sample.captured_at == AT and sample.score == 0.42


def test_the_compact_item_is_under_one_write_unit_with_room_to_spare() -> None:
    # DynamoDB's size: attribute names + values; a packed item of a scored clip stays far below 1 KB
    wire = serialize_item(clip_item(scored(clip_id=str(uuid.uuid4()))))
    assert item_size(wire) < 600


def test_item_size_follows_dynamodb_rules_for_names_and_each_type() -> None:
    # names count as UTF-8 bytes; a number is (significant digits / 2) + 1; binary its length;
    # a list 3 + 1 per element + its elements
    item = {
        "pk": {"S": "abc"},  # 2 + 3
        "n": {"N": "-40.25"},  # 1 + (4 digits: 2 + 1)
        "b": {"B": b"\x01\x02"},  # 1 + 2
        "l": {"L": [{"N": "1"}, {"BOOL": True}]},  # 1 + 3 + (2 + 1) + (1 + 1)
    }
    assert item_size(item) == 5 + 4 + 3 + 9


def test_why_is_a_small_map_that_reads_back_the_same() -> None:
    # Given a scored clip whose model said why (the longest kind: a modulation with a hint)
    why = Why(
        member="modulation_fine",
        kind="modulation",
        z=6.21,
        deviation=9.38,
        band_hz=(2375.0, 2625.0),
        frequency_hz=86.9,
        hint="rolling-element bearing",
    )
    item = clip_item(scored(why=why, is_anomaly=True))
    # Then it is stored as a map of its few known fields and reads back equal
    assert item["why"] == why.model_dump(exclude_none=True)
    assert clip_record(stored(item)).why == why
    # and the item keeps the room to spare the compact format promises (under 600 of 1024 bytes)
    assert item_size(serialize_item(clip_item(scored(clip_id=str(uuid.uuid4()), why=why)))) < 600
    # and one without (blog-ae, an older model) has no why attribute at all
    assert "why" not in clip_item(scored())


def test_why_keeps_its_shaft_order_and_older_whys_without_it_still_load() -> None:
    # Given a clip whose model knew the shaft speed: the modulation is 4.09x the shaft
    why = Why(
        member="modulation_fine",
        kind="modulation",
        z=6.21,
        deviation=9.38,
        band_hz=(2375.0, 2625.0),
        frequency_hz=86.9,
        shaft_order=4.09,
        hint="rolling-element bearing",
    )
    item = clip_item(scored(clip_id=str(uuid.uuid4()), why=why, is_anomaly=True))
    # Then the stored map has the order and reads back with it
    assert item["why"]["shaft_order"] == 4.09
    back = clip_record(stored(item)).why
    assert back is not None and back.shaft_order == 4.09 and back == why
    # and the item keeps the room to spare the compact format promises (15 bytes more: under 600)
    assert item_size(serialize_item(clip_item(scored(clip_id=str(uuid.uuid4()), why=why)))) < 600
    # And an item stored before shaft orders existed reads back with none
    older = dict(item, why={k: v for k, v in item["why"].items() if k != "shaft_order"})
    old_why = clip_record(stored(older)).why
    assert old_why is not None and old_why.shaft_order is None and old_why.frequency_hz == 86.9
