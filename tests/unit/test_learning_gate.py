"""The promotion gate's report (humwatch.learning.gate): labelled anomalies, labelled normals, and a
replay of the device's history through the real alert policy, candidate next to current model."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from humwatch.alerts.policy import AlertPolicy
from humwatch.learning.gate import (
    ALLOWED_ALERTS_PER_WEEK,
    MAX_LABELLED_NORMAL_FAR,
    CandidateScore,
    GateReport,
    TrainingSummary,
    gate_report,
)
from humwatch.records import ClipRecord, ClipStatus, Label

T0 = datetime(2026, 12, 1, tzinfo=UTC)
HOT, CALM = 1.5, 0.3  # ratios to the threshold: a clearly flagged clip, a typical normal one


def record(
    at: datetime,
    *,
    status: ClipStatus = ClipStatus.SCORED,
    stored_ratio: float | None = CALM,
    label: Label | None = None,
) -> ClipRecord:
    """A clip of the history; a SCORED one with the current model's stored ratio and flag."""
    clip_id = str(uuid.uuid4())
    scored = status is ClipStatus.SCORED
    return ClipRecord(
        thing="fan-01",
        clip_id=clip_id,
        captured_at=at,
        status=status,
        processed_at=at,
        s3_key=f"clips/fan-01/{clip_id}.flac",
        ratio=stored_ratio if scored else None,
        is_anomaly=bool(scored and stored_ratio is not None and stored_ratio > 1.0),
        model_id="fan-01" if scored else None,
        model_version="v1" if scored else None,
        label=label,
    )


def report(
    *,
    labelled: Sequence[CandidateScore] = (),
    history: Sequence[CandidateScore] = (),
    replay_days: int = 14,
) -> GateReport:
    return gate_report(
        thing="fan-01",
        model_id="fan-01",
        version="20261201T000000Z",
        reason="retrain",
        created_at=T0,
        threshold=1.0,
        training=TrainingSummary(clips=288, first_at=T0, last_at=T0 + timedelta(hours=24), span_hours=24.0),
        labelled=labelled,
        history=history,
        replay_days=replay_days,
        policy=AlertPolicy(),
    )


def check(gate: GateReport, name: str) -> tuple[bool, str]:
    found = next(c for c in gate.checks if c.name == name)
    return found.passed, found.detail


def stream(pattern: str, *, status: ClipStatus = ClipStatus.SCORED, start: datetime = T0) -> list[ClipRecord]:
    """One clip every 5 minutes; 'H' a clip the current model stored as HOT, '.' one stored CALM."""
    return [
        record(start + timedelta(minutes=5 * i), status=status, stored_ratio=HOT if p == "H" else CALM)
        for i, p in enumerate(pattern)
    ]


EPISODE = "H" * 8 + "." * 8  # one alert under the default policy, and the episode closes after it


# --- labelled anomalies ----------------------------------------------------------------------------
def test_a_missed_labelled_anomaly_fails_the_gate_and_is_counted() -> None:
    # Given three clips labelled anomaly: the candidate scores one over its threshold, one under,
    # and one it could not score (its audio is gone)
    anomalies = [record(T0 + timedelta(hours=i), label="anomaly") for i in range(3)]
    labelled = [
        CandidateScore(anomalies[0], 1.6),
        CandidateScore(anomalies[1], 0.8),
        CandidateScore(anomalies[2], None),
    ]
    # When the gate reports on the candidate
    gate = report(labelled=labelled)
    # Then the two it did not catch count as missed, and the gate fails on them alone
    assert [a.verdict for a in gate.labelled_anomalies] == ["caught", "missed", "could not be scored"]
    assert gate.missed_anomalies == 2
    assert check(gate, "labelled anomalies") == (False, "1 of 3 caught, 2 missed")
    assert check(gate, "labelled normals")[0] and check(gate, "replay")[0]
    assert not gate.passed and gate.summary.startswith("failed: labelled anomalies: 1 of 3 caught")


def test_every_labelled_anomaly_caught_passes_that_check() -> None:
    # Given two clips labelled anomaly, both over the candidate's threshold
    labelled = [CandidateScore(record(T0 + timedelta(hours=i), label="anomaly"), 1.2) for i in range(2)]
    gate = report(labelled=labelled)
    # Then nothing is missed and the gate passes
    assert gate.missed_anomalies == 0 and gate.passed
    assert check(gate, "labelled anomalies") == (True, "2 of 2 caught")


# --- labelled normals ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("over", "unscorable", "passes"),
    [
        (1, 0, True),  # 1 of 10: exactly the limit
        (2, 0, False),  # 2 of 10: above it
        (1, 1, False),  # 1 of 9 scored: a clip it could not score is no evidence of a good model
    ],
)
def test_labelled_normal_false_alarms_above_the_limit_fail_the_gate(
    over: int, unscorable: int, passes: bool
) -> None:
    # Given ten clips labelled normal (baseline clips: the current model never saw them)
    normals = [record(T0 + timedelta(hours=i), status=ClipStatus.BASELINE, label="normal") for i in range(10)]
    ratios = [1.3] * over + [None] * unscorable + [0.5] * (10 - over - unscorable)
    # When the candidate scores `over` of them above its threshold
    gate = report(labelled=[CandidateScore(r, ratio) for r, ratio in zip(normals, ratios, strict=True)])
    # Then the gate holds the rate against its limit
    scored = 10 - unscorable
    assert MAX_LABELLED_NORMAL_FAR == 0.10
    assert check(gate, "labelled normals") == (
        passes,
        f"{over} of {scored} over the threshold ({over / scored:.0%}; at most 10%)",
    )
    assert gate.passed is passes
    assert gate.missed_anomalies == 0  # normals never count as missed anomalies


def test_a_false_alarm_labelled_normal_reads_now_below_or_still_above_the_threshold() -> None:
    # Given two clips the current model flagged and an operator labelled normal, and one unflagged
    # clip labelled normal
    fixed = record(T0, stored_ratio=1.4, label="normal")
    unfixed = record(T0 + timedelta(hours=1), stored_ratio=1.8, label="normal")
    plain = record(T0 + timedelta(hours=2), stored_ratio=0.4, label="normal")
    # When the candidate scores the first under its threshold and the second still over it
    gate = report(
        labelled=[CandidateScore(fixed, 0.7), CandidateScore(unfixed, 1.3), CandidateScore(plain, 0.5)]
    )
    # Then each flagged one says which, and the unflagged one just where it is
    verdicts = {n.clip_id: (n.flagged_by_current, n.verdict) for n in gate.labelled_normals}
    assert verdicts == {
        fixed.clip_id: (True, "now below threshold"),
        unfixed.clip_id: (True, "still above threshold"),
        plain.clip_id: (False, "below threshold"),
    }


# --- replay ----------------------------------------------------------------------------------------
def test_a_candidate_that_alerts_less_than_the_current_model_passes_the_replay() -> None:
    # Given a history in which the current model flagged a run of clips (it alerted once)
    history = stream(EPISODE)
    # When the candidate scores every one of them as normal
    gate = report(history=[CandidateScore(r, CALM) for r in history])
    # Then its replay sends no alert next to the current model's one, and the check passes
    replay = gate.replay
    assert (replay.candidate_alerts, replay.current_alerts, replay.clips) == (0, 1, len(history))
    assert replay.current_model == "fan-01 v1"
    assert check(gate, "replay") == (
        True,
        f"0 alert(s) over {len(history)} clips of the last 14 days, current model 1",
    )
    assert gate.passed


def test_a_candidate_that_alerts_more_than_the_current_model_fails_the_replay() -> None:
    # Given a history the current model found quiet
    history = stream("." * len(EPISODE))
    # When the candidate scores the first half of it over its threshold
    ratios = [HOT] * 8 + [CALM] * 8
    gate = report(history=[CandidateScore(r, ratio) for r, ratio in zip(history, ratios, strict=True)])
    # Then it would have sent one alert where the current model sent none: the gate fails on it
    assert (gate.replay.candidate_alerts, gate.replay.current_alerts) == (1, 0)
    assert not check(gate, "replay")[0]
    assert not gate.passed and "replay: 1 alert(s)" in gate.summary
    assert gate.missed_anomalies == 0  # a replay failure is not a missed anomaly


@pytest.mark.parametrize(("episodes", "passes"), [(1, True), (2, False)])
def test_without_a_current_model_the_replay_allows_one_alert_per_week(episodes: int, passes: bool) -> None:
    # Given a learning device's baseline clips (nothing scored them) over a week's replay
    history = stream(EPISODE * episodes, status=ClipStatus.BASELINE)
    # When the candidate flags runs of them, each a separate episode
    ratios = [HOT if p == "H" else CALM for p in EPISODE * episodes]
    gate = report(history=[CandidateScore(r, q) for r, q in zip(history, ratios, strict=True)], replay_days=7)
    # Then each episode is one alert, held against one a week
    assert gate.replay.candidate_alerts == episodes and gate.replay.current_alerts is None
    assert gate.replay.current_model is None and ALLOWED_ALERTS_PER_WEEK == 1
    passed, detail = check(gate, "replay")
    assert passed is passes and detail.endswith("(no current model; at most 1)")


def test_a_two_week_replay_without_a_current_model_allows_two_alerts() -> None:
    # Given two episodes of a learning device's clips, as above, over a two-week replay
    history = stream(EPISODE * 2, status=ClipStatus.BASELINE)
    ratios = [HOT if p == "H" else CALM for p in EPISODE * 2]
    scores = [CandidateScore(r, q) for r, q in zip(history, ratios, strict=True)]
    gate = report(history=scores, replay_days=14)
    # Then two alerts are within the allowance (one a week)
    assert gate.replay.candidate_alerts == 2 and check(gate, "replay")[0]


def test_clips_the_candidate_could_not_score_are_left_out_of_the_replay() -> None:
    # Given a quiet history, half of whose audio is gone
    history = stream("." * 10)
    # When the candidate scores the other half
    gate = report(history=[CandidateScore(r, CALM if i % 2 else None) for i, r in enumerate(history)])
    # Then only the scored half is replayed
    assert gate.replay.clips == 5
