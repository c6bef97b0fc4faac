"""A redelivered clip event is finished from the stored item, whatever state the model is in.

The stored item already holds the score; the alert state still has to count it. When the device's
model cannot be resolved now, the clip is counted with the default normal gap; a transient failure
retries the record; anything else (a bug) is not swallowed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from humwatch.alerts.evidence import DEFAULT_NORMAL_GAP
from humwatch.config import ProcessSettings, load_settings
from humwatch.errors import ConflictError, ModelBundleError, TransientError
from humwatch.records import ClipRecord, ClipStatus, DeviceState
from humwatch.services import process
from humwatch.services.process import Outcome, ProcessDeps

T0 = datetime(2026, 11, 26, 14, 5, tzinfo=UTC)
STORED = ClipRecord(
    thing="fan-01",
    clip_id="3e16d2a8-0220-557b-bb23-51b2026f8862",
    captured_at=T0,
    status=ClipStatus.SCORED,
    processed_at=T0,
    s3_key="clips/fan-01/2026/11/26/2026-11-26T14:05:00Z_3e16d2a8-0220-557b-bb23-51b2026f8862.flac",
    score=1.5,
    threshold=1.0,
    ratio=1.5,
    is_anomaly=True,
    model_id="fan-demo",
    model_version="v1",
)


class StateTable:
    """The alert-state item in memory, with the same optimistic lock as the table."""

    def __init__(self) -> None:
        self.state: DeviceState | None = None

    def get(self, thing: str) -> DeviceState | None:
        return self.state

    def save(self, thing: str, state: DeviceState, expected_rev: int) -> DeviceState:
        if (self.state.rev if self.state else 0) != expected_rev:
            raise ConflictError("changed")
        self.state = state.model_copy(update={"rev": expected_rev + 1})
        return self.state


class Scorers:
    def __init__(self, failure: Exception) -> None:
        self.failure = failure

    def for_device(self, thing: str) -> Any:
        raise self.failure


def deps_with(failure: Exception) -> tuple[ProcessDeps, StateTable]:
    states = StateTable()
    history = SimpleNamespace(clips=SimpleNamespace(get=lambda *_: STORED), alert_states=states)
    settings = load_settings(
        ProcessSettings,
        {
            "HUMWATCH_BUCKET": "humwatch-clips",
            "HUMWATCH_TABLE": "humwatch-history",
            "HUMWATCH_ALERT_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:alerts",
        },
    )
    deps = ProcessDeps(
        settings=settings,
        history=history,  # type: ignore[arg-type]
        clips=SimpleNamespace(bucket="humwatch-clips"),  # type: ignore[arg-type]
        notifier=SimpleNamespace(publish=lambda *_: None),  # type: ignore[arg-type]
        scorers=Scorers(failure),  # type: ignore[arg-type]
        sleep=lambda _: None,
    )
    return deps, states


def test_a_duplicate_whose_model_is_unavailable_is_counted_with_the_default_gap() -> None:
    # Given a redelivered event for a scored clip, and a device whose model was since unpublished
    deps, states = deps_with(ModelBundleError("model fan-demo has not been published"))
    # When the duplicate is finished from the stored item
    outcome = process._duplicate(STORED, deps)
    # Then it is a duplicate, and the state counted the clip once, with the default normal gap
    assert outcome.outcome is Outcome.DUPLICATE and outcome.clip_id == STORED.clip_id
    assert states.state is not None
    (flag,) = states.state.alert.recent
    assert (flag.clip_id, flag.is_anomaly, flag.normal_gap) == (STORED.clip_id, True, DEFAULT_NORMAL_GAP)


def test_a_transient_failure_while_resolving_the_model_retries_the_record() -> None:
    # Given the registry throttled while the duplicate is finished
    deps, states = deps_with(TransientError("AWS call failed transiently (ThrottlingException)"))
    # Then the error reaches the batch (the record is retried) and the state is untouched
    with pytest.raises(TransientError):
        process._duplicate(STORED, deps)
    assert states.state is None


def test_a_bug_while_resolving_the_model_is_not_swallowed() -> None:
    deps, states = deps_with(KeyError("version"))
    with pytest.raises(KeyError):
        process._duplicate(STORED, deps)
    assert states.state is None
