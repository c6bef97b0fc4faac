"""The ColdStart metric follows POWERTOOLS_METRICS_DISABLED like every other metric."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from aws_lambda_powertools.metrics.provider import cold_start

from humwatch.observability import count, log_metrics


@log_metrics
def handler(event: Any, context: Any) -> str:
    count("ClipsScored")
    return "done"


CONTEXT = SimpleNamespace(function_name="process_clip", aws_request_id="r1")


@pytest.fixture
def cold() -> Iterator[None]:
    cold_start.reset_cold_start_flag()
    yield
    cold_start.reset_cold_start_flag()


@pytest.mark.usefixtures("cold")
def test_no_emf_line_at_all_when_metrics_are_disabled(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    assert handler({}, CONTEXT) == "done"
    assert capsys.readouterr().out == ""


@pytest.mark.usefixtures("cold")
def test_the_cold_start_is_counted_once_when_metrics_are_enabled(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    handler({}, CONTEXT)
    first = capsys.readouterr().out
    handler({}, CONTEXT)
    second = capsys.readouterr().out
    assert '"ColdStart"' in first and '"ClipsScored"' in first
    assert '"ColdStart"' not in second and '"ClipsScored"' in second
