"""Property tests of the MQTT upload-request path (Hypothesis), at the service level with fakes.

Whatever a device (or a leaked certificate) publishes on its request topic, presign_upload must
answer with the contract's typed error, `{"clip_id", "error": {"code", "message"}}`, on that
device's response topic, or, when the topic names no valid thing, drop it and count it. Either
way nothing is signed: no URL, so nothing can reach S3. A function that refused everything would
pass those properties, so valid requests are generated too and must get their URL.
The refusals also run through the real handler against moto in
tests/integration/test_presign_upload.py.
"""

from __future__ import annotations

import base64
import math
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from presign_fakes import make_deps

from humwatch import contracts as c
from humwatch.observability import Metric, metrics
from humwatch.services.presign import MAX_DURATION_S, SAMPLE_RATES, ReasonCode, handle_upload_request

NOW = datetime(2026, 11, 26, 14, 5, tzinfo=UTC)
MAX_BYTES = 5_000_000
MAX_AGE = timedelta(days=30)
THING = "fan-01"
ERROR_CODES = {v for k, v in vars(ReasonCode).items() if k.isupper()}
PROPERTIES = settings(
    max_examples=300,
    deadline=None,  # no wall-clock limit per example: speed is for benchmarks/
    derandomize=True,  # reproducible in CI; a failure prints the example
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)

# --- strategies -------------------------------------------------------------------------------------
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
not_a_string = json_values.filter(lambda v: not isinstance(v, str))
md5s = st.binary(min_size=16, max_size=16).map(lambda d: base64.b64encode(d).decode())


def rfc3339(ts: datetime, offset_minutes: int = 0) -> str:
    return ts.astimezone(_tz(offset_minutes)).isoformat()


def _tz(offset_minutes: int) -> timezone:
    return timezone(timedelta(minutes=offset_minutes))


offsets = st.integers(min_value=-14 * 60, max_value=14 * 60)
window_times = st.datetimes(min_value=(NOW - MAX_AGE + timedelta(minutes=1)).replace(tzinfo=None),
                            max_value=(NOW + timedelta(hours=23)).replace(tzinfo=None),
                            timezones=st.just(UTC))  # fmt: skip


@st.composite
def valid_requests(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "clip_id": str(draw(st.uuids())),
        "captured_at": rfc3339(draw(window_times), draw(offsets)),
        "content_type": draw(st.sampled_from(sorted(c.CONTENT_TYPES))),
        "size": draw(st.integers(min_value=1, max_value=MAX_BYTES)),
        "md5": draw(md5s),
        "sample_rate": draw(st.integers(*SAMPLE_RATES)),
        "duration_s": draw(st.floats(min_value=0.001, max_value=MAX_DURATION_S)),
    }


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return isinstance(value, str)


# A bad value per field, and the code its refusal must carry.
# Outside the accepted window (1 day ahead, 30 days back) whatever offset (up to 14 h) they carry.
far_future = st.datetimes(min_value=datetime(2026, 11, 28, 5, 0), max_value=datetime(9999, 12, 31, 23, 59))
very_old = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(2026, 10, 26, 23, 0))
# Times near the ends of the calendar, where converting to UTC overflows (year 0 or 10000).
calendar_ends = st.sampled_from(
    [datetime(1, 1, 1), datetime(1, 1, 1, 13, 59), datetime(9999, 12, 31, 23, 59)]
)
bad_times = far_future | very_old | calendar_ends
naive_window_times = window_times.map(lambda d: d.replace(tzinfo=None))
BAD_FIELDS: dict[str, tuple[st.SearchStrategy[Any], str]] = {
    "clip_id": (
        st.text(max_size=60).filter(lambda v: not _is_uuid(v)) | not_a_string,
        ReasonCode.BAD_CLIP_ID,
    ),
    "captured_at": (
        st.builds(lambda d, o: d.replace(tzinfo=_tz(o)).isoformat(), bad_times, offsets)
        | st.builds(lambda d: d.isoformat(), bad_times | naive_window_times)  # no timezone
        | st.text(max_size=30).filter(lambda v: not v.strip().lstrip("-").replace(".", "").isdigit())
        | st.lists(json_scalars, max_size=2)
        | st.dictionaries(st.text(max_size=3), json_scalars, max_size=2)
        | st.none(),
        ReasonCode.BAD_CAPTURED_AT,
    ),
    "content_type": (
        st.text(max_size=40).filter(lambda v: v not in c.CONTENT_TYPES) | not_a_string,
        "content_type",
    ),
    "size": (
        st.integers(min_value=MAX_BYTES + 1) | st.integers(min_value=10**20, max_value=10**40),
        ReasonCode.TOO_LARGE,
    ),
    "md5": (
        st.text(max_size=40).filter(lambda v: len(_b64(v) or b"") != 16)
        | st.binary(max_size=40).filter(lambda d: len(d) != 16).map(lambda d: base64.b64encode(d).decode()),
        ReasonCode.BAD_MD5,
    ),
    "sample_rate": (
        st.integers(max_value=SAMPLE_RATES[0] - 1) | st.integers(min_value=SAMPLE_RATES[1] + 1),
        ReasonCode.INVALID_REQUEST,
    ),
    "duration_s": (
        st.floats(max_value=0.0) | st.floats(min_value=MAX_DURATION_S, exclude_min=True)
        | st.just(math.nan) | st.text(max_size=10).filter(lambda v: not _is_number(v)),
        ReasonCode.INVALID_REQUEST,
    ),
}  # fmt: skip
WRONG_TYPES: dict[str, st.SearchStrategy[Any]] = {
    "size": st.floats(allow_nan=True).filter(lambda f: not f.is_integer() or f <= 0 or f > MAX_BYTES)
    | st.lists(json_scalars, max_size=2)
    | st.text(max_size=10).filter(lambda v: not _is_number(v))
    | st.none(),
    "md5": not_a_string,
}


def _b64(value: str) -> bytes | None:
    try:
        return base64.b64decode(value, validate=True)
    except ValueError:
        return None


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


# --- the properties ---------------------------------------------------------------------------------
def answer(payload: dict[str, Any], thing: str = THING) -> tuple[dict[str, Any], Any]:
    deps = make_deps(lambda: NOW)
    metrics.clear_metrics()
    result = handle_upload_request(thing, payload, deps)
    return result, deps


def assert_refused_and_nothing_signed(result: dict[str, Any], deps: Any, thing: str = THING) -> str:
    assert set(result) == {"clip_id", "error"}
    error = c.UploadError.model_validate(result).error
    assert error.code in ERROR_CODES and error.message and error.retry_after_s is None
    assert deps.clips.calls == []  # no URL: nothing can reach S3
    assert deps.quotas.counts == {}  # and no quota used
    assert deps.channel.sent == [(c.upload_response_topic(thing), result)]
    assert Metric.UPLOADS_REFUSED in metrics.metric_set
    return error.code


@PROPERTIES
@given(
    st.dictionaries(st.sampled_from(c.UPLOAD_REQUEST_FIELDS) | st.text(max_size=12), json_values, max_size=9)
)
def test_any_payload_is_answered_on_the_devices_topic_and_signs_only_a_valid_request(payload):
    result, deps = answer(payload)
    if "error" in result:
        assert_refused_and_nothing_signed(result, deps)
    else:
        response = c.UploadResponse.model_validate(result)
        assert response.key.startswith(f"clips/{THING}/")
        assert [call["key"] for call in deps.clips.calls] == [response.key]
        assert deps.channel.sent == [(c.upload_response_topic(THING), result)]


@PROPERTIES
@given(valid_requests(), st.data())
def test_one_bad_field_gets_its_typed_refusal(request, data):
    field = data.draw(st.sampled_from(sorted(BAD_FIELDS)))
    bad_values, code = BAD_FIELDS[field]
    request[field] = data.draw(bad_values)
    result, deps = answer(request)
    got = assert_refused_and_nothing_signed(result, deps)
    # content_type: unsupported_content_type, or invalid_request when not a string at all
    content_type_codes = {ReasonCode.BAD_CONTENT_TYPE, ReasonCode.INVALID_REQUEST}
    expected = content_type_codes if code == "content_type" else {code}
    assert got in expected, (field, request[field], result)
    # the device can match the answer to its request
    assert result["clip_id"] == (request["clip_id"] if isinstance(request["clip_id"], str) else None)


@PROPERTIES
@given(valid_requests(), st.data())
def test_a_wrong_type_or_a_missing_field_is_refused(request, data):
    field = data.draw(st.sampled_from([*sorted(WRONG_TYPES), "missing"]))
    if field == "missing":
        del request[data.draw(st.sampled_from(["clip_id", "captured_at", "content_type", "size", "md5"]))]
    else:
        request[field] = data.draw(WRONG_TYPES[field])
    result, deps = answer(request)
    assert_refused_and_nothing_signed(result, deps)


@PROPERTIES
@given(valid_requests())
def test_a_valid_request_gets_a_url_for_its_own_key(request):
    result, deps = answer(request)
    response = c.UploadResponse.model_validate(result)
    captured = c.parse_timestamp(request["captured_at"])
    ext = c.CONTENT_TYPES[request["content_type"]]
    assert response.key == c.clip_key(THING, captured, request["clip_id"], ext)
    assert deps.clips.calls == [
        {
            "key": response.key,
            "content_type": request["content_type"],
            "md5": request["md5"],
            "expires_in": 600,
        }
    ]
    assert Metric.UPLOADS_PRESIGNED in metrics.metric_set


@PROPERTIES
@given(st.text(max_size=80).filter(lambda t: not c.is_valid_thing_name(t)), valid_requests())
def test_a_topic_without_a_valid_thing_is_dropped_with_a_metric(thing, request):
    result, deps = answer(request, thing=thing)
    assert result["error"]["code"] == ReasonCode.BAD_THING
    assert deps.channel.sent == [] and deps.clips.calls == []
    assert Metric.UPLOAD_REQUESTS_DROPPED in metrics.metric_set
    assert Metric.UPLOADS_REFUSED not in metrics.metric_set


@PROPERTIES
@given(
    valid_requests(),
    st.datetimes(timezones=st.builds(_tz, offsets)) | calendar_ends.map(lambda d: d.replace(tzinfo=_tz(60))),
)
def test_captured_at_anywhere_in_the_calendar_is_signed_only_inside_the_window(request, captured):
    request["captured_at"] = captured.isoformat()
    result, deps = answer(request)
    if NOW - MAX_AGE <= captured <= NOW + timedelta(days=1):
        assert "url" in result
    else:
        assert assert_refused_and_nothing_signed(result, deps) == ReasonCode.BAD_CAPTURED_AT
