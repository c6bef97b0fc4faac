"""`humwatch devices`, `label` and `ack` against a moto server."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from ops_seed import run, seed_device, stack_args

from humwatch.alerts.policy import Severity
from humwatch.dal.history import HistoryTable
from humwatch.dal.provisioning import StackResources
from humwatch.errors import NotFound

NOW = datetime.now(UTC).replace(microsecond=0)


def _devices(stack: StackResources) -> dict[str, dict[str, Any]]:
    result = run(["devices", "--format", "json", *stack_args(stack)])
    assert result.exit_code == 0, result.output
    return {row["device"]: row for row in json.loads(result.stdout)}


def test_devices_show_last_clip_alert_model_and_silence(
    aws_stack: StackResources, history: HistoryTable
) -> None:
    # Given a healthy fan, a fan in an alert episode, a fan that stopped sending 2 h ago (but still
    # heartbeats), and a pump registered with no clip yet
    seed_device(history, "fan-01", [0.4, 0.5, 0.45], start=NOW - timedelta(minutes=12))
    alert_at = NOW - timedelta(minutes=3)
    seed_device(
        history,
        "fan-02",
        [0.5, 1.6, 1.9, 2.4],
        start=NOW - timedelta(minutes=16),
        alert_at=alert_at,
        severity=Severity.CRITICAL,
    )
    seed_device(history, "fan-03", [0.4, 0.4], start=NOW - timedelta(hours=2, minutes=5))
    history.telemetry.put(
        "fan-03",
        {
            "sent_at": NOW.isoformat(),
            "version": "1",
            "spool_clips": 7,
            "spool_bytes": 1,
            "dropped_clips": 0,
            "disk_free_bytes": 1,
        },
        received_at=NOW - timedelta(seconds=30),
    )
    history.devices.put("pump-01", model_id=None, machine_type="pump")

    # When the operator lists the devices
    rows = _devices(aws_stack)

    # Then each line says what state the machine is in
    assert set(rows) == {"fan-01", "fan-02", "fan-03", "pump-01"}
    assert rows["fan-01"]["alert"] == "ok" and rows["fan-01"]["silent"] == "no"
    assert rows["fan-01"]["last_score"] == 0.45
    assert rows["fan-02"]["alert"] == "ALERT critical"
    assert rows["fan-02"]["recent"] == "3/4" and rows["fan-02"]["last_ratio"] == 2.4
    assert rows["fan-02"]["model"].startswith("fan-demo")
    assert rows["fan-03"]["silent"] == "SILENT (no clip for 2h, heartbeat ok)"
    assert rows["fan-03"]["alert"] == "ok"
    assert rows["pump-01"]["alert"] == "no data"
    assert rows["pump-01"]["silent"] == "no"  # registered just now: not yet overdue

    # And the table form has one line per device under a header
    table = run(["devices", *stack_args(aws_stack)])
    lines = table.stdout.strip().splitlines()
    assert lines[0].split()[:4] == ["DEVICE", "STATE", "LAST_CLIP", "LAST_SCORE"]
    assert len(lines) == 2 + 4
    assert any(line.startswith("fan-02") and "ALERT critical" in line for line in lines)


def test_silence_threshold_follows_the_clip_interval_option(
    aws_stack: StackResources, history: HistoryTable
) -> None:
    seed_device(history, "fan-01", [0.4], start=NOW - timedelta(minutes=20))
    assert _devices(aws_stack)["fan-01"]["silent"].startswith("SILENT")
    # With a one-hour capture interval, 20 minutes without a clip is normal
    result = run(["devices", "--clip-interval", "3600", "--format", "json", *stack_args(aws_stack)])
    assert json.loads(result.stdout)[0]["silent"] == "no"


def test_no_devices_registered(aws_stack: StackResources) -> None:
    result = run(["devices", *stack_args(aws_stack)])
    assert result.exit_code == 0 and result.output.strip() == "no devices registered"


def test_label_round_trip_shows_in_history(aws_stack: StackResources, history: HistoryTable) -> None:
    # Given an anomalous clip that triggered an alert
    seeded = seed_device(history, "fan-02", [0.5, 1.9], start=NOW - timedelta(minutes=10))
    anomalous = seeded.records[1]

    # When the operator labels it a false alarm with a note
    result = run(
        [
            "label",
            "fan-02",
            anomalous.clip_id,
            "--as",
            "normal",
            "--note",
            "forklift passing",
            *stack_args(aws_stack),
        ]
    )

    # Then the command confirms it and the label is stored on the clip's item and shown in history
    assert result.exit_code == 0, result.output
    assert "as normal (false alarm)" in result.output
    stored = history.clips.find("fan-02", anomalous.clip_id)
    assert stored is not None and stored.label == "normal" and stored.label_note == "forklift passing"
    rows = json.loads(run(["history", "-d", "fan-02", "--format", "json", *stack_args(aws_stack)]).stdout)
    by_id = {row["clip_id"]: row for row in rows}
    assert by_id[anomalous.clip_id]["label"] == "normal"
    assert by_id[anomalous.clip_id]["label_note"] == "forklift passing"
    assert by_id[seeded.records[0].clip_id]["label"] is None

    # And relabelling replaces the label (and drops the old note)
    again = run(["label", "fan-02", anomalous.clip_id, "--as", "anomaly", *stack_args(aws_stack)])
    assert "(alert confirmed)" in again.output
    stored = history.clips.find("fan-02", anomalous.clip_id)
    assert stored is not None and stored.label == "anomaly" and stored.label_note is None


def test_label_unknown_clip_or_device_is_a_clear_error(
    aws_stack: StackResources, history: HistoryTable
) -> None:
    seed_device(history, "fan-01", [0.5], start=NOW - timedelta(minutes=5))
    missing_clip = run(
        ["label", "fan-01", "00000000-0000-0000-0000-000000000000", "--as", "normal", *stack_args(aws_stack)]
    )
    assert isinstance(missing_clip.exception, NotFound)
    assert "no clip 00000000-0000-0000-0000-000000000000 for device fan-01" in str(missing_clip.exception)
    unknown_device = run(["label", "fan-77", "x", "--as", "normal", *stack_args(aws_stack)])
    assert isinstance(unknown_device.exception, NotFound)
    assert "unknown device 'fan-77'" in str(unknown_device.exception)
    bad_label = run(["label", "fan-01", "x", "--as", "maybe", *stack_args(aws_stack)])
    assert bad_label.exit_code == 2 and "'maybe' is not one of" in bad_label.output


def test_ack_acknowledges_an_active_alert_once(aws_stack: StackResources, history: HistoryTable) -> None:
    # Given a device in an alert episode
    alert_at = NOW - timedelta(minutes=2)
    seed_device(history, "fan-02", [1.5, 1.6, 1.7], start=NOW - timedelta(minutes=12), alert_at=alert_at)

    # When the operator acknowledges it
    result = run(["ack", "fan-02", *stack_args(aws_stack)])

    # Then the state records the ack and the devices view shows it as acknowledged
    assert result.exit_code == 0, result.output
    assert result.output.startswith("acknowledged fan-02 (warning since")
    state = history.alert_states.get("fan-02")
    assert state is not None and state.alert.acked_at is not None and state.alert.is_acknowledged
    assert _devices(aws_stack)["fan-02"]["alert"] == "acked warning"

    # And a second ack changes nothing and says so
    again = run(["ack", "fan-02", *stack_args(aws_stack)])
    assert "already acknowledged" in again.output
    after = history.alert_states.get("fan-02")
    assert after is not None and after.rev == state.rev


def test_ack_without_active_alert_or_for_unknown_device(
    aws_stack: StackResources, history: HistoryTable
) -> None:
    seed_device(history, "fan-01", [0.4, 0.5], start=NOW - timedelta(minutes=10))
    quiet = run(["ack", "fan-01", *stack_args(aws_stack)])
    assert quiet.exit_code == 0 and "no active alert" in quiet.output
    state = history.alert_states.get("fan-01")
    assert state is not None and state.alert.acked_at is None
    unknown = run(["ack", "nope", *stack_args(aws_stack)])
    assert isinstance(unknown.exception, NotFound)
