"""The history table's item classes against a moto server: conditional writes, paging, the anomaly
index, the optimistic lock, acknowledgements, labels, the registries, and the single-table layout
they share (docs/architecture.md, "History table")."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from humwatch import contracts as c
from humwatch.alerts.policy import AlertState, ClipFlag
from humwatch.dal import aws
from humwatch.dal.dynamo_items import item_size
from humwatch.dal.history import HistoryTable
from humwatch.dal.provisioning import StackResources
from humwatch.errors import ConflictError, NotFound
from humwatch.records import ClipRecord, ClipStatus, DeviceState, NoticeTimes

T0 = datetime(2026, 11, 26, 23, 0, tzinfo=UTC)


def record(thing: str, minutes: int, *, anomalous: bool = False) -> ClipRecord:
    at = T0 + timedelta(minutes=minutes)
    return ClipRecord(
        thing=thing,
        clip_id=str(uuid.uuid4()),
        captured_at=at,
        status=ClipStatus.SCORED,
        processed_at=at,
        s3_key=f"clips/{thing}/{minutes}.flac",
        etag="e",
        score=2.0 if anomalous else 0.5,
        threshold=1.0,
        ratio=2.0 if anomalous else 0.5,
        is_anomaly=anomalous,
        band_means=[-40.25, -38.5],
    )


def test_a_clip_result_is_written_once_and_reads_back_typed(history: HistoryTable):
    item = record("fan-1", 0, anomalous=True)
    assert history.clips.put(item) is True
    assert history.clips.put(item.model_copy(update={"score": 9.0})) is False
    stored = history.clips.get("fan-1", item.captured_at, item.clip_id)
    assert stored is not None
    assert (
        stored.score == 2.0
        and stored.band_means == [-40.25, -38.5]
        and stored.captured_at == item.captured_at
    )


def test_clip_queries_page_filter_by_time_and_order(history: HistoryTable):
    items = [record("fan-1", m, anomalous=m % 3 == 0) for m in range(0, 70, 5)]  # 14 clips over midnight
    for item in items:
        history.clips.put(item)
    history.clips.put(record("fan-2", 1))
    newest_first = list(history.clips.query("fan-1", page_size=3))
    assert [r.clip_id for r in newest_first] == [r.clip_id for r in reversed(items)]
    oldest_first = list(history.clips.query("fan-1", newest_first=False, page_size=4))
    assert [r.clip_id for r in oldest_first] == [r.clip_id for r in items]
    window = list(
        history.clips.query("fan-1", since=T0 + timedelta(minutes=10), until=T0 + timedelta(minutes=30))
    )
    assert len(window) == 5
    assert len(list(history.clips.query("fan-1", limit=5, page_size=2))) == 5
    anomalies = list(history.clips.query("fan-1", anomalies_only=True, page_size=2))
    assert len(anomalies) == sum(i.is_anomaly for i in items) and all(a.is_anomaly for a in anomalies)
    assert list(history.clips.query("nobody")) == []


def test_anomaly_queries_read_the_sparse_index_per_utc_day(history: HistoryTable):
    for m in (0, 30, 59, 61, 90):
        history.clips.put(record("fan-1", m, anomalous=True))
    history.clips.put(record("fan-2", 10, anomalous=True))
    history.clips.put(record("fan-2", 20, anomalous=False))
    day1 = list(history.clips.anomalies("2026-11-26", page_size=1))
    day2 = list(history.clips.anomalies(T0.date() + timedelta(days=1)))
    assert len(day1) == 4 and len(day2) == 2
    assert [r.captured_at for r in day1] == sorted((r.captured_at for r in day1), reverse=True)
    assert {r.thing for r in history.clips.anomalies("2026-11-26", thing="fan-2")} == {"fan-2"}


def test_state_writes_are_optimistically_locked(history: HistoryTable):
    flag = ClipFlag("c1", T0, True, 1.5)
    first = history.alert_states.save(
        "fan-1", DeviceState(thing="fan-1", alert=AlertState(recent=(flag,))), 0
    )
    assert first.rev == 1
    with pytest.raises(ConflictError):
        history.alert_states.save("fan-1", DeviceState(thing="fan-1"), 0)  # someone created it already
    second = history.alert_states.save("fan-1", first.model_copy(update={"last_score": 3.0}), 1)
    with pytest.raises(ConflictError):
        history.alert_states.save("fan-1", first, 1)  # stale revision
    stored = history.alert_states.get("fan-1")
    assert stored == second and stored.alert.recent == (flag,) and stored.rev == 2


def test_ack_stamps_the_state_and_needs_a_known_device(history: HistoryTable):
    with pytest.raises(NotFound, match="no alert state"):
        history.alert_states.ack("ghost")
    history.alert_states.save("fan-1", DeviceState(thing="fan-1", alert=AlertState(last_alert_at=T0)), 0)
    acked = history.alert_states.ack("fan-1", T0 + timedelta(minutes=5))
    assert (
        acked.alert.acked_at == T0 + timedelta(minutes=5) and acked.alert.is_acknowledged and acked.rev == 2
    )


def test_labels_round_trip_and_unknown_clips_are_not_found(history: HistoryTable):
    item = record("fan-1", 0, anomalous=True)
    history.clips.put(item)
    labelled = history.clips.set_label("fan-1", item.clip_id, "normal", "bearing was greased")
    assert labelled.label == "normal" and labelled.label_note == "bearing was greased"
    assert history.clips.find("fan-1", item.clip_id) == labelled
    with pytest.raises(NotFound):
        history.clips.set_label("fan-1", str(uuid.uuid4()), "anomaly")
    with pytest.raises(ValueError, match="label must be"):
        history.clips.set_label("fan-1", item.clip_id, "maybe")


def test_clips_written_before_the_compact_format_read_back_and_are_found(
    aws_stack: StackResources, history: HistoryTable
):
    # Given one clip in the earlier item format (every attribute, band means as numbers) and one
    # written now (compact), as a table holds them after an upgrade
    old, new = record("fan-1", 0), record("fan-1", 5, anomalous=True)
    raw = old.model_dump(mode="json", exclude_none=True)
    raw_item = {k: {"N": str(v)} if isinstance(v, float) else {"S": str(v)} for k, v in raw.items()}
    raw_item.update(
        pk={"S": "device#fan-1"},
        sk={"S": f"clip#2026-11-26T23:00:00Z#{old.clip_id}"},
        is_anomaly={"BOOL": False},
        band_means={"L": [{"N": "-40.25"}, {"N": "-38.5"}]},
    )
    client = aws.client("dynamodb", endpoint_url=aws_stack.endpoint_url)
    client.put_item(TableName=aws_stack.table, Item=raw_item)
    history.clips.put(new)
    stored = client.get_item(
        TableName=aws_stack.table,
        Key={"pk": {"S": "device#fan-1"}, "sk": {"S": c.clip_sk(new.captured_at, new.clip_id)}},
    )["Item"]
    assert "B" in stored["band_means"] and "clip_id" not in stored
    # When both are read, found by id alone and sampled for the drift check
    # Then they read back as written, whichever format they have
    assert list(history.clips.query("fan-1", newest_first=False)) == [old, new]
    assert history.clips.find("fan-1", old.clip_id) == old
    assert history.clips.find("fan-1", new.clip_id) == new
    assert history.clips.find("fan-1", str(uuid.uuid4())) is None
    samples = list(history.clips.samples("fan-1", T0, T0 + timedelta(minutes=5)))
    assert [(s.captured_at, s.band_means, s.is_anomaly) for s in samples] == [
        (old.captured_at, (-40.25, -38.5), False),
        (new.captured_at, (-40.25, -38.5), True),
    ]
    assert [r.clip_id for r in history.clips.anomalies("2026-11-26", thing="fan-1")] == [new.clip_id]


def test_a_full_alert_window_fits_one_write_unit_and_earlier_state_items_read_back(
    aws_stack: StackResources, history: HistoryTable
):
    # Given the state of a device with a long name and a full window of 8 flags
    thing = "compressor-line-07-station-12-east-wing-bay-3"
    flags = tuple(
        ClipFlag(
            str(uuid.uuid4()), T0 + timedelta(minutes=5 * i), i % 3 == 0, 0.123456789 * (i + 1), 1.9876543
        )
        for i in range(8)
    )
    state = DeviceState(
        thing=thing,
        alert=AlertState(recent=flags, clock=T0),
        last_clip_at=T0,
        last_score=0.5,
        last_ratio=0.5,
        model_id="fan-demo",
        model_version="20261126T120000Z-abcdef",
    )
    history.alert_states.save(thing, state, 0)
    client = aws.client("dynamodb", endpoint_url=aws_stack.endpoint_url)
    key = {"pk": {"S": f"device#{thing}"}, "sk": {"S": "state"}}
    stored = client.get_item(TableName=aws_stack.table, Key=key)["Item"]
    # Then the item is one write unit, and it reads back as saved
    assert item_size(stored) <= 1024
    assert history.alert_states.get(thing) == state.model_copy(update={"rev": 1})
    # And a state item of earlier versions (long attribute names, RFC3339 times) reads the same
    old_flags = [
        {"M": {"clip_id": {"S": f.clip_id}, "captured_at": {"S": c.format_timestamp(f.captured_at)},
               "is_anomaly": {"BOOL": f.is_anomaly}, "ratio": {"N": repr(f.ratio)},
               "normal_gap": {"N": repr(f.normal_gap)}}}
        for f in flags
    ]  # fmt: skip
    client.put_item(TableName=aws_stack.table, Item={**stored, "recent": {"L": old_flags}})
    old = history.alert_states.get(thing)
    assert old is not None and old.alert.recent == flags


def test_drift_notice_times_are_read_for_many_devices_at_once(history: HistoryTable):
    # Given notice times for 150 devices (more than one BatchGetItem takes) and none for one more
    things = [f"fan-{i:03d}" for i in range(150)]
    for i, thing in enumerate(things):
        history.drift_notices.put(NoticeTimes(thing=thing, drift_notice_at=T0 + timedelta(minutes=i)))
    # When they are read together
    found = history.drift_notices.get_many([*things, "fan-new"])
    # Then each device gets its own, and the unknown one none
    assert len(found) == 150 and "fan-new" not in found
    assert found["fan-149"].drift_notice_at == T0 + timedelta(minutes=149)
    assert found["fan-000"].silence_notice_at is None


def test_device_and_model_registries(history: HistoryTable):
    assert history.devices.all() == [] and history.models.default_model_id() is None
    history.devices.put("fan-1", machine_type="fan", model_id="fan-a")
    kept = history.devices.put("fan-1", overwrite=False)  # first-clip registration keeps the entry
    assert kept.machine_type == "fan" and kept.model_id == "fan-a"
    history.devices.put("pump-2", machine_type="pump")
    assert [d.thing for d in history.devices.all()] == ["fan-1", "pump-2"]
    with pytest.raises(NotFound):
        history.models.set_default("fan-a")  # not published yet
    history.models.set_pointer("fan-a", "v1", "aa")
    history.models.set_pointer("fan-a", "v2", "bb", expected_version="v1")
    with pytest.raises(ConflictError):
        history.models.set_pointer("fan-a", "v3", "cc", expected_version="v1")
    history.models.set_default("fan-a")
    assert history.models.default_model_id() == "fan-a"
    assert [(m.model_id, m.version) for m in history.models.all()] == [("fan-a", "v2")]


def test_a_stated_shaft_speed_is_stored_kept_and_absent_from_older_entries(history: HistoryTable):
    # Given a device registered before shaft speeds existed (its item has no shaft_rpm)
    history.devices.put("fan-1", machine_type="fan", model_id="fan-a")
    assert history.devices.get("fan-1").shaft_rpm is None
    # When an operator has it learn again with its nameplate speed
    info = history.devices.start_learning("fan-1", at=T0, shaft_rpm=1470.0)
    # Then the registry keeps it, and later relearning (train_model's, or without the option),
    # re-registration and monitoring keep it too
    assert info.shaft_rpm == 1470.0 and history.devices.get("fan-1").shaft_rpm == 1470.0
    assert history.devices.start_learning("fan-1", at=T0 + timedelta(hours=1)).shaft_rpm == 1470.0
    assert history.devices.start_monitoring("fan-1", model_id="fan-1").shaft_rpm == 1470.0
    history.devices.put("fan-1", machine_type="fan", model_id="fan-b")
    assert history.devices.get("fan-1").shaft_rpm == 1470.0
    # and a speed that is not one is refused before anything is written
    with pytest.raises(ValueError, match="positive"):
        history.devices.start_learning("fan-1", at=T0, shaft_rpm=0.0)


def test_telemetry_is_the_last_heartbeat(history: HistoryTable):
    assert history.telemetry.get("fan-1") is None
    history.telemetry.put("fan-1", {"sent_at": "2026-11-26T23:00:00Z", "spool_clips": 3, "last_error": None})
    history.telemetry.put("fan-1", {"sent_at": "2026-11-26T23:01:00Z", "spool_clips": 0})
    telemetry = history.telemetry.get("fan-1")
    assert telemetry is not None and telemetry.payload == {
        "sent_at": "2026-11-26T23:01:00Z",
        "spool_clips": 0,
    }
    assert telemetry.received_at is not None


def test_every_item_type_lives_in_the_one_table_under_its_documented_keys(
    aws_stack: StackResources, history: HistoryTable
) -> None:
    # Given one item of each type written through its class
    clip = record("fan-1", 0, anomalous=True)
    history.clips.put(clip)
    history.alert_states.save("fan-1", DeviceState(thing="fan-1"), 0)
    history.telemetry.put("fan-1", {"spool_clips": 0})
    history.devices.put("fan-1", machine_type="fan")
    history.models.set_pointer("fan-a", "v1", "aa")
    history.models.set_default("fan-a")

    # When the table is read with the raw keys docs/architecture.md lists
    raw = aws.client("dynamodb", endpoint_url=aws_stack.endpoint_url)

    def item(pk: str, sk: str) -> dict[str, object] | None:
        key = {"pk": {"S": pk}, "sk": {"S": sk}}
        found: dict[str, object] | None = raw.get_item(TableName=aws_stack.table, Key=key).get("Item")
        return found

    # Then every item is where the single-table design puts it
    clip_item = item("device#fan-1", "clip#2026-11-26T23:00:00Z#" + clip.clip_id)
    assert clip_item is not None
    assert clip_item["gsi1pk"] == {"S": "anomaly#2026-11-26"}
    assert clip_item["gsi1sk"] == {"S": f"2026-11-26T23:00:00Z#fan-1#{clip.clip_id}"}
    assert item("device#fan-1", "state") is not None
    assert item("device#fan-1", "telemetry") is not None
    assert item("registry", "device#fan-1") is not None
    assert item("registry", "model#fan-a") is not None
    default = item("registry", "default-model")
    assert default is not None and default["model_id"] == {"S": "fan-a"}


def test_states_and_heartbeats_of_many_devices_read_back_in_batches(history: HistoryTable):
    # Given 120 devices with a state (more than one BatchGetItem of 100), 2 of them with heartbeats
    things = [f"fan-{i:03d}" for i in range(120)]
    for thing in things:
        history.alert_states.save(thing, DeviceState(thing=thing, alerts_sent=int(thing[-3:])), 0)
    history.telemetry.put("fan-007", {"spool_clips": 3})
    history.telemetry.put("fan-119", {"spool_clips": 0})
    # When they are read with one device that has nothing
    states = history.alert_states.get_many([*things, "pump-1"])
    heartbeats = history.telemetry.get_many([*things, "pump-1"])
    # Then every state is there under its own device, the unknown device is absent
    assert set(states) == set(things)
    assert all(states[t].alerts_sent == int(t[-3:]) and states[t].thing == t for t in things)
    assert set(heartbeats) == {"fan-007", "fan-119"}
    assert heartbeats["fan-007"].payload == {"spool_clips": 3} and heartbeats["fan-007"].received_at
