"""Which of a device's own models scores its clips: promote a candidate, roll back to the last one.

Used by train_model (a first model, or a passing retrain with autoPromote) and by the operator
commands `humwatch model promote` / `humwatch model rollback`. Switching is one PutItem on the
model's registry pointer, so a scorer sees the old or the new version, never a mix.
"""

from __future__ import annotations

from datetime import datetime

from humwatch import contracts as c
from humwatch.dal.history import HistoryTable
from humwatch.errors import GateFailed, NotFound
from humwatch.observability import Metric, count, logger
from humwatch.records import CandidateStatus, ModelCandidate


def promote(
    history: HistoryTable, thing: str, version: str, *, now: datetime, force: bool = False
) -> ModelCandidate:
    """Make candidate `version` the device's model and the device `monitoring`.

    A candidate that failed its gate needs `force` (an operator who read the report)."""
    candidate = history.candidates.get(thing, version)
    if candidate is None:
        raise NotFound(f"no candidate {version} for device {thing} (see `humwatch model candidates {thing}`)")
    if not candidate.passed and not force:
        raise GateFailed(
            f"candidate {version} of {thing} failed its gate ({candidate.summary}); "
            "promote it anyway with --force"
        )
    history.models.set_pointer(candidate.model_id, candidate.version, candidate.sha256)
    promoted = history.candidates.set_status(thing, version, CandidateStatus.PROMOTED, at=now)
    history.devices.start_monitoring(thing, model_id=candidate.model_id)
    count(Metric.CANDIDATES_PROMOTED)
    logger.info("candidate promoted", extra={"device": thing, "model_version": version})
    return promoted


def rollback(history: HistoryTable, thing: str, *, now: datetime) -> ModelCandidate:
    """Back to the version promoted before the current one; the current becomes `rolled-back`."""
    model_id = c.device_model_id(thing)
    pointer = history.models.pointer(model_id)
    if pointer is None:
        raise NotFound(f"device {thing} has no model of its own to roll back")
    earlier = sorted(
        (
            cand
            for cand in history.candidates.list(thing)
            if cand.status is CandidateStatus.PROMOTED and cand.version != pointer.version
        ),
        key=lambda cand: (cand.promoted_at or cand.created_at, cand.version),
    )
    if not earlier:
        raise NotFound(f"device {thing}: no earlier promoted version than {pointer.version} to roll back to")
    previous = earlier[-1]
    history.models.set_pointer(model_id, previous.version, previous.sha256, expected_version=pointer.version)
    if history.candidates.get(thing, pointer.version) is not None:
        history.candidates.set_status(thing, pointer.version, CandidateStatus.ROLLED_BACK)
    restored = history.candidates.set_status(thing, previous.version, CandidateStatus.PROMOTED, at=now)
    history.devices.start_monitoring(thing, model_id=model_id)
    logger.info("model rolled back", extra={"device": thing, "model_version": previous.version})
    return restored
