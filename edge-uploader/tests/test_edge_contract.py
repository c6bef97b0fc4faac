"""The edge package restates the cloud contract (it must not import humwatch): check they agree."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from humwatch import contracts as c
from humwatch_edge import contract as edge
from humwatch_edge.encode import content_md5, encode_flac
from humwatch_edge.spool import SpoolCounters, SpoolStats
from humwatch_edge.telemetry import build_telemetry, encode_telemetry


@pytest.mark.parametrize("thing", ["fan-01", "pump_7", "A" * 64])
def test_given_thing_when_building_topics_then_same_as_cloud(thing: str) -> None:
    assert edge.upload_request_topic(thing) == c.upload_request_topic(thing)
    assert edge.upload_response_topic(thing) == c.upload_response_topic(thing)
    assert edge.telemetry_topic(thing) == c.telemetry_topic(thing)
    # what the uploader publishes on: Basic Ingest to the rules the stack names
    assert edge.upload_request_ingest_topic(thing) == c.upload_request_ingest_topic(thing)
    assert edge.telemetry_ingest_topic(thing) == c.telemetry_ingest_topic(thing)
    assert bool(edge.THING_NAME_RE.match(thing)) == c.is_valid_thing_name(thing)


def test_given_bad_thing_names_when_checked_then_both_sides_refuse() -> None:
    for thing in ["fan 01", "a/b", "", "x" * 65, "fan+1"]:
        assert not edge.THING_NAME_RE.match(thing) and not c.is_valid_thing_name(thing)


def test_given_clip_when_building_request_then_cloud_model_accepts_it() -> None:
    clip = encode_flac(np.zeros(1600, dtype=np.float32), 16000)
    captured = datetime(2026, 11, 26, 14, 5, 0, 123000, tzinfo=timezone.utc)
    payload = edge.upload_request_payload(
        clip_id=str(uuid.uuid4()),
        captured_at=edge.format_timestamp(captured),
        size=clip.size,
        md5=clip.md5,
        sample_rate=16000,
        duration_s=0.1,
    )
    request = c.UploadRequest.model_validate(json.loads(payload))
    assert request.content_type == "audio/flac" and request.content_type in c.CONTENT_TYPES
    assert request.md5 == content_md5(clip.data) and request.size == clip.size
    assert edge.format_timestamp(captured) == c.format_timestamp(captured) == "2026-11-26T14:05:00Z"


def test_given_cloud_responses_when_parsed_then_grant_and_refusal_recognised() -> None:
    grant = c.UploadResponse(
        clip_id="abc", url="https://s3/x", headers={"Content-MD5": "m"}, key="clips/k", expires_at="t"
    )
    parsed = edge.parse_upload_response(grant.model_dump_json().encode())
    assert isinstance(parsed, edge.UploadGrant) and parsed.url == "https://s3/x" and parsed.key == "clips/k"
    refusal = c.UploadError(clip_id="abc", error=c.ErrorBody(code="too_large", message="size 9 > 1"))
    parsed_refusal = edge.parse_upload_response(refusal.model_dump_json().encode())
    assert isinstance(parsed_refusal, edge.UploadRefusal)
    assert parsed_refusal.code == "too_large" and edge.is_permanent_refusal(parsed_refusal.code)
    assert not edge.is_permanent_refusal("throttled")
    with pytest.raises(ValueError):
        edge.parse_upload_response(b'{"clip_id": "abc", "url": "x"}')
    with pytest.raises(ValueError):
        edge.parse_upload_response(b"[1, 2]")


def test_given_spool_state_when_building_telemetry_then_cloud_model_accepts_it() -> None:
    counters = SpoolCounters(dropped_clips=4, uploaded_clips=9, last_upload_at="2026-11-26T14:05:00Z")
    stats = SpoolStats(
        clips=2, bytes=5000, oldest=None, newest=None, counters=counters, disk_free_bytes=10**9
    )
    payload = build_telemetry(stats, last_error=None, extra={"thing": "fan-01"})
    model = c.Telemetry.model_validate(json.loads(encode_telemetry(payload)))
    assert (model.spool_clips, model.spool_bytes, model.dropped_clips) == (2, 5000, 4)
    assert model.last_upload_at == "2026-11-26T14:05:00Z" and model.disk_free_bytes == 10**9
    c.parse_timestamp(model.sent_at)


def test_given_config_written_by_provision_device_when_loaded_then_edge_accepts_it(tmp_path: Path) -> None:
    from humwatch.ops.provision import CaptureDefaults, SpoolDefaults, edge_config_toml
    from humwatch_edge.config import load_config

    text = edge_config_toml(
        thing="fan-03",
        endpoint="abc-ats.iot.eu-west-1.amazonaws.com",
        port=8883,
        ca_file="/etc/humwatch-edge/root-ca.pem",
        cert_file="/etc/humwatch-edge/device.cert.pem",
        key_file="/etc/humwatch-edge/device.private.key",
        spool_dir="/var/lib/humwatch-edge/spool",
        capture=CaptureDefaults(),
        spool=SpoolDefaults(),
    )
    path = tmp_path / "config.toml"
    path.write_text(text)
    config = load_config(path, env={})
    assert config.thing_name == "fan-03" and config.mqtt_port == 8883
    assert config.capture_interval_s == 300.0 and config.spool_max_bytes == 500_000_000
    assert str(config.mqtt_key_file) == "/etc/humwatch-edge/device.private.key"
