"""Clip results in the history table: one item per clip, written once, read by device and time.

Item: pk `device#{thing}`, sk `clip#{captured_at}#{clip_id}`; anomalous clips also carry the
sparse `anomalies-by-day` index keys (docs/architecture.md, "History table").

The item is kept small because a year of them is most of the table (storage and point-in-time
recovery are billed per GB, and an item over 1 KB costs two write units): what the keys already
say (clip id, capture time, the canonical S3 key) is not stored again, and the 64 band means are
one Binary attribute of little-endian int16 hundredths of a dB (128 bytes instead of ~330 as
DynamoDB numbers; the drift check needs far less than 0.01 dB). Items written before this
format (every attribute, band means as a list of numbers) read back the same.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from humwatch import contracts as c
from humwatch.dal.dynamo_items import now_seconds
from humwatch.dal.table_client import TableClient
from humwatch.errors import NotFound
from humwatch.records import LABELS, ClipRecord, ClipSample, ClipStatus

_CLIP_SK_PREFIX = "clip#"
_CLIP_SK_END = "clip#~"  # '~' sorts after every character a timestamp or uuid uses
# Band means: int16 hundredths of a dB, so +-327.67 dB in 0.01 dB steps (log-mel band means are
# tens of dB); a clip with a value outside that range keeps the list of numbers.
BAND_MEANS_SCALE = 100.0
_INT16_MAX = 32767
_SAMPLE_PAGE = 1000  # a day of 5-minute clips (288 items, ~0.5 kB each) is one page


def encode_band_means(values: Sequence[float]) -> bytes | None:
    """The compact form of `band_means`, or None when a value does not fit (keep the list)."""
    scaled = [round(float(v) * BAND_MEANS_SCALE) for v in values]
    if not scaled or any(abs(v) > _INT16_MAX for v in scaled):
        return None
    return struct.pack(f"<{len(scaled)}h", *scaled)


def decode_band_means(data: bytes) -> list[float]:
    if len(data) % 2:
        raise ValueError(f"band means of {len(data)} bytes: not int16 values")
    return [v / BAND_MEANS_SCALE for v in struct.unpack(f"<{len(data) // 2}h", data)]


def clip_item(record: ClipRecord) -> dict[str, Any]:
    item: dict[str, Any] = record.model_dump(mode="python", exclude_none=True)
    item[c.PK] = c.device_pk(record.thing)
    item[c.SK] = c.clip_sk(record.captured_at, record.clip_id)
    # The sort key holds the capture time (whole seconds, as every timestamp is stored) and the
    # clip id; the S3 key is derived from them when it is the canonical FLAC key, else it stays.
    del item["clip_id"], item["captured_at"]
    if record.s3_key == _canonical_s3_key(record.thing, record.captured_at, record.clip_id):
        del item["s3_key"]
    if record.band_means:
        compact = encode_band_means(record.band_means)
        if compact is not None:
            item["band_means"] = compact
    if record.is_anomaly:
        item[c.ANOMALY_INDEX_PK] = c.anomaly_index_pk(record.captured_at)
        item[c.ANOMALY_INDEX_SK] = c.anomaly_index_sk(record.captured_at, record.thing, record.clip_id)
    return item


def clip_record(item: Mapping[str, Any]) -> ClipRecord:
    """A clip item of either format (see the module docstring) as a record."""
    data = dict(item)
    sk = str(data.get(c.SK, ""))
    if sk.startswith(_CLIP_SK_PREFIX):
        captured_text, _, clip_id = sk[len(_CLIP_SK_PREFIX) :].partition("#")
        data.setdefault("clip_id", clip_id)
        data.setdefault("captured_at", captured_text)
    if "s3_key" not in data:
        data["s3_key"] = _canonical_s3_key(
            str(data["thing"]), c.parse_timestamp(str(data["captured_at"])), str(data["clip_id"])
        )
    band_means = data.get("band_means")
    if isinstance(band_means, bytes | bytearray):
        data["band_means"] = decode_band_means(bytes(band_means))
    return ClipRecord.model_validate(data)


def clip_sample(item: Mapping[str, Any]) -> ClipSample:
    captured_text = str(item[c.SK])[len(_CLIP_SK_PREFIX) :].partition("#")[0]
    band_means = item.get("band_means")
    if isinstance(band_means, bytes | bytearray):
        band_means = decode_band_means(bytes(band_means))
    score = item.get("score")
    return ClipSample(
        captured_at=c.parse_timestamp(captured_text),
        status=ClipStatus(item["status"]),
        score=float(score) if score is not None else None,
        is_anomaly=bool(item.get("is_anomaly", False)),
        model_id=item.get("model_id"),
        model_version=item.get("model_version"),
        band_means=tuple(float(v) for v in band_means) if band_means else None,
        label=item.get("label"),
    )


def _canonical_s3_key(thing: str, captured_at: datetime, clip_id: str) -> str | None:
    try:
        return c.clip_key(thing, captured_at, clip_id, "flac")
    except ValueError:  # not a uuid / thing name the contract allows: store the key as it is
        return None


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
        labelled_only: bool = False,
        page_size: int | None = None,
    ) -> Iterator[ClipRecord]:
        """Clip results of one device with since <= captured_at <= until (both optional)."""
        request = self._range_request(
            thing,
            since,
            until,
            newest_first=newest_first,
            anomalies_only=anomalies_only,
            labelled_only=labelled_only,
        )
        for item in self._table.query(limit=limit, page_size=page_size, **request):
            yield clip_record(item)

    def page(
        self,
        thing: str,
        *,
        limit: int,
        after: Mapping[str, str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        anomalies_only: bool = False,
    ) -> tuple[list[ClipRecord], dict[str, str] | None]:
        """One page of a device's clips, newest first, for a caller that pages itself (the console
        API): up to `limit` records after the key `after`, and the key to continue from (None at
        the end). The same Query as `query`, one page at a time."""
        if after is not None and (
            after.get(c.PK) != c.device_pk(thing) or not str(after.get(c.SK, "")).startswith(_CLIP_SK_PREFIX)
        ):
            raise ValueError("the paging key is not one of this device's clips")
        request = self._range_request(thing, since, until, newest_first=True, anomalies_only=anomalies_only)
        items, last = self._table.query_page(limit=limit, start_key=after, **request)
        return [clip_record(item) for item in items], last

    def _range_request(
        self,
        thing: str,
        since: datetime | None,
        until: datetime | None,
        *,
        newest_first: bool,
        anomalies_only: bool = False,
        labelled_only: bool = False,
    ) -> dict[str, Any]:
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
        elif labelled_only:
            request["FilterExpression"] = "attribute_exists(label)"
        return request

    def samples(self, thing: str, since: datetime, until: datetime) -> Iterator[ClipSample]:
        """What the drift check needs of one device's clips with since <= captured_at <= until,
        oldest first: a projection of the items, in pages of up to 1 MB (read units are charged
        on whole items either way; the projection saves transfer and parsing)."""
        request: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :low AND :high",
            "ProjectionExpression": (
                "sk, #status, score, is_anomaly, model_id, model_version, band_means, #label"
            ),
            "ExpressionAttributeNames": {"#status": "status", "#label": "label"},
            "ExpressionAttributeValues": {
                ":pk": {"S": c.device_pk(thing)},
                ":low": {"S": _CLIP_SK_PREFIX + c.format_timestamp(since)},
                ":high": {"S": _CLIP_SK_PREFIX + c.format_timestamp(until) + "#~"},
            },
            "ScanIndexForward": True,
        }
        for item in self._table.query(page_size=_SAMPLE_PAGE, **request):
            yield clip_sample(item)

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
        """A clip by id alone (operators copy ids from alerts): a Query over the device's sort keys
        (the id is the end of the sort key, which a filter expression may not test), then the item."""
        request: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :clip)",
            "ProjectionExpression": "sk",
            "ExpressionAttributeValues": {":pk": {"S": c.device_pk(thing)}, ":clip": {"S": _CLIP_SK_PREFIX}},
            "ScanIndexForward": False,
        }
        suffix = "#" + clip_id
        for item in self._table.query(page_size=500, **request):
            sk = str(item[c.SK])
            if sk.endswith(suffix):
                found = self._table.get(c.device_pk(thing), sk)
                return clip_record(found) if found else None
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
