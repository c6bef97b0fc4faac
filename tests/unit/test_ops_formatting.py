"""Table, JSON and CSV rendering of operator output."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from decimal import Decimal

from humwatch.ops.formatting import OutputFormat, cell_text, render

ROWS = [
    {
        "device": "fan-01",
        "ratio": 0.5,
        "anomaly": False,
        "label": None,
        "n": 3,
        "at": datetime(2026, 11, 26, 14, 0, tzinfo=UTC),
    },
    {
        "device": "fan-02-long",
        "ratio": Decimal("12.25"),
        "anomaly": True,
        "label": "normal",
        "n": 12,
        "at": datetime(2026, 11, 26, 14, 5, tzinfo=UTC),
    },
]
COLUMNS = ("device", "ratio", "anomaly", "label", "n")


def test_table_aligns_columns_and_right_aligns_numbers() -> None:
    lines = render(ROWS, COLUMNS, OutputFormat.TABLE).splitlines()
    assert lines[0].split() == ["DEVICE", "RATIO", "ANOMALY", "LABEL", "N"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert lines[2].startswith("fan-01       ")  # padded to the longest device name
    # numbers end in the same column; booleans read yes/no; missing is blank
    assert lines[2].index("0.500") + len("0.500") == lines[3].index("12.250") + len("12.250")
    assert " no " in lines[2] and " yes " in lines[3]
    assert lines[3].split()[-2:] == ["normal", "12"]
    assert lines[2].rstrip().endswith("3")


def test_empty_rows_print_the_message() -> None:
    assert render([], COLUMNS, OutputFormat.TABLE, empty="no clips found") == "no clips found"
    assert json.loads(render([], COLUMNS, OutputFormat.JSON)) == []
    assert render([], COLUMNS, OutputFormat.CSV).strip() == ",".join(COLUMNS)


def test_json_carries_every_field_as_plain_values() -> None:
    data = json.loads(render(ROWS, COLUMNS, OutputFormat.JSON))
    assert data[1]["ratio"] == 12.25 and data[0]["n"] == 3 and isinstance(data[0]["n"], int)
    assert data[0]["at"] == "2026-11-26T14:00:00Z"  # not in COLUMNS, still in JSON
    assert data[0]["label"] is None and data[1]["anomaly"] is True


def test_csv_round_trips_through_a_csv_reader() -> None:
    tricky = [{"device": 'fan,"01"', "ratio": 1.0, "anomaly": True, "label": "line\nbreak", "n": 1}]
    rows = list(csv.DictReader(io.StringIO(render(tricky, COLUMNS, OutputFormat.CSV))))
    assert rows == [
        {"device": 'fan,"01"', "ratio": "1.000", "anomaly": "yes", "label": "line\nbreak", "n": "1"}
    ]


def test_cell_text() -> None:
    assert cell_text(None) == ""
    assert cell_text(Decimal("3")) == "3"
    assert cell_text([1, 2]) == "[1,2]"
