"""Devices in the history table: the registry entry of each device and its last heartbeat.

Items: pk `registry`, sk `device#{thing}` (model id, machine type, created_at, and revoked_at,
revoked_certificates, revoke_reason once `humwatch device revoke` cut the device off); pk
`device#{thing}`, sk `telemetry` (the heartbeat as sent, received_at), the same item the IoT
rule's DynamoDBv2 action writes in AWS (docs/architecture.md, "History table").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from humwatch import contracts as c
from humwatch.dal.dynamo_items import now_seconds, timestamp_or_none
from humwatch.dal.table_client import TableClient
from humwatch.records import DeviceInfo, TelemetryRecord

_DEVICE_SK_PREFIX = "device#"


class DeviceRegistry:
    def __init__(self, table: TableClient) -> None:
        self._table = table

    def all(self) -> list[DeviceInfo]:
        """Every registered device (a Query on the registry partition, never a Scan)."""
        items = self._table.query_sort_key_prefix(c.REGISTRY_PK, _DEVICE_SK_PREFIX)
        return [DeviceInfo.model_validate(item) for item in items]

    def get(self, thing: str) -> DeviceInfo | None:
        item = self._table.get(c.REGISTRY_PK, c.registry_device_sk(thing), consistent=False)
        return DeviceInfo.model_validate(item) if item else None

    def put(
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
            created_at=now_seconds(),
            description=description,
        )
        existing = self.get(thing) if overwrite else None
        if existing is not None:
            # Re-registering (a new model mapping) keeps when it was created and any revocation.
            kept = {"created_at", "revoked_at", "revoked_certificates", "revoke_reason"}
            info = info.model_copy(update=existing.model_dump(include=kept))
        item = dict(info.model_dump(exclude_none=True), pk=c.REGISTRY_PK, sk=c.registry_device_sk(thing))
        if overwrite:
            self._table.put(item)
            return info
        if self._table.put(item, ConditionExpression="attribute_not_exists(pk)"):
            return info
        current = self.get(thing)
        assert current is not None
        return current

    def mark_revoked(
        self, thing: str, *, at: datetime, certificate_ids: Sequence[str], reason: str | None = None
    ) -> DeviceInfo:
        """Record that the device's certificates were deactivated. Revoking again keeps the first
        `revoked_at` and records the certificates of this run; a device missing from the registry
        (never provisioned by humwatch) gets an entry, so `humwatch devices` shows it."""
        values: dict[str, Any] = {
            ":at": {"S": c.format_timestamp(at)},
            ":certs": {"L": [{"S": cert} for cert in certificate_ids]},
        }
        assignments = ["revoked_at = if_not_exists(revoked_at, :at)", "revoked_certificates = :certs"]
        if reason:
            values[":reason"] = {"S": reason}
            assignments.append("revoke_reason = :reason")
        updated = self._table.update(
            c.REGISTRY_PK,
            c.registry_device_sk(thing),
            UpdateExpression="SET " + ", ".join(assignments),
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues=values,
        )
        if updated is not None:
            return DeviceInfo.model_validate(updated)
        info = DeviceInfo(
            thing=thing,
            created_at=at,
            revoked_at=at,
            revoked_certificates=tuple(certificate_ids),
            revoke_reason=reason,
        )
        item = dict(info.model_dump(exclude_none=True), pk=c.REGISTRY_PK, sk=c.registry_device_sk(thing))
        if not self._table.put(item, ConditionExpression="attribute_not_exists(pk)"):
            return self.mark_revoked(thing, at=at, certificate_ids=certificate_ids, reason=reason)
        return info


class DeviceTelemetry:
    def __init__(self, table: TableClient) -> None:
        self._table = table

    def get(self, thing: str) -> TelemetryRecord | None:
        item = self._table.get(c.device_pk(thing), c.TELEMETRY_SK, consistent=False)
        if not item:
            return None
        received = item.pop("received_at", None)
        for name in (c.PK, c.SK, "thing"):
            item.pop(name, None)
        return TelemetryRecord(thing=thing, received_at=timestamp_or_none(received), payload=item)

    def put(self, thing: str, payload: Mapping[str, Any], received_at: datetime | None = None) -> None:
        """The same item the IoT rule's DynamoDBv2 action writes (docs/functions.md)."""
        item = dict(payload)
        item.update(
            {
                c.PK: c.device_pk(thing),
                c.SK: c.TELEMETRY_SK,
                "thing": thing,
                "received_at": received_at or now_seconds(),
            }
        )
        self._table.put(item)
