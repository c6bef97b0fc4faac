"""Each AWS error code the moto server can really produce, through the dal class that meets it.

`humwatch.dal.aws.ERROR_CODES` sorts every code into retry or reject; here each code moto can
provoke is provoked for real (HTTP, moto's own error bodies) and the test checks what the dal
raises or returns and what `humwatch.errors.disposition` then decides. Codes moto cannot
produce (throttling, 5xx, AccessDenied, KMS, expired credentials) are checked with botocore's
Stubber and hand-made ClientErrors in tests/unit/test_aws_errors.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from humwatch import contracts as c
from humwatch.dal import aws
from humwatch.dal.clip_store import ClipStore
from humwatch.dal.provisioning import StackResources
from humwatch.dal.table_client import TableClient
from humwatch.errors import AudioRejected, Disposition, NotFound, disposition

KEY = "clips/fan-01/2026/11/26/2026-11-26T14:05:00Z_0b9d8a52-3f4e-4c1a-9d2b-6f1e2a3b4c5d.flac"


@pytest.fixture
def s3(aws_stack: StackResources) -> Any:
    return aws.client("s3", endpoint_url=aws_stack.endpoint_url)


@pytest.fixture
def clips(aws_stack: StackResources, s3: Any) -> ClipStore:
    return ClipStore(aws_stack.bucket, client=s3)


@pytest.fixture
def table(aws_stack: StackResources) -> TableClient:
    return TableClient(aws_stack.table, client=aws.client("dynamodb", endpoint_url=aws_stack.endpoint_url))


def raised_code(exc: BaseException) -> str:
    cause = exc if isinstance(exc, ClientError) else exc.__cause__
    assert isinstance(cause, ClientError), f"{exc!r} does not come from an AWS error"
    return aws.error_code(cause)


# --- S3: rejected on the first try ------------------------------------------------------------------
def test_no_such_key_is_a_rejected_missing_object(clips: ClipStore):
    with pytest.raises(NotFound) as err:
        clips.get_bytes(KEY, max_bytes=1000)
    assert raised_code(err.value) == "NoSuchKey"
    assert disposition(err.value) is Disposition.REJECT


def test_head_of_a_missing_key_is_a_rejected_missing_object(clips: ClipStore):
    with pytest.raises(NotFound) as err:
        clips.head(KEY)
    assert raised_code(err.value) == "404"
    assert disposition(err.value) is Disposition.REJECT


def test_invalid_range_of_a_zero_byte_object_is_rejected_as_empty(clips: ClipStore, s3: Any, aws_stack):
    # Given a zero-byte object under clips/
    s3.put_object(Bucket=aws_stack.bucket, Key=KEY, Body=b"")
    # When it is downloaded with the ranged GET that caps the size
    with pytest.raises(AudioRejected) as err:
        clips.get_bytes(KEY, max_bytes=1000)
    # Then S3's InvalidRange is the clip's fault: rejected as empty, not retried
    assert raised_code(err.value) == "InvalidRange"
    assert err.value.code == "empty"
    assert disposition(err.value) is Disposition.REJECT


def test_precondition_failed_on_a_replaced_object_is_rejected(clips: ClipStore, s3: Any, aws_stack):
    s3.put_object(Bucket=aws_stack.bucket, Key=KEY, Body=b"second version")
    with pytest.raises(NotFound, match="replaced") as err:
        clips.get_bytes(KEY, max_bytes=1000, etag="0" * 32)
    assert raised_code(err.value) == "PreconditionFailed"
    assert disposition(err.value) is Disposition.REJECT


def test_an_object_over_the_cap_is_rejected_as_too_large(clips: ClipStore, s3: Any, aws_stack):
    s3.put_object(Bucket=aws_stack.bucket, Key=KEY, Body=b"x" * 101)
    with pytest.raises(AudioRejected) as err:
        clips.get_bytes(KEY, max_bytes=100)
    assert err.value.code == "too_large"


# --- S3: retried (a deployment fault is not the clip's fault) ----------------------------------------
def test_no_such_bucket_propagates_and_is_retried(s3: Any):
    store = ClipStore("humwatch-no-such-bucket", client=s3)
    with pytest.raises(ClientError) as err:
        store.get_bytes(KEY, max_bytes=1000)
    assert aws.error_code(err.value) == "NoSuchBucket"
    assert aws.classify(err.value) is aws.AwsErrorKind.DEPLOYMENT
    assert disposition(err.value) is Disposition.RETRY


# --- DynamoDB ---------------------------------------------------------------------------------------
def test_conditional_check_failed_is_the_callers_answer(table: TableClient):
    item = {c.PK: "device#fan-01", c.SK: "clip#x", "n": 1}
    assert table.put(item, ConditionExpression="attribute_not_exists(pk)") is True
    # A second conditional put and a conditional update both meet ConditionalCheckFailedException
    assert table.put(item, ConditionExpression="attribute_not_exists(pk)") is False
    assert (
        table.update(
            "device#fan-01",
            "clip#x",
            UpdateExpression="SET n = :two",
            ConditionExpression="n = :zero",
            ExpressionAttributeValues={":two": {"N": "2"}, ":zero": {"N": "0"}},
        )
        is None
    )
    assert table.get("device#fan-01", "clip#x") == item


def test_a_missing_table_propagates_and_is_retried(aws_stack: StackResources):
    missing = TableClient(
        "humwatch-no-such-table", client=aws.client("dynamodb", endpoint_url=aws_stack.endpoint_url)
    )
    with pytest.raises(ClientError) as err:
        missing.get("device#fan-01", "state")
    assert aws.error_code(err.value) == "ResourceNotFoundException"
    assert aws.classify(err.value) is aws.AwsErrorKind.DEPLOYMENT
    assert disposition(err.value) is Disposition.RETRY


def test_an_item_over_400_kb_is_a_bad_request_and_is_retried(table: TableClient):
    with pytest.raises(ClientError) as err:
        table.put({c.PK: "device#fan-01", c.SK: "clip#big", "blob": "x" * 500_000})
    assert aws.error_code(err.value) == "ValidationException"
    assert aws.classify(err.value) is aws.AwsErrorKind.BAD_REQUEST
    assert disposition(err.value) is Disposition.RETRY
