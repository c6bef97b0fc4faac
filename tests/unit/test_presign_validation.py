"""Upload request validation and the presign answer (in-memory signer and channel: pure logic)."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from humwatch import contracts as c
from humwatch.config import PresignSettings
from humwatch.errors import RequestRejected
from humwatch.services.presign import (
    PresignDeps,
    ReasonCode,
    handle_upload_request,
    validate_upload_request,
)

NOW = datetime(2026, 11, 26, 14, 5, tzinfo=UTC)
MD5 = base64.b64encode(hashlib.md5(b"clip").digest()).decode()
CLIP_ID = "0b9d8a52-3f4e-4c1a-9d2b-6f1e2a3b4c5d"


def request(**overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "clip_id": CLIP_ID,
        "captured_at": "2026-11-26T14:04:50Z",
        "content_type": "audio/flac",
        "size": 320_000,
        "md5": MD5,
        "sample_rate": 16000,
        "duration_s": 10.0,
    }
    payload.update(overrides)
    return payload


def validate(payload: dict[str, Any], thing: str = "fan-01"):
    return validate_upload_request(thing, payload, now=NOW, max_bytes=5_000_000, max_age=timedelta(days=30))


class RecordingSigner:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def presign_put(self, key: str, *, content_type: str, content_md5: str, expires_in: int) -> str:
        self.calls.append(
            {"key": key, "content_type": content_type, "md5": content_md5, "expires_in": expires_in}
        )
        return f"https://bucket.example/{key}?sig"


class RecordingChannel:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def publish(self, topic: str, payload: dict[str, Any], *, qos: int = 1) -> None:
        self.sent.append((topic, payload))


@pytest.fixture
def deps() -> PresignDeps:
    settings = PresignSettings.model_validate(
        {"HUMWATCH_BUCKET": "clips-bucket", "HUMWATCH_IOT_DATA_ENDPOINT": "x-ats.iot.us-east-1.amazonaws.com"}
    )
    return PresignDeps(
        settings=settings, clips=RecordingSigner(), channel=RecordingChannel(), clock=lambda: NOW
    )


def test_a_valid_request_passes():
    req = validate(request())
    assert str(req.clip_id) == CLIP_ID and req.size == 320_000


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"clip_id": "not-a-uuid"}, ReasonCode.BAD_CLIP_ID),
        ({"clip_id": "../../other/clip"}, ReasonCode.BAD_CLIP_ID),
        ({"content_type": "application/octet-stream"}, ReasonCode.BAD_CONTENT_TYPE),
        ({"content_type": "audio/mpeg"}, ReasonCode.BAD_CONTENT_TYPE),
        ({"size": 5_000_001}, ReasonCode.TOO_LARGE),
        ({"size": 0}, ReasonCode.INVALID_REQUEST),
        ({"md5": hashlib.md5(b"clip").hexdigest()}, ReasonCode.BAD_MD5),
        ({"md5": "!!!notbase64"}, ReasonCode.BAD_MD5),
        ({"md5": base64.b64encode(b"short").decode()}, ReasonCode.BAD_MD5),
        ({"captured_at": "2026-11-28T00:00:00Z"}, ReasonCode.BAD_CAPTURED_AT),  # > 1 day ahead
        ({"captured_at": "2026-10-01T00:00:00Z"}, ReasonCode.BAD_CAPTURED_AT),  # > 30 days old
        ({"captured_at": "2026-11-26T14:00:00"}, ReasonCode.BAD_CAPTURED_AT),  # no timezone
        ({"captured_at": "yesterday"}, ReasonCode.BAD_CAPTURED_AT),
    ],
)
def test_bad_requests_are_refused_with_a_reason(overrides, code):
    with pytest.raises(RequestRejected) as err:
        validate(request(**overrides))
    assert err.value.code == code


def test_missing_fields_are_refused():
    payload = request()
    del payload["md5"]
    with pytest.raises(RequestRejected, match="md5"):
        validate(payload)


@pytest.mark.parametrize("thing", ["", "a/b", "fan 1", "x" * 65, "../fan"])
def test_an_invalid_thing_name_is_refused(thing):
    with pytest.raises(RequestRejected) as err:
        validate(request(), thing=thing)
    assert err.value.code == ReasonCode.BAD_THING


def test_the_answer_carries_a_url_bound_to_md5_type_and_the_topic_thing(deps):
    # Given a request that names another thing in its payload
    payload = request(thing="other-thing")
    # When fan-01 (the topic's thing) asks
    answer = handle_upload_request("fan-01", payload, deps)
    # Then the key is under fan-01's prefix, the signature covers MD5 and type, expiry <= 15 min
    assert answer["key"] == c.clip_key("fan-01", NOW - timedelta(seconds=10), CLIP_ID, "flac")
    assert answer["key"].startswith("clips/fan-01/2026/11/26/")
    call = deps.clips.calls[0]  # type: ignore[attr-defined]
    assert call == {"key": answer["key"], "content_type": "audio/flac", "md5": MD5, "expires_in": 600}
    assert answer["headers"] == {"Content-Type": "audio/flac", "Content-MD5": MD5}
    assert c.parse_timestamp(answer["expires_at"]) - NOW <= timedelta(minutes=15)
    # and the device gets it on its own response topic
    assert deps.channel.sent == [(c.upload_response_topic("fan-01"), answer)]  # type: ignore[attr-defined]
    c.UploadResponse.model_validate(answer)


def test_a_refusal_is_answered_with_the_error_and_signs_nothing(deps):
    answer = handle_upload_request("fan-01", request(content_type="text/plain"), deps)
    assert answer == {
        "clip_id": CLIP_ID,
        "error": {"code": ReasonCode.BAD_CONTENT_TYPE, "message": answer["error"]["message"]},
    }
    assert "audio/flac" in answer["error"]["message"]
    assert deps.clips.calls == []  # type: ignore[attr-defined]
    assert deps.channel.sent[0][0] == "humwatch/fan-01/upload/response"  # type: ignore[attr-defined]


def test_wav_uploads_get_a_wav_key(deps):
    answer = handle_upload_request("fan-01", request(content_type="audio/x-wav"), deps)
    assert answer["key"].endswith(f"{CLIP_ID}.wav")
