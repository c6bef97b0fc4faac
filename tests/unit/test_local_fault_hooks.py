"""The fleet load test's fault hooks, without a network: which requests the S3 outage refuses and
how, and when the killed-invocation wrapper steps in (humwatch/local/s3_outage.py,
humwatch/local/killed_invocation.py)."""

from __future__ import annotations

import io
from typing import Any

import pytest

from humwatch.local.killed_invocation import RESPONSE_MARK, KillNextBatch, child_response
from humwatch.local.s3_outage import S3Outage, is_s3_request

S3_HEADER = "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/s3/aws4_request, Signature=x"
DYNAMODB_HEADER = "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/dynamodb/aws4_request, Signature=x"
PRESIGNED_QUERY = (
    "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=testing%2F20260101%2Fus-east-1%2Fs3%2Faws4_request"
    "&X-Amz-Signature=abc"
)


def environ(*, auth: str = "", query: str = "", method: str = "PUT", body: bytes = b"") -> dict[str, Any]:
    return {
        "REQUEST_METHOD": method,
        "HTTP_AUTHORIZATION": auth,
        "QUERY_STRING": query,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }


@pytest.mark.parametrize(
    ("request_environ", "is_s3"),
    [
        (environ(auth=S3_HEADER), True),
        (environ(query=PRESIGNED_QUERY), True),
        (environ(auth=DYNAMODB_HEADER), False),
        (environ(query="Action=SendMessage"), False),
        (environ(), False),
    ],
)
def test_a_request_is_s3_by_its_sigv4_credential_scope(request_environ: dict[str, Any], is_s3: bool) -> None:
    assert is_s3_request(request_environ) is is_s3


class Recorder:
    """A WSGI app that answers 200 and counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        self.calls += 1
        start_response("200 OK", [])
        return [b"ok"]


def call(app: Any, request_environ: dict[str, Any]) -> tuple[str, bytes]:
    status: list[str] = []
    body = b"".join(app(request_environ, lambda s, headers: status.append(s)))
    return status[0], body


def test_during_an_outage_s3_answers_500_internal_error_and_reads_the_upload() -> None:
    # Given an outage in front of an app
    app, now = Recorder(), [0.0]
    outage = S3Outage(clock=lambda: now[0])
    wrapped = outage.wrap(app)
    outage.begin(30)
    upload = environ(query=PRESIGNED_QUERY, body=b"x" * 1000)
    # When a device PUTs to a presigned URL
    status, body = call(wrapped, upload)
    # Then S3's 500 InternalError comes back, the body was read, and the app never saw the request
    assert status.startswith("500") and b"<Code>InternalError</Code>" in body
    assert upload["wsgi.input"].read() == b""
    assert app.calls == 0 and outage.refused == {"PUT": 1}


def test_other_services_pass_during_an_outage_and_s3_passes_once_it_is_over() -> None:
    app, now = Recorder(), [0.0]
    outage = S3Outage(clock=lambda: now[0])
    wrapped = outage.wrap(app)
    outage.begin(30)
    assert call(wrapped, environ(auth=DYNAMODB_HEADER, method="POST"))[0] == "200 OK"
    now[0] = 30.0  # the outage has run its course
    assert call(wrapped, environ(auth=S3_HEADER, method="GET"))[0] == "200 OK"
    assert app.calls == 2 and not outage.active


def test_an_outage_can_end_early() -> None:
    outage = S3Outage()
    outage.begin(600)
    assert outage.active
    outage.end()
    assert not outage.active


def test_the_kill_waits_for_a_batch_larger_than_its_kill_point() -> None:
    # Given an armed wrapper that kills after 2 items
    calls: list[dict[str, Any]] = []

    def invoke(event: dict[str, Any]) -> dict[str, Any]:
        calls.append(event)
        return {"batchItemFailures": []}

    killer = KillNextBatch(invoke, after_items=2)
    killer.arm()
    # When a batch of only 2 records comes
    small = {"Records": [{"messageId": "a"}, {"messageId": "b"}]}
    # Then it goes to the wrapped function, and the wrapper stays armed for a bigger one
    assert killer(small) == {"batchItemFailures": []}
    assert calls == [small] and killer.armed and killer.killed == []


def test_an_unarmed_wrapper_passes_every_batch_on() -> None:
    killer = KillNextBatch(lambda event: {"seen": len(event["Records"])}, after_items=1)
    assert killer({"Records": [{"messageId": str(i)} for i in range(5)]}) == {"seen": 5}


def test_the_childs_answer_is_its_marked_line_among_log_lines() -> None:
    stdout = (
        b'{"level": "WARNING", "message": "record failed"}\n'
        + (RESPONSE_MARK + '{"batchItemFailures": [{"itemIdentifier": "m1"}]}\n').encode()
    )
    assert child_response(stdout) == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    with pytest.raises(RuntimeError):
        child_response(b'{"level": "ERROR"}\n')
