"""`humwatch local ...`: run the whole pipeline on this machine (moto server + mosquitto)."""

from __future__ import annotations

import os
import signal
import threading
import warnings
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import click

from humwatch.cli.group import cli

if TYPE_CHECKING:
    from humwatch.local.alert_inbox import ReceivedAlert

DEFAULT_DIR = ".humwatch"


@cli.group("local")
def local_group() -> None:
    """The local stack: the same handlers and data access code as in AWS, on this machine.

    \b
    Example:
      humwatch local up                      # Ctrl-C stops it
      humwatch history --local               # in another terminal
    """


def _parse_settings(values: tuple[str, ...]) -> dict[str, str]:
    env: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"expected NAME=VALUE, got {item!r}", param_hint="--set")
        env[name.strip()] = value.strip()
    return env


def _print_alert(alert: ReceivedAlert) -> None:
    border = "=" * 72
    click.echo(f"\n{border}\nALERT received ({alert.path})\n{alert.render().rstrip()}\n{border}\n")


@local_group.command("up")
@click.option(
    "--dir",
    "workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_DIR,
    show_default=True,
    help="Working directory: certificates, broker config, alert inbox, local-stack.json.",
)
@click.option(
    "--drift-every",
    type=click.FloatRange(min=0),
    default=300.0,
    show_default=True,
    metavar="SECONDS",
    help="Run the drift check this often (AWS: daily). 0: never on its own.",
)
@click.option(
    "--batch-window",
    type=click.FloatRange(min=0, max=300),
    default=None,
    metavar="SECONDS",
    help="SQS batching window of process_clip [the deployed stack's, 5].",
)
@click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="NAME=VALUE",
    help="A function setting, e.g. --set HUMWATCH_ALERT_K=2 (repeatable).",
)
@click.option(
    "--log-level",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]),
    default="WARNING",
    show_default=True,
    help="Log level of the Lambda functions (their JSON logs go to stdout).",
)
def local_up(
    workdir: Path,
    drift_every: float,
    batch_window: float | None,
    settings: tuple[str, ...],
    log_level: str,
) -> None:
    """Start moto (S3, SQS, DynamoDB, SNS, IoT, CloudWatch) and mosquitto (mTLS), create the
    stack's resources, and route events to the real Lambda handlers until Ctrl-C.

    Devices connect to the printed MQTT port with a certificate from the local CA (see
    `humwatch provision-device --local`). The settings file DIR/local-stack.json lets the operator
    commands find the stack (`--local`, or HUMWATCH_LOCAL_SETTINGS=DIR/local-stack.json).

    \b
    Example:
      humwatch local up --dir .humwatch --drift-every 60 --set HUMWATCH_ALERT_COOLDOWN_MIN=5
    """
    from humwatch.local.settings import LocalStackOptions
    from humwatch.local.stack import LocalStack
    from humwatch.local_stack_file import STATE_FILE

    options = LocalStackOptions.build(
        workdir=workdir,
        drift_interval_s=drift_every,
        batch_window_s=batch_window,
        function_env=_parse_settings(settings),
        log_level=log_level,
    )
    stop = threading.Event()
    # Powertools warns on every invocation that flushed no metric; outside Lambda that is noise.
    warnings.filterwarnings("ignore", message="No application metrics to publish")

    def _terminate(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, _terminate)
    stack = LocalStack(options, on_event=lambda line: click.echo(line), on_alert=_print_alert)
    try:
        stack.start()
        info = stack.info
        users = info.console_users
        console = (
            f"  console        {info.console_url}   sign in as operator / {users.get('operator')}"
            f" (or viewer / {users.get('viewer')})\n"
            f"  console API    {info.console_api_url}   (bearer tokens: console_tokens in that file)\n"
            if info.console_url
            else ""
        )
        click.echo(
            f"\nlocal stack up ({Path(info.inbox_dir).parent / STATE_FILE})\n"
            f"  AWS endpoint   {info.endpoint_url}   (AWS_ENDPOINT_URL; any credentials)\n"
            f"  MQTT (mTLS)    {info.mqtt_host}:{info.mqtt_port}   CA {info.ca_file}\n"
            f"  iot-data API   {info.iot_data_http_endpoint}\n"
            f"  alert inbox    {info.inbox_dir}\n"
            f"{console}"
            f"  try            humwatch devices --local   |   humwatch history --local\n"
            "Ctrl-C stops everything.\n"
        )
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        click.echo("\nstopping ...", err=True)
    finally:
        stack.stop()
        signal.signal(signal.SIGTERM, previous)
    click.echo("local stack stopped; nothing left running.")


@local_group.command("status")
@click.option(
    "--dir",
    "workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_DIR,
    show_default=True,
    help="The directory given to `humwatch local up`.",
)
def local_status(workdir: Path) -> None:
    """Is a local stack running from DIR, and where are its endpoints and queues?

    \b
    Example:
      humwatch local status --dir .humwatch
    """
    from humwatch.dal.sqs_queue import SqsQueue
    from humwatch.local_stack_file import LocalStackInfo

    info = LocalStackInfo.read(workdir)
    # moto accepts any credentials; a shell without AWS credentials must still reach it.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    if not info.is_running():
        raise click.ClickException(
            f"the local stack in {workdir} is not running (pid {info.pid} is gone): `humwatch local up`"
        )
    queue = SqsQueue(info.clip_queue_url, endpoint_url=info.endpoint_url, region=info.region)
    dlq = SqsQueue(info.clip_dlq_url, endpoint_url=info.endpoint_url, region=info.region)
    click.echo(
        f"running (pid {info.pid}, since {info.started_at})\n"
        f"  AWS endpoint  {info.endpoint_url}\n"
        f"  MQTT (mTLS)   {info.mqtt_host}:{info.mqtt_port}\n"
        f"  clip queue    {queue.depth()} message(s) waiting or in flight\n"
        f"  DLQ           {dlq.depth()} message(s)\n"
        f"  alert inbox   {info.inbox_dir} ({len(list(Path(info.inbox_dir).glob('*.txt')))} alert(s))"
        + (f"\n  console       {info.console_url}  (API {info.console_api_url})" if info.console_url else "")
    )
