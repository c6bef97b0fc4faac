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
from humwatch.drift import DriftReport
from humwatch.model.bundle import ModelBundle
from humwatch.records import ClipRecord, ClipStatus
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
