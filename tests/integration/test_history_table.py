"""HistoryTable against a moto server: conditional writes, paging, the anomaly index, the
optimistic lock, acknowledgements, labels and the registries."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from humwatch.alerts.policy import AlertState, ClipFlag
from humwatch.dal.history import HistoryTable
from humwatch.errors import ConflictError, NotFound
from humwatch.records import ClipRecord, ClipStatus, DeviceState

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
    assert history.put_clip_result(item) is True
    assert history.put_clip_result(item.model_copy(update={"score": 9.0})) is False
    stored = history.get_clip("fan-1", item.captured_at, item.clip_id)
    assert stored is not None
    assert (
        stored.score == 2.0
        and stored.band_means == [-40.25, -38.5]
        and stored.captured_at == item.captured_at
    )


def test_query_clips_pages_filters_by_time_and_orders(history: HistoryTable):
    items = [record("fan-1", m, anomalous=m % 3 == 0) for m in range(0, 70, 5)]  # 14 clips over midnight
    for item in items:
        history.put_clip_result(item)
    history.put_clip_result(record("fan-2", 1))
    newest_first = list(history.query_clips("fan-1", page_size=3))
    assert [r.clip_id for r in newest_first] == [r.clip_id for r in reversed(items)]
    oldest_first = list(history.query_clips("fan-1", newest_first=False, page_size=4))
    assert [r.clip_id for r in oldest_first] == [r.clip_id for r in items]
    window = list(
        history.query_clips("fan-1", since=T0 + timedelta(minutes=10), until=T0 + timedelta(minutes=30))
    )
    assert len(window) == 5
    assert len(list(history.query_clips("fan-1", limit=5, page_size=2))) == 5
    anomalies = list(history.query_clips("fan-1", anomalies_only=True, page_size=2))
    assert len(anomalies) == sum(i.is_anomaly for i in items) and all(a.is_anomaly for a in anomalies)
    assert list(history.query_clips("nobody")) == []


def test_query_anomalies_reads_the_sparse_index_per_utc_day(history: HistoryTable):
    for m in (0, 30, 59, 61, 90):
        history.put_clip_result(record("fan-1", m, anomalous=True))
    history.put_clip_result(record("fan-2", 10, anomalous=True))
    history.put_clip_result(record("fan-2", 20, anomalous=False))
    day1 = list(history.query_anomalies("2026-11-26", page_size=1))
    day2 = list(history.query_anomalies(T0.date() + timedelta(days=1)))
    assert len(day1) == 4 and len(day2) == 2
    assert [r.captured_at for r in day1] == sorted((r.captured_at for r in day1), reverse=True)
    assert {r.thing for r in history.query_anomalies("2026-11-26", thing="fan-2")} == {"fan-2"}


def test_state_writes_are_optimistically_locked(history: HistoryTable):
    flag = ClipFlag("c1", T0, True, 1.5)
    first = history.save_state("fan-1", DeviceState(thing="fan-1", alert=AlertState(recent=(flag,))), 0)
    assert first.rev == 1
    with pytest.raises(ConflictError):
        history.save_state("fan-1", DeviceState(thing="fan-1"), 0)  # someone created it already
    second = history.save_state("fan-1", first.model_copy(update={"last_score": 3.0}), 1)
    with pytest.raises(ConflictError):
        history.save_state("fan-1", first, 1)  # stale revision
    stored = history.get_state("fan-1")
    assert stored == second and stored.alert.recent == (flag,) and stored.rev == 2


def test_ack_stamps_the_state_and_needs_a_known_device(history: HistoryTable):
    with pytest.raises(NotFound, match="no alert state"):
        history.ack("ghost")
    history.save_state("fan-1", DeviceState(thing="fan-1", alert=AlertState(last_alert_at=T0)), 0)
    acked = history.ack("fan-1", T0 + timedelta(minutes=5))
    assert (
        acked.alert.acked_at == T0 + timedelta(minutes=5) and acked.alert.is_acknowledged and acked.rev == 2
    )


def test_labels_round_trip_and_unknown_clips_are_not_found(history: HistoryTable):
    item = record("fan-1", 0, anomalous=True)
    history.put_clip_result(item)
    labelled = history.set_label("fan-1", item.clip_id, "normal", "bearing was greased")
    assert labelled.label == "normal" and labelled.label_note == "bearing was greased"
    assert history.find_clip("fan-1", item.clip_id) == labelled
    with pytest.raises(NotFound):
        history.set_label("fan-1", str(uuid.uuid4()), "anomaly")
    with pytest.raises(ValueError, match="label must be"):
        history.set_label("fan-1", item.clip_id, "maybe")


def test_device_and_model_registries(history: HistoryTable):
    assert history.list_devices() == [] and history.get_default_model() is None
    history.put_device("fan-1", machine_type="fan", model_id="fan-a")
    kept = history.put_device("fan-1", overwrite=False)  # first-clip registration keeps the entry
    assert kept.machine_type == "fan" and kept.model_id == "fan-a"
    history.put_device("pump-2", machine_type="pump")
    assert [d.thing for d in history.list_devices()] == ["fan-1", "pump-2"]
    with pytest.raises(NotFound):
        history.set_default_model("fan-a")  # not published yet
    history.set_model_pointer("fan-a", "v1", "aa")
    history.set_model_pointer("fan-a", "v2", "bb", expected_version="v1")
    with pytest.raises(ConflictError):
        history.set_model_pointer("fan-a", "v3", "cc", expected_version="v1")
    history.set_default_model("fan-a")
    assert history.get_default_model() == "fan-a"
    assert [(m.model_id, m.version) for m in history.list_models()] == [("fan-a", "v2")]


def test_telemetry_is_the_last_heartbeat(history: HistoryTable):
    assert history.get_telemetry("fan-1") is None
    history.put_telemetry("fan-1", {"sent_at": "2026-11-26T23:00:00Z", "spool_clips": 3, "last_error": None})
    history.put_telemetry("fan-1", {"sent_at": "2026-11-26T23:01:00Z", "spool_clips": 0})
    telemetry = history.get_telemetry("fan-1")
    assert telemetry is not None and telemetry.payload == {
        "sent_at": "2026-11-26T23:01:00Z",
        "spool_clips": 0,
    }
    assert telemetry.received_at is not None
