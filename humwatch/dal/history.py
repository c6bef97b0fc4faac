"""The history table: clip results, per-device alert state, telemetry, device and model registry.

Single-table design (docs/architecture.md). Every read is a GetItem or a Query on a key (never a
Scan) and paginates through `LastEvaluatedKey`; every write that must not happen twice is
conditional. Methods return typed records from `humwatch.records`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from humwatch import contracts as c
from humwatch.alerts.policy import DEFAULT_NORMAL_GAP, AlertState, ClipFlag, Severity
from humwatch.dal import aws
from humwatch.errors import ConflictError, NotFound
from humwatch.records import (
    LABELS,
    ClipRecord,
    ClipStatus,
    DeviceInfo,
    DeviceState,
    ModelPointer,
    PendingAlert,
    TelemetryRecord,
)

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()
_CLIP_SK_PREFIX = "clip#"
_CLIP_SK_END = "clip#~"  # '~' sorts after every character a timestamp or uuid uses


def _now() -> datetime:
    """Whole seconds: what the table stores (RFC3339 with Z), so a returned record equals a read."""
    return datetime.now(UTC).replace(microsecond=0)


# --- DynamoDB <-> Python ---------------------------------------------------------------------------
def _to_dynamo_value(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str | int | Decimal):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("DynamoDB cannot store NaN or infinity")
        return Decimal(repr(value))
    if isinstance(value, datetime):
        return c.format_timestamp(value)
    if isinstance(value, Mapping):
        return {str(k): _to_dynamo_value(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_to_dynamo_value(v) for v in value]
    if hasattr(value, "value"):  # enums
        return _to_dynamo_value(value.value)
    raise TypeError(f"cannot store {type(value).__name__} in DynamoDB")


def _from_dynamo_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and "." not in str(value) else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamo_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_dynamo_value(v) for v in value]
    return value


def serialize_item(item: Mapping[str, Any]) -> dict[str, Any]:
    plain = _to_dynamo_value(item)
    return {k: _SERIALIZER.serialize(v) for k, v in plain.items()}


def deserialize_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _from_dynamo_value(_DESERIALIZER.deserialize(v)) for k, v in item.items()}


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {c.PK: {"S": pk}, c.SK: {"S": sk}}


def _ts(value: Any) -> datetime | None:
    return c.parse_timestamp(value) if isinstance(value, str) and value else None


def encode_page_token(last_key: Mapping[str, Any] | None) -> str | None:
    """An opaque token for `LastEvaluatedKey` (CLI paging)."""
    if not last_key:
        return None
    return base64.urlsafe_b64encode(json.dumps(last_key, sort_keys=True).encode()).decode()


def decode_page_token(token: str) -> dict[str, Any]:
    return dict(json.loads(base64.urlsafe_b64decode(token.encode())))


# --- item <-> record -------------------------------------------------------------------------------
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


def _flag_to_dict(flag: ClipFlag) -> dict[str, Any]:
    return {
        "clip_id": flag.clip_id,
        "captured_at": flag.captured_at,
        "is_anomaly": flag.is_anomaly,
        "ratio": float(flag.ratio),
        "normal_gap": float(flag.normal_gap),
    }


def _flag_from_dict(data: Mapping[str, Any]) -> ClipFlag:
    return ClipFlag(
        clip_id=str(data["clip_id"]),
        captured_at=c.parse_timestamp(str(data["captured_at"])),
        is_anomaly=bool(data["is_anomaly"]),
        ratio=float(data["ratio"]),
        # State written before the evidence rule has no gap: the default unit.
        normal_gap=float(data.get("normal_gap", DEFAULT_NORMAL_GAP)),
    )


def state_item(state: DeviceState, rev: int) -> dict[str, Any]:
    alert = state.alert
    item: dict[str, Any] = {
        c.PK: c.device_pk(state.thing),
        c.SK: c.STATE_SK,
        "thing": state.thing,
        "recent": [_flag_to_dict(f) for f in alert.recent],
        "episode_open": alert.episode_open,
        "last_alert_at": alert.last_alert_at,
        "last_alert_severity": alert.last_severity.value if alert.last_severity else None,
        "acked_at": alert.acked_at,
        "clock": alert.clock,
        "last_clip_at": state.last_clip_at,
        "last_status": state.last_status.value if state.last_status else None,
        "last_score": state.last_score,
        "last_ratio": state.last_ratio,
        "model_id": state.model_id,
        "model_version": state.model_version,
        "pending_alert": state.pending_alert.model_dump() if state.pending_alert else None,
        "alerts_sent": state.alerts_sent,
        "rev": rev,
    }
    return {k: v for k, v in item.items() if v is not None}


def device_state(item: Mapping[str, Any]) -> DeviceState:
    severity = item.get("last_alert_severity")
    alert = AlertState(
        recent=tuple(_flag_from_dict(f) for f in item.get("recent", [])),
        last_alert_at=_ts(item.get("last_alert_at")),
        last_severity=Severity(severity) if severity else None,
        acked_at=_ts(item.get("acked_at")),
        episode_open=bool(item.get("episode_open", False)),
        clock=_ts(item.get("clock")),
    )
    pending = item.get("pending_alert")
    status = item.get("last_status")
    return DeviceState(
        thing=str(item["thing"]),
        alert=alert,
        last_clip_at=_ts(item.get("last_clip_at")),
        last_status=ClipStatus(status) if status else None,
        last_score=item.get("last_score"),
        last_ratio=item.get("last_ratio"),
        model_id=item.get("model_id"),
        model_version=item.get("model_version"),
        pending_alert=PendingAlert.model_validate(pending) if pending else None,
        alerts_sent=int(item.get("alerts_sent", 0)),
        rev=int(item["rev"]),
    )


class HistoryTable:
    """Typed access to the history table. `client` is a boto3 DynamoDB client (built when omitted)."""

    def __init__(self, table_name: str, *, client: Any | None = None, page_size: int = 100) -> None:
        self.table_name = table_name
        self._client = client if client is not None else aws.client("dynamodb")
        self.page_size = page_size

    # --- low-level helpers -------------------------------------------------------------------------
    def _get(self, pk: str, sk: str, *, consistent: bool = True) -> dict[str, Any] | None:
        with aws.translate_errors():
            resp = self._client.get_item(
                TableName=self.table_name, Key=_key(pk, sk), ConsistentRead=consistent
            )
        item = resp.get("Item")
        return deserialize_item(item) if item else None

    def _put(self, item: Mapping[str, Any], **conditions: Any) -> bool:
        """PutItem; False when the condition failed (the item exists / was changed by someone else)."""
        try:
            with aws.translate_errors():
                self._client.put_item(TableName=self.table_name, Item=serialize_item(item), **conditions)
        except ClientError as exc:
            if aws.error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def _query(
        self, *, limit: int | None = None, page_size: int | None = None, **kwargs: Any
    ) -> Iterator[dict[str, Any]]:
        """Query, following LastEvaluatedKey until `limit` items were yielded or the data ends."""
        remaining = limit
        start_key: dict[str, Any] | None = None
        size = page_size or self.page_size
        while True:
            request = dict(kwargs, TableName=self.table_name)
            # Without a filter, Limit can stop DynamoDB exactly where the caller stops.
            request["Limit"] = (
                size if remaining is None or "FilterExpression" in kwargs else min(size, remaining)
            )
            if start_key:
                request["ExclusiveStartKey"] = start_key
            with aws.translate_errors():
                resp = self._client.query(**request)
            for raw in resp.get("Items", []):
                yield deserialize_item(raw)
                if remaining is not None:
                    remaining -= 1
                    if remaining <= 0:
                        return
            start_key = resp.get("LastEvaluatedKey")
            if not start_key:
                return

    # --- clip results ------------------------------------------------------------------------------
    def put_clip_result(self, item: ClipRecord) -> bool:
        """Write a clip's result once: False when the clip already has an item (duplicate event)."""
        return self._put(clip_item(item), ConditionExpression="attribute_not_exists(pk)")

    def get_clip(self, thing: str, captured_at: datetime, clip_id: str) -> ClipRecord | None:
        item = self._get(c.device_pk(thing), c.clip_sk(captured_at, clip_id))
        return clip_record(item) if item else None

    def query_clips(
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
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :low AND :high",
            "ExpressionAttributeValues": {
                ":pk": {"S": c.device_pk(thing)},
                ":low": {"S": low},
                ":high": {"S": high},
            },
            "ScanIndexForward": not newest_first,
        }
        if anomalies_only:
            kwargs["FilterExpression"] = "is_anomaly = :true"
            kwargs["ExpressionAttributeValues"][":true"] = {"BOOL": True}
        for item in self._query(limit=limit, page_size=page_size, **kwargs):
            yield clip_record(item)

    def query_anomalies(
        self,
        day: date | datetime | str,
        *,
        thing: str | None = None,
        limit: int | None = None,
        newest_first: bool = True,
        page_size: int | None = None,
    ) -> Iterator[ClipRecord]:
        """Anomalous clips of one UTC day across devices (sparse GSI), optionally for one device."""
        if isinstance(day, datetime):
            day_text = f"{day.astimezone(UTC):%Y-%m-%d}"
        elif isinstance(day, date):
            day_text = day.isoformat()
        else:
            day_text = date.fromisoformat(day).isoformat()
        kwargs: dict[str, Any] = {
            "IndexName": c.ANOMALY_INDEX,
            "KeyConditionExpression": f"{c.ANOMALY_INDEX_PK} = :day",
            "ExpressionAttributeValues": {":day": {"S": f"anomaly#{day_text}"}},
            "ScanIndexForward": not newest_first,
        }
        if thing is not None:
            kwargs["FilterExpression"] = "#thing = :thing"
            kwargs["ExpressionAttributeNames"] = {"#thing": "thing"}
            kwargs["ExpressionAttributeValues"][":thing"] = {"S": thing}
        for item in self._query(limit=limit, page_size=page_size, **kwargs):
            yield clip_record(item)

    def find_clip(self, thing: str, clip_id: str) -> ClipRecord | None:
        """A clip by id alone (operators copy ids from alerts): a Query over the device's clips."""
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :clip)",
            "FilterExpression": "clip_id = :id",
            "ExpressionAttributeValues": {
                ":pk": {"S": c.device_pk(thing)},
                ":clip": {"S": _CLIP_SK_PREFIX},
                ":id": {"S": clip_id},
            },
            "ScanIndexForward": False,
        }
        for item in self._query(limit=1, page_size=500, **kwargs):
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
            found = self.find_clip(thing, clip_id)
            if found is None:
                raise NotFound(f"no clip {clip_id} for device {thing}")
            captured_at = found.captured_at
        names = {"#label": "label", "#note": "label_note", "#at": "labelled_at"}
        values: dict[str, Any] = {
            ":label": {"S": label},
            ":at": {"S": c.format_timestamp(at or _now())},
        }
        update = "SET #label = :label, #at = :at"
        if note:
            values[":note"] = {"S": note}
            update += ", #note = :note"
        else:
            update += " REMOVE #note"
        try:
            with aws.translate_errors():
                resp = self._client.update_item(
                    TableName=self.table_name,
                    Key=_key(c.device_pk(thing), c.clip_sk(captured_at, clip_id)),
                    UpdateExpression=update,
                    ConditionExpression="attribute_exists(pk)",
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                    ReturnValues="ALL_NEW",
                )
        except ClientError as exc:
            if aws.error_code(exc) == "ConditionalCheckFailedException":
                raise NotFound(f"no clip {clip_id} for device {thing}") from exc
            raise
        return clip_record(deserialize_item(resp["Attributes"]))

    # --- alert state -------------------------------------------------------------------------------
    def get_state(self, thing: str) -> DeviceState | None:
        item = self._get(c.device_pk(thing), c.STATE_SK)
        return device_state(item) if item else None

    def save_state(self, thing: str, state: DeviceState, expected_rev: int) -> DeviceState:
        """Write the state only if nobody changed it since `expected_rev` was read (0 = new item).

        Raises ConflictError when another writer won; the caller re-reads and re-applies.
        """
        new_rev = expected_rev + 1
        stored = state.model_copy(update={"thing": thing, "rev": new_rev})
        if expected_rev == 0:
            ok = self._put(state_item(stored, new_rev), ConditionExpression="attribute_not_exists(pk)")
        else:
            ok = self._put(
                state_item(stored, new_rev),
                ConditionExpression="#rev = :rev",
                ExpressionAttributeNames={"#rev": "rev"},
                ExpressionAttributeValues={":rev": {"N": str(expected_rev)}},
            )
        if not ok:
            raise ConflictError(f"alert state of {thing} changed concurrently (expected rev {expected_rev})")
        return stored

    def ack(self, thing: str, at: datetime | None = None, *, attempts: int = 5) -> DeviceState:
        """Acknowledge the device's alert: no reminders until a new episode or a higher severity."""
        from humwatch.alerts.policy import acknowledge

        when = (at or _now()).replace(microsecond=0)
        for _ in range(attempts):
            state = self.get_state(thing)
            if state is None:
                raise NotFound(f"device {thing} has no alert state (no clip processed yet)")
            updated = state.model_copy(update={"alert": acknowledge(state.alert, when)})
            try:
                return self.save_state(thing, updated, state.rev)
            except ConflictError:
                continue
        raise ConflictError(f"could not acknowledge {thing}: the state kept changing, try again")

    # --- telemetry ---------------------------------------------------------------------------------
    def get_telemetry(self, thing: str) -> TelemetryRecord | None:
        item = self._get(c.device_pk(thing), c.TELEMETRY_SK, consistent=False)
        if not item:
            return None
        received = item.pop("received_at", None)
        for key in (c.PK, c.SK, "thing"):
            item.pop(key, None)
        return TelemetryRecord(thing=thing, received_at=_ts(received), payload=item)

    def put_telemetry(
        self, thing: str, payload: Mapping[str, Any], received_at: datetime | None = None
    ) -> None:
        """The same item the IoT rule's DynamoDBv2 action writes (docs/functions.md)."""
        item = dict(payload)
        item.update(
            {
                c.PK: c.device_pk(thing),
                c.SK: c.TELEMETRY_SK,
                "thing": thing,
                "received_at": received_at or _now(),
            }
        )
        self._put(item)

    # --- device registry ---------------------------------------------------------------------------
    def list_devices(self) -> list[DeviceInfo]:
        items = self._query(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :device)",
            ExpressionAttributeValues={":pk": {"S": c.REGISTRY_PK}, ":device": {"S": "device#"}},
        )
        return [DeviceInfo.model_validate(item) for item in items]

    def get_device(self, thing: str) -> DeviceInfo | None:
        item = self._get(c.REGISTRY_PK, c.registry_device_sk(thing), consistent=False)
        return DeviceInfo.model_validate(item) if item else None

    def put_device(
        self,
        thing: str,
        *,
        model_id: str | None = None,
        machine_type: str = "machine",
        description: str | None = None,
        overwrite: bool = True,
    ) -> DeviceInfo:
        """Register (or update) a device. With overwrite=False an existing entry is kept and
        returned unchanged (first clip of an unregistered device registers it once)."""
        if not c.is_valid_thing_name(thing):
            raise ValueError(f"invalid thing name {thing!r}")
        info = DeviceInfo(
            thing=thing,
            model_id=model_id,
            machine_type=machine_type,
            created_at=_now(),
            description=description,
        )
        existing = self.get_device(thing) if overwrite else None
        if existing is not None:
            info = info.model_copy(update={"created_at": existing.created_at})
        item = dict(info.model_dump(exclude_none=True), pk=c.REGISTRY_PK, sk=c.registry_device_sk(thing))
        if overwrite:
            self._put(item)
            return info
        if self._put(item, ConditionExpression="attribute_not_exists(pk)"):
            return info
        current = self.get_device(thing)
        assert current is not None
        return current

    # --- model registry ----------------------------------------------------------------------------
    def get_default_model(self) -> str | None:
        item = self._get(c.REGISTRY_PK, c.DEFAULT_MODEL_SK)
        return str(item["model_id"]) if item else None

    def set_default_model(self, model_id: str) -> None:
        if self.get_model_pointer(model_id) is None:
            raise NotFound(f"model {model_id} is not published")
        self._put(
            {
                c.PK: c.REGISTRY_PK,
                c.SK: c.DEFAULT_MODEL_SK,
                "model_id": model_id,
                "updated_at": _now(),
            }
        )

    def get_model_pointer(self, model_id: str) -> ModelPointer | None:
        item = self._get(c.REGISTRY_PK, c.registry_model_sk(model_id))
        return ModelPointer.model_validate(item) if item else None

    def set_model_pointer(
        self, model_id: str, version: str, sha256: str, *, expected_version: str | None = None
    ) -> ModelPointer:
        """Switch the model's current version in one PutItem (atomic: scorers see old or new).

        With `expected_version`, the switch only happens if the pointer still names that version.
        """
        pointer = ModelPointer(model_id=model_id, version=version, sha256=sha256, published_at=_now())
        item = dict(pointer.model_dump(), pk=c.REGISTRY_PK, sk=c.registry_model_sk(model_id))
        if expected_version is None:
            self._put(item)
        elif not self._put(
            item,
            ConditionExpression="#version = :v",
            ExpressionAttributeNames={"#version": "version"},
            ExpressionAttributeValues={":v": {"S": expected_version}},
        ):
            raise ConflictError(f"model {model_id} is no longer at version {expected_version}")
        return pointer

    def list_models(self) -> list[ModelPointer]:
        items = self._query(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :model)",
            ExpressionAttributeValues={":pk": {"S": c.REGISTRY_PK}, ":model": {"S": "model#"}},
        )
        return [ModelPointer.model_validate(item) for item in items]
