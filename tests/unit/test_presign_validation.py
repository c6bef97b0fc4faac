"""Upload request validation and the presign answer (in-memory signer and channel: pure logic)."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from presign_fakes import make_deps

from humwatch import contracts as c
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


@pytest.fixture
def deps() -> PresignDeps:
    return make_deps(lambda: NOW)


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
        ({"captured_at": "0001-01-01T00:00:00+01:00"}, ReasonCode.BAD_CAPTURED_AT),  # before year 1 in UTC
        ({"captured_at": "9999-12-31T23:59:59-01:00"}, ReasonCode.BAD_CAPTURED_AT),  # after 9999 in UTC
        ({"sample_rate": 10**12}, ReasonCode.INVALID_REQUEST),
        ({"sample_rate": 100}, ReasonCode.INVALID_REQUEST),
        ({"duration_s": float("inf")}, ReasonCode.INVALID_REQUEST),
        ({"duration_s": 1e300}, ReasonCode.INVALID_REQUEST),
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


# --- per-device quota -----------------------------------------------------------------------------
def test_requests_past_the_hourly_quota_are_refused_with_a_retry_after_and_sign_nothing():
    # Given a quota of 3 uploads per hour and a clock 20 minutes into the hour
    now = datetime(2026, 11, 26, 14, 40, 0, 500000, tzinfo=UTC)
    deps = make_deps(lambda: now, HUMWATCH_MAX_UPLOADS_PER_HOUR="3")
    # When fan-01 asks 5 times
    answers = [handle_upload_request("fan-01", request(clip_id=str(uuid4())), deps) for _ in range(5)]
    # Then the first 3 get URLs and the last 2 a quota refusal that says when to come back
    assert ["url" in a for a in answers] == [True, True, True, False, False]
    for answer in answers[3:]:
        assert answer["error"]["code"] == "quota_exceeded" == ReasonCode.QUOTA_EXCEEDED
        assert answer["error"]["retry_after_s"] == 19 * 60 + 60  # 14:40:00.5 -> 15:00:00, rounded up
        assert "3 per hour" in answer["error"]["message"]
        c.UploadError.model_validate(answer)
    assert len(deps.clips.calls) == 3  # type: ignore[attr-defined]
    assert [t for t, _ in deps.channel.sent] == [c.upload_response_topic("fan-01")] * 5  # type: ignore[attr-defined]


def test_the_quota_is_per_device_and_per_clock_hour():
    clock = {"now": datetime(2026, 11, 26, 14, 59, 59, tzinfo=UTC)}
    deps = make_deps(lambda: clock["now"], HUMWATCH_MAX_UPLOADS_PER_HOUR="1")
    assert "url" in handle_upload_request("fan-01", request(), deps)
    refused = handle_upload_request("fan-01", request(), deps)
    assert refused["error"]["retry_after_s"] == 1
    # Another device has its own quota
    assert "url" in handle_upload_request("fan-02", request(), deps)
    # And at the next hour fan-01 may upload again
    clock["now"] = datetime(2026, 11, 26, 15, 0, 0, tzinfo=UTC)
    assert "url" in handle_upload_request("fan-01", request(captured_at="2026-11-26T14:59:00Z"), deps)


def test_invalid_requests_do_not_use_up_the_quota(deps):
    limit = deps.settings.max_uploads_per_hour
    for _ in range(limit + 5):
        assert "error" in handle_upload_request("fan-01", request(md5="not-base64!"), deps)
    assert deps.quotas.counts == {}  # type: ignore[attr-defined]
    assert "url" in handle_upload_request("fan-01", request(), deps)


def test_the_default_quota_is_three_times_the_clips_of_an_hour():
    from humwatch.config import default_uploads_per_hour

    assert make_deps(lambda: NOW).settings.max_uploads_per_hour == 36 == default_uploads_per_hour(300)
    assert default_uploads_per_hour(60) == 180 and default_uploads_per_hour(7200) == 3
