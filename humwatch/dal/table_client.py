"""The one client of the history table that every item type goes through.

It owns the boto3 DynamoDB client and the table name, maps AWS failures through `dal/aws.py`
(transient -> TransientError), turns a failed write condition into a return value, and pages every
Query through `LastEvaluatedKey`. Reads are GetItem or Query on a key, never a Scan. The classes
per item type (`ClipResults`, `AlertStates`, `DeviceRegistry`, `DeviceTelemetry`,
`ModelRegistry`) build keys and records on top of it; the table layout is in
docs/architecture.md ("History table").
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from botocore.exceptions import ClientError

from humwatch.dal import aws
from humwatch.dal.dynamo_items import deserialize_item, key, serialize_item

_CONDITION_FAILED = "ConditionalCheckFailedException"


class TableClient:
    """`client` is a boto3 DynamoDB client (built from `dal/aws.py` when omitted)."""

    def __init__(self, table_name: str, *, client: Any | None = None, page_size: int = 100) -> None:
        self.table_name = table_name
        self.page_size = page_size
        self._client = client if client is not None else aws.client("dynamodb")

    def get(self, pk: str, sk: str, *, consistent: bool = True) -> dict[str, Any] | None:
        with aws.translate_errors():
            resp = self._client.get_item(
                TableName=self.table_name, Key=key(pk, sk), ConsistentRead=consistent
            )
        item = resp.get("Item")
        return deserialize_item(item) if item else None

    def put(self, item: Mapping[str, Any], **conditions: Any) -> bool:
        """PutItem; False when the condition failed (the item exists / was changed by someone else)."""
        try:
            with aws.translate_errors():
                self._client.put_item(TableName=self.table_name, Item=serialize_item(item), **conditions)
        except ClientError as exc:
            if aws.error_code(exc) == _CONDITION_FAILED:
                return False
            raise
        return True

    def update(self, pk: str, sk: str, **request: Any) -> dict[str, Any] | None:
        """UpdateItem returning the new item; None when the condition failed."""
        try:
            with aws.translate_errors():
                resp = self._client.update_item(
                    TableName=self.table_name, Key=key(pk, sk), ReturnValues="ALL_NEW", **request
                )
        except ClientError as exc:
            if aws.error_code(exc) == _CONDITION_FAILED:
                return None
            raise
        return deserialize_item(resp["Attributes"])

    def query(
        self, *, limit: int | None = None, page_size: int | None = None, **request: Any
    ) -> Iterator[dict[str, Any]]:
        """Query, following LastEvaluatedKey until `limit` items were yielded or the data ends."""
        remaining = limit
        start_key: dict[str, Any] | None = None
        size = page_size or self.page_size
        while True:
            page_request = dict(request, TableName=self.table_name)
            # Without a filter, Limit can stop DynamoDB exactly where the caller stops.
            page_request["Limit"] = (
                size if remaining is None or "FilterExpression" in request else min(size, remaining)
            )
            if start_key:
                page_request["ExclusiveStartKey"] = start_key
            with aws.translate_errors():
                resp = self._client.query(**page_request)
            for raw in resp.get("Items", []):
                yield deserialize_item(raw)
                if remaining is not None:
                    remaining -= 1
                    if remaining <= 0:
                        return
            start_key = resp.get("LastEvaluatedKey")
            if not start_key:
                return

    def query_sort_key_prefix(self, pk: str, sk_prefix: str) -> Iterator[dict[str, Any]]:
        """Every item of one partition whose sort key starts with `sk_prefix`."""
        return self.query(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": {"S": pk}, ":prefix": {"S": sk_prefix}},
        )
