"""drift_check against a moto server with a real published model and really scored clips.

History is seeded with the results of scoring synthetic clips with the trained bundle (what
process_clip writes): one device sounds as in training, one is 12 dB louder (every mel band
shifted), one stopped sending two days ago.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from lambda_harness import TopicInbox, invoke, load_handler, subscribe_inbox

from humwatch import contracts as c
from humwatch.audio import DecodedAudio
from humwatch.dal import aws
from humwatch.dal.history import HistoryTable
from humwatch.dal.model_store import ModelStore
from humwatch.dal.provisioning import StackResources
from humwatch.dal.report_store import ReportStore
from humwatch.drift import DriftReport, Verdict
from humwatch.model.bundle import ModelBundle
from humwatch.records import ClipRecord, ClipStatus, NoticeTimes
from humwatch.research.synth import MachineSpec, synth_clip
from humwatch.scoring import Scorer

NOW = datetime.now(UTC).replace(microsecond=0)


def seed_scored_clips(history: HistoryTable, scorer: Scorer, thing: str, *, n: int, gain_db: float) -> None:
    spec = MachineSpec.from_seed("fan", 0)
    for i in range(n):
        samples = synth_clip(spec, seed=5000 + i, duration_s=3.0, gain_db=gain_db)
        score = scorer.score(DecodedAudio(samples, 16000, 3.0, 16000, 1))
        at = NOW - timedelta(minutes=30 * (n - i))
        clip_id = str(uuid.uuid4())
        history.clips.put(
            ClipRecord(
                thing=thing,
                clip_id=clip_id,
                captured_at=at,
                status=ClipStatus.SCORED,
                processed_at=at,
                s3_key=c.clip_key(thing, at, clip_id, "flac"),
                score=score.score,
                threshold=score.threshold,
                ratio=score.ratio,
                is_anomaly=score.is_anomaly,
                model_id="fan-test",
                model_version=score.model_version,
                band_means=score.band_means,
            )
        )


@pytest.fixture
def seeded(aws_stack: StackResources, history: HistoryTable, trained_bundle_dir: Path) -> None:
    bundle = ModelBundle.load(trained_bundle_dir)
    ModelStore(aws_stack.bucket, client=aws.client("s3", endpoint_url=aws_stack.endpoint_url)).publish(
        bundle, "fan-test", history, make_default=True
    )
    scorer = Scorer(bundle)
    for thing in ("steady-01", "louder-02", "quiet-03"):
        history.devices.put(thing, machine_type="fan")
    seed_scored_clips(history, scorer, "steady-01", n=24, gain_db=0.0)
    seed_scored_clips(history, scorer, "louder-02", n=24, gain_db=12.0)


@pytest.fixture
def ops_inbox(aws_stack: StackResources) -> TopicInbox:
    return subscribe_inbox(aws_stack, aws_stack.ops_topic_arn, "ops-inbox")


def test_a_shifted_device_gets_a_drift_report_and_a_notice_and_a_steady_one_does_not(
    aws_stack: StackResources, functions_env, seeded, ops_inbox: TopicInbox, monkeypatch
):
    monkeypatch.setenv("HUMWATCH_CLIP_INTERVAL_S", "3600")
    handler = load_handler("drift_check")
    # When the daily schedule fires
    summary = invoke(
        handler, {"source": "aws.events", "detail-type": "Scheduled Event", "time": NOW.isoformat()}
    )
    # Then every device has a report, and only the louder one drifted
    assert summary["verdicts"]["steady-01"] == "ok"
    assert summary["verdicts"]["louder-02"] == "drift"
    assert summary["drifted"] == ["louder-02"]
    reports = ReportStore(aws_stack.bucket, client=aws.client("s3", endpoint_url=aws_stack.endpoint_url))
    louder = reports.get_drift_report(NOW.date(), "louder-02")
    steady = reports.get_drift_report(NOW.date(), "steady-01")
    assert isinstance(louder, DriftReport) and isinstance(steady, DriftReport)
    assert louder.mean_abs_band_shift is not None and louder.mean_abs_band_shift > 1.0
    assert steady.mean_abs_band_shift is not None and steady.mean_abs_band_shift < 0.5
    assert louder.n_clips == 24 and louder.model_id == "fan-test" and louder.notified_drift
    assert not steady.notified_drift and steady.reasons == []
    # And exactly one drift notice went out, for the louder device
    notices = ops_inbox.messages()
    drift = [n for n in notices if n["MessageAttributes"]["kind"]["Value"] == "drift"]
    assert len(drift) == 1 and "louder-02" in drift[0]["Subject"]
    assert drift[0]["MessageAttributes"]["severity"]["Value"] == "warning"


def test_silent_devices_are_reported_once_per_cooldown(
    aws_stack: StackResources,
    functions_env,
    history: HistoryTable,
    seeded,
    ops_inbox: TopicInbox,
    monkeypatch,
):
    # Given a device whose last clip is two days old and the others recent (30 min, 1 h interval)
    monkeypatch.setenv("HUMWATCH_CLIP_INTERVAL_S", "3600")
    old = ClipRecord(
        thing="quiet-03",
        clip_id=str(uuid.uuid4()),
        captured_at=NOW - timedelta(days=2),
        status=ClipStatus.REJECTED,
        processed_at=NOW - timedelta(days=2),
        s3_key="clips/quiet-03/x.flac",
        reason="silent",
    )
    history.clips.put(old)
    handler = load_handler("drift_check")
    # When the check runs three times the same day (each run rewrites the day's report)
    first, second, third = (
        invoke(handler, {"source": "aws.events", "time": (NOW + timedelta(minutes=m)).isoformat()})
        for m in (0, 20, 40)
    )
    # Then the quiet device is silent every time but noticed only once (cooldown)
    assert all("quiet-03" in run["silent"] for run in (first, second, third))
    assert "steady-01" not in first["silent"] and "louder-02" not in first["silent"]
    silence = [n for n in ops_inbox.messages() if n["MessageAttributes"]["kind"]["Value"] == "silence"]
    assert len(silence) == 1 and "quiet-03" in silence[0]["Subject"]


def test_a_revoked_device_is_neither_checked_nor_reported_silent(
    aws_stack: StackResources,
    functions_env,
    history: HistoryTable,
    seeded,
    ops_inbox: TopicInbox,
    monkeypatch,
):
    # Given the device that stopped sending has been revoked by an operator
    monkeypatch.setenv("HUMWATCH_CLIP_INTERVAL_S", "3600")
    history.devices.mark_revoked("quiet-03", at=NOW - timedelta(days=1), certificate_ids=["abc"])
    # When the check runs
    summary = invoke(load_handler("drift_check"), {"source": "aws.events", "time": NOW.isoformat()})
    # Then it is skipped: no verdict, not silent, no notice; the others are checked as before
    assert "quiet-03" not in summary["verdicts"] and summary["silent"] == []
    assert set(summary["verdicts"]) == {"steady-01", "louder-02"}
    assert [n for n in ops_inbox.messages() if n["MessageAttributes"]["kind"]["Value"] == "silence"] == []


def test_the_cooldown_is_kept_in_the_device_notice_item_not_read_from_reports(
    aws_stack: StackResources,
    functions_env,
    history: HistoryTable,
    seeded,
    ops_inbox: TopicInbox,
    monkeypatch,
):
    monkeypatch.setenv("HUMWATCH_CLIP_INTERVAL_S", "3600")
    handler = load_handler("drift_check")
    event = {"source": "aws.events", "time": NOW.isoformat()}
    # Given a run that notified about the louder device
    first = invoke(handler, event)
    assert first["notices_sent"] == 1
    notices = history.drift_notices.get_many(["louder-02", "steady-01"])
    sent_at = notices["louder-02"].drift_notice_at
    assert sent_at is not None and first["reports"]["louder-02"].endswith("/louder-02.json")
    assert notices["steady-01"] == NoticeTimes(thing="steady-01")  # checked, never notified
    # When every report is gone and the check runs again within the cooldown
    s3 = aws.client("s3", endpoint_url=aws_stack.endpoint_url)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=aws_stack.bucket, Prefix="reports/"):
        for obj in page.get("Contents", []):
            s3.delete_object(Bucket=aws_stack.bucket, Key=obj["Key"])
    later = invoke(handler, event)
    # Then the device still drifts, but the notice item keeps it to the one notice
    assert later["drifted"] == ["louder-02"] and later["notices_sent"] == 0
    drift = [n for n in ops_inbox.messages() if n["MessageAttributes"]["kind"]["Value"] == "drift"]
    assert len(drift) == 1
    report = ReportStore(aws_stack.bucket, client=s3).get_drift_report(sent_at.date(), "louder-02")
    assert report is not None and report.drift_notice_at == sent_at and not report.notified_drift


def test_a_device_checked_before_the_notice_item_existed_keeps_its_cooldown_from_its_report(
    aws_stack: StackResources, functions_env, seeded, ops_inbox: TopicInbox, monkeypatch
):
    # Given yesterday's report of the louder device, written by an earlier version (a notice flag,
    # no notice time) and no notice item
    monkeypatch.setenv("HUMWATCH_CLIP_INTERVAL_S", "3600")
    yesterday = NOW - timedelta(days=1)
    earlier = DriftReport(
        thing="louder-02",
        model_id="fan-test",
        model_version="v1",
        generated_at=yesterday,
        window_start=yesterday - timedelta(hours=24),
        window_end=yesterday,
        n_clips=24,
        verdict=Verdict.DRIFT,
        notified_drift=True,
    )
    s3 = aws.client("s3", endpoint_url=aws_stack.endpoint_url)
    ReportStore(aws_stack.bucket, client=s3).put_drift_report(earlier)
    # When today's check runs
    summary = invoke(load_handler("drift_check"), {"source": "aws.events", "time": NOW.isoformat()})
    # Then the drift is reported but not notified again (yesterday's notice is within 72 h)
    assert summary["drifted"] == ["louder-02"] and summary["notices_sent"] == 0
    assert not [n for n in ops_inbox.messages() if n["MessageAttributes"]["kind"]["Value"] == "drift"]


def test_a_fleet_larger_than_one_notice_page_gets_a_report_per_device(
    aws_stack: StackResources, functions_env, history: HistoryTable, seeded
):
    # Given 150 more devices registered today (no clips yet) beside the three seeded ones
    for i in range(150):
        history.devices.put(f"new-{i:03d}", machine_type="pump")
    # When the check runs
    summary = invoke(load_handler("drift_check"), {"source": "aws.events", "time": NOW.isoformat()})
    # Then every device has its report and notice item, and the new ones lack data but are not silent
    assert summary["devices"] == 153 and len(summary["reports"]) == 153
    assert summary["verdicts"]["new-149"] == "insufficient_data" and "new-149" not in summary["silent"]
    assert len(history.drift_notices.get_many([f"new-{i:03d}" for i in range(150)])) == 150


def test_the_drift_notice_names_the_retrain_command_and_what_the_retrain_would_train_on(
    aws_stack: StackResources,
    functions_env,
    history: HistoryTable,
    seeded,
    ops_inbox: TopicInbox,
    monkeypatch,
):
    # Given the louder device's clips, one flagged clip labelled normal by an operator and one
    # unflagged clip labelled anomaly
    monkeypatch.setenv("HUMWATCH_CLIP_INTERVAL_S", "3600")
    clips = list(history.clips.query("louder-02", newest_first=False))
    flagged = [r for r in clips if r.is_anomaly]
    calm = [r for r in clips if not r.is_anomaly]
    assert flagged, "the 12 dB louder clips should be flagged by the model trained on the normal ones"
    history.clips.set_label("louder-02", flagged[0].clip_id, "normal", captured_at=flagged[0].captured_at)
    # (every clip flagged: the label takes a second flagged clip out instead)
    anomaly = calm[0] if calm else flagged[1]
    history.clips.set_label("louder-02", anomaly.clip_id, "anomaly", captured_at=anomaly.captured_at)
    # When the daily check runs (its window is the default 24 h; the 24 clips span 12 h)
    invoke(load_handler("drift_check"), {"source": "aws.events", "time": NOW.isoformat()})
    # Then the drift notice names the command, and says what it would train on: the unflagged clips
    # but the one labelled anomaly, plus the flagged one labelled normal; the other flagged ones out
    drift = [n for n in ops_inbox.messages() if n["MessageAttributes"]["kind"]["Value"] == "drift"]
    assert len(drift) == 1
    body = drift[0]["Message"]
    assert "humwatch model retrain louder-02 --since 7d" in body
    flagged_unlabelled = len(flagged) - 1 - (anomaly in flagged)
    would_train = len(calm) - (anomaly in calm) + 1
    assert (
        f"{would_train} valid clips of the last 24.0 h would train it, 1 of them labelled normal; "
        "clips flagged by the current model are left out unless labelled normal "
        f"({flagged_unlabelled} in that time), clips labelled anomaly are always left out (1)."
    ) in body
    assert "Consider retraining" not in body
