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


# --- the one table: every code sorted -----------------------------------------------------------------
def _modeled_error_codes(service: str) -> set[str]:
    import botocore.session

    model = botocore.session.get_session().get_service_model(service)
    return {shape.metadata.get("error", {}).get("code") or shape.name for shape in model.error_shapes}


@pytest.mark.parametrize("service", ["s3", "dynamodb"])
def test_every_error_the_service_model_declares_is_sorted(service):
    unsorted = _modeled_error_codes(service) - set(aws.ERROR_CODES)
    assert not unsorted, f"add these {service} codes to humwatch.dal.aws.ERROR_CODES: {sorted(unsorted)}"


def test_every_kind_has_a_disposition():
    assert set(aws.DISPOSITIONS) == set(aws.AwsErrorKind)
    rejected = {k for k, d in aws.DISPOSITIONS.items() if d is Disposition.REJECT}
    assert rejected == {aws.AwsErrorKind.NOT_FOUND, aws.AwsErrorKind.RANGE_NOT_SATISFIABLE}


@pytest.mark.parametrize(("code", "kind"), sorted(aws.ERROR_CODES.items()))
def test_each_code_is_translated_as_its_kind_says(code, kind):
    # A 400 status: the table alone decides (a 5xx status would make any code transient)
    original = client_error(code, 400)
    assert aws.classify(original) is kind
    if kind is aws.AwsErrorKind.TRANSIENT:
        with pytest.raises(TransientError, match=code), aws.translate_errors():
            raise original
    else:
        with pytest.raises(ClientError) as err, aws.translate_errors():
            raise original
        assert err.value is original
        assert aws.disposition_of(original) is aws.DISPOSITIONS[kind]


def test_an_unknown_code_is_retried_unless_its_status_says_transient():
    unknown = client_error("BrandNewException", 400)
    assert aws.classify(unknown) is aws.AwsErrorKind.UNKNOWN
    assert aws.disposition_of(unknown) is Disposition.RETRY
    assert disposition(unknown) is Disposition.RETRY  # reaches the queue unchanged: DLQ backstop
    assert aws.classify(client_error("BrandNewException", 503)) is aws.AwsErrorKind.TRANSIENT
    assert aws.classify(client_error("BrandNewException", 429)) is aws.AwsErrorKind.TRANSIENT


def test_botocore_errors_without_a_response_are_sorted():
    from botocore.exceptions import NoCredentialsError, ParamValidationError

    assert aws.classify(NoCredentialsError()) is aws.AwsErrorKind.DEPLOYMENT
    assert aws.classify(ParamValidationError(report="Bucket: missing")) is aws.AwsErrorKind.BAD_REQUEST


# --- codes moto cannot produce: botocore Stubber on the real dal classes --------------------------------
# (the codes moto can produce are provoked for real in tests/integration/test_aws_error_codes.py)
KEY = "clips/fan-01/2026/11/26/2026-11-26T14:05:00Z_0b9d8a52-3f4e-4c1a-9d2b-6f1e2a3b4c5d.flac"


@pytest.fixture
def offline_client(monkeypatch):
    """`service` -> a production client (dal/aws.py config) that never reaches the network."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setattr(aws, "_SESSION", None)
    return lambda service: aws.client(service, endpoint_url="http://127.0.0.1:9", region="us-east-1")


def _stub_error(client: Any, method: str, code: str, status: int) -> Any:
    """The next `method` call answers with this error (Stubber answers before botocore's retries)."""
    from botocore.stub import Stubber

    stubber = Stubber(client)
    stubber.add_client_error(method, service_error_code=code, http_status_code=status)
    stubber.activate()
    return stubber


@pytest.mark.parametrize(
    ("code", "status"),
    [("SlowDown", 503), ("InternalError", 500), ("RequestTimeout", 400), ("ExpiredToken", 400)],
)
def test_s3_throttling_and_server_errors_on_a_clip_download_are_retried(offline_client, code, status):
    from humwatch.dal.clip_store import ClipStore

    s3 = offline_client("s3")
    stubber = _stub_error(s3, "get_object", code, status)
    with pytest.raises(TransientError, match=code) as err:
        ClipStore("humwatch-clips", client=s3).get_bytes(KEY, max_bytes=1000)
    assert disposition(err.value) is Disposition.RETRY
    stubber.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("AccessDenied", 403),
        ("KMS.DisabledException", 400),
        ("InvalidObjectState", 403),
        ("SignatureDoesNotMatch", 403),
    ],
)
def test_s3_deployment_faults_on_a_clip_download_go_back_to_the_queue(offline_client, code, status):
    from humwatch.dal.clip_store import ClipStore

    s3 = offline_client("s3")
    _stub_error(s3, "get_object", code, status)
    with pytest.raises(ClientError) as err:
        ClipStore("humwatch-clips", client=s3).get_bytes(KEY, max_bytes=1000)
    # Not the clip's fault: never recorded as REJECTED, retried until the DLQ (and its alarm)
    assert aws.error_code(err.value) == code
    assert aws.classify(err.value) is aws.AwsErrorKind.DEPLOYMENT
    assert disposition(err.value) is Disposition.RETRY


@pytest.mark.parametrize(
    "code", ["ProvisionedThroughputExceededException", "ThrottlingException", "InternalServerError"]
)
def test_dynamodb_throttling_on_a_write_is_retried(offline_client, code):
    from humwatch.dal.table_client import TableClient

    ddb = offline_client("dynamodb")
    status = 500 if code == "InternalServerError" else 400
    stubber = _stub_error(ddb, "put_item", code, status)
    with pytest.raises(TransientError, match=code):
        TableClient("humwatch-history", client=ddb).put({"pk": "device#fan-01", "sk": "state"})
    stubber.assert_no_pending_responses()


def test_dynamodb_access_denied_is_not_a_failed_condition(offline_client):
    from humwatch.dal.table_client import TableClient

    ddb = offline_client("dynamodb")
    _stub_error(ddb, "put_item", "AccessDeniedException", 400)
    with pytest.raises(ClientError) as err:
        TableClient("humwatch-history", client=ddb).put(
            {"pk": "device#fan-01", "sk": "state"}, ConditionExpression="attribute_not_exists(pk)"
        )
    assert aws.classify(err.value) is aws.AwsErrorKind.DEPLOYMENT
    assert disposition(err.value) is Disposition.RETRY
