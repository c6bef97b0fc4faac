"""`humwatch cost`: every bill line against a hand-computed value, how the bill scales, the CLI.

The hand computations use round inputs (a 256 KiB clip, 1 KiB history items) for a fleet of 10
devices, one clip every 300 s, a heartbeat every 60 s and tracing on, over AWS's 730-hour month:
87,600 clips, 438,000 heartbeats, 2,880 clips a day, 30.4167 days, 2,628,000 seconds. At 10
devices every batch holds one clip.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from click.testing import CliRunner

import humwatch.cli.cost  # noqa: F401  (registers the command)
from humwatch.cli import cli, main
from humwatch.ops.cost import (
    CostModelError,
    Estimate,
    Fleet,
    Line,
    MeasuredInputs,
    Prices,
    estimate,
    tiered_cost,
)

US_EAST_1 = {
    "iot_connectivity_per_million_minutes": 0.08,
    "iot_messages_per_million": [[1000, 1.0], [5000, 0.8], [None, 0.7]],
    "iot_message_increment_bytes": 5120,
    "iot_rules_triggered_per_million": 0.15,
    "iot_actions_applied_per_million": 0.15,
    "iot_device_defender_audit_per_device_month": 0.0011,
    "lambda_requests_per_million": 0.2,
    "lambda_x86_gb_second": 0.0000166667,
    "s3_standard_gb_month": [[51200, 0.023], [512000, 0.022], [None, 0.021]],
    "s3_put_per_1000": 0.005,
    "s3_get_per_1000": 0.0004,
    "s3_glacier_ir_gb_month": 0.004,
    "s3_glacier_ir_transition_per_1000": 0.02,
    "s3_glacier_ir_min_days": 90,
    "s3_glacier_ir_min_object_bytes": 131072,
    "sqs_requests_per_million": 0.4,
    "dynamodb_write_units_per_million": 0.625,
    "dynamodb_read_units_per_million": 0.125,
    "dynamodb_storage_gb_month": 0.25,
    "dynamodb_pitr_gb_month": 0.2,
    "sns_publishes_per_million": 0.5,
    "sns_email_per_100000": 2.0,
    "kms_key_month": 1.0,
    "kms_requests_per_10000": 0.03,
    "logs_ingest_gb": 0.5,
    "logs_storage_gb_month": 0.03,
    "cloudwatch_alarm_month": 0.1,
    "cloudwatch_dashboard_month": 3.0,
    "cloudwatch_metric_month": 0.3,
    "xray_traces_per_million": 5.0,
}
PRICES = Prices(region="us-east-1", as_of="2025-09-01", month_hours=730, table=US_EAST_1)
INPUTS = MeasuredInputs(
    values={
        "clip_bytes": 262_144,  # 2^18: 2^-12 GB
        "upload_request_bytes": 232,
        "upload_response_bytes": 730,
        "upload_response_qos": 1,
        "presign_write_units_per_request": 1,
        "telemetry_bytes": 440,
        "telemetry_item_bytes": 349,
        "clip_item_bytes": 924,  # + 100 bytes of overhead = 1 KiB stored
        "state_item_bytes": 918,
        "write_units_per_clip": 3,
        "read_units_per_clip": 1,
        "s3_gets_per_clip": 1,
        "presign_memory_mb": 512,
        "presign_warm_s": 0.02,
        "presign_cold_extra_s": 1.0,
        "presign_log_bytes": 1000,
        "process_clip_memory_mb": 1024,
        "process_clip_batch_size": 10,
        "process_clip_batch_window_s": 5,
        "process_clip_batch_fixed_s": 0.05,
        "process_clip_per_clip_s": 0.1,
        "process_clip_cold_extra_s": 2.0,
        "process_clip_log_bytes_per_batch": 500,
        "process_clip_log_bytes_per_clip": 600,
        "drift_check_memory_mb": 1024,
        "drift_check_run_fixed_s": 2.0,
        "drift_check_per_device_s": 0.5,
        "drift_check_devices_per_run": 800,
        "drift_check_log_bytes_per_run": 2000,
        "drift_check_log_bytes_per_device": 500,
        "drift_check_read_units_per_device": 30,
        "drift_check_s3_gets_per_device": 8,
        "drift_check_s3_puts_per_device": 1,
        "drift_report_bytes": 2048,
    },
    measured_at="test",
    command="test",
)
SMALL = Fleet(devices=10, heartbeat_interval_s=60, tracing=True)
DAYS = 730 / 24
GB = 2**30


def bill(fleet: Fleet = SMALL, inputs: MeasuredInputs = INPUTS) -> Estimate:
    return estimate(fleet, prices=PRICES, inputs=inputs)


def usd(result: Estimate, service: str, item_start: str) -> float:
    (line,) = [ln for ln in result.lines if ln.service == service and ln.item.startswith(item_start)]
    return line.usd


def line(result: Estimate, service: str, item_start: str) -> Line:
    (found,) = [ln for ln in result.lines if ln.service == service and ln.item.startswith(item_start)]
    return found


# --- each line against a hand computation ------------------------------------------------------
def test_given_a_small_fleet_when_priced_then_iot_core_lines_match_hand_computation() -> None:
    result = bill()
    assert usd(result, "IoT Core", "connectivity") == pytest.approx(10 * 730 * 60 * 0.08e-6)
    # answer published + answer delivered + the device's PUBACK: 3 messages per clip; the request
    # and the heartbeats go by Basic Ingest, which IoT Core does not meter as messaging
    assert usd(result, "IoT Core", "messages: uploads") == pytest.approx(87_600 * 3 * 1e-6)
    assert usd(result, "IoT Core", "messages: heartbeats") == 0.0
    # ... but each still triggers its rule, which applies one action
    assert usd(result, "IoT Core", "rules") == pytest.approx((87_600 + 438_000) * 0.30e-6)
    assert usd(result, "IoT Core", "Device Defender audit") == pytest.approx(10 * 0.0011)


def test_given_answers_received_at_qos_0_when_priced_then_no_puback_is_billed() -> None:
    qos0 = MeasuredInputs({**INPUTS.values, "upload_response_qos": 0}, "test", "test")
    result = bill(inputs=qos0)
    assert usd(result, "IoT Core", "messages: uploads") == pytest.approx(87_600 * 2 * 1e-6)
    assert line(result, "IoT Core", "messages: uploads").item == "messages: uploads (2 per clip)"


def test_given_the_defaults_when_priced_then_heartbeats_follow_the_clip_interval_and_nothing_is_traced() -> (
    None
):
    default = bill(Fleet(devices=10))
    assert line(default, "IoT Core", "messages: heartbeats").quantity == pytest.approx(87_600)
    assert default.fleet.history_days == 90  # the defaults: 90-day retention, history too
    assert "X-Ray" not in default.by_service()
    assert bill(Fleet(devices=10, tracing=True)).by_service()["X-Ray"] > 0
    assert not [ln for ln in bill(Fleet(10, device_defender_audit=False)).lines if "audit" in ln.item]


def test_given_a_small_fleet_when_priced_then_lambda_lines_match_hand_computation() -> None:
    result = bill()
    # clips, batches (one clip each), daily drift runs, one train_model run per device
    assert usd(result, "Lambda", "requests") == pytest.approx((87_600 + 87_600 + DAYS + 10) * 0.2e-6)
    # presign: (warm 0.02 s + 1% x 1.0 s cold) x 0.5 GB per clip
    assert usd(result, "Lambda", "presign_upload") == pytest.approx(87_600 * 0.03 * 0.5 * 0.0000166667)
    # process_clip, one clip a batch: 0.05 + 1% x 2.0 + 0.1 s at 1 GB
    assert usd(result, "Lambda", "process_clip") == pytest.approx(87_600 * 0.17 * 0.0000166667)
    # drift_check daily: 2 s + 10 x 0.5 s at 1 GB
    assert usd(result, "Lambda", "drift_check") == pytest.approx(DAYS * 7.0 * 0.0000166667)
    # train_model: 10 devices x one 8.4 s run a month at 1769 MB
    assert usd(result, "Lambda", "train_model") == pytest.approx(10 * 8.4 * 1769 / 1024 * 0.0000166667)


def test_given_a_small_fleet_when_priced_then_s3_lines_match_hand_computation() -> None:
    result = bill()
    puts, gets = 87_600 + DAYS * 10, 87_600 + DAYS * 10 * 8
    assert usd(result, "S3", "PUT") == pytest.approx(puts * 0.005 / 1000)
    assert usd(result, "S3", "GET") == pytest.approx(gets * 0.0004 / 1000)
    assert usd(result, "S3", "clip storage, Standard") == pytest.approx(2_880 * 90 / 4096 * 0.023)
    assert usd(result, "S3", "drift report") == pytest.approx(10 * 365 * 2048 / GB * 0.023)
    # 2,890 PUTs + 2,960 GETs a day, 500-byte records kept 90 days
    assert usd(result, "S3", "access log") == pytest.approx(5_850 * 90 * 500 / GB * 0.023)


def test_given_a_small_fleet_when_priced_then_sqs_dynamodb_sns_kms_match_hand_computation() -> None:
    result = bill()
    assert usd(result, "SQS", "notifications") == pytest.approx(87_600 * 3 * 0.4e-6)
    assert usd(result, "SQS", "event source long polls") == pytest.approx(5 * 2_628_000 / 20 * 0.4e-6)
    # 3 WRU per clip + 2% of clips written again to the anomaly index
    assert usd(result, "DynamoDB", "writes: clip") == pytest.approx(87_600 * 3.02 * 0.625e-6)
    assert usd(result, "DynamoDB", "writes: heartbeats") == pytest.approx(438_000 * 0.625e-6)
    assert usd(result, "DynamoDB", "writes: upload quota") == pytest.approx(87_600 * 0.625e-6)
    assert usd(result, "DynamoDB", "reads") == pytest.approx((87_600 + DAYS * 10 * 30) * 0.125e-6)
    stored_gb = 2_880 * 90 * 1024 * 1.02 / GB + 10 * 1600 / GB
    assert usd(result, "DynamoDB", "storage") == pytest.approx(stored_gb * 0.25)
    assert usd(result, "DynamoDB", "point-in-time") == pytest.approx(stored_gb * 0.2)
    assert usd(result, "SNS", "alert") == pytest.approx(2.8 * 0.5e-6 + 2.8 / 100_000 * 2.0)
    assert usd(result, "KMS", "topic key") == pytest.approx(1.0)
    assert usd(result, "KMS", "key requests") == pytest.approx(5.6 * 0.03 / 10_000)


def test_given_a_small_fleet_when_priced_then_cloudwatch_and_xray_match_hand_computation() -> None:
    result = bill()
    log_bytes = 87_600 * (1000 + 500 + 600) + DAYS * 2000 + DAYS * 10 * 500
    assert usd(result, "CloudWatch", "log ingestion") == pytest.approx(log_bytes / GB * 0.5)
    assert usd(result, "CloudWatch", "log storage") == pytest.approx(log_bytes / GB * 30 / DAYS * 0.03)
    assert usd(result, "CloudWatch", "alarms") == pytest.approx(13 * 0.1)
    assert usd(result, "CloudWatch", "dashboard") == pytest.approx(3.0)
    assert usd(result, "CloudWatch", "custom metrics") == pytest.approx(18 * 0.3)
    # under one request a second per function: every invocation is traced
    assert usd(result, "X-Ray", "traces") == pytest.approx((87_600 * 2 + DAYS) * 5e-6)


def test_given_the_lines_when_totalled_then_total_and_per_device_are_their_sum() -> None:
    result = bill()
    assert result.total_usd == pytest.approx(sum(ln.usd for ln in result.lines))
    assert result.per_device_month_usd == pytest.approx(result.total_usd / 10)
    assert sum(result.by_service().values()) == pytest.approx(result.total_usd)


# --- how the bill scales -----------------------------------------------------------------------
def variable(result: Estimate) -> dict[tuple[str, str], float]:
    """Lines that scale with devices: not per stack, not X-Ray (sampled), not drift_check's
    compute (a fixed part per daily run plus a part per device)."""
    return {
        (ln.service, ln.item): ln.usd
        for ln in result.lines
        if not ln.fixed and ln.service != "X-Ray" and not ln.item.startswith("drift_check")
    }


def test_given_a_busy_fleet_when_devices_triple_then_every_per_device_line_triples() -> None:
    # 1,000 and 3,000 devices both fill every batch; X-Ray samples, so it grows more slowly
    small, large = variable(bill(Fleet(devices=1000))), variable(bill(Fleet(devices=3000)))
    assert small.keys() == large.keys()
    for key, value in small.items():
        # rel 1e-4: the 30 daily drift_check runs themselves (not the devices they check) are per stack
        assert large[key] == pytest.approx(3 * value, rel=1e-4), key


def test_given_more_devices_when_priced_then_per_stack_lines_stay_and_per_device_cost_falls() -> None:
    small, large = bill(Fleet(devices=10, tracing=True)), bill(Fleet(devices=10_000, tracing=True))
    fixed_small = {ln.item: ln.usd for ln in small.lines if ln.fixed}
    fixed_large = {ln.item: ln.usd for ln in large.lines if ln.fixed}
    assert fixed_small == fixed_large
    assert large.per_device_month_usd < small.per_device_month_usd
    xray_small = usd(small, "X-Ray", "traces") / 10
    assert usd(large, "X-Ray", "traces") / 10_000 < xray_small / 5  # sampling above 1 request/s


def test_given_a_quiet_fleet_when_priced_then_each_clip_is_its_own_batch_and_a_busy_one_fills_ten() -> None:
    assert "1.0 clips/batch" in line(bill(Fleet(devices=10)), "Lambda", "process_clip").item
    assert "10.0 clips/batch" in line(bill(Fleet(devices=1000)), "Lambda", "process_clip").item


def test_given_a_longer_interval_when_priced_then_clip_lines_fall_and_heartbeats_do_not() -> None:
    base, slow = bill(Fleet(devices=1000)), bill(Fleet(devices=1000, interval_s=600))
    # (SQS is not here: at 600 s the batching window collects 8.3 clips a batch instead of 10)
    per_clip = [("IoT Core", "messages: uploads"), ("S3", "clip storage"), ("DynamoDB", "writes: clip")]
    for service, item in per_clip:
        assert usd(slow, service, item) == pytest.approx(usd(base, service, item) / 2, rel=1e-6)
    assert usd(slow, "IoT Core", "messages: heartbeats") == usd(base, "IoT Core", "messages: heartbeats")
    assert slow.total_usd < base.total_usd


def test_given_a_longer_retention_when_priced_then_only_clip_storage_and_its_access_logs_grow() -> None:
    base, long = bill(Fleet(devices=100)), bill(Fleet(devices=100, retention_days=180))
    assert usd(long, "S3", "clip storage") == pytest.approx(2 * usd(base, "S3", "clip storage"))
    changed = {ln.item for ln, other in zip(base.lines, long.lines, strict=True) if ln.usd != other.usd}
    assert changed == {line(base, "S3", "clip storage").item}
    assert line(long, "S3", "clip storage").item.endswith("(180 days)")


def test_given_slower_heartbeats_when_priced_then_only_heartbeat_lines_fall() -> None:
    base, slow = bill(Fleet(devices=100, heartbeat_interval_s=60)), bill(Fleet(devices=100))
    assert line(slow, "IoT Core", "messages: heartbeats").quantity == pytest.approx(
        line(base, "IoT Core", "messages: heartbeats").quantity / 5
    )
    # 100 devices x (one clip every 300 s + one heartbeat every 60 s, then every 300 s), 0.30 a million
    per_s = 100 * 0.30e-6 * 2_628_000
    assert usd(base, "IoT Core", "rules") - usd(slow, "IoT Core", "rules") == pytest.approx(
        per_s * (1 / 60 - 1 / 300)
    )
    assert usd(slow, "DynamoDB", "writes: heartbeats") == pytest.approx(
        usd(base, "DynamoDB", "writes: heartbeats") / 5
    )
    assert usd(slow, "S3", "PUT") == usd(base, "S3", "PUT")


def test_given_a_year_of_history_when_priced_then_only_dynamodb_storage_and_its_backup_grow() -> None:
    base, year = bill(Fleet(devices=100)), bill(Fleet(devices=100, history_days=365))
    changed = {ln.item for ln, other in zip(base.lines, year.lines, strict=True) if ln.usd != other.usd}
    assert changed == {line(base, "DynamoDB", "storage").item, line(base, "DynamoDB", "point-in-time").item}
    history_gb = 288 * 100 * 1024 * 1.02 / GB  # a day of clip items, 1 KiB each, 2% twice
    assert usd(year, "DynamoDB", "storage") - usd(base, "DynamoDB", "storage") == pytest.approx(
        history_gb * (365 - 90) * 0.25
    )
    assert line(year, "DynamoDB", "storage").item == "storage (365 days of history)"


def test_given_archiving_when_priced_then_transitions_and_the_90_day_minimum_are_charged() -> None:
    result = bill(Fleet(devices=10, retention_days=90, archive_after_days=30))
    assert usd(result, "S3", "clip storage, Standard") == pytest.approx(2_880 * 30 / 4096 * 0.023)
    # 60 days left in Glacier IR, billed for its 90-day minimum
    assert usd(result, "S3", "clip storage, Glacier IR") == pytest.approx(87_600 * 90 / DAYS / 4096 * 0.004)
    assert usd(result, "S3", "lifecycle transitions") == pytest.approx(87_600 * 0.02 / 1000)


def test_given_small_clips_when_archived_then_they_are_billed_at_the_128k_minimum() -> None:
    small_clips = MeasuredInputs({**INPUTS.values, "clip_bytes": 65_536}, "test", "test")
    result = bill(Fleet(devices=10, retention_days=200, archive_after_days=30), small_clips)
    assert usd(result, "S3", "clip storage, Glacier IR") == pytest.approx(
        87_600 * 170 / DAYS * 131_072 / GB * 0.004
    )


def test_given_the_bundled_measurements_when_archiving_then_it_costs_more_at_90_days_and_less_at_a_year() -> (
    None
):
    # The reason clips are not tiered by default (docs/deploy.md): ~240 kB clips are too small
    # for the per-object transition charge to pay back within 90 days.
    def clip_storage(fleet: Fleet) -> float:
        return sum(ln.usd for ln in estimate(fleet).lines if ln.service == "S3")

    assert clip_storage(Fleet(1000, archive_after_days=30)) > clip_storage(Fleet(1000))
    year = Fleet(1000, retention_days=365)
    assert clip_storage(replace(year, archive_after_days=30)) < clip_storage(year)


def test_given_a_fleet_beyond_one_drift_run_when_priced_then_it_warns() -> None:
    assert bill(Fleet(devices=800)).warnings == ()
    (warning,) = bill(Fleet(devices=801)).warnings
    assert "drift_check" in warning and "800" in warning


# --- prices, inputs, tiers ---------------------------------------------------------------------
def test_given_volume_tiers_when_a_quantity_crosses_them_then_each_part_gets_its_rate() -> None:
    tiers = [(10.0, 1.0), (20.0, 0.5), (None, 0.1)]
    assert tiered_cost(5, tiers) == pytest.approx(5.0)
    assert tiered_cost(15, tiers) == pytest.approx(10 + 2.5)
    assert tiered_cost(30, tiers) == pytest.approx(10 + 5 + 1)


def test_given_a_huge_fleet_when_priced_then_s3_storage_crosses_into_the_cheaper_tier() -> None:
    result = bill(Fleet(devices=10_000))
    clip_line = line(result, "S3", "clip storage")
    reports, logs = line(result, "S3", "drift report"), line(result, "S3", "access log")
    total_gb = clip_line.quantity + reports.quantity + logs.quantity
    assert total_gb > 51_200
    flat = total_gb * 0.023
    assert clip_line.usd + reports.usd + logs.usd == pytest.approx(
        51_200 * 0.023 + (total_gb - 51_200) * 0.022
    )
    assert clip_line.usd + reports.usd + logs.usd < flat


def test_given_the_bundled_files_when_loaded_then_every_region_prices_every_line() -> None:
    east = estimate(Fleet(1000), region="us-east-1")
    west = estimate(Fleet(1000), region="us-west-2")
    assert east.total_usd > 0 and west.total_usd == pytest.approx(east.total_usd)
    assert east.prices_as_of == "2025-09-01"


def test_given_the_bundled_inputs_when_read_then_they_price_the_edge_uploader_as_it_subscribes() -> None:
    from humwatch_edge.mqtt_link import RESPONSE_QOS

    assert MeasuredInputs.load()["upload_response_qos"] == RESPONSE_QOS


def test_given_the_bundled_inputs_when_read_then_every_value_says_how_it_was_measured() -> None:
    from humwatch.ops.cost import INPUTS_FILE

    data = json.loads(INPUTS_FILE.read_text())
    assert "benchmarks/lambda_functions.py" in data["command"]
    assert data["values"] and all(entry["how"] and entry["unit"] for entry in data["values"].values())
    assert set(INPUTS.values) <= set(data["values"])  # the model reads no value the file lacks


def test_given_bad_fleets_when_built_then_each_is_refused_with_its_reason() -> None:
    with pytest.raises(CostModelError, match="devices must be at least 1"):
        Fleet(devices=0)
    with pytest.raises(CostModelError, match="interval_s must be more than 0"):
        Fleet(devices=1, interval_s=0)
    with pytest.raises(CostModelError, match="archive_after_days"):
        Fleet(devices=1, retention_days=30, archive_after_days=30)
    with pytest.raises(CostModelError, match="no prices for region 'mars-1'"):
        Prices.load("mars-1")
    with pytest.raises(CostModelError, match=r"measured input '\w+' missing"):
        bill(inputs=MeasuredInputs({}, "test", "test"))


# --- the CLI -----------------------------------------------------------------------------------
def test_given_help_when_asked_then_it_names_every_knob_and_an_example() -> None:
    result = CliRunner().invoke(cli, ["cost", "--help"])
    assert result.exit_code == 0
    for option in (
        "--devices",
        "--interval",
        "--retention-days",
        "--region",
        "--format",
        "--heartbeat-interval",
        "--history-days",
        "--tracing",
    ):
        assert option in result.output
    assert "humwatch cost --devices 1000 --interval 300 --retention-days 90" in result.output


def test_given_json_format_when_run_then_it_prints_per_device_month_and_every_line() -> None:
    result = CliRunner().invoke(cli, ["cost", "--devices", "1000", "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert {"per_device_month_usd", "total_usd", "by_service", "lines", "fleet", "region", "warnings"} <= set(
        data
    )
    assert data["per_device_month_usd"] == pytest.approx(data["total_usd"] / 1000, rel=1e-4)
    assert data["fleet"]["devices"] == 1000 and data["region"] == "us-east-1"
    assert data["fleet"]["history_days"] == 90 and data["fleet"]["retention_days"] == 90
    services = {entry["service"] for entry in data["lines"]}
    assert services == {"IoT Core", "Lambda", "S3", "SQS", "DynamoDB", "SNS", "KMS", "CloudWatch"}
    traced = json.loads(CliRunner().invoke(cli, ["cost", "--tracing", "--format", "json"]).output)
    assert traced["by_service"]["X-Ray"] > 0 and traced["fleet"]["tracing"] is True
    assert all(
        set(entry) == {"service", "item", "quantity", "unit", "usd", "fixed"} for entry in data["lines"]
    )


def test_given_table_format_when_run_then_it_shows_the_total_and_per_device_figure() -> None:
    result = CliRunner().invoke(cli, ["cost", "--devices", "10"])
    assert result.exit_code == 0, result.output
    expected = estimate(Fleet(devices=10))
    assert f"{expected.per_device_month_usd:.4f} USD" in result.output
    assert "per device-month" in result.output and "IoT Core" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--devices", "0"], "'--devices': 0 is not in the range x>=1"),
        (["--interval", "0"], "'--interval': 0.0 is not in the range x>0"),
        (["--retention-days", "0"], "'--retention-days'"),
    ],
)
def test_given_impossible_fleets_when_run_then_click_refuses_them(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["cost", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_given_an_unknown_region_when_run_then_it_exits_2_naming_the_known_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["cost", "--region", "mars-1"])
    assert exit_info.value.code == 2
    assert "no prices for region 'mars-1' (known: us-east-1, us-west-2)" in capsys.readouterr().err
