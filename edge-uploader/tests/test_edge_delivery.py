"""The uploader against a real broker (mTLS), the real presign logic and moto S3, in-process."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from edge_harness import THING, Cloud, DeviceFiles, edge_document, wait_until

from humwatch import contracts as c
from humwatch.pki import make_ca
from humwatch_edge.agent import EdgeAgent
from humwatch_edge.config import build_config
from humwatch_edge.spool import read_only_stats


@contextmanager
def running_agent(document: dict[str, Any]) -> Iterator[EdgeAgent]:
    agent = EdgeAgent(build_config(document, env={}))
    agent.start()
    try:
        yield agent
    finally:
        agent.shutdown()


def _md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def _uploaded_ids(cloud: Cloud) -> list[str]:
    return [c.parse_clip_key(key).clip_id for key in cloud.objects()]


def _write_recordings(folder: Path, count: int, seconds: float = 0.5) -> list[np.ndarray]:
    folder.mkdir(parents=True)
    signals = []
    rng = np.random.default_rng(7)
    for i in range(count):
        signal = (0.2 * rng.standard_normal(int(16000 * seconds))).astype(np.float32)
        sf.write(folder / f"rec-{i:02d}.wav", signal, 16000, subtype="PCM_16")
        signals.append(sf.read(folder / f"rec-{i:02d}.wav", dtype="int16")[0])
    return signals


def test_given_folder_source_when_running_then_each_recording_lands_in_s3_under_its_contract_key(
    tmp_path: Path, cloud: Cloud
) -> None:
    # Given three real WAV recordings replayed by the folder source
    signals = _write_recordings(tmp_path / "recordings", 3)
    document = edge_document(
        tmp_path / "spool",
        cloud.device(),
        cloud,
        duration_s=0.5,
        interval_s=0.6,
        source={"source": "folder", "folder": str(tmp_path / "recordings"), "loop": False},
    )
    # When the uploader runs until all three are in S3
    with running_agent(document) as agent:
        assert wait_until(lambda: cloud.object_count() >= 3, 15), agent.spool.stats()
        assert wait_until(lambda: agent.spool.stats().clips == 0, 5)
        assert wait_until(lambda: len(cloud.responder.telemetry) >= 1, 5)

    # Then each object has exactly the key the contract prescribes and the recording's samples
    objects = cloud.objects()
    assert len(objects) == 3
    requests = {p["clip_id"]: p for _, p in cloud.responder.requests}
    decoded: dict[str, np.ndarray] = {}
    for key, data in objects.items():
        parsed = c.parse_clip_key(key)
        request = c.UploadRequest.model_validate(requests[parsed.clip_id])
        assert key == c.clip_key(THING, request.captured_at, request.clip_id, "flac")
        assert request.md5 == _md5(data) and request.size == len(data)
        samples, rate = sf.read(io.BytesIO(data), dtype="int16")
        assert rate == 16000
        decoded[parsed.clip_id] = samples
    # (requests arrive oldest first, so their order is the replay order)
    replay_order = list(dict.fromkeys(p["clip_id"] for _, p in cloud.responder.requests))
    for clip_id, original in zip(replay_order, signals, strict=True):
        np.testing.assert_array_equal(decoded[clip_id], original)
    # And the heartbeat follows the cloud's telemetry model
    beat = c.Telemetry.model_validate(cloud.responder.telemetry[-1])
    assert beat.dropped_clips == 0 and beat.version


def test_given_broker_down_for_several_cycles_when_it_returns_then_spool_drains_in_order_nothing_lost(
    tmp_path: Path, cloud: Cloud
) -> None:
    # Given the broker is down while the device keeps capturing
    cloud.broker.stop()
    document = edge_document(tmp_path / "spool", cloud.device(), cloud, interval_s=0.2, duration_s=0.1)
    with running_agent(document) as agent:
        assert wait_until(lambda: agent.spool.stats().clips >= 5, 10)
        assert cloud.object_count() == 0
        spooled_before = [m.clip_id for m in agent.spool.stats(with_entries=True).entries]
        # When it comes back
        cloud.broker.start()
        assert cloud.responder.wait_ready(10)
        assert wait_until(lambda: set(spooled_before) <= set(_uploaded_ids(cloud)), 20)
        agent.stop_event.set()
    # Then every clip spooled during the outage arrived, requested oldest first
    requested = [p["clip_id"] for _, p in cloud.responder.requests]
    first_requests = list(dict.fromkeys(requested))
    outage_order = [clip for clip in first_requests if clip in spooled_before]
    assert outage_order == spooled_before
    assert agent.link.connect_attempts >= 2  # it really had to reconnect on its own


def test_given_put_fails_with_500_when_delivering_then_same_clip_retried_until_stored(
    tmp_path: Path, cloud: Cloud
) -> None:
    # Given S3 answers the first three PUTs with 500
    cloud.proxy.faults.fail_next("500", "500", "500")
    document = edge_document(tmp_path / "spool", cloud.device(), cloud, interval_s=5.0, duration_s=0.1)
    # When one clip is delivered
    with running_agent(document) as agent:
        assert wait_until(lambda: cloud.object_count() == 1, 15)
        assert wait_until(lambda: agent.spool.stats().clips == 0, 5)
    # Then the same object was PUT four times (three failures, one success) and stored intact
    outcomes = [outcome for _, outcome in cloud.proxy.faults.put_attempts]
    assert outcomes == ["500", "500", "500", "ok"]
    assert len({path.split("?")[0] for path, _ in cloud.proxy.faults.put_attempts}) == 1
    (data,) = cloud.objects().values()
    assert _md5(data) == cloud.responder.requests[0][1]["md5"]


def test_given_expired_url_when_putting_then_a_new_url_is_requested_and_used(
    tmp_path: Path, cloud: Cloud
) -> None:
    # Given the first URL is refused as S3 refuses an expired one
    cloud.proxy.faults.fail_next("expired")
    document = edge_document(tmp_path / "spool", cloud.device(), cloud, interval_s=5.0, duration_s=0.1)
    # When the clip is delivered
    with running_agent(document) as agent:
        assert wait_until(lambda: cloud.object_count() == 1, 10)
        assert wait_until(lambda: agent.spool.stats().clips == 0, 5)
    # Then the device asked twice for the same clip and the second URL worked
    requested = [p["clip_id"] for _, p in cloud.responder.requests]
    assert len(requested) == 2 and requested[0] == requested[1]
    assert [o for _, o in cloud.proxy.faults.put_attempts] == ["expired", "ok"]
    assert "Request has expired" in (read_only_stats(tmp_path / "spool").counters.last_error or "")


def test_given_spool_full_with_broker_down_when_capturing_then_oldest_dropped_and_counted(
    tmp_path: Path, cloud: Cloud
) -> None:
    # Given a spool bounded to 3 clips and no broker
    cloud.broker.stop()
    document = edge_document(
        tmp_path / "spool", cloud.device(), cloud, interval_s=0.2, duration_s=0.1, spool={"max_clips": 3}
    )
    with running_agent(document) as agent:
        # When more than 3 clips are captured
        assert wait_until(lambda: agent.spool.counters.dropped_clips >= 3, 10)
    # Then the spool holds the 3 newest, every drop is counted and persisted
    kept = [m.clip_id for m in read_only_stats(tmp_path / "spool").entries]
    state = json.loads((tmp_path / "spool" / "state.json").read_text())
    assert len(kept) == 3
    assert state["dropped_oldest"] == state["dropped_clips"] >= 3
    assert state["spooled_clips"] == state["dropped_oldest"] + len(kept)
    # And once the broker is back (and the quota raised), the kept clips arrive and the heartbeat
    # reports the drops
    cloud.broker.start()
    assert cloud.responder.wait_ready(10)
    document["capture"]["interval_s"] = 60
    document["spool"]["max_clips"] = 10
    with running_agent(document):
        assert wait_until(lambda: set(kept) <= set(_uploaded_ids(cloud)), 15)
        assert wait_until(lambda: any(t["dropped_clips"] >= 3 for t in cloud.responder.telemetry), 5)


def test_given_certificate_from_unknown_ca_when_connecting_then_clear_error_and_no_tight_loop(
    tmp_path: Path, cloud: Cloud, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a device certificate that the broker's CA did not sign (key and cert do match)
    rogue = make_ca(tmp_path / "rogue", common_name="rogue-ca")
    device: DeviceFiles = cloud.device(ca=rogue)
    document = edge_document(tmp_path / "spool", device, cloud, interval_s=0.5, duration_s=0.1)
    document["mqtt"].update(reconnect_min_s=0.5, reconnect_max_s=4.0)
    broker_log_before = cloud.broker.log_path.read_text().count("New connection from")
    caplog.set_level(logging.ERROR, logger="humwatch_edge")
    # When it runs for four seconds
    with running_agent(document) as agent:
        assert wait_until(lambda: agent.spool.stats().clips >= 2, 5)
        wait_until(lambda: False, 4.0)
        attempts = agent.link.connect_attempts
    # Then it tried a handful of times (backoff 0.5, 1, 2 s ...), not hundreds, and said why
    assert 1 <= attempts <= 5
    broker_attempts = cloud.broker.log_path.read_text().count("New connection from") - broker_log_before
    assert broker_attempts <= 5
    errors = [r.getMessage() for r in caplog.records if r.name == "humwatch_edge.mqtt_link"]
    assert errors and all("certificate" in e for e in errors)
    # And nothing it recorded meanwhile was lost
    assert cloud.object_count() == 0
    assert read_only_stats(tmp_path / "spool").clips >= 2
    uuid.UUID(read_only_stats(tmp_path / "spool").entries[0].clip_id)


def test_given_capture_source_missing_at_start_when_it_appears_then_captured_and_delivered(
    tmp_path: Path, cloud: Cloud
) -> None:
    # Given an empty recordings folder (like an unplugged microphone) at start
    folder = tmp_path / "recordings"
    folder.mkdir()
    document = edge_document(
        tmp_path / "spool",
        cloud.device(),
        cloud,
        interval_s=0.3,
        duration_s=0.1,
        source={"source": "folder", "folder": str(folder)},
    )
    with running_agent(document) as agent:
        # Then the program keeps running and reports the problem
        assert wait_until(lambda: agent.capture_errors >= 2, 5)
        assert agent.link.wait_ready(5)
        # When the source becomes available, clips flow again without a restart
        sf.write(folder / "a.wav", np.zeros(1600, dtype=np.float32), 16000)
        assert wait_until(lambda: cloud.object_count() >= 1, 10)


def test_given_cloud_refuses_clip_for_good_when_delivering_then_set_aside_and_queue_moves_on(
    tmp_path: Path, cloud: Cloud
) -> None:
    # Given the presign function's size limit is below the clips' size (it answers `too_large`)
    normal = cloud.responder.deps.settings
    cloud.responder.deps.settings = normal.model_copy(update={"max_clip_bytes": 100})
    document = edge_document(tmp_path / "spool", cloud.device(), cloud, interval_s=0.3, duration_s=0.1)
    with running_agent(document) as agent:
        # When clips are refused, they are set aside (kept) instead of blocking the queue
        assert wait_until(lambda: agent.spool.counters.rejected_clips >= 2, 10)
        rejected = list((tmp_path / "spool" / "rejected").glob("*.reason.json"))
        assert rejected and "too_large" in rejected[0].read_text()
        # And once the limit is normal again, the next clips are delivered
        cloud.responder.deps.settings = normal
        assert wait_until(lambda: cloud.object_count() >= 2, 10)
    assert cloud.responder.answers[0]["error"]["code"] == "too_large"


def test_given_hourly_quota_used_up_when_delivering_then_clips_wait_for_the_next_hour_and_none_is_lost(
    tmp_path: Path, cloud: Cloud
) -> None:
    # Given a cloud that grants 2 upload URLs per device and hour, its clock 2 s before the hour
    # (the test moves it past the hour once the device has been refused)
    hour = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    clock = {"now": hour + timedelta(minutes=59, seconds=58)}
    responder = cloud.responder
    responder.deps.clock = lambda: clock["now"]
    responder.deps.settings = responder.deps.settings.model_copy(update={"max_uploads_per_hour": 2})
    # And a device with 4 recordings to send
    _write_recordings(tmp_path / "recordings", 4)
    document = edge_document(
        tmp_path / "spool",
        cloud.device(),
        cloud,
        duration_s=0.5,
        interval_s=0.6,
        source={"source": "folder", "folder": str(tmp_path / "recordings"), "loop": False},
    )
    with running_agent(document) as agent:
        # When its third request is refused for the quota
        assert wait_until(lambda: any("error" in a for a in responder.answers), 20), responder.answers
        (refusal,) = [a for a in responder.answers if "error" in a]
        refused_at = responder.answer_times[responder.answers.index(refusal)]
        clock["now"] = hour + timedelta(hours=1, seconds=1)
        # Then every clip still arrives, the refused one after the next hour began
        assert wait_until(lambda: cloud.object_count() == 4, 20), agent.spool.stats()
        assert wait_until(lambda: agent.spool.stats().clips == 0, 5)

    assert refusal["error"]["code"] == "quota_exceeded" and refusal["error"]["retry_after_s"] == 2
    # The device kept the refused clip and asked again no sooner than the retry-after
    refused_clip = refusal["clip_id"]
    asked = [i for i, (_, p) in enumerate(responder.requests) if p["clip_id"] == refused_clip]
    assert len(asked) == 2
    assert responder.request_times[asked[1]] - refused_at >= 2.0
    # Nothing was lost or set aside, and the clips arrived in capture order
    stats = read_only_stats(tmp_path / "spool")
    assert stats.counters.rejected_clips == 0 and stats.counters.dropped_clips == 0
    assert stats.counters.uploaded_clips == 4
    granted = [a["clip_id"] for a in responder.answers if "url" in a]
    first_requests = list(dict.fromkeys(p["clip_id"] for _, p in responder.requests))
    assert granted == first_requests and len(granted) == 4
    assert sorted(_uploaded_ids(cloud)) == sorted(granted)
