"""The alert a person reads: subject, body, and the attributes SMS filters use."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from humwatch.alerts.message import SUBJECT_MAX, AlertContext, describe_duration, render_alert, render_notice
from humwatch.alerts.policy import AlertDecision, AlertReason, Severity

AT = datetime(2026, 11, 26, 14, 5, tzinfo=UTC)


def context(**overrides: object) -> AlertContext:
    values: dict = {
        "thing": "fan-03",
        "machine_type": "fan",
        "captured_at": AT,
        "clip_id": "0b9d8a52-3f4e-4c1a-9d2b-6f1e2a3b4c5d",
        "score": 2.4,
        "threshold": 1.0,
        "model_id": "fan-demo",
        "model_version": "20261126T140500Z",
        "first_anomaly_at": datetime(2026, 11, 26, 13, 55, tzinfo=UTC),
    }
    values.update(overrides)
    return AlertContext(**values)


def decision(
    severity: Severity = Severity.CRITICAL, reason: AlertReason = AlertReason.NEW_EPISODE
) -> AlertDecision:
    return AlertDecision(severity=severity, anomalous_count=3, window=3, max_ratio=2.4, reason=reason)


def test_the_message_says_which_machine_how_bad_since_when_and_what_to_run():
    message = render_alert(decision(), context())
    assert message.subject == "[humwatch] CRITICAL: fan-03 (fan) sounds abnormal, 2.4x threshold"
    body = message.body
    assert "fan-03 (fan) started sounding abnormal." in body
    assert "2.4x the alert threshold" in body
    assert "3 of the last 3 clips" in body
    assert "Abnormal since: 2026-11-26T13:55:00Z" in body
    assert "humwatch history --device fan-03 --since 24h" in body
    assert "humwatch ack fan-03" in body


def test_an_evidence_alert_says_the_clips_are_near_the_threshold():
    # Given the evidence rule fired on clips that all scored just under the threshold
    evidence = AlertDecision(
        severity=Severity.WARNING,
        anomalous_count=0,
        window=8,
        max_ratio=0.95,
        reason=AlertReason.NEW_EPISODE,
        evidence=5.4,
    )
    message = render_alert(evidence, context(score=0.9))
    # Then the subject does not claim "0.9x threshold" as the reason, and the body shows the evidence
    assert message.subject.endswith("sounds abnormal, clips near the threshold, evidence 5.4")
    assert "Evidence:       5.4" in message.body and "0 of the last 8 clips" in message.body
    # and an alert from k-of-n alone has no evidence line
    assert "Evidence:" not in render_alert(decision(), context()).body


def test_attributes_let_sms_filter_on_severity():
    warning = render_alert(decision(Severity.WARNING, AlertReason.REMINDER), context(score=1.3))
    assert warning.attributes == {
        "severity": "warning",
        "device": "fan-03",
        "machine_type": "fan",
        "kind": "anomaly",
    }
    assert warning.subject.startswith("[humwatch] Warning:") and "1.3x" in warning.subject
    assert "still sounds abnormal" in warning.body


def test_subjects_fit_the_sns_limit_even_with_long_names():
    message = render_alert(decision(), context(thing="x" * 64, machine_type="centrifugal-pump-" * 4))
    assert len(message.subject) <= SUBJECT_MAX
    notice = render_notice("drift", "y" * 64, "fan", "sound has drifted from the training data " * 3, ["a"])
    assert len(notice.subject) <= SUBJECT_MAX and notice.attributes["severity"] == "warning"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(2, "2 s"), (44, "44 s"), (300, "5 min"), (5400, "90 min"), (9000, "2.5 h"), (3 * 86400, "3.0 days")],
)
def test_notice_durations_read_in_the_unit_a_person_would_use(seconds: float, text: str) -> None:
    # (a demo device silent for 44 s used to be "silent for 0.0 h")
    assert describe_duration(seconds) == text


def test_with_a_console_the_alert_ends_with_the_clips_page_and_no_credentials():
    # Given process_clip runs with HUMWATCH_CONSOLE_URL (the deployed console's address)
    message = render_alert(decision(), context(console_url="https://d1234.cloudfront.net/"))
    # Then the body's last line is the clip's page: the SPA route, nothing signed, no token
    last = message.body.splitlines()[-1].strip()
    assert last == "https://d1234.cloudfront.net/#/devices/fan-03/clips/0b9d8a52-3f4e-4c1a-9d2b-6f1e2a3b4c5d"
    assert "X-Amz" not in message.body and "token" not in message.body.lower()
    # And without a console there is no link at all
    assert "cloudfront" not in render_alert(decision(), context()).body
    assert "console" not in render_alert(decision(), context()).body


def test_the_alert_says_why_in_words_when_the_model_says():
    # Given the model located what made the clip abnormal (humwatch.explain.describe_why)
    why = "a rhythmic pattern at 87 Hz in the 2.5–2.75 kHz band rose 6.2 σ above normal"
    message = render_alert(decision(), context(why=why))
    # Then the body says it right under the score
    lines = message.body.splitlines()
    score_line = next(i for i, line in enumerate(lines) if line.startswith("Score:"))
    assert lines[score_line + 1] == f"Why:            {why}"
    # and a model that cannot say (the autoencoder, an older bundle) leaves the line out
    assert "Why:" not in render_alert(decision(), context()).body
