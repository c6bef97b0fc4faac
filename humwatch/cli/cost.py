"""`humwatch cost`: the monthly AWS bill of a fleet, per service (arithmetic in humwatch.ops.cost)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from humwatch.cli.group import cli


@cli.command("cost")
@click.option(
    "--devices",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="Devices in the fleet, each sending a clip every --interval.",
)
@click.option(
    "--interval",
    "interval_s",
    type=click.FloatRange(min=0, min_open=True),
    default=300.0,
    show_default=True,
    help="Seconds between clips of one device (clipIntervalSeconds).",
)
@click.option(
    "--retention-days",
    type=click.IntRange(min=1),
    default=90,
    show_default=True,
    help="Days clips are kept in S3 (clipRetentionDays).",
)
@click.option("--region", default="us-east-1", show_default=True, help="AWS region of the prices.")
@click.option(
    "--heartbeat-interval",
    "heartbeat_interval_s",
    type=click.FloatRange(min=0, min_open=True),
    default=300.0,
    show_default=True,
    help="Seconds between device heartbeats (edge uploader telemetry.interval_s).",
)
@click.option(
    "--history-days",
    type=click.IntRange(min=1),
    default=90,
    show_default=True,
    help="Days history items are kept in DynamoDB (historyTtlDays).",
)
@click.option(
    "--archive-after-days",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Move clips to S3 Glacier Instant Retrieval at this age (0: never; docs/deploy.md).",
)
@click.option(
    "--tracing/--no-tracing",
    default=False,
    show_default=True,
    help="X-Ray active tracing of the functions (cdk.json tracing).",
)
@click.option(
    "--prices",
    "prices_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Price file instead of the bundled one (same layout as humwatch/ops/cost_prices.json).",
)
@click.option(
    "--inputs",
    "inputs_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Measured inputs instead of the bundled ones (benchmarks/lambda_functions.py --write-cost-inputs).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="table for people, json for scripts (per_device_month_usd, lines, by_service).",
)
def cost_cmd(
    devices: int,
    interval_s: float,
    retention_days: int,
    region: str,
    heartbeat_interval_s: float,
    history_days: int,
    archive_after_days: int,
    tracing: bool,
    prices_file: Path | None,
    inputs_file: Path | None,
    fmt: str,
) -> None:
    """Estimate the monthly AWS bill of a fleet, line by line, and its cost per device-month.

    Usage comes from this project's own measurements (clip size, function durations and memory,
    DynamoDB items per clip, log bytes per clip: humwatch/ops/cost_inputs.json); prices from a
    dated list-price file (humwatch/ops/cost_prices.json, no free tier). Check the prices against
    the AWS pricing pages before relying on a figure.

    \b
    humwatch cost --devices 1000 --interval 300 --retention-days 90
    humwatch cost --devices 10 --format json
    """
    from humwatch.ops.cost import Fleet, MeasuredInputs, Prices, estimate

    fleet = Fleet(
        devices=devices,
        interval_s=interval_s,
        retention_days=retention_days,
        heartbeat_interval_s=heartbeat_interval_s,
        history_days=history_days,
        archive_after_days=archive_after_days,
        tracing=tracing,
    )
    result = estimate(
        fleet,
        prices=Prices.load(region, prices_file),
        inputs=MeasuredInputs.load(inputs_file),
    )
    if fmt == "json":
        click.echo(json.dumps(result.as_dict(), indent=2))
    else:
        click.echo(render_bill(result))


def _money(usd: float) -> str:
    return f"{usd:,.2f}"


def _quantity(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.3g}"


def render_bill(result: Any) -> str:
    """The bill as aligned text: one line per item, the total, per device, what dominates."""
    f = result.fleet
    header = (
        f"humwatch on AWS, {result.region}: {f.devices:,} devices, a clip every {f.interval_s:g} s, "
        f"clips kept {f.retention_days} days, history {f.history_days} days, a heartbeat every "
        f"{f.heartbeat_interval_s:g} s, tracing {'on' if f.tracing else 'off'}\n"
        f"list prices as of {result.prices_as_of} (no free tier), "
        f"measured inputs of {result.inputs_measured_at}"
    )
    rows = [
        (
            line.service,
            line.item + (" (per stack)" if line.fixed else ""),
            _quantity(line.quantity),
            line.unit,
            _money(line.usd),
        )
        for line in result.lines
    ]
    titles = ("SERVICE", "ITEM", "QUANTITY/MONTH", "UNIT", "USD/MONTH")
    widths = [max(len(t), *(len(r[i]) for r in rows)) for i, t in enumerate(titles)]

    def fmt_row(cells: tuple[str, ...]) -> str:
        left = "  ".join(c.ljust(w) for c, w in zip(cells[:2], widths[:2], strict=True))
        right = "  ".join([cells[2].rjust(widths[2]), cells[3].ljust(widths[3]), cells[4].rjust(widths[4])])
        return f"{left}  {right}".rstrip()

    total = result.total_usd
    share = "; ".join(f"{line.service} {line.item} {line.usd / total:.0%}" for line in result.largest(3))
    services = ", ".join(f"{name} {usd:,.2f}" for name, usd in result.by_service().items())
    out = [header, "", fmt_row(titles), fmt_row(tuple("-" * w for w in widths))]
    out += [fmt_row(r) for r in rows]
    out += [
        "",
        f"total per month    {_money(total):>12} USD   ({services})",
        f"per device-month   {result.per_device_month_usd:>12.4f} USD",
        f"largest lines: {share}",
    ]
    out += [f"warning: {w}" for w in result.warnings]
    return "\n".join(out)
