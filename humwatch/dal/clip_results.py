"""Clip results in the history table: one item per clip, written once, read by device and time.

Item: pk `device#{thing}`, sk `clip#{captured_at}#{clip_id}`; anomalous clips also carry the
sparse `anomalies-by-day` index keys (docs/architecture.md, "History table").
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime
from typing import Any

from humwatch import contracts as c
from humwatch.dal.dynamo_items import now_seconds
from humwatch.dal.table_client import TableClient
from humwatch.errors import NotFound
from humwatch.records import LABELS, ClipRecord

_CLIP_SK_PREFIX = "clip#"
_CLIP_SK_END = "clip#~"  # '~' sorts after every character a timestamp or uuid uses


def clip_item(record: ClipRecord) -> dict[str, Any]:
    item: dict[str, Any] = record.model_dump(mode="python", exclude_none=True)
    item[c.PK] = c.device_pk(record.thing)
    item[c.SK] = c.clip_sk(record.captured_at, record.clip_id)
    if record.is_anomaly:
        item[c.ANOMALY_INDEX_PK] = c.anomaly_index_pk(record.captured_at)
        item[c.ANOMALY_INDEX_SK] = c.anomaly_index_sk(record.captured_at, record.thing, record.clip_id)
    return item


def clip_record(item: Mapping[str, Any]) -> ClipRecord:
    return ClipRecord.model_validate(item)


def _day_text(day: date | datetime | str) -> str:
    if isinstance(day, datetime):
        return f"{day.astimezone(UTC):%Y-%m-%d}"
    if isinstance(day, date):
        return day.isoformat()
    return date.fromisoformat(day).isoformat()


class ClipResults:
    def __init__(self, table: TableClient) -> None:
        self._table = table

    def put(self, record: ClipRecord) -> bool:
        """Write a clip's result once: False when the clip already has an item (duplicate event)."""
        return self._table.put(clip_item(record), ConditionExpression="attribute_not_exists(pk)")

    def get(self, thing: str, captured_at: datetime, clip_id: str) -> ClipRecord | None:
        item = self._table.get(c.device_pk(thing), c.clip_sk(captured_at, clip_id))
        return clip_record(item) if item else None

    def query(
        self,
        thing: str,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
        newest_first: bool = True,
        *,
        anomalies_only: bool = False,
        page_size: int | None = None,
    ) -> Iterator[ClipRecord]:
        """Clip results of one device with since <= captured_at <= until (both optional)."""
        low = _CLIP_SK_PREFIX + (c.format_timestamp(since) if since else "")
        high = (_CLIP_SK_PREFIX + c.format_timestamp(until) + "#~") if until else _CLIP_SK_END
        request: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :low AND :high",
            "ExpressionAttributeValues": {
                ":pk": {"S": c.device_pk(thing)},
                ":low": {"S": low},
                ":high": {"S": high},
            },
            "ScanIndexForward": not newest_first,
        }
        if anomalies_only:
            request["FilterExpression"] = "is_anomaly = :true"
            request["ExpressionAttributeValues"][":true"] = {"BOOL": True}
        for item in self._table.query(limit=limit, page_size=page_size, **request):
            yield clip_record(item)

    def anomalies(
        self,
        day: date | datetime | str,
        *,
        thing: str | None = None,
        limit: int | None = None,
        newest_first: bool = True,
        page_size: int | None = None,
    ) -> Iterator[ClipRecord]:
        """Anomalous clips of one UTC day across devices (sparse GSI), optionally for one device."""
        request: dict[str, Any] = {
            "IndexName": c.ANOMALY_INDEX,
            "KeyConditionExpression": f"{c.ANOMALY_INDEX_PK} = :day",
            "ExpressionAttributeValues": {":day": {"S": f"anomaly#{_day_text(day)}"}},
            "ScanIndexForward": not newest_first,
        }
        if thing is not None:
            request["FilterExpression"] = "#thing = :thing"
            request["ExpressionAttributeNames"] = {"#thing": "thing"}
            request["ExpressionAttributeValues"][":thing"] = {"S": thing}
        for item in self._table.query(limit=limit, page_size=page_size, **request):
            yield clip_record(item)

    def find(self, thing: str, clip_id: str) -> ClipRecord | None:
        """A clip by id alone (operators copy ids from alerts): a Query over the device's clips."""
        request: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :clip)",
            "FilterExpression": "clip_id = :id",
            "ExpressionAttributeValues": {
                ":pk": {"S": c.device_pk(thing)},
                ":clip": {"S": _CLIP_SK_PREFIX},
                ":id": {"S": clip_id},
            },
            "ScanIndexForward": False,
        }
        for item in self._table.query(limit=1, page_size=500, **request):
            return clip_record(item)
        return None

    def set_label(
        self,
        thing: str,
        clip_id: str,
        label: str,
        note: str | None = None,
        *,
        captured_at: datetime | None = None,
        at: datetime | None = None,
    ) -> ClipRecord:
        """Store operator feedback on a clip's item; NotFound if the clip does not exist."""
        if label not in LABELS:
            raise ValueError(f"label must be one of {', '.join(LABELS)}, got {label!r}")
        if captured_at is None:
            found = self.find(thing, clip_id)
            if found is None:
                raise NotFound(f"no clip {clip_id} for device {thing}")
            captured_at = found.captured_at
        names = {"#label": "label", "#note": "label_note", "#at": "labelled_at"}
        values: dict[str, Any] = {
            ":label": {"S": label},
            ":at": {"S": c.format_timestamp(at or now_seconds())},
        }
        update = "SET #label = :label, #at = :at"
        if note:
            values[":note"] = {"S": note}
            update += ", #note = :note"
        else:
            update += " REMOVE #note"
        item = self._table.update(
            c.device_pk(thing),
            c.clip_sk(captured_at, clip_id),
            UpdateExpression=update,
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
        if item is None:
            raise NotFound(f"no clip {clip_id} for device {thing}")
        return clip_record(item)
