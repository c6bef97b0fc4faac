"""The learning loop's commands: `device learn`, `model retrain|candidates|promote|rollback`."""

from __future__ import annotations

import json

import click

from humwatch.cli.group import shaft_rpm_option
from humwatch.cli.ops import (
    _FORMAT_OPTION,
    StackContext,
    _echo_rows,
    _now,
    device_group,
    model_group,
    stack_options,
)
from humwatch.learning.selection import DEFAULT_RETRAIN_SINCE


@device_group.command("learn")
@click.argument("thing")
@click.option(
    "--hours",
    type=click.FloatRange(min=0, min_open=True, max=24 * 90),
    help="Span of capture time this baseline must cover [baselineHours, 24].",
)
@shaft_rpm_option(
    "The machine's nominal shaft speed, from its nameplate; kept for this device (given "
    "once, it stays). The models trained for it from now on say shaft orders in alerts and the "
    "console ('87 Hz (4.1x shaft speed)')."
)
@stack_options
def device_learn_cmd(
    *, stack: StackContext, thing: str, hours: float | None, shaft_rpm: float | None
) -> None:
    """Learn THING's normal again from now on (after a repair, a move, a new machine).

    Its clips stop being scored and build a new baseline; when it has baselineClips valid clips
    over baselineHours, train_model trains a model of its own, gates it and promotes it.

    \b
    Example:
      humwatch device learn fan-02 --hours 48
      humwatch device learn fan-02 --shaft-rpm 1470
    """
    from humwatch.ops.learning import relearn

    info = relearn(stack.history(), thing, now=_now(), hours=hours, shaft_rpm=shaft_rpm)
    span = f"{hours:g} h" if hours else "baselineHours"
    click.echo(f"{thing} is learning from {info.learning_since:%Y-%m-%dT%H:%M:%SZ} (baseline span {span})")
    if info.shaft_rpm is not None:
        click.echo(f"  shaft speed {info.shaft_rpm:g} rpm: its models will say shaft orders")


@model_group.command("retrain")
@click.argument("thing")
@click.option(
    "--since",
    default=DEFAULT_RETRAIN_SINCE,
    show_default=True,
    metavar="AGE|ISO",
    help="Train on clips captured since then.",
)
@stack_options
def model_retrain_cmd(*, stack: StackContext, thing: str, since: str) -> None:
    """Train a new candidate model for THING on its recent clips.

    Valid clips captured since --since train it; clips labelled normal are always in, clips
    labelled anomaly always out, and clips the current model flagged are out unless labelled
    normal. The candidate is gated (`humwatch model candidates THING`) and waits for
    `humwatch model promote` unless the stack's autoPromote is on.

    \b
    Example:
      humwatch model retrain fan-02 --since 14d
    """
    from humwatch.dal.train_queue import TrainQueue
    from humwatch.ops.learning import request_retrain, retrain_preview
    from humwatch.ops.timeparse import parse_when

    now = _now()
    start = parse_when(since, now=now)
    settings = stack.settings("table", "train_queue_url")
    table = stack.history()
    queue = TrainQueue(settings.require("train_queue_url"), client=stack.client("sqs", settings))
    preview = retrain_preview(table, thing, since=start, until=now)
    request = request_retrain(table, queue, thing, since=start, now=now)
    click.echo(f"retrain of {thing} requested ({request.request_id}): {preview.describe()}")
    click.echo(f"  follow it with: humwatch model candidates {thing}")


@model_group.command("candidates")
@click.argument("thing", required=False)
@_FORMAT_OPTION
@stack_options
def model_candidates_cmd(*, stack: StackContext, thing: str | None, fmt: str) -> None:
    """Models trained for devices by the learning loop, with their promotion-gate verdicts.

    `--format json` adds each candidate's whole gate report: labelled anomalies caught or missed,
    labelled normals (a false alarm "now below threshold" or "still above"), the replay of recent
    history through the alert policy next to the current model, and the training set.

    \b
    Example:
      humwatch model candidates fan-04
      humwatch model candidates fan-04 --format json | jq '.[-1].report.checks'
    """
    from humwatch.dal.model_store import ModelStore
    from humwatch.ops.learning import CANDIDATE_COLUMNS, candidate_rows, with_reports

    settings = stack.settings("table", "bucket")
    rows = candidate_rows(stack.history(), thing)
    if fmt == "json":
        store = ModelStore(settings.require("bucket"), client=stack.client("s3", settings))
        click.echo(json.dumps(with_reports(rows, store), indent=2, default=str))
        return
    _echo_rows(rows, CANDIDATE_COLUMNS, fmt, empty="no candidates yet")


@model_group.command("promote")
@click.argument("thing")
@click.argument("version")
@click.option(
    "--force", is_flag=True, help="Promote a candidate that failed its gate (read its report first)."
)
@stack_options
def model_promote_cmd(*, stack: StackContext, thing: str, version: str, force: bool) -> None:
    """Make candidate VERSION the model that scores THING (from the next clip on).

    \b
    Example:
      humwatch model promote fan-04 20261204T101500Z
    """
    from humwatch.services.promotion import promote

    promoted = promote(stack.history(), thing, version, now=_now(), force=force)
    click.echo(f"{thing} is now scored by {promoted.model_id}@{promoted.version} ({promoted.summary})")


@model_group.command("rollback")
@click.argument("thing")
@stack_options
def model_rollback_cmd(*, stack: StackContext, thing: str) -> None:
    """Go back to the model version THING had before the current one.

    \b
    Example:
      humwatch model rollback fan-04
    """
    from humwatch.services.promotion import rollback

    restored = rollback(stack.history(), thing, now=_now())
    click.echo(f"{thing} is back on {restored.model_id}@{restored.version}")
