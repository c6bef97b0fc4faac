"""presign_upload against a moto server: IoT rule event in, iot-data answer out, real HTTP PUT.

moto (5.x) accepts presigned PUTs without checking the SigV4 query signature or the body's MD5,
so the binding to Content-MD5 / Content-Type / key is checked the way S3 checks it: by
recomputing the SigV4 signature of the request the device would send (`sigv4_query_signature`,
verified first against the URL's own signature for the headers it was made for).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lambda_harness import invoke, load_handler, receive_lambda_event
from moto.iotdata.models import iotdata_backends

from humwatch import contracts as c
from humwatch.dal import aws
from humwatch.dal.provisioning import StackResources

THING = "fan-01"
SECRET_KEY = "testing"  # the fake credentials the moto fixture exports (AWS_SECRET_ACCESS_KEY)


def flac_bytes(seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    sf.write(buf, (0.1 * rng.standard_normal(32_000)).astype(np.float32), 16000, format="FLAC")
    return buf.getvalue()


def content_md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def rule_event(thing: str, data: bytes, **overrides: Any) -> dict[str, Any]:
    """What the upload-request IoT rule hands the function (contracts.upload_request_rule_event)."""
    event: dict[str, Any] = {
        "clip_id": str(uuid.uuid4()),
        "captured_at": c.format_timestamp(datetime.now(UTC) - timedelta(seconds=5)),
        "content_type": "audio/flac",
        "size": len(data),
        "md5": content_md5(data),
        "sample_rate": 16000,
        "duration_s": 2.0,
    }
    event.update(overrides)
    return c.upload_request_rule_event(c.upload_request_topic(thing), event)


def published_answers() -> list[tuple[str, dict[str, Any]]]:
    backend = iotdata_backends["123456789012"]["us-east-1"]
    return [(topic, json.loads(payload)) for topic, payload in backend.published_payloads]


def http_put(url: str, data: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=data, method="PUT", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def sigv4_query_signature(method: str, url: str, headers: dict[str, str], secret_key: str) -> str:
    """The SigV4 signature S3 computes for a presigned request carrying `headers` (AWS docs:
    "Authenticating Requests: Using Query Parameters")."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "X-Amz-Signature"]
    params = dict(query)
    signed = params["X-Amz-SignedHeaders"].split(";")
    all_headers = {k.lower(): v.strip() for k, v in headers.items()}
    all_headers["host"] = parts.netloc
    canonical_query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(query))
    canonical_headers = "".join(f"{h}:{all_headers.get(h, '')}\n" for h in signed)
    canonical_request = "\n".join(
        [method, parts.path, canonical_query, canonical_headers, ";".join(signed), "UNSIGNED-PAYLOAD"]
    )
    _access_key, day, region, service, terminator = params["X-Amz-Credential"].split("/")
    scope = "/".join([day, region, service, terminator])
    string_to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            params["X-Amz-Date"],
            scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    key = _hmac(_hmac(_hmac(_hmac(("AWS4" + secret_key).encode(), day), region), service), terminator)
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def url_signature(url: str) -> str:
    return dict(parse_qsl(urlsplit(url).query))["X-Amz-Signature"]


@pytest.fixture
def handler(functions_env: dict[str, str]):
    iotdata_backends["123456789012"]["us-east-1"].published_payloads.clear()
    return load_handler("presign_upload")


def test_a_device_gets_a_url_and_its_upload_lands_and_is_announced(aws_stack: StackResources, handler):
    # Given a device that asks to upload a real FLAC clip
    data = flac_bytes()
    event = rule_event(THING, data)
    # When the function handles the rule event
    answer = invoke(handler, event)
    # Then the device gets the answer on its response topic
    assert published_answers() == [(c.upload_response_topic(THING), answer)]
    response = c.UploadResponse.model_validate(answer)
    assert response.key.startswith(f"clips/{THING}/")
    # And a real HTTP PUT with the announced headers is accepted and stores exactly those bytes
    assert http_put(response.url, data, response.headers) == 200
    s3 = aws.client("s3", endpoint_url=aws_stack.endpoint_url)
    assert s3.get_object(Bucket=aws_stack.bucket, Key=response.key)["Body"].read() == data
    # And S3 announces it on the clip queue for process_clip
    notification = receive_lambda_event(aws_stack, expected=1)
    assert any(event["clip_id"] in r["body"] for r in notification["Records"])


def test_the_url_is_bound_to_md5_type_and_key(aws_stack: StackResources, handler):
    data = flac_bytes(1)
    answer = invoke(handler, rule_event(THING, data))
    url, headers = answer["url"], answer["headers"]
    signed = dict(parse_qsl(urlsplit(url).query))["X-Amz-SignedHeaders"].split(";")
    assert {"content-md5", "content-type", "host"} <= set(signed)
    # The verifier reproduces the URL's signature for the headers it was issued for ...
    assert sigv4_query_signature("PUT", url, headers, SECRET_KEY) == url_signature(url)
    # ... and S3 computes a different one (403 SignatureDoesNotMatch) for any other MD5, type or key
    wrong_md5 = dict(headers, **{"Content-MD5": content_md5(flac_bytes(2))})
    assert sigv4_query_signature("PUT", url, wrong_md5, SECRET_KEY) != url_signature(url)
    wrong_type = dict(headers, **{"Content-Type": "audio/wav"})
    assert sigv4_query_signature("PUT", url, wrong_type, SECRET_KEY) != url_signature(url)
    other_key = url.replace(f"/clips/{THING}/", "/clips/victim-02/")
    assert sigv4_query_signature("PUT", other_key, headers, SECRET_KEY) != url_signature(url)


def test_no_request_reaches_another_things_prefix(handler):
    data = flac_bytes()
    attempts = [
        rule_event(THING, data, thing_name="victim-02"),
        rule_event(THING, data, key="clips/victim-02/x.flac"),
        rule_event(THING, data, clip_id="../victim-02/0b9d8a52-3f4e-4c1a-9d2b-6f1e2a3b4c5d"),
    ]
    for attempt in attempts:
        answer = invoke(handler, attempt)
        if "error" in answer:
            assert answer["error"]["code"] == "bad_clip_id"
            continue
        assert answer["key"].startswith(f"clips/{THING}/")
        assert urlsplit(answer["url"]).path.split("/")[3] == THING  # /bucket/clips/THING/...
    # A "thing" field in the device's payload is dropped by the rule: only topic(2) names the thing
    device_payload = dict(rule_event(THING, data), thing="victim-02")
    event = c.upload_request_rule_event(c.upload_request_topic(THING), device_payload)
    assert event["thing"] == THING
    answer = invoke(handler, event)
    assert answer["key"].startswith(f"clips/{THING}/")


def test_urls_expire_within_15_minutes(handler, monkeypatch):
    before = datetime.now(UTC)
    answer = invoke(handler, rule_event(THING, flac_bytes()))
    expires = int(dict(parse_qsl(urlsplit(answer["url"]).query))["X-Amz-Expires"])
    assert 0 < expires <= 900
    assert c.parse_timestamp(answer["expires_at"]) <= before + timedelta(minutes=15, seconds=1)


def test_a_bad_request_is_answered_with_an_error_and_no_url(handler):
    answer = invoke(handler, rule_event(THING, flac_bytes(), md5="0123456789abcdef0123456789abcdef"))
    assert set(answer) == {"clip_id", "error"} and answer["error"]["code"] == "bad_md5"
    assert published_answers() == [(c.upload_response_topic(THING), answer)]


# --- per-device quota (maxUploadsPerHour) -------------------------------------------------------------
def quota_items(stack: StackResources, thing: str) -> list[dict[str, Any]]:
    ddb = aws.client("dynamodb", endpoint_url=stack.endpoint_url)
    resp = ddb.query(
        TableName=stack.table,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :quota)",
        ExpressionAttributeValues={":pk": {"S": c.device_pk(thing)}, ":quota": {"S": "quota#"}},
    )
    return list(resp["Items"])


def test_a_device_past_its_hourly_quota_gets_exactly_the_excess_refused_and_others_are_unaffected(
    aws_stack: StackResources, functions_env: dict[str, str], monkeypatch
):
    # Given presign_upload deployed with maxUploadsPerHour = 5, its clock pinned inside one hour
    limit, excess = 5, 3
    monkeypatch.setenv("HUMWATCH_MAX_UPLOADS_PER_HOUR", str(limit))
    iotdata_backends["123456789012"]["us-east-1"].published_payloads.clear()
    handler = load_handler("presign_upload")
    from humwatch.services import wiring

    now = datetime.now(UTC).replace(minute=30, second=0, microsecond=0)
    wiring.presign_deps().clock = lambda: now
    data = flac_bytes()
    ts = c.format_timestamp(now - timedelta(minutes=1))
    # When fan-01 asks for limit + excess URLs, and fan-02 asks after fan-01 ran out
    first = [invoke(handler, rule_event(THING, data, captured_at=ts)) for _ in range(limit + excess)]
    other = [invoke(handler, rule_event("fan-02", data, captured_at=ts)) for _ in range(limit)]
    # Then exactly the excess is refused, each with the stable code and the seconds to the next hour
    refused = [a for a in first if "error" in a]
    assert len(refused) == excess and all("url" in a for a in first[:limit])
    for answer in refused:
        assert answer["error"]["code"] == "quota_exceeded"
        assert answer["error"]["retry_after_s"] == 30 * 60
        assert "url" not in answer
    # And the other device got every URL it asked for
    assert all("url" in a for a in other)
    # And the device received each answer on its own topic
    topics = [topic for topic, _ in published_answers()]
    assert topics.count(c.upload_response_topic(THING)) == limit + excess
    assert topics.count(c.upload_response_topic("fan-02")) == limit
    # And the table holds one counter per device for this hour, with a TTL after the hour
    (item,) = quota_items(aws_stack, THING)
    assert item["sk"]["S"] == c.upload_quota_sk(now) and item["uploads"]["N"] == str(limit)
    assert int(item["ttl"]["N"]) > (now + timedelta(minutes=30)).timestamp()
    assert quota_items(aws_stack, "fan-02")[0]["uploads"]["N"] == str(limit)


# --- malformed requests through the handler (Hypothesis; the full properties run in tests/unit) ----------
# Far future, very old, before year 1 and after 9999 in UTC, and without a timezone.
EXTREME_TIMES = [
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "2999-01-01T00:00:00Z",
    "1970-01-01T00:00:00Z",
    "2026-11-26T14:00:00",
]
# Every field either absent or of a wrong type or range; `size` is never valid, so neither is the whole.
MALFORMED = st.fixed_dictionaries(
    {},
    optional={
        "clip_id": st.none() | st.integers() | st.text(max_size=40) | st.lists(st.integers(), max_size=2),
        "captured_at": st.none()
        | st.text(max_size=30)
        | st.sampled_from(EXTREME_TIMES)
        | st.integers(min_value=-(10**15), max_value=10**15),
        "content_type": st.none() | st.text(max_size=20) | st.integers(),
        "size": st.none()
        | st.integers(max_value=0)
        | st.integers(min_value=10**7, max_value=10**40)
        | st.floats(allow_nan=True).filter(lambda f: not (f.is_integer() and 0 < f <= 5_000_000))
        | st.sampled_from(["", "big", "-1", "1e99"]),
        "md5": st.none() | st.text(max_size=30) | st.integers(),
        "sample_rate": st.integers(min_value=-(10**30), max_value=10**30) | st.text(max_size=5),
        "duration_s": st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=5),
    },
)


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(payload=MALFORMED)
def test_malformed_requests_through_the_handler_get_a_typed_error_and_never_reach_s3(
    aws_stack: StackResources, handler, payload
):
    backend = iotdata_backends["123456789012"]["us-east-1"]
    backend.published_payloads.clear()
    # Given a payload with at least one field missing or malformed (the rule keeps contract fields)
    event = c.upload_request_rule_event(c.upload_request_topic(THING), payload)
    # When the function handles it
    answer = invoke(handler, event)
    # Then the device gets the contract's typed error on its topic, and no URL was issued
    assert set(answer) == {"clip_id", "error"}
    error = c.UploadError.model_validate(answer).error
    assert error.code in {"invalid_request", "bad_clip_id", "unsupported_content_type", "too_large",
                          "bad_md5", "bad_captured_at"}  # fmt: skip
    assert published_answers() == [(c.upload_response_topic(THING), answer)]
    # And nothing reached S3 or used up the device's quota
    s3 = aws.client("s3", endpoint_url=aws_stack.endpoint_url)
    assert s3.list_objects_v2(Bucket=aws_stack.bucket).get("KeyCount", 0) == 0
    assert quota_items(aws_stack, THING) == []
