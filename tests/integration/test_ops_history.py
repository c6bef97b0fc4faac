"""`humwatch history` against a moto server: keys, the anomaly index, paging, filters, errors."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from ops_seed import run, seed_device, stack_args

from humwatch.dal import aws
from humwatch.dal.history import HistoryTable
from humwatch.dal.provisioning import StackResources
from humwatch.errors import NotFound
from humwatch.ops.history import HistoryQuery, query_history

NOW = datetime.now(UTC).replace(microsecond=0)


def _counting_table(stack: StackResources, page_size: int) -> tuple[HistoryTable, list[int]]:
    """A HistoryTable whose client counts Query calls (one per DynamoDB page)."""
    client = aws.client("dynamodb", endpoint_url=stack.endpoint_url, region=stack.region)
    calls: list[int] = []
    client.meta.events.register("after-call.dynamodb.Query", lambda **_: calls.append(1))
    return HistoryTable(stack.table, client=client, page_size=page_size), calls


def test_device_history_pages_through_every_clip_newest_first(
    aws_stack: StackResources, history: HistoryTable
) -> None:
    # Given 11 clips of one device and a page size of 3
    seeded = seed_device(
        history, "fan-01", [0.5 + i * 0.01 for i in range(11)], start=NOW - timedelta(hours=2)
    )
    table, calls = _counting_table(aws_stack, page_size=3)

    # When the whole history is read
    records = list(query_history(table, HistoryQuery(device="fan-01", limit=None), now=NOW))

    # Then every clip comes back once, newest first, over several Query pages
    assert [r.clip_id for r in records] == [r.clip_id for r in reversed(seeded.records)]
    assert len(calls) >= 4  # 11 items / 3 per page (+ the device existence checks use GetItem)


def test_cli_history_with_small_pages_returns_every_row_in_json(
    aws_stack: StackResources, history: HistoryTable
) -> None:
    seeded = seed_device(history, "fan-01", [0.4] * 7 + [1.5], start=NOW - timedelta(hours=1))
    result = run(
        [
            "history",
            "--device",
            "fan-01",
            "--page-size",
            "2",
            "--limit",
            "0",
            "--format",
            "json",
            *stack_args(aws_stack),
        ]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert len(rows) == 8
    assert rows[0]["clip_id"] == seeded.records[-1].clip_id and rows[0]["anomaly"] is True
    assert rows[0]["ratio"] == pytest.approx(1.5)
    assert "band_means" not in rows[0]


def test_history_of_all_devices_is_merged_by_time_and_limited(
    aws_stack: StackResources, history: HistoryTable
) -> None:
    # Given two devices with interleaved capture times
    start = NOW - timedelta(hours=1)
    seed_device(history, "fan-01", [0.3] * 4, start=start, every=timedelta(minutes=10))
    seed_device(
        history, "pump-01", [0.6] * 4, start=start + timedelta(minutes=5), every=timedelta(minutes=10)
    )

    # When the newest 5 rows of every device are listed as CSV
    result = run(["history", "--limit", "5", "--page-size", "2", "--format", "csv", *stack_args(aws_stack)])

    # Then they alternate between the devices, newest first
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["device"] for r in rows] == ["pump-01", "fan-01", "pump-01", "fan-01", "pump-01"]
    assert "(newest 5 shown; --limit 0 or --since/--until for more)" in result.stderr
    times = [r["captured_at"] for r in rows]
    assert times == sorted(times, reverse=True)


def test_anomalies_across_devices_read_the_day_index_over_several_days(
    aws_stack: StackResources, history: HistoryTable
) -> None:
    # Given anomalies on three different UTC days and normal clips in between, all in the past
    # whatever the time of day (noon four days ago: the newest is yesterday's noon)
    day0 = (NOW - timedelta(days=4)).replace(hour=12, minute=0, second=0)
    seed_device(history, "fan-01", [1.2, 0.2, 1.3], start=day0, every=timedelta(days=1))
    seed_device(
        history, "fan-02", [0.2, 1.8, 0.1, 2.5], start=day0 + timedelta(minutes=1), every=timedelta(days=1)
    )
    table, calls = _counting_table(aws_stack, page_size=1)

    # When anomalies of the last 7 days are listed
    records = list(query_history(table, HistoryQuery(anomalies=True, limit=None), now=NOW))

    # Then exactly the four anomalous clips come back, newest first, from several index queries
    assert [(r.thing, r.score) for r in records] == [
        ("fan-02", 2.5),
        ("fan-01", 1.3),
        ("fan-02", 1.8),
        ("fan-01", 1.2),
    ]
    assert all(r.is_anomaly for r in records)
    assert len(calls) >= 4

    # And --since narrows the days that are read
    result = run(
        [
            "history",
            "--anomalies",
            "--since",
            (day0 + timedelta(days=1, hours=6)).isoformat(),
            "--format",
            "json",
            *stack_args(aws_stack),
        ]
    )
    assert result.exit_code == 0, result.output
    assert [row["score"] for row in json.loads(result.stdout)] == [2.5, 1.3]


def test_since_and_until_bound_one_device(aws_stack: StackResources, history: HistoryTable) -> None:
    # Clips every hour, the newest 30 minutes ago (half an hour away from every bound below).
    start = NOW - timedelta(hours=9, minutes=30)
    seed_device(history, "fan-01", [0.1 * i for i in range(10)], start=start, every=timedelta(hours=1))
    result = run(
        [
            "history",
            "-d",
            "fan-01",
            "--since",
            "5h",
            "--until",
            (NOW - timedelta(hours=2)).isoformat(),
            "--format",
            "json",
            *stack_args(aws_stack),
        ]
    )
    assert result.exit_code == 0, result.output
    times = [row["captured_at"] for row in json.loads(result.stdout)]
    assert len(times) == 3  # captured 4.5h, 3.5h and 2.5h ago
    assert all(NOW - timedelta(hours=5) <= datetime.fromisoformat(t.replace("Z", "+00:00")) for t in times)


def test_device_anomalies_only_and_table_format(aws_stack: StackResources, history: HistoryTable) -> None:
    seeded = seed_device(history, "fan-01", [0.5, 1.7, None, 0.4, 2.2], start=NOW - timedelta(minutes=30))
    result = run(["history", "-d", "fan-01", "--anomalies", *stack_args(aws_stack)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0].split()[:4] == ["CAPTURED_AT", "DEVICE", "CLIP_ID", "STATUS"]
    assert len(lines) == 2 + 2  # header, rule, two anomalies
    assert seeded.records[4].clip_id in lines[2] and "2.200" in lines[2]

    # The rejected clip shows with its reason in the full history
    everything = run(["history", "-d", "fan-01", *stack_args(aws_stack)])
    assert "REJECTED" in everything.output and "silent" in everything.output


def test_empty_table_says_so(aws_stack: StackResources) -> None:
    table_out = run(["history", *stack_args(aws_stack)])
    assert table_out.exit_code == 0 and table_out.output.strip() == "no clips found"
    json_out = run(["history", "--anomalies", "--format", "json", *stack_args(aws_stack)])
    assert json_out.exit_code == 0 and json.loads(json_out.stdout) == []


def test_unknown_device_is_a_clear_error(aws_stack: StackResources, history: HistoryTable) -> None:
    seed_device(history, "fan-01", [0.5], start=NOW - timedelta(minutes=5))
    result = run(["history", "--device", "fan-99", *stack_args(aws_stack)])
    assert result.exit_code != 0
    assert isinstance(result.exception, NotFound)
    assert "unknown device 'fan-99'" in str(result.exception) and "fan-01" in str(result.exception)


def test_bad_time_is_a_clear_error(aws_stack: StackResources) -> None:
    result = run(["history", "--since", "yesterday", *stack_args(aws_stack)])
    assert result.exit_code != 0
    assert "not a time: 'yesterday'" in str(result.exception)


def test_entry_point_turns_errors_into_one_line(
    aws_stack: StackResources, capsys: pytest.CaptureFixture[str]
) -> None:
    from humwatch.cli import main

    # Given an unknown device, When `humwatch history` runs through the console-script entry point
    with pytest.raises(SystemExit) as exited:
        main(["history", "--device", "nope", *stack_args(aws_stack)])

    # Then it exits 2 with one readable line and no traceback
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.strip() == "error: unknown device 'nope' (no devices registered yet)"

    # And an endpoint that is down is one line too
    with pytest.raises(SystemExit):
        main(["devices", "--table", "t", "--endpoint-url", "http://127.0.0.1:9", "--region", "us-east-1"])
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "http://127.0.0.1:9" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
