"""`make demo`: the whole humwatch pipeline on this machine, no AWS account, the same code as in AWS.

1. train a model of the default detector (spectral-gauss) on synthetic normal fan sound (cached
   under demo-output/cache);
2. start the local stack (moto + mosquitto with mTLS) and publish the model as the default;
3. provision four devices with the operator's provisioning code and run the real edge uploader
   for each, at a 2 s interval: fan-01 stays normal, fan-02 develops a bearing fault midway,
   fan-03 stops sending, fan-04 has no model: it learns its baseline (accelerated), is trained
   by the real train_model handler, promoted, and then monitors;
4. show clips, scores and alerts as they happen;
5. end with the history, the alerts, the drift/silence report and where to look next.

Run: `python -m humwatch.demo [--workdir demo-output] [--clips 24]`.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from humwatch.dal.history import HistoryTable
    from humwatch.local.alert_inbox import ReceivedAlert
    from humwatch.local.devices import EdgeUploaderProcess
    from humwatch.local.stack import LocalStack
    from humwatch.records import ClipRecord

INTERVAL_S = 2  # accelerated capture interval (AWS default: 300 s); a clip may not outlast it
# Clips reach the history in batches (5 s window), so 'silent' must allow more than that.
SILENT_AFTER_INTERVALS = 5
EXTRA_CLIPS = 15  # devices keep sending while the results are shown, so only fan-03 goes silent


@dataclass(frozen=True)
class DeviceScript:
    thing: str
    story: str
    fault_from: int | None = None  # clip index where the fault starts
    stop_after: int | None = None  # the device goes quiet after this many clips
    learns: bool = False  # provisioned without a model: learns its own normal first


# fan-04's baseline, accelerated: 12 clips over 18 s instead of 288 over 24 h (cdk.json).
BASELINE_CLIPS = 12
BASELINE_HOURS = 0.005


def scripts(n_clips: int) -> list[DeviceScript]:
    return [
        DeviceScript("fan-01", "stays normal"),
        DeviceScript(
            "fan-02", f"develops a bearing fault from clip {n_clips // 2 + 1}", fault_from=n_clips // 2
        ),
        DeviceScript("fan-03", "loses power after about 6 clips and stops sending", stop_after=6),
        DeviceScript(
            "fan-04",
            f"has no model: learns its normal from its first {BASELINE_CLIPS} clips, is trained in the "
            "cloud (train_model), promoted, then monitors",
            learns=True,
        ),
    ]


def _say(text: str = "") -> None:
    click.echo(text)


def _heading(step: str) -> None:
    _say(click.style(f"\n== {step} ", bold=True) + "=" * max(0, 70 - len(step)))


@dataclass
class LiveView:
    """Polls the history table (the operator CLI's data access) and prints each new clip once."""

    history: HistoryTable
    things: list[str]
    since: datetime
    learners: list[str] = field(default_factory=list)
    seen: dict[str, set[str]] = field(default_factory=dict)
    states: dict[str, str] = field(default_factory=dict)
    alerts: int = 0

    def __post_init__(self) -> None:
        self.seen = {thing: set() for thing in self.things}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="demo-live-view", daemon=True)

    def count(self, thing: str) -> int:
        with self._lock:
            return len(self.seen[thing])

    def _print(self, record: ClipRecord) -> None:
        when = record.captured_at.astimezone(UTC).strftime("%H:%M:%S")
        if record.status == "REJECTED":
            verdict = click.style(f"REJECTED ({record.reason})", fg="yellow")
            score = ""
        elif record.status == "BASELINE":
            verdict = click.style("baseline (learning, not scored)", fg="cyan")
            score = ""
        else:
            ratio = record.ratio or 0.0
            verdict = (
                click.style("ANOMALY", fg="red", bold=True)
                if record.is_anomaly
                else click.style("normal", fg="green")
            )
            bar = "#" * min(30, round(ratio * 10))
            score = f"score {ratio:4.2f}x threshold  {bar:<30}"
        _say(f"  {when}  {record.thing}  clip {record.clip_id[:8]}  {score} {verdict}")

    def state(self, thing: str) -> str | None:
        with self._lock:
            return self.states.get(thing)

    def _poll_states(self) -> None:
        """Print each learning device's lifecycle change (learning -> training -> monitoring)."""
        for thing in self.learners:
            info = self.history.devices.get(thing)
            if info is None or self.state(thing) == info.state.value:
                continue
            with self._lock:
                self.states[thing] = info.state.value
            detail = f" with its own model {info.model_id}" if info.state.value == "monitoring" else ""
            _say(click.style(f"  -- {thing} is now {info.state.value}{detail} --", fg="cyan", bold=True))

    def poll(self) -> None:
        self._poll_states()
        fresh: list[ClipRecord] = []
        for thing in self.things:
            for record in self.history.clips.query(thing, since=self.since, newest_first=False):
                key = f"{record.captured_at.isoformat()}#{record.clip_id}"
                if key not in self.seen[thing]:
                    with self._lock:
                        self.seen[thing].add(key)
                    fresh.append(record)
        for record in sorted(fresh, key=lambda r: (r.captured_at, r.thing)):
            if not self._stop.is_set():
                self._print(record)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            try:
                self.poll()
            except Exception as exc:  # the view must never take the demo down
                _say(f"  (live view: {exc})")

    def start(self) -> LiveView:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop printing; `count()` stays right (a last poll records what arrived meanwhile)."""
        self._stop.set()
        self._thread.join(timeout=10)
        self.poll()


_QUIET = threading.Event()  # set while the results are printed: the inbox keeps saving, silently


def _print_alert(alert: ReceivedAlert) -> None:
    if _QUIET.is_set():
        return
    colour = "red" if alert.severity == "critical" else "yellow"
    lines = alert.render().rstrip().splitlines()
    _say(click.style("\n  +-- ALERT delivered to the operator inbox " + "-" * 30, fg=colour, bold=True))
    for line in lines:
        _say(click.style("  | ", fg=colour) + line)
    _say(click.style("  +" + "-" * 71, fg=colour) + f"\n  (saved to {alert.path})\n")


def _print_event(line: str) -> None:
    # Batches are visible as clips in the live view; the rest (start-up, drift runs) is shown.
    if not _QUIET.is_set() and not line.startswith("process_clip"):
        _say(f"  {line}")


def _wait_until(predicate: Callable[[], bool], timeout_s: float, interval_s: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return predicate()


def _prepare_model(workdir: Path) -> Path:
    from humwatch.detectors import DEFAULT_DETECTOR
    from humwatch.local.scenario import DemoRecipe, ensure_demo_model

    recipe = DemoRecipe()
    _heading("1/5 demo model")
    started = time.perf_counter()
    model_dir, cached = ensure_demo_model(
        workdir / "cache", recipe, progress=True, on_step=lambda s: _say(f"  {s}")
    )
    if cached:
        _say(f"  using the cached model {model_dir} (delete demo-output/cache to retrain)")
    else:
        _say(f"  trained in {time.perf_counter() - started:.1f} s -> {model_dir}")
    from humwatch.model.bundle import ModelBundle

    manifest = ModelBundle.load(model_dir).manifest
    # Named from the bundle itself, not the recipe: this is the model every clip is scored with.
    default = ", the default detector" if manifest.model_type == DEFAULT_DETECTOR else ""
    _say(
        f"  model {manifest.model_id} ({manifest.model_type}{default}) trained on "
        f"{manifest.training.n_clips} clips, version {manifest.version}\n"
        f"  threshold {manifest.threshold.value:.3g} ({manifest.threshold.method} fit, "
        f"target false-positive rate {manifest.threshold.target_fpr:g} per clip)"
    )
    return model_dir


def _write_clips(workdir: Path, plan: list[DeviceScript], n_clips: int) -> dict[str, Path]:
    from humwatch.local.scenario import write_device_clips

    folders: dict[str, Path] = {}
    for index, script in enumerate(plan):
        folder = workdir / "clips" / script.thing
        shutil.rmtree(folder, ignore_errors=True)
        write_device_clips(folder, n_clips=n_clips + EXTRA_CLIPS, fault_from=script.fault_from, seed=index)
        folders[script.thing] = folder
    return folders


def run_demo(workdir: Path, n_clips: int) -> int:
    started = time.perf_counter()
    workdir = workdir.resolve()  # the device programs run in their own directories
    _QUIET.clear()
    # Powertools warns on every invocation that flushed no metric; outside Lambda that is noise.
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    from humwatch.local.devices import edge_uploader_available

    if not edge_uploader_available():
        raise click.ClickException(
            "the edge uploader is not installed: run `make demo` (or pip install -e ./edge-uploader)"
        )
    from humwatch.local.mqtt_broker import find_mosquitto

    find_mosquitto()  # before the model is trained: a missing broker fails now, saying how to install it
    workdir.mkdir(parents=True, exist_ok=True)
    for stale in ("stack", "clips"):
        shutil.rmtree(workdir / stale, ignore_errors=True)
    _say(
        click.style("humwatch demo", bold=True)
        + ": four simulated fans upload through MQTT (mTLS) to a local stand-in for AWS\n"
        "(moto server + mosquitto); the real Lambda handlers score every clip with ONNX, keep the\n"
        "history in DynamoDB, alert through SNS and check drift. No AWS account is used."
    )
    model_dir = _prepare_model(workdir)
    plan = scripts(n_clips)
    folders = _write_clips(workdir, plan, n_clips)

    from humwatch.local.settings import LocalStackOptions
    from humwatch.local.stack import LocalStack

    options = LocalStackOptions.build(
        workdir=workdir / "stack",
        drift_interval_s=30,
        function_env={
            "HUMWATCH_CLIP_INTERVAL_S": str(INTERVAL_S),
            "HUMWATCH_SILENT_AFTER_INTERVALS": str(SILENT_AFTER_INTERVALS),
            "HUMWATCH_MODEL_REFRESH_S": "5",
            "HUMWATCH_BASELINE_CLIPS": str(BASELINE_CLIPS),
            "HUMWATCH_BASELINE_HOURS": str(BASELINE_HOURS),
            "HUMWATCH_MIN_TRAIN_CLIPS": str(BASELINE_CLIPS),
        },
    )
    _heading("2/5 local stack")
    stack = LocalStack(options, on_event=_print_event, on_alert=_print_alert)
    devices: list[EdgeUploaderProcess] = []
    view: LiveView | None = None
    try:
        stack.start()
        # The operator commands find the running stack through this file (see --local).
        shutil.copy(stack.workdir / "local-stack.json", workdir / "local-stack.json")
        if stack.info.console_url:
            _say(
                f"  operator console: {stack.info.console_url}  "
                f"(sign in as operator / {stack.info.console_users['operator']}) while the demo runs"
            )
        view = _run_devices(stack, plan, folders, model_dir, n_clips, devices)
        _report(stack, plan, view)
    except KeyboardInterrupt:
        _say("\ninterrupted: stopping the devices and the stack ...")
        return 130
    finally:
        for device in devices:
            device.stop()
        if view is not None:
            view.stop()
        stack.stop()
        (workdir / "local-stack.json").unlink(missing_ok=True)
    _say(
        click.style(
            f"\ndemo finished in {time.perf_counter() - started:.0f} s; nothing left running.", bold=True
        )
    )
    return 0


def _run_devices(
    stack: LocalStack,
    plan: list[DeviceScript],
    folders: dict[str, Path],
    model_dir: Path,
    n_clips: int,
    devices: list[EdgeUploaderProcess],
) -> LiveView:
    from humwatch.dal.history import HistoryTable
    from humwatch.dal.model_store import ModelStore
    from humwatch.local.devices import EdgeUploaderProcess, provision_local_device

    history = HistoryTable(stack.info.table)
    pointer = ModelStore(stack.info.bucket).publish_dir(model_dir, "fan-demo", history, make_default=True)
    _say(f"  published model fan-demo version {pointer.version} as the default model")

    _heading("3/5 devices")
    provisioned = {}
    for script in plan:
        device = provision_local_device(
            stack,
            script.thing,
            machine_type="fan",
            model_id=None if script.learns else "fan-demo",
            interval_s=INTERVAL_S,
            duration_s=INTERVAL_S,
        )
        provisioned[script.thing] = device
        _say(f"  {script.thing}: certificate + {device.config_path.name} in {device.directory}")
        _say(f"          {script.story}")

    _heading("4/5 live: clips, scores, alerts")
    since = datetime.now(UTC) - timedelta(seconds=5)
    learners = [s.thing for s in plan if s.learns]
    view = LiveView(history, [s.thing for s in plan], since, learners=learners).start()
    for script in plan:
        devices.append(
            EdgeUploaderProcess(
                provisioned[script.thing], folder=folders[script.thing], telemetry_interval_s=5
            ).start()
        )
    _say(
        f"  started {len(devices)} humwatch-edge processes (every {INTERVAL_S} s; logs beside their config)\n"
    )

    if not _wait_until(lambda: any(view.count(s.thing) for s in plan), timeout_s=45):
        tails = "\n".join(f"--- {d.device.thing} ({d.log_path}):\n{d.log_tail()}" for d in devices)
        raise click.ClickException(f"no clip reached the history within 45 s; the devices say:\n{tails}")
    by_thing = dict(zip([s.thing for s in plan], devices, strict=True))
    quiet = [s for s in plan if s.stop_after is not None]
    for script in quiet:
        assert script.stop_after is not None
        _wait_until(lambda s=script: view.count(s.thing) >= (s.stop_after or 0), timeout_s=60)  # type: ignore[misc]
        by_thing[script.thing].stop()
        _say(click.style(f"  -- {script.thing} stopped sending (simulated power cut) --", fg="magenta"))
    talkers = [s.thing for s in plan if s.stop_after is None]
    finished = _wait_until(
        lambda: all(view.count(t) >= n_clips for t in talkers), timeout_s=n_clips * INTERVAL_S + 60
    )
    if not finished:
        _say("  (not every clip arrived in time; showing what did)")
    for thing in learners:
        if not _wait_until(lambda t=thing: view.state(t) == "monitoring", timeout_s=90):  # type: ignore[misc]
            _say(f"  ({thing} did not finish learning in time: see `humwatch devices --local`)")
    stack.wait_until_drained(timeout_s=30)
    return view


def _report(stack: LocalStack, plan: list[DeviceScript], view: LiveView) -> None:
    from humwatch.dal.history import HistoryTable
    from humwatch.ops.devices import DEVICE_COLUMNS, SilencePolicy, list_device_status
    from humwatch.ops.formatting import OutputFormat, render
    from humwatch.ops.history import HISTORY_COLUMNS, HistoryQuery, history_row, query_history

    history = HistoryTable(stack.info.table)
    view.stop()
    _QUIET.set()
    _heading("5/5 results")
    now = datetime.now(UTC)
    _say("\nLatest clips per device (humwatch history --local --device THING -n 4):\n")
    for script in plan:
        rows = [
            history_row(r)
            for r in query_history(history, HistoryQuery(device=script.thing, limit=4), now=now)
        ]
        _say(render(rows, HISTORY_COLUMNS, OutputFormat.TABLE, empty="no clips").rstrip())
        _say("")

    summary: Any = stack.run_drift_check()
    time.sleep(1.5)  # let the inbox pick up the drift/silence notices
    now = datetime.now(UTC)
    policy = SilencePolicy(clip_interval_s=INTERVAL_S, after_intervals=SILENT_AFTER_INTERVALS)
    statuses = list_device_status(history, policy=policy, now=now)
    _say("Devices (humwatch devices --local):\n")
    _say(
        render([s.row(now=now) for s in statuses], DEVICE_COLUMNS, OutputFormat.TABLE, empty="none").rstrip()
    )

    alerts = stack.inbox.alerts(topic_name=stack.info.alert_topic_arn.rsplit(":", 1)[-1])
    notices = stack.inbox.alerts(topic_name=stack.info.ops_topic_arn.rsplit(":", 1)[-1])
    _say(f"\nAnomaly alerts received (alert topic -> e-mail/SMS): {len(alerts)}")
    for alert in alerts:
        _say(f"  [{alert.severity:8}] {alert.subject}\n             {alert.path}")
    _say(f"Operations notices received (ops topic: drift, silence): {len(notices)}")
    for alert in notices:
        _say(f"  [{alert.severity or 'notice':8}] {alert.subject}")

    _say("\nDrift and silence check (the scheduled drift_check function, run now):")
    summary = summary if isinstance(summary, dict) else {}
    verdicts, reports, silent = (
        summary.get("verdicts", {}),
        summary.get("reports", {}),
        summary.get("silent", []),
    )
    for script in plan:
        flag = click.style("  SILENT", fg="magenta", bold=True) if script.thing in silent else ""
        _say(
            f"  {script.thing}: {verdicts.get(script.thing, '?'):18} "
            f"s3://{stack.info.bucket}/{reports.get(script.thing, '-')}{flag}"
        )
    counts = {t: view.count(t) for t in view.things}
    _say(
        f"\nClips processed: {sum(counts.values())} ({', '.join(f'{t} {n}' for t, n in counts.items())}); "
        f"dead-letter queue: {stack.dlq.depth()} message(s)"
    )
    out = stack.workdir.parent
    console = "humwatch local up prints its address and sign-in (docs/console.md)"
    if stack.info.console_url:
        console = (
            f"{stack.info.console_url} (operator / {stack.info.console_users['operator']}) until the "
            f"demo ends;\n                                     then {console}"
        )
    _say(
        "\nWhere to look next:\n"
        f"  - alerts as an operator gets them: {stack.inbox.directory}/\n"
        f"  - device configs, certs, edge logs: {stack.workdir / 'devices'}/\n"
        "  - run the stack yourself:          humwatch local up   (then, in another terminal)\n"
        "                                     humwatch devices --local; humwatch history --local\n"
        f"  - the operator console (web):      {console}\n"
        "  - train on your own recordings:    humwatch train DATA --out model/; humwatch evaluate ...\n"
        "  - deploy to AWS:                   cdk/node_modules/.bin/cdk deploy   (see docs/deploy.md)\n"
        f"  - docs: docs/local-stack.md, docs/architecture.md   (demo files: {out}/)"
    )


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-output"),
    show_default=True,
    help="Where the model cache, certificates, clips and alert inbox go.",
)
@click.option(
    "--clips", "n_clips", type=click.IntRange(8, 200), default=24, show_default=True, help="Clips per device."
)
def main(workdir: Path, n_clips: int) -> None:
    """Run the whole humwatch pipeline locally (no AWS account) and show what happens.

    \b
    Example:
      python -m humwatch.demo --clips 24
    """
    from humwatch.errors import HumwatchError

    try:
        code = run_demo(workdir, n_clips)
    except HumwatchError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(2)
    sys.exit(code)


if __name__ == "__main__":
    main()
