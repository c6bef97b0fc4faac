"""Device status, silence, label counts, drift summary and edge-config logic (no network)."""

from __future__ import annotations

import math
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from humwatch.alerts.policy import AlertState, ClipFlag, Severity
from humwatch.errors import AlreadyExists, ConfigError
from humwatch.learning.selection import BaselineProgress
from humwatch.ops.devices import DEVICE_COLUMNS, SilencePolicy, alert_text, device_status, silence
from humwatch.ops.provision import (
    CaptureDefaults,
    SpoolDefaults,
    amazon_root_ca_pem,
    check_out_dir,
    edge_config_toml,
)
from humwatch.ops.report import LabelCounts, drift_summary
from humwatch.records import (
    ClipRecord,
    ClipStatus,
    DeviceInfo,
    DeviceLifecycle,
    DeviceState,
    Label,
    TelemetryRecord,
)

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
POLICY = SilencePolicy(clip_interval_s=300, after_intervals=3)  # silent after 15 min


def test_silence_counts_clips_not_heartbeats() -> None:
    assert silence(NOW - timedelta(minutes=14), None, POLICY, registered_at=None, now=NOW) == (False, None)
    assert silence(NOW - timedelta(minutes=16), None, POLICY, registered_at=None, now=NOW) == (
        True,
        "no clip for 16m",
    )
    # heartbeat alive but no clips: still silent, and the reason says the uploader is up
    assert silence(
        NOW - timedelta(hours=3), NOW - timedelta(minutes=1), POLICY, registered_at=None, now=NOW
    ) == (True, "no clip for 3h, heartbeat ok")
    # never sent a clip: counted from registration
    assert silence(None, None, POLICY, registered_at=NOW - timedelta(minutes=5), now=NOW) == (False, None)
    silent, why = silence(None, None, POLICY, registered_at=NOW - timedelta(hours=2), now=NOW)
    assert silent and why == "no clip since registration 2h ago"


def test_silence_policy_from_env_validates() -> None:
    assert SilencePolicy.from_env({}) == SilencePolicy(300.0, 3)
    assert SilencePolicy.from_env(
        {"HUMWATCH_CLIP_INTERVAL_S": "60", "HUMWATCH_SILENT_AFTER_INTERVALS": "5"}
    ).limit == (timedelta(minutes=5))
    with pytest.raises(ConfigError, match="HUMWATCH_CLIP_INTERVAL_S must be a number"):
        SilencePolicy.from_env({"HUMWATCH_CLIP_INTERVAL_S": "five"})
    with pytest.raises(ConfigError, match="must be positive"):
        SilencePolicy.from_env({"HUMWATCH_SILENT_AFTER_INTERVALS": "0"})


def _state(
    *,
    episode: bool,
    alert_at: datetime | None,
    acked_at: datetime | None = None,
    severity: Severity | None = Severity.WARNING,
) -> DeviceState:
    flags = tuple(
        ClipFlag(str(i), NOW - timedelta(minutes=5 * i), i < 3, 1.5 if i < 3 else 0.5) for i in range(5)
    )
    alert = AlertState(
        recent=flags,
        last_alert_at=alert_at,
        last_severity=severity if alert_at else None,
        acked_at=acked_at,
        episode_open=episode,
    )
    return DeviceState(
        thing="fan-02",
        alert=alert,
        last_clip_at=NOW - timedelta(minutes=1),
        last_score=2.0,
        last_ratio=2.0,
        model_id="fan-demo",
        model_version="v3",
        rev=4,
    )


def test_alert_text() -> None:
    assert alert_text(None) == "no data"
    assert alert_text(_state(episode=False, alert_at=NOW - timedelta(days=1))) == "ok"
    assert alert_text(_state(episode=True, alert_at=NOW)) == "ALERT warning"
    assert (
        alert_text(_state(episode=True, alert_at=NOW - timedelta(minutes=9), acked_at=NOW)) == "acked warning"
    )
    # an ack older than the latest alert (escalation) does not count
    assert (
        alert_text(
            _state(
                episode=True, alert_at=NOW, acked_at=NOW - timedelta(minutes=9), severity=Severity.CRITICAL
            )
        )
        == "ALERT critical"
    )


def test_device_status_model_and_window() -> None:
    info = DeviceInfo(thing="fan-02", model_id=None, created_at=NOW - timedelta(days=3))
    state = _state(episode=True, alert_at=NOW)
    beat = TelemetryRecord(thing="fan-02", received_at=None, payload={"sent_at": "2026-11-26T13:59:00Z"})
    published = {"fan-demo": "v4", "fan-v2": "20261126T150000Z"}
    status = device_status(
        info, state, beat, default_model="fan-demo", published=published, policy=POLICY, now=NOW
    )
    # The version shown is the published one (what scores the next clip); the last clip's is kept apart
    assert (status.model_id, status.model_version, status.model_source) == ("fan-demo", "v4", "default")
    assert status.last_scored_by == "fan-demo@v3"
    assert (status.anomalous_recent, status.recent_window) == (3, 5)
    assert status.heartbeat_at == datetime(2026, 11, 26, 13, 59, tzinfo=UTC)
    row = status.row(now=NOW)
    assert row["model"] == "fan-demo@v4 (default)" and row["recent"] == "3/5" and row["silent"] == "no"
    # Evidence over the window in capture order (default gap 2.0): two clips at 0.5x, then three at 1.5x
    expected = 2 * (math.log(0.5) / 2 + 0.5) + 3 * (math.log(1.5) / 2 + 0.5)
    assert row["evidence"] == round(expected, 1) == 2.4
    # A device mapped to its own model; one mapped to a model that is not published
    mapped = device_status(
        info.model_copy(update={"model_id": "fan-v2"}),
        state,
        None,
        default_model="fan-demo",
        published=published,
        policy=POLICY,
        now=NOW,
    )
    assert (mapped.model_id, mapped.model_version, mapped.model_source) == (
        "fan-v2",
        "20261126T150000Z",
        "device",
    )
    unpublished = device_status(
        info.model_copy(update={"model_id": "ghost"}), None, None, default_model=None, policy=POLICY, now=NOW
    )
    assert (unpublished.model_version, unpublished.row(now=NOW)["model"]) == (None, "ghost")


def test_a_learning_device_row_shows_its_state_and_baseline_progress_in_the_note() -> None:
    # Given a device learning its normal again (it has a model of its own from before, and the last
    # training run left a note), 37 baseline clips over 3.1 h so far
    since = NOW - timedelta(hours=4)
    info = DeviceInfo(
        thing="fan-02",
        model_id="fan-02",
        created_at=NOW - timedelta(days=30),
        state=DeviceLifecycle.LEARNING,
        learning_since=since,
        training_note="candidate 20261126T100000Z failed its gate; learning again",
    )
    progress = BaselineProgress(
        clips=37,
        needed_clips=0,
        span=timedelta(hours=3.1),
        needed_span=timedelta(0),
        first_at=since,
        last_at=since + timedelta(hours=3.1),
    )
    # When `humwatch devices` builds its row
    status = device_status(
        info, None, None, default_model="fan-demo", policy=POLICY, now=NOW, baseline=progress
    )
    row = status.row(now=NOW)
    # Then the STATE column says learning, the note leads with the baseline and keeps the run's note,
    # and the model is the device's own (nothing scores it now; the default model does not either)
    assert "state" in DEVICE_COLUMNS and "note" in DEVICE_COLUMNS
    assert row["state"] == "learning" and status.learning_since == since
    assert row["note"] == (
        "baseline 37 clips over 3.1 h; candidate 20261126T100000Z failed its gate; learning again"
    )
    assert (status.model_id, status.model_source) == ("fan-02", "device")


def test_a_monitoring_device_row_shows_only_a_training_note() -> None:
    # Given a monitored device whose retrain candidate waits for an operator, and one with no note
    waiting = DeviceInfo(
        thing="fan-03",
        model_id="fan-03",
        created_at=NOW - timedelta(days=30),
        training_note="candidate v2 passed its gate; waiting: humwatch model promote fan-03 v2",
    )
    plain = waiting.model_copy(update={"training_note": None})
    # When their rows are built
    rows = [
        device_status(info, None, None, default_model=None, policy=POLICY, now=NOW).row(now=NOW)
        for info in (waiting, plain)
    ]
    # Then both say monitoring; the note is the run's note, or "-" when there is none
    assert [r["state"] for r in rows] == ["monitoring", "monitoring"]
    assert rows[0]["note"] == "candidate v2 passed its gate; waiting: humwatch model promote fan-03 v2"
    assert rows[1]["note"] == "-"


def _clip(anomaly: bool, label: Label | None, status: ClipStatus = ClipStatus.SCORED) -> ClipRecord:
    return ClipRecord(
        thing="t",
        clip_id="c",
        captured_at=NOW,
        status=status,
        processed_at=NOW,
        s3_key="k",
        is_anomaly=anomaly,
        label=label,
    )


def test_label_counts() -> None:
    counts = LabelCounts.of(
        [
            _clip(True, "anomaly"),
            _clip(True, "anomaly"),
            _clip(True, "normal"),
            _clip(True, None),
            _clip(False, "anomaly"),
            _clip(False, "normal"),
            _clip(False, None),
            _clip(False, "anomaly", ClipStatus.REJECTED),
        ]
    )
    assert counts == LabelCounts(confirmed=2, rejected=1, missed=1, agreed_normal=1, unlabelled_anomalies=1)
    assert (counts + counts).confirmed == 4


def test_drift_summary() -> None:
    assert drift_summary(None) == ("no drift report", None)
    text, drifted = drift_summary(
        {
            "verdict": "drift",
            "drift_score": 3.21,
            "reasons": ["band 3 shifted"],
            "generated_at": "2026-11-26T02:00:00Z",
            "score_psi": None,
        }
    )
    assert drifted is True and text == "drift drift_score=3.210 band 3 shifted (2026-11-26)"
    assert drift_summary({"verdict": "ok"})[1] is False
    assert drift_summary({"verdict": "insufficient_data"})[1] is None


def test_edge_config_is_valid_toml_with_escaped_values() -> None:
    text = edge_config_toml(
        thing="fan-04",
        endpoint="abc-ats.iot.eu-west-1.amazonaws.com",
        port=8883,
        ca_file='C:\\certs\\"ca".pem',
        cert_file="/etc/humwatch-edge/device.cert.pem",
        key_file="/etc/humwatch-edge/device.private.key",
        spool_dir="/var/lib/humwatch-edge/spool",
        capture=CaptureDefaults(interval_s=60),
        spool=SpoolDefaults(),
    )
    doc = tomllib.loads(text)
    assert doc["device"] == {"thing_name": "fan-04"}
    assert doc["mqtt"]["ca_file"] == 'C:\\certs\\"ca".pem' and doc["mqtt"]["port"] == 8883
    assert doc["capture"] == {
        "source": "microphone",
        "interval_s": 60.0,
        "duration_s": 10.0,
        "sample_rate": 16000,
    }
    assert set(doc["spool"]) == {"dir", "max_bytes", "max_clips"}
    # the topics are named for whoever reads the file
    assert "$aws/rules/humwatch_upload_request/humwatch/fan-04/upload/request" in text


def test_root_ca_from_a_bundle_or_a_download(tmp_path: Path) -> None:
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"
    bundle = tmp_path / "cacert.pem"
    bundle.write_text(
        f'# Label: "Other"\n{pem.replace("MIIB", "OTHER")}\n# Label: "Amazon Root CA 1"\n{pem}\n'
    )
    assert amazon_root_ca_pem(bundle_path=str(bundle)) == pem + "\n"
    fetched = amazon_root_ca_pem(bundle_path=str(tmp_path / "none"), fetch=lambda url: pem.encode())
    assert fetched == pem

    def offline(url: str) -> bytes:
        raise OSError("no network")

    assert amazon_root_ca_pem(bundle_path=str(tmp_path / "none"), fetch=offline) is None


def test_out_dir_with_credentials_is_refused(tmp_path: Path) -> None:
    check_out_dir(tmp_path / "new")  # nothing there: fine
    (tmp_path / "device.private.key").write_text("secret")
    with pytest.raises(AlreadyExists, match=r"device\.private\.key"):
        check_out_dir(tmp_path)
