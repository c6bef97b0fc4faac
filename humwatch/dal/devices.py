"""Devices in the history table: the registry entry of each device and its last heartbeat.

Items: pk `registry`, sk `device#{thing}` (model id, machine type, created_at; its lifecycle
state, learning_since, training_request_id and training_note (docs/learning.md); shaft_rpm once
`humwatch device learn --shaft-rpm` stated it (older items have none); and revoked_at,
revoked_certificates, revoke_reason once `humwatch device revoke` cut the device off); pk
`device#{thing}`, sk `telemetry` (the heartbeat as sent, received_at), the same item the IoT
rule's DynamoDBv2 action writes in AWS (docs/architecture.md, "History table").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from humwatch import contracts as c
from humwatch.dal.dynamo_items import now_seconds, timestamp_or_none
from humwatch.dal.table_client import TableClient
from humwatch.errors import NotFound
from humwatch.records import DeviceInfo, DeviceLifecycle, TelemetryRecord

_DEVICE_SK_PREFIX = "device#"
PROVISIONED_BASELINE_LOOKBACK = timedelta(days=30)


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
        state: DeviceLifecycle = DeviceLifecycle.MONITORING,
    ) -> DeviceInfo:
        """Register (or update) a device. With overwrite=False an existing entry is kept and
        returned unchanged (first clip of an unregistered device registers it once).

        `state=LEARNING` (provisioning without a model) starts its baseline now."""
        if not c.is_valid_thing_name(thing):
            raise ValueError(f"invalid thing name {thing!r}")
        created = now_seconds()
        info = DeviceInfo(
            thing=thing,
            model_id=model_id,
            machine_type=machine_type,
            created_at=created,
            description=description,
            state=state,
            # A new device's baseline takes every clip it captured, also those spooled before it
            # was provisioned (uploads older than that are refused by presign_upload anyway).
            learning_since=created - PROVISIONED_BASELINE_LOOKBACK
            if state is DeviceLifecycle.LEARNING
            else None,
        )
        existing = self.get(thing) if overwrite else None
        if existing is not None:
            # Re-registering (a new model mapping) keeps when it was created, any revocation and
            # the machine's stated shaft speed.
            kept = {"created_at", "revoked_at", "revoked_certificates", "revoke_reason", "shaft_rpm"}
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

    def register_provisioned(self, thing: str, *, model_id: str | None, machine_type: str) -> DeviceInfo:
        """A device provisioned with a model is monitored by it; without one it learns its own
        normal from now on (docs/learning.md)."""
        state = DeviceLifecycle.MONITORING if model_id else DeviceLifecycle.LEARNING
        return self.put(thing, model_id=model_id, machine_type=machine_type, state=state)

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

    # --- the learning loop -----------------------------------------------------------------------
    def start_learning(
        self,
        thing: str,
        *,
        at: datetime,
        baseline_hours: float | None = None,
        shaft_rpm: float | None = None,
    ) -> DeviceInfo:
        """Learn the device's normal again from `at` on (after a repair, a move, a new machine).

        Its current model keeps its registry entry but no longer scores: clips build the baseline.
        `shaft_rpm` (the nameplate speed) is stored for the models trained from now on; None keeps
        the one stated before, if any."""
        values: dict[str, Any] = {
            ":learning": {"S": DeviceLifecycle.LEARNING.value},
            ":at": {"S": c.format_timestamp(at)},
        }
        assignments = ["#state = :learning", "learning_since = :at"]
        removals = ["training_request_id", "training_note", "baseline_count"]
        if baseline_hours is not None:
            values[":hours"] = {"N": repr(float(baseline_hours))}
            assignments.append("baseline_hours = :hours")
        else:
            removals.append("baseline_hours")
        if shaft_rpm is not None:
            if not 0.0 < shaft_rpm < float("inf"):
                raise ValueError(f"shaft speed must be a positive number of rpm, got {shaft_rpm!r}")
            values[":rpm"] = {"N": repr(float(shaft_rpm))}
            assignments.append("shaft_rpm = :rpm")
        updated = self._table.update(
            c.REGISTRY_PK,
            c.registry_device_sk(thing),
            UpdateExpression="SET " + ", ".join(assignments) + " REMOVE " + ", ".join(removals),
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues=values,
        )
        if updated is None:
            raise NotFound(f"device {thing} is not registered (provision it first)")
        return DeviceInfo.model_validate(updated)

    def count_baseline_clip(self, thing: str, *, learning_since: datetime) -> int | None:
        """One more baseline clip for the learning round that started at `learning_since`: the
        round's count, or None when learning was restarted since (the clip is of an older round)."""
        updated = self._table.update(
            c.REGISTRY_PK,
            c.registry_device_sk(thing),
            UpdateExpression="ADD baseline_count :one",
            ConditionExpression="learning_since = :since",
            ExpressionAttributeValues={
                ":one": {"N": "1"},
                ":since": {"S": c.format_timestamp(learning_since)},
            },
        )
        return int(updated["baseline_count"]) if updated is not None else None

    def begin_training(self, thing: str, *, request_id: str, learning_since: datetime) -> bool:
        """learning -> training for the baseline that started at `learning_since`; False when
        another clip's run already moved it (or learning restarted since)."""
        updated = self._table.update(
            c.REGISTRY_PK,
            c.registry_device_sk(thing),
            UpdateExpression="SET #state = :training, training_request_id = :rid",
            ConditionExpression="#state = :learning AND learning_since = :since",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues={
                ":training": {"S": DeviceLifecycle.TRAINING.value},
                ":learning": {"S": DeviceLifecycle.LEARNING.value},
                ":rid": {"S": request_id},
                ":since": {"S": c.format_timestamp(learning_since)},
            },
        )
        return updated is not None

    def set_training_note(self, thing: str, note: str | None) -> None:
        """Keep the device's state; record (or clear) what the last training run left to do."""
        if note is None:
            request: dict[str, Any] = {"UpdateExpression": "REMOVE training_note"}
        else:
            request = {
                "UpdateExpression": "SET training_note = :note",
                "ExpressionAttributeValues": {":note": {"S": note[:1000]}},
            }
        self._table.update(
            c.REGISTRY_PK, c.registry_device_sk(thing), ConditionExpression="attribute_exists(pk)", **request
        )

    def start_monitoring(self, thing: str, *, model_id: str) -> DeviceInfo:
        """The device's own model scores it from now on."""
        updated = self._table.update(
            c.REGISTRY_PK,
            c.registry_device_sk(thing),
            UpdateExpression="SET #state = :monitoring, model_id = :model REMOVE training_note",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues={
                ":monitoring": {"S": DeviceLifecycle.MONITORING.value},
                ":model": {"S": model_id},
            },
        )
        if updated is None:
            raise NotFound(f"device {thing} is not registered")
        return DeviceInfo.model_validate(updated)


class DeviceTelemetry:
    def __init__(self, table: TableClient) -> None:
        self._table = table

    def get(self, thing: str) -> TelemetryRecord | None:
        item = self._table.get(c.device_pk(thing), c.TELEMETRY_SK, consistent=False)
        return _telemetry_record(thing, item) if item else None

    def get_many(self, things: Sequence[str]) -> dict[str, TelemetryRecord]:
        """The last heartbeats of many devices in BatchGetItem calls of 100."""
        found = self._table.batch_get([(c.device_pk(t), c.TELEMETRY_SK) for t in things])
        return {
            thing: _telemetry_record(thing, dict(found[key]))
            for thing in things
            if (key := (c.device_pk(thing), c.TELEMETRY_SK)) in found
        }

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


def _telemetry_record(thing: str, item: dict[str, Any]) -> TelemetryRecord:
    """A telemetry item as the device sent it, without the table's keys."""
    received = item.pop("received_at", None)
    for name in (c.PK, c.SK, "thing"):
        item.pop(name, None)
    return TelemetryRecord(thing=thing, received_at=timestamp_or_none(received), payload=item)
