"""The one client of the history table that every item type goes through.

It owns the boto3 DynamoDB client and the table name, maps AWS failures through `dal/aws.py`
(transient -> TransientError), turns a failed write condition into a return value, and pages every
Query through `LastEvaluatedKey`. Reads are GetItem or Query on a key, never a Scan. The classes
per item type (`ClipResults`, `AlertStates`, `DeviceRegistry`, `DeviceTelemetry`,
`ModelRegistry`) build keys and records on top of it; the table layout is in
docs/architecture.md ("History table").
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any

from botocore.exceptions import ClientError

from humwatch.contracts import PK, SK
from humwatch.dal import aws
from humwatch.dal.dynamo_items import deserialize_item, key, serialize_item
from humwatch.errors import TransientError

_BATCH_GET_KEYS = 100  # BatchGetItem's limit per call
_BATCH_GET_ATTEMPTS = 5


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
            if aws.is_condition_failed(exc):
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
            if aws.is_condition_failed(exc):
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

    def query_page(
        self,
        *,
        limit: int,
        start_key: Mapping[str, str] | None = None,
        max_evaluated: int = 5000,
        **request: Any,
    ) -> tuple[list[dict[str, Any]], dict[str, str] | None]:
        """One page of a Query for a caller that pages itself (an API): up to `limit` items after
        `start_key`, and the key to continue from (None: the data ended).

        With a FilterExpression DynamoDB may return fewer items than it read, so this reads on
        until `limit` items matched, but never evaluates more than `max_evaluated` items for one
        page: a page may then hold fewer than `limit` items and still a key to go on. The key is
        the table's (pk, sk) of the last item returned, or the one DynamoDB stopped at."""
        items: list[dict[str, Any]] = []
        evaluated = 0
        exclusive = key(start_key[PK], start_key[SK]) if start_key else None
        while True:
            page_request = dict(request, TableName=self.table_name)
            page_request["Limit"] = (
                min(self.page_size * 10, max_evaluated - evaluated)
                if "FilterExpression" in request
                else limit - len(items)
            )
            if exclusive:
                page_request["ExclusiveStartKey"] = exclusive
            with aws.translate_errors():
                resp = self._client.query(**page_request)
            evaluated += int(resp.get("ScannedCount", 0))
            for raw in resp.get("Items", []):
                items.append(deserialize_item(raw))
                if len(items) == limit:
                    last = items[-1]
                    more = raw is not resp["Items"][-1] or bool(resp.get("LastEvaluatedKey"))
                    return items, ({PK: str(last[PK]), SK: str(last[SK])} if more else None)
            exclusive = resp.get("LastEvaluatedKey")
            if not exclusive:
                return items, None
            if evaluated >= max_evaluated:
                stopped = deserialize_item(exclusive)
                return items, {PK: str(stopped[PK]), SK: str(stopped[SK])}

    def batch_get(
        self, keys: list[tuple[str, str]], *, projection: str | None = None, consistent: bool = False
    ) -> dict[tuple[str, str], dict[str, Any]]:
        """Many items by key in BatchGetItem calls of 100 keys: {(pk, sk): item}; keys without an
        item are absent. Keys DynamoDB leaves unprocessed (throttling) are asked for again."""
        found: dict[tuple[str, str], dict[str, Any]] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), _BATCH_GET_KEYS):
            request: dict[str, Any] = {
                "Keys": [key(pk, sk) for pk, sk in unique[start : start + _BATCH_GET_KEYS]],
                "ConsistentRead": consistent,
            }
            if projection:
                request["ProjectionExpression"] = projection
            pending: dict[str, Any] = {self.table_name: request}
            for attempt in range(_BATCH_GET_ATTEMPTS):
                with aws.translate_errors():
                    resp = self._client.batch_get_item(RequestItems=pending)
                for raw in resp.get("Responses", {}).get(self.table_name, []):
                    item = deserialize_item(raw)
                    found[(str(item[PK]), str(item[SK]))] = item
                pending = resp.get("UnprocessedKeys") or {}
                if not pending:
                    break
                time.sleep(min(1.0, 0.05 * 2**attempt))
            else:
                raise TransientError(f"BatchGetItem on {self.table_name}: keys still unprocessed")
        return found

    def query_sort_key_prefix(self, pk: str, sk_prefix: str) -> Iterator[dict[str, Any]]:
        """Every item of one partition whose sort key starts with `sk_prefix`."""
        return self.query(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": {"S": pk}, ":prefix": {"S": sk_prefix}},
        )
