"""An operator's feedback on a device: label a clip, acknowledge an alert.

`humwatch label` / `humwatch ack` and the operator console's API (`humwatch.console`) both call
these, so a label or an acknowledgement means the same wherever it was given.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from humwatch.dal.history import HistoryTable
from humwatch.ops.history import require_device
from humwatch.records import ClipRecord, ClipStatus, DeviceState


@dataclass(frozen=True)
class LabelOutcome:
    record: ClipRecord
    verdict: str  # what the label says about the model: "alert confirmed", "false alarm", ... or ""


@dataclass(frozen=True)
class AckOutcome:
    acknowledged: bool  # False: there was nothing to acknowledge, or it already was
    message: str
    state: DeviceState | None


def label_clip(table: HistoryTable, thing: str, clip_id: str, label: str, note: str | None) -> LabelOutcome:
    """Store `label` (and `note`) on the clip; NotFound for an unknown device or clip."""
    require_device(table, thing)
    record = table.clips.set_label(thing, clip_id, label, note)
    verdict = ""
    if record.status is ClipStatus.SCORED:
        if record.is_anomaly:
            verdict = "alert confirmed" if label == "anomaly" else "false alarm"
        elif label == "anomaly":
            verdict = "missed by the model"
    return LabelOutcome(record, verdict)


def acknowledge_alert(table: HistoryTable, thing: str, *, now: datetime) -> AckOutcome:
    """Acknowledge the device's open alert: no reminders until a new episode or a higher severity."""
    require_device(table, thing)
    state = table.alert_states.get(thing)
    if state is None or not state.alert.episode_open or state.alert.last_alert_at is None:
        return AckOutcome(False, f"{thing} has no active alert: nothing to acknowledge", state)
    if state.alert.is_acknowledged:
        assert state.alert.acked_at is not None
        return AckOutcome(
            False, f"{thing}: alert already acknowledged at {state.alert.acked_at:%Y-%m-%dT%H:%M:%SZ}", state
        )
    saved = table.alert_states.ack(thing, now)
    severity = saved.alert.last_severity.value if saved.alert.last_severity else "alert"
    assert saved.alert.last_alert_at is not None
    return AckOutcome(
        True,
        f"acknowledged {thing} ({severity} since {saved.alert.last_alert_at:%Y-%m-%dT%H:%M:%SZ}); "
        "the next alert needs a new episode or a higher severity",
        saved,
    )
