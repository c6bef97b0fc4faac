"""The learning loop from the operator's side: relearn a device, ask for a retrain, read candidates.

`humwatch device learn`, `humwatch model retrain|candidates|promote|rollback` (humwatch.cli.learning)
call these; promotion itself is `humwatch.services.promotion`, shared with train_model.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from humwatch import contracts as c
from humwatch.dal.history import HistoryTable
from humwatch.dal.model_store import ModelStore
from humwatch.dal.train_queue import TrainQueue
from humwatch.learning.selection import TrainingPreview, training_preview
from humwatch.ops.history import require_device
from humwatch.records import DeviceInfo, ModelCandidate

CANDIDATE_COLUMNS: tuple[str, ...] = ("device", "version", "status", "gate", "clips", "created", "summary")


def retrain_preview(table: HistoryTable, thing: str, *, since: datetime, until: datetime) -> TrainingPreview:
    """What a retrain over the window would train on, by the rules train_model applies."""
    records = table.clips.query(thing, since=since, until=until, newest_first=False, page_size=1000)
    return training_preview(records)


def request_retrain(
    table: HistoryTable, queue: TrainQueue, thing: str, *, since: datetime, now: datetime
) -> c.TrainRequest:
    """Queue a retrain of THING on its clips captured since `since` (train_model does the rest)."""
    require_device(table, thing)
    request = c.TrainRequest(
        thing=thing,
        request_id=f"retrain-{c.format_timestamp(now)}",
        reason=c.TrainReason.RETRAIN,
        since=since,
        until=now,
        requested_at=now,
    )
    queue.send(request)
    return request


def relearn(
    table: HistoryTable, thing: str, *, now: datetime, hours: float | None, shaft_rpm: float | None = None
) -> DeviceInfo:
    """THING learns its normal again from `now`; `shaft_rpm` (nameplate) goes to its next models."""
    require_device(table, thing)
    return table.devices.start_learning(thing, at=now, baseline_hours=hours, shaft_rpm=shaft_rpm)


def candidate_rows(table: HistoryTable, thing: str | None) -> list[dict[str, Any]]:
    if thing is not None:
        require_device(table, thing)
    return [candidate_row(cand) for cand in table.candidates.list(thing)]


def candidate_row(cand: ModelCandidate) -> dict[str, Any]:
    """One candidate as `humwatch model candidates` shows it."""
    return {
        "device": cand.thing,
        "version": cand.version,
        "status": cand.status.value,
        "gate": "passed" if cand.passed else "FAILED",
        "clips": cand.n_clips,
        "created": cand.created_at,
        "summary": cand.summary,
        "model_id": cand.model_id,
        "reason": cand.reason,
        "request_id": cand.request_id,
        "promoted_at": cand.promoted_at,
        "report_key": cand.report_key,
    }


def with_reports(rows: list[dict[str, Any]], store: ModelStore) -> list[dict[str, Any]]:
    """Each candidate row with its full gate report (read from S3)."""
    return [dict(row, report=store.get_gate_report(row["model_id"], row["version"])) for row in rows]
