"""The promotion gate: what a candidate model would have done on this device, in one report.

Measured on the device's own history (docs/learning.md, "The promotion gate"):
1. every clip labelled `anomaly`: caught or missed by the candidate;
2. the false-alarm rate on clips labelled `normal`, and for each of them the current model flagged,
   whether the candidate now scores it below its threshold or still above;
3. a replay of the last days of clips through the real alert policy: the alerts the candidate would
   have sent, next to the alerts the current model's stored results give;
4. the training set: how many clips, over what span of capture time.

It passes when no labelled anomaly is missed, at most `MAX_LABELLED_NORMAL_FAR` of the labelled
normal clips are over the threshold, and the replay sends no more alerts than the current model's
(or, with no current model, at most one per week replayed). A candidate that misses a labelled
anomaly is never promoted automatically, whatever else it does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel

from humwatch.alerts.evidence import DEFAULT_NORMAL_GAP
from humwatch.alerts.policy import AlertPolicy, ClipFlag, replay
from humwatch.records import ClipRecord, ClipStatus

MAX_LABELLED_NORMAL_FAR = 0.10
ALLOWED_ALERTS_PER_WEEK = 1


@dataclass(frozen=True)
class CandidateScore:
    """A clip of the device's history scored by the candidate (ratio None: could not be scored)."""

    record: ClipRecord
    ratio: float | None
    normal_gap: float = DEFAULT_NORMAL_GAP


class LabelledResult(BaseModel):
    clip_id: str
    captured_at: datetime
    ratio: float | None
    over_threshold: bool | None
    flagged_by_current: bool
    verdict: str


class GateCheck(BaseModel):
    name: str
    passed: bool
    detail: str


class TrainingSummary(BaseModel):
    clips: int
    first_at: datetime | None
    last_at: datetime | None
    span_hours: float
    rejected: int = 0


class ReplaySummary(BaseModel):
    days: int
    clips: int
    candidate_alerts: int
    current_alerts: int | None  # None: no current model scored these clips
    current_model: str | None


class GateReport(BaseModel):
    thing: str
    model_id: str
    version: str
    reason: str
    created_at: datetime
    threshold: float
    training: TrainingSummary
    labelled_anomalies: list[LabelledResult]
    labelled_normals: list[LabelledResult]
    replay: ReplaySummary
    checks: list[GateCheck]
    passed: bool
    missed_anomalies: int
    summary: str


def _labelled(scores: Sequence[CandidateScore], label: str) -> list[LabelledResult]:
    results = []
    for s in sorted((s for s in scores if s.record.label == label), key=lambda s: s.record.captured_at):
        over = None if s.ratio is None else s.ratio > 1.0
        flagged = s.record.status is ClipStatus.SCORED and s.record.is_anomaly
        if over is None:
            verdict = "could not be scored"
        elif label == "anomaly":
            verdict = "caught" if over else "missed"
        elif flagged:
            verdict = "still above threshold" if over else "now below threshold"
        else:
            verdict = "above threshold" if over else "below threshold"
        results.append(
            LabelledResult(
                clip_id=s.record.clip_id,
                captured_at=s.record.captured_at,
                ratio=None if s.ratio is None else round(s.ratio, 4),
                over_threshold=over,
                flagged_by_current=flagged,
                verdict=verdict,
            )
        )
    return results


def _replay_counts(
    scores: Sequence[CandidateScore], policy: AlertPolicy
) -> tuple[int, int | None, str | None, int]:
    ordered = sorted((s for s in scores if s.ratio is not None), key=lambda s: s.record.captured_at)
    candidate = [
        ClipFlag(
            clip_id=s.record.clip_id,
            captured_at=s.record.captured_at,
            is_anomaly=bool(s.ratio is not None and s.ratio > 1.0),
            ratio=float(s.ratio or 0.0),
            normal_gap=s.normal_gap,
        )
        for s in ordered
    ]
    scored = [
        s.record for s in ordered if s.record.status is ClipStatus.SCORED and s.record.ratio is not None
    ]
    current_alerts: int | None = None
    current_model: str | None = None
    if scored:
        versions = sorted({f"{r.model_id} {r.model_version}" for r in scored})
        current_model = ", ".join(versions)
        current = [
            ClipFlag(
                clip_id=r.clip_id,
                captured_at=r.captured_at,
                is_anomaly=r.is_anomaly,
                ratio=float(r.ratio or 0.0),
                normal_gap=DEFAULT_NORMAL_GAP,
            )
            for r in scored
        ]
        current_alerts = len(replay(policy, current))
    return len(replay(policy, candidate)), current_alerts, current_model, len(ordered)


def gate_report(
    *,
    thing: str,
    model_id: str,
    version: str,
    reason: str,
    created_at: datetime,
    threshold: float,
    training: TrainingSummary,
    labelled: Sequence[CandidateScore],
    history: Sequence[CandidateScore],
    replay_days: int,
    policy: AlertPolicy,
) -> GateReport:
    anomalies = _labelled(labelled, "anomaly")
    normals = _labelled(labelled, "normal")
    missed = sum(1 for a in anomalies if a.over_threshold is not True)
    candidate_alerts, current_alerts, current_model, replayed = _replay_counts(history, policy)

    checks = [
        GateCheck(
            name="labelled anomalies",
            passed=missed == 0,
            detail=(
                f"{len(anomalies) - missed} of {len(anomalies)} caught"
                + (f", {missed} missed" if missed else "")
                if anomalies
                else "none labelled"
            ),
        )
    ]
    scored_normals = [n for n in normals if n.over_threshold is not None]
    false_alarms = sum(1 for n in scored_normals if n.over_threshold)
    rate = false_alarms / len(scored_normals) if scored_normals else 0.0
    checks.append(
        GateCheck(
            name="labelled normals",
            passed=rate <= MAX_LABELLED_NORMAL_FAR,
            detail=(
                f"{false_alarms} of {len(scored_normals)} over the threshold ({rate:.0%}; "
                f"at most {MAX_LABELLED_NORMAL_FAR:.0%})"
                if scored_normals
                else "none labelled"
            ),
        )
    )
    weeks = max(1, math.ceil(replay_days / 7))
    allowed = ALLOWED_ALERTS_PER_WEEK * weeks if current_alerts is None else current_alerts
    checks.append(
        GateCheck(
            name="replay",
            passed=candidate_alerts <= allowed,
            detail=(
                f"{candidate_alerts} alert(s) over {replayed} clips of the last {replay_days} days"
                + (
                    f", current model {current_alerts}"
                    if current_alerts is not None
                    else f" (no current model; at most {allowed})"
                )
            ),
        )
    )
    passed = all(check.passed for check in checks)
    failed = [f"{c.name}: {c.detail}" for c in checks if not c.passed]
    described = [f"{c.name}: {c.detail}" for c in checks]
    summary = f"passed: {'; '.join(described)}" if passed else f"failed: {'; '.join(failed)}"
    return GateReport(
        thing=thing,
        model_id=model_id,
        version=version,
        reason=reason,
        created_at=created_at,
        threshold=threshold,
        training=training,
        labelled_anomalies=anomalies,
        labelled_normals=normals,
        replay=ReplaySummary(
            days=replay_days,
            clips=replayed,
            candidate_alerts=candidate_alerts,
            current_alerts=current_alerts,
            current_model=current_model,
        ),
        checks=checks,
        passed=passed,
        missed_anomalies=missed,
        summary=summary,
    )
