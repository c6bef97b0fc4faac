"""The one mapping of AWS failures: what is retried (TransientError) and what is not."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from humwatch.dal import aws
from humwatch.errors import Disposition, TransientError, disposition


def client_error(code: str, status: int) -> ClientError:
    response: Any = {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, "PutItem")


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ProvisionedThroughputExceededException", 400),
        ("ThrottlingException", 400),
        ("RequestLimitExceeded", 400),
        ("SlowDown", 503),
        ("InternalServerError", 500),
        ("ServiceUnavailable", 503),
        ("SomethingNew", 502),
        ("TooManyRequestsException", 429),
    ],
)
def test_throttling_and_server_errors_become_transient(code, status):
    with pytest.raises(TransientError, match=code) as err, aws.translate_errors():
        raise client_error(code, status)
    assert disposition(err.value) is Disposition.RETRY


@pytest.mark.parametrize(
    "exc",
    [
        ReadTimeoutError(endpoint_url="https://dynamodb"),
        EndpointConnectionError(endpoint_url="https://dynamodb"),
    ],
)
def test_timeouts_and_connection_failures_become_transient(exc):
    with pytest.raises(TransientError), aws.translate_errors():
        raise exc


@pytest.mark.parametrize(
    ("code", "status"),
    [("AccessDeniedException", 400), ("ValidationException", 400), ("ResourceNotFoundException", 400)],
)
def test_client_errors_pass_through_unchanged(code, status):
    original = client_error(code, status)
    with pytest.raises(ClientError) as err, aws.translate_errors():
        raise original
    assert err.value is original


def test_s3_clients_sign_urls_with_sigv4(monkeypatch):
    # Presigning is local (no request), but botocore needs some credentials to sign with.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setattr(aws, "_SESSION", None)
    s3 = aws.client("s3", endpoint_url="http://127.0.0.1:9", region="eu-west-1")
    url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": "b", "Key": "k", "ContentMD5": "x", "ContentType": "audio/flac"}
    )
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in url and "content-md5" in url
