"""Per-device alert state in the history table, written under an optimistic lock.

Item: pk `device#{thing}`, sk `state`, with `rev` incremented on every write; a writer that read
an older `rev` loses (ConflictError) and re-reads (docs/architecture.md, "History table").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from humwatch import contracts as c
from humwatch.alerts.evidence import DEFAULT_NORMAL_GAP
from humwatch.alerts.policy import AlertState, ClipFlag, Severity, acknowledge
from humwatch.dal.dynamo_items import now_seconds, timestamp_or_none
from humwatch.dal.table_client import TableClient
from humwatch.errors import ConflictError, NotFound
from humwatch.records import ClipStatus, DeviceState, PendingAlert


def _flag_to_dict(flag: ClipFlag) -> dict[str, Any]:
    """One flag of the window, kept small: the state is rewritten for every clip, and a full
    window under the long attribute names of earlier versions took the item past 1 KB (two write
    units a clip instead of one). Short names, the capture time as epoch seconds."""
    return {
        "id": flag.clip_id,
        "at": int(flag.captured_at.timestamp()),
        "a": flag.is_anomaly,
        "r": float(flag.ratio),
        "g": float(flag.normal_gap),
    }


def _flag_from_dict(data: Mapping[str, Any]) -> ClipFlag:
    """A flag in the compact form above or the long-named form of earlier versions."""
    if "id" in data:
        return ClipFlag(
            clip_id=str(data["id"]),
            captured_at=datetime.fromtimestamp(int(data["at"]), UTC),
            is_anomaly=bool(data["a"]),
            ratio=float(data["r"]),
            normal_gap=float(data["g"]),
        )
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
        last_alert_at=timestamp_or_none(item.get("last_alert_at")),
        last_severity=Severity(severity) if severity else None,
        acked_at=timestamp_or_none(item.get("acked_at")),
        episode_open=bool(item.get("episode_open", False)),
        clock=timestamp_or_none(item.get("clock")),
    )
    pending = item.get("pending_alert")
    status = item.get("last_status")
    return DeviceState(
        thing=str(item["thing"]),
        alert=alert,
        last_clip_at=timestamp_or_none(item.get("last_clip_at")),
        last_status=ClipStatus(status) if status else None,
        last_score=item.get("last_score"),
        last_ratio=item.get("last_ratio"),
        model_id=item.get("model_id"),
        model_version=item.get("model_version"),
        pending_alert=PendingAlert.model_validate(pending) if pending else None,
        alerts_sent=int(item.get("alerts_sent", 0)),
        rev=int(item["rev"]),
    )


class AlertStates:
    def __init__(self, table: TableClient) -> None:
        self._table = table

    def get(self, thing: str) -> DeviceState | None:
        item = self._table.get(c.device_pk(thing), c.STATE_SK)
        return device_state(item) if item else None

    def get_many(self, things: Sequence[str]) -> dict[str, DeviceState]:
        """The states of many devices in BatchGetItem calls of 100 (devices without one are absent)."""
        found = self._table.batch_get([(c.device_pk(t), c.STATE_SK) for t in things])
        return {
            thing: device_state(found[key])
            for thing in things
            if (key := (c.device_pk(thing), c.STATE_SK)) in found
        }

    def save(self, thing: str, state: DeviceState, expected_rev: int) -> DeviceState:
        """Write the state only if nobody changed it since `expected_rev` was read (0 = new item).

        Raises ConflictError when another writer won; the caller re-reads and re-applies.
        """
        new_rev = expected_rev + 1
        stored = state.model_copy(update={"thing": thing, "rev": new_rev})
        if expected_rev == 0:
            ok = self._table.put(state_item(stored, new_rev), ConditionExpression="attribute_not_exists(pk)")
        else:
            ok = self._table.put(
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
        when = (at or now_seconds()).replace(microsecond=0)
        for _ in range(attempts):
            state = self.get(thing)
            if state is None:
                raise NotFound(f"device {thing} has no alert state (no clip processed yet)")
            updated = state.model_copy(update={"alert": acknowledge(state.alert, when)})
            try:
                return self.save(thing, updated, state.rev)
            except ConflictError:
                continue
        raise ConflictError(f"could not acknowledge {thing}: the state kept changing, try again")
