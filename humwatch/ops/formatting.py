"""Render rows (lists of dicts) as an aligned text table, a JSON array, or CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"


def plain(value: Any) -> Any:
    """JSON-safe value: Decimals from DynamoDB become int/float, datetimes RFC3339."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [plain(v) for v in value]
    return value


def cell_text(value: Any) -> str:
    """How one value reads in a table or CSV cell (empty for missing, 3 decimals for floats)."""
    value = plain(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _is_numeric_column(rows: Sequence[Mapping[str, Any]], col: str) -> bool:
    values = [plain(row.get(col)) for row in rows if row.get(col) is not None]
    return bool(values) and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def render_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], *, empty: str) -> str:
    """Left-aligned text columns; numbers right-aligned so ratios line up."""
    if not rows:
        return empty
    cells = [[cell_text(row.get(col)) for col in columns] for row in rows]
    widths = [max(len(col), *(len(r[i]) for r in cells)) for i, col in enumerate(columns)]
    numeric = [_is_numeric_column(rows, col) for col in columns]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(widths[i]) if numeric[i] else v.ljust(widths[i]) for i, v in enumerate(values)]
        return "  ".join(parts).rstrip()

    out = [line([c.upper() for c in columns]), line(["-" * w for w in widths])]
    out.extend(line(r) for r in cells)
    return "\n".join(out)


def render_json(rows: Sequence[Mapping[str, Any]]) -> str:
    return json.dumps([plain(dict(r)) for r in rows], indent=2, sort_keys=False)


def render_csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([cell_text(row.get(col)) for col in columns])
    return buf.getvalue()


def render(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[str], fmt: OutputFormat, *, empty: str = "(none)"
) -> str:
    """One entry point for every list command; JSON carries every field, table/CSV the columns."""
    if fmt is OutputFormat.JSON:
        return render_json(rows)
    if fmt is OutputFormat.CSV:
        return render_csv(rows, columns)
    return render_table(rows, columns, empty=empty)
