"""The training request contract (process_clip / the CLI -> the train queue -> train_model) and the
names it implies: a device's own model id and where its candidates' gate reports live."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from humwatch import contracts as c

NOW = datetime(2026, 12, 4, 10, 15, tzinfo=UTC)


def body(**changes: Any) -> dict[str, Any]:
    request = {
        "thing": "fan-02",
        "request_id": "retrain-2026-12-04T10:15:00Z",
        "reason": "retrain",
        "since": (NOW - timedelta(days=7)).isoformat(),
        "until": NOW.isoformat(),
        "requested_at": NOW.isoformat(),
    }
    request.update(changes)
    return request


def test_a_request_survives_the_queue_unchanged() -> None:
    # Given a request as the CLI builds it
    request = c.TrainRequest.model_validate(body())
    # When it is sent as JSON and read back by train_model
    again = c.TrainRequest.model_validate_json(request.model_dump_json())
    # Then it is the same request (same window: a retry trains on the same clips)
    assert again == request and again.reason is c.TrainReason.RETRAIN
    assert again.until - again.since == timedelta(days=7)


@pytest.mark.parametrize("thing", ["fan 02", "../fan", "fan/02", "", "x" * 65, "fan#02"])
def test_a_bad_thing_name_is_rejected(thing: str) -> None:
    with pytest.raises(ValidationError, match="thing"):
        c.TrainRequest.model_validate(body(thing=thing))


@pytest.mark.parametrize("request_id", ["", "two words", "a/b", "x" * 129, "id#1", "naïve"])
def test_a_bad_request_id_is_rejected(request_id: str) -> None:
    # The request id becomes a history-table sort key (`train#{request_id}`): only a safe charset
    with pytest.raises(ValidationError, match="request_id"):
        c.TrainRequest.model_validate(body(request_id=request_id))


def test_the_longest_allowed_request_id_and_the_baseline_reason_are_accepted() -> None:
    request = c.TrainRequest.model_validate(body(request_id="b" * 128, reason="baseline"))
    assert request.reason is c.TrainReason.BASELINE


@pytest.mark.parametrize(
    "changes",
    [{"reason": "because"}, {"extra": 1}, {"since": "last week"}],
    ids=["unknown-reason", "unknown-field", "bad-time"],
)
def test_anything_else_unexpected_is_rejected(changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        c.TrainRequest.model_validate_json(json.dumps(body(**changes)))


def test_a_device_s_own_model_and_its_gate_report_are_named_after_the_device() -> None:
    model_id = c.device_model_id("fan-02")
    assert model_id == "fan-02"
    assert (
        c.gate_report_key(model_id, "20261204T101500Z") == "models/fan-02/20261204T101500Z/gate-report.json"
    )
    # And the claim and candidate sort keys carry the request id / version as given
    assert c.training_run_sk("retrain-1") == "train#retrain-1"
    assert c.candidate_sk("fan-02", "20261204T101500Z") == "candidate#fan-02#20261204T101500Z"
