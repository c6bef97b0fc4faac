"""Operator commands: history, devices, label, ack, provision-device, device revoke, model
publish/list, report.

They work against the deployed stack (names from its CloudFormation outputs) and the local stack
(`--local`) alike; flags and environment variables override what discovery finds.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from humwatch.cli.group import cli
from humwatch.ops.formatting import OutputFormat, render
from humwatch.ops.timeparse import parse_when

if TYPE_CHECKING:
    from humwatch.dal.history import HistoryTable
    from humwatch.ops.settings import StackSettings

F = TypeVar("F", bound=Callable[..., Any])

_FORMAT_OPTION = click.option(
    "--format",
    "fmt",
    type=click.Choice([f.value for f in OutputFormat]),
    default=OutputFormat.TABLE.value,
    show_default=True,
    help="table for people, json/csv for scripts and spreadsheets.",
)


@dataclass
class StackContext:
    """Lazily resolved stack settings and clients for one command invocation."""

    flags: dict[str, Any]
    local: bool
    stack: str | None
    _cache: dict[tuple[str, ...], StackSettings] = field(default_factory=dict)

    def settings(self, *required: str) -> StackSettings:
        from humwatch.dal.stack_discovery import stack_outputs
        from humwatch.ops.settings import resolve_settings

        for known in self._cache.values():  # one CloudFormation lookup per command at most
            if all(getattr(known, name) not in (None, "") for name in required):
                return known
        if required not in self._cache:
            self._cache[required] = resolve_settings(
                flags=self.flags,
                env=os.environ,
                cwd=Path.cwd(),
                stack_outputs=stack_outputs,
                required=required,
                local=self.local,
                stack=self.stack,
            )
        return self._cache[required]

    def client(self, service: str, settings: StackSettings | None = None) -> Any:
        from humwatch.dal import aws

        s = settings or self.settings()
        if s.local:
            # moto accepts any credentials; an operator of the local stack should not need an
            # AWS profile (and must never send real credentials to it).
            os.environ["AWS_ACCESS_KEY_ID"] = "humwatch-local"
            os.environ["AWS_SECRET_ACCESS_KEY"] = "humwatch-local"
            os.environ.pop("AWS_SESSION_TOKEN", None)
        return aws.client(service, endpoint_url=s.endpoint_url, region=s.region)

    def history(self, page_size: int | None = None) -> HistoryTable:
        from humwatch.dal.history import HistoryTable

        s = self.settings("table")
        kwargs = {"page_size": page_size} if page_size else {}
        return HistoryTable(s.require("table"), client=self.client("dynamodb", s), **kwargs)


def stack_options(fn: F) -> F:
    """--stack/--local/--table/--bucket/--endpoint-url/--region on a command -> `stack` argument."""

    @click.option(
        "--stack", "stack_name", metavar="NAME", help="CloudFormation stack to read names from [Humwatch]."
    )
    @click.option("--local", is_flag=True, help="Use the local stack (`humwatch local up`) settings file.")
    @click.option("--table", metavar="NAME", help="History table name (overrides discovery).")
    @click.option("--bucket", metavar="NAME", help="Bucket name (overrides discovery).")
    @click.option("--endpoint-url", metavar="URL", help="AWS API endpoint (e.g. a moto server).")
    @click.option("--region", metavar="REGION", help="AWS region.")
    @functools.wraps(fn)
    def wrapper(
        *args: Any,
        stack_name: str | None,
        local: bool,
        table: str | None,
        bucket: str | None,
        endpoint_url: str | None,
        region: str | None,
        **kwargs: Any,
    ) -> Any:
        flags = {"table": table, "bucket": bucket, "endpoint_url": endpoint_url, "region": region}
        from humwatch.dal.operator_errors import operator_errors

        ctx = StackContext(flags={k: v for k, v in flags.items() if v}, local=local, stack=stack_name)
        with operator_errors():
            return fn(*args, stack=ctx, **kwargs)

    return wrapper  # type: ignore[return-value]


def _now() -> datetime:
    return datetime.now(UTC)


def _echo_rows(rows: list[dict[str, Any]], columns: tuple[str, ...], fmt: str, *, empty: str) -> None:
    text = render(rows, columns, OutputFormat(fmt), empty=empty)
    click.echo(text.rstrip("\n"))


# --- history -------------------------------------------------------------------------------------
@cli.command("history")
@click.option("--device", "-d", metavar="THING", help="Only this device (default: every device).")
@click.option("--since", metavar="AGE|ISO", help="From this time: 24h, 7d, 2026-11-20 or an ISO time (UTC).")
@click.option("--until", metavar="AGE|ISO", help="Up to this time (same forms as --since).")
@click.option("--anomalies", is_flag=True, help="Only clips scored over their threshold.")
@click.option(
    "--limit",
    "-n",
    type=click.IntRange(min=0),
    default=100,
    show_default=True,
    help="At most N rows (0: all).",
)
@click.option("--page-size", type=click.IntRange(min=1), help="Items per DynamoDB Query page [100].")
@_FORMAT_OPTION
@stack_options
def history_cmd(
    *,
    stack: StackContext,
    device: str | None,
    since: str | None,
    until: str | None,
    anomalies: bool,
    limit: int,
    page_size: int | None,
    fmt: str,
) -> None:
    """Clip results, newest first: score, threshold, ratio, anomaly flag, operator label.

    \b
    Examples:
      humwatch history --device fan-02 --since 24h
      humwatch history --anomalies --since 7d --format csv > anomalies.csv
      humwatch history --local --device fan-01 -n 20

    Without --device every registered device is listed; --anomalies without --device reads the
    anomalies-by-day index (default: the last 7 days).
    """
    from humwatch.ops.history import HISTORY_COLUMNS, HistoryQuery, history_row, query_history

    now = _now()
    query = HistoryQuery(
        device=device,
        since=parse_when(since, now=now) if since else None,
        until=parse_when(until, now=now) if until else None,
        anomalies=anomalies,
        # One row more than asked tells whether there is more to see (said on stderr, not in the data).
        limit=limit + 1 if limit else None,
        page_size=page_size,
    )
    rows = [history_row(r) for r in query_history(stack.history(page_size), query, now=now)]
    truncated = bool(limit) and len(rows) > limit
    rows = rows[:limit] if limit else rows
    what = "anomalies" if anomalies else "clips"
    _echo_rows(rows, HISTORY_COLUMNS, fmt, empty=f"no {what} found")
    if truncated:
        click.echo(f"(newest {limit} shown; --limit 0 or --since/--until for more)", err=True)


# --- devices -------------------------------------------------------------------------------------
@cli.command("devices")
@click.option(
    "--clip-interval",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="Capture interval of the devices [HUMWATCH_CLIP_INTERVAL_S or 300].",
)
@click.option(
    "--silent-after",
    type=click.IntRange(min=1),
    metavar="N",
    help="Silent after N intervals without a clip [HUMWATCH_SILENT_AFTER_INTERVALS or 3].",
)
@_FORMAT_OPTION
@stack_options
def devices_cmd(
    *, stack: StackContext, clip_interval: float | None, silent_after: int | None, fmt: str
) -> None:
    """Every registered device: last clip, last score and ratio, alert state, model, silence.

    \b
    Example:
      humwatch devices
      humwatch devices --format json | jq '.[] | select(.silent != "no")'
    """
    from humwatch.ops.devices import DEVICE_COLUMNS, SilencePolicy, list_device_status

    policy = SilencePolicy.from_env(os.environ)
    policy = SilencePolicy(
        clip_interval_s=clip_interval or policy.clip_interval_s,
        after_intervals=silent_after or policy.after_intervals,
    )
    now = _now()
    statuses = list_device_status(stack.history(), policy=policy, now=now)
    _echo_rows([s.row(now=now) for s in statuses], DEVICE_COLUMNS, fmt, empty="no devices registered")


# --- label / ack ---------------------------------------------------------------------------------
@cli.command("label")
@click.argument("device")
@click.argument("clip_id")
@click.option(
    "--as",
    "label",
    type=click.Choice(["anomaly", "normal"]),
    required=True,
    help="anomaly: the machine really sounded wrong; normal: a false alarm.",
)
@click.option("--note", metavar="TEXT", help="Free text kept with the label (what you found).")
@stack_options
def label_cmd(*, stack: StackContext, device: str, clip_id: str, label: str, note: str | None) -> None:
    """Record operator feedback on one clip (shown in `history`, counted in `report`).

    \b
    Example:
      humwatch label fan-02 5f0c...e1 --as normal --note "forklift passing by"
    """
    from humwatch.ops.feedback import label_clip

    outcome = label_clip(stack.history(), device, clip_id, label, note)
    verdict = f" ({outcome.verdict})" if outcome.verdict else ""
    click.echo(
        f"labelled {device} {clip_id} captured {outcome.record.captured_at:%Y-%m-%dT%H:%M:%SZ} "
        f"as {label}{verdict}"
    )


@cli.command("ack")
@click.argument("device")
@stack_options
def ack_cmd(*, stack: StackContext, device: str) -> None:
    """Acknowledge a device's active alert: no reminders until a new episode or a higher severity.

    \b
    Example:
      humwatch ack fan-02
    """
    from humwatch.ops.feedback import acknowledge_alert

    click.echo(acknowledge_alert(stack.history(), device, now=_now()).message)


# --- provision-device ----------------------------------------------------------------------------
@cli.command("provision-device")
@click.argument("thing")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory for the certificate, key, CA and config.toml.",
)
@click.option(
    "--model",
    "model_id",
    metavar="ID",
    help="Score this device with model ID. Without it the device learns its own normal: its first "
    "baselineClips clips over baselineHours train a model of its own (docs/learning.md).",
)
@click.option(
    "--machine-type", default="machine", show_default=True, help="Shown in alerts (e.g. fan, pump)."
)
@click.option(
    "--device-dir",
    type=click.Path(path_type=Path),
    metavar="PATH",
    help="Where the files will live on the device (paths in the config) [the --out directory].",
)
@click.option(
    "--ca-file",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="PEM",
    help="CA the device trusts [Amazon Root CA 1; the local CA with --local].",
)
@click.option("--iot-policy", metavar="NAME", help="IoT policy to attach (overrides discovery).")
@click.option("--mqtt-endpoint", metavar="HOST", help="MQTT endpoint host [IoT Core ATS endpoint].")
@click.option("--mqtt-port", type=int, help="MQTT port [8883].")
@stack_options
def provision_device_cmd(
    *,
    stack: StackContext,
    thing: str,
    out_dir: Path,
    model_id: str | None,
    machine_type: str,
    device_dir: Path | None,
    ca_file: Path | None,
    iot_policy: str | None,
    mqtt_endpoint: str | None,
    mqtt_port: int | None,
) -> None:
    """Create an IoT thing with its own certificate and a ready edge-uploader config in --out.

    Attaches the stack's device policy, registers the device (and its model with --model) in the
    history table, and refuses to overwrite existing credentials or to provision a thing name that
    is already registered in IoT Core.

    \b
    Example:
      humwatch provision-device fan-04 --model fan-demo --machine-type fan --out ./fan-04
      scp -r ./fan-04 pi@fan-04:/etc/humwatch-edge   # then: humwatch-edge check
    """
    from humwatch.dal.iot_admin import IotAdmin
    from humwatch.ops.provision import ProvisionRequest, provision_device

    if iot_policy:
        stack.flags["iot_policy"] = iot_policy
    if mqtt_endpoint:
        stack.flags["iot_data_endpoint"] = mqtt_endpoint
    if mqtt_port:
        stack.flags["mqtt_port"] = mqtt_port
    settings = stack.settings("table", "iot_policy")
    table = stack.history()
    if model_id is not None and table.models.pointer(model_id) is None:
        from humwatch.errors import NotFound

        raise NotFound(f"model {model_id!r} is not published (see `humwatch model list`)")
    local_ca_dir = Path(settings.ca_key_file).parent if settings.local and settings.ca_key_file else None
    request = ProvisionRequest(
        thing=thing,
        out_dir=out_dir,
        policy=settings.require("iot_policy"),
        endpoint=settings.iot_data_endpoint,
        port=settings.mqtt_port,
        model_id=model_id,
        machine_type=machine_type,
        device_dir=device_dir,
        ca_file=ca_file or (Path(settings.ca_file) if settings.ca_file else None),
        local_ca_dir=local_ca_dir,
    )

    def register(name: str, model: str | None, kind: str) -> None:
        table.devices.register_provisioned(name, model_id=model, machine_type=kind)

    result = provision_device(request, IotAdmin(stack.client("iot", settings)), register_device=register)
    click.echo(f"provisioned {result.thing}: {result.certificate_arn}")
    click.echo(f"  endpoint  {result.endpoint}:{result.port}")
    click.echo(f"  config    {result.config_path}")
    click.echo(f"  cert/key  {result.cert_path}, {result.key_path} (keep the key secret)")
    click.echo(f"  CA        {result.ca_path or '(missing, see below)'}")
    click.echo(
        f"  model     {result.model_id or '(none yet: learning its own normal, see `humwatch devices`)'}"
    )
    for note in result.notes:
        click.echo(f"note: {note}", err=True)


# --- device revoke -------------------------------------------------------------------------------
@cli.group("device")
def device_group() -> None:
    """Act on one device's identity (revoke a lost or compromised device)."""


@device_group.command("revoke")
@click.argument("thing")
@click.option("--reason", metavar="TEXT", help="Why, kept in the registry (e.g. 'unit stolen from site 3').")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@stack_options
def device_revoke_cmd(*, stack: StackContext, thing: str, reason: str | None, yes: bool) -> None:
    """Cut THING off: set its certificates INACTIVE and mark it revoked in the registry.

    IoT Core refuses the device's next connection (and closes an open one). Nothing is detached or
    deleted: the thing, its certificates and policy, and its history stay as the record;
    `humwatch devices` shows it as revoked and the drift check no longer reports it as silent.
    To put a machine back, provision a new thing name for it (docs/operations.md).

    \b
    Example:
      humwatch device revoke fan-04 --reason "key copied off the device"
    """
    from humwatch.dal.iot_admin import IotAdmin
    from humwatch.ops.revoke import revoke_device

    settings = stack.settings("table")
    if not yes:
        click.confirm(f"Revoke {thing}? Its certificates stop working at once", abort=True)
    iot = IotAdmin(stack.client("iot", settings))
    result = revoke_device(thing, iot, stack.history().devices, now=_now(), reason=reason)
    count = len(result.certificate_ids)
    certificates = ", ".join(result.certificate_ids) or "none attached"
    click.echo(f"revoked {result.thing}: {count} certificate(s) INACTIVE ({certificates})")
    when = f"{result.revoked_at:%Y-%m-%dT%H:%M:%SZ}"
    marked = f"already marked revoked since {when}" if result.already_revoked else f"marked revoked at {when}"
    click.echo(f"  registry  {marked}")
    if settings.local:
        click.echo(
            "note: the local broker (mosquitto) trusts every certificate of the local CA and does not read "
            "IoT certificate status, so a local device can still connect",
            err=True,
        )


# --- model ---------------------------------------------------------------------------------------
@cli.group("model")
def model_group() -> None:
    """Publish trained model bundles and see which version scores each model id."""


@model_group.command("publish")
@click.argument("model_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--model-id", required=True, metavar="ID", help="Publish under this model id (devices map to it)."
)
@click.option(
    "--default", "make_default", is_flag=True, help="Also make ID the default model for unmapped devices."
)
@stack_options
def model_publish_cmd(*, stack: StackContext, model_dir: Path, model_id: str, make_default: bool) -> None:
    """Validate a bundle, upload it with its sha256 and switch the model's pointer atomically.

    Scoring picks the new version up on the next clip; no redeploy.

    \b
    Example:
      humwatch model publish models/fan-demo --model-id fan-demo --default
    """
    from humwatch.ops.models import publish_model

    settings = stack.settings("table", "bucket")
    pointer = publish_model(
        model_dir,
        model_id,
        bucket=settings.require("bucket"),
        table=stack.history(),
        s3_client=stack.client("s3", settings),
        make_default=make_default,
    )
    click.echo(
        f"published {pointer.model_id}@{pointer.version} (sha256 {pointer.sha256[:12]}...)"
        + (" as the default model" if make_default else "")
    )


@model_group.command("list")
@_FORMAT_OPTION
@stack_options
def model_list_cmd(*, stack: StackContext, fmt: str) -> None:
    """Published models: current version, sha256, when, default or not, devices mapped to it.

    \b
    Example:
      humwatch model list
    """
    from humwatch.ops.models import MODEL_COLUMNS, model_rows

    _echo_rows(model_rows(stack.history()), MODEL_COLUMNS, fmt, empty="no models published")


def _drift_reader(stack: StackContext, settings: StackSettings, today: date) -> Any:
    """Latest drift report (last 7 days) per device from the bucket; None without a bucket."""
    if not settings.bucket:
        return None
    from humwatch.dal.report_store import ReportStore

    store = ReportStore(settings.bucket, client=stack.client("s3", settings))

    def read(thing: str) -> dict[str, Any] | None:
        report = store.latest_drift_report(thing, today=today)
        return report.model_dump(mode="json") if report else None

    return read


# --- report --------------------------------------------------------------------------------------
@cli.command("report")
@click.option("--since", default="7d", show_default=True, metavar="AGE|ISO", help="Report period start.")
@click.option("--until", metavar="AGE|ISO", help="Report period end [now].")
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="HTML file to write (self-contained: images inline).",
)
@stack_options
def report_cmd(*, stack: StackContext, since: str, until: str | None, out_path: Path) -> None:
    """One HTML page: per-device score timelines, anomalies, drift, silence, label counts.

    \b
    Example:
      humwatch report --since 7d --out report.html
    """
    from humwatch.ops.report import collect_report_data, render_report_html

    now = _now()
    start = parse_when(since, now=now)
    end = parse_when(until, now=now) if until else now
    from humwatch.errors import ConfigError

    try:  # the bucket holds the drift reports; without one the page says "no drift report"
        settings = stack.settings("table", "bucket")
    except ConfigError:
        settings = stack.settings("table")
    data = collect_report_data(
        stack.history(),
        start=start,
        end=end,
        now=now,
        drift_reader=_drift_reader(stack, settings, now.date()),
        progress=sys.stderr.isatty(),
    )
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(render_report_html(data))
    click.echo(f"wrote {out_path} ({len(data.devices)} devices, {len(data.anomalies)} anomalies)")
