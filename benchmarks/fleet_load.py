"""Fleet load test with faults: a fleet of real device programs against the local stack for minutes,
while the broker restarts, S3 answers 500, a process_clip invocation is killed mid-batch and one
device sends garbage. Nothing may be lost or duplicated.

Devices: `--devices` (default 50) agents of the real device program (`humwatch_edge.agent.EdgeAgent`:
durable spool, MQTT link with its own reconnect loop, delivery with backoff), each provisioned the
way the demo provisions one (IoT thing, its own certificate from the local CA, policy, registry
entry, config.toml), all driven from this one process (threads). Each captures a 10 s clip (FLAC,
16 kHz) every `--interval-s` (default 15 s: 20x the deployed 5 minutes) from a small pool of
synthetic fan clips (two devices replay a bearing fault), starting at staggered times. The stack
is `humwatch.local.stack.LocalStack` with the deployed batching (10 records, 5 s window), a 30 s
visibility timeout and the real mosquitto, presign_upload and process_clip.

Faults, at fixed fractions of the capture period, each logged with its time:
1. broker restart (20%): mosquitto stopped, `--broker-down-s` later started on the same port;
   devices come back through their own reconnect loop and ask again for the URLs whose answers
   were lost;
2. S3 outage (40%): every S3 request (device PUTs to presigned URLs, process_clip's GETs) answered
   500 for `--s3-outage-s` (`humwatch.local.s3_outage`); devices retry from their spool, failed
   records come back from the queue;
3. killed invocation (65%): the next process_clip batch of more than `--kill-after-items` records
   runs in a child process that is SIGKILLed right after writing that many clip items
   (`humwatch.local.killed_invocation`); nothing of the batch is deleted, and it comes back after
   the visibility timeout;
4. garbage device (from 5%, throughout): one more provisioned device PUTs random bytes as clips
   (they must end REJECTED) and publishes malformed upload requests (each must be answered with an
   error or dropped, never reach S3).

After the capture period the devices empty their spools and the queue drains; then every clip a
device recorded must have exactly one history item. Reported: clips recorded, sent, stored,
scored, rejected, lost, duplicated, DLQ depth, latency from the end of the PUT to the end of the
process_clip invocation that wrote the clip's item (history timestamps have 1 s resolution),
throughput, and what each fault did.

    python benchmarks/fleet_load.py [--devices 50] [--minutes 10]      # make bench-fleet
    python benchmarks/fleet_load.py --devices 5 --minutes 1             # smoke run, ~2 minutes

Prints a table, writes benchmarks/results/fleet_load.json (`--out`), keeps the run's log in
benchmarks/results/tmp/fleet_load/fleet_load.log, and exits 1 when a clip was lost or duplicated,
something was dead-lettered or a fault was not injected. Not part of `make bench` (it runs for minutes).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import logging
import os
import platform
import random
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote_plus

import paho.mqtt.client as mqtt
from humwatch_edge.agent import EdgeAgent
from humwatch_edge.config import load_config
from humwatch_edge.encode import EncodedClip
from humwatch_edge.scheduler import DeadlineScheduler
from humwatch_edge.spool import Spool, SpoolEntry
from paho.mqtt.enums import CallbackAPIVersion

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
CACHE = RESULTS / "tmp" / "fleet_load"
LOG_PATH = CACHE / "fleet_load.log"

# When each fault happens, as a fraction of the capture period.
GARBAGE_FROM = 0.05
BROKER_RESTART_AT = 0.20
S3_OUTAGE_AT = 0.40
KILL_ARMED_AT = 0.65
FAULTY_DEVICES = 2  # the first devices replay a bearing fault (alerts flow too)
POOL_CLIPS = 12
CLIP_S = 10.0
GARBAGE_THING = "fleet-garbage"

# The device program's timings, accelerated like the capture interval (deployed: MQTT reconnect
# 1-120 s, delivery backoff 2-300 s, response timeout 20 s). The heartbeat (deployed: 300 s) stays
# at a minute: it is not what this test is about, and at 15 s it would double the table's writes.
EDGE_TIMINGS = {
    "HUMWATCH_EDGE_MQTT_RECONNECT_MAX_S": "5",
    "HUMWATCH_EDGE_DELIVERY_BACKOFF_INITIAL_S": "1",
    "HUMWATCH_EDGE_DELIVERY_BACKOFF_MAX_S": "10",
    "HUMWATCH_EDGE_DELIVERY_RESPONSE_TIMEOUT_S": "10",
    "HUMWATCH_EDGE_TELEMETRY_INTERVAL_S": "60",
}


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- what the devices did ---------------------------------------------------------------------------
@dataclass
class ClipEntry:
    thing: str
    clip_id: str
    captured_at: str
    spooled_at: float
    put_done_at: float | None = None


class Ledger:
    """Every clip a device committed to its spool, and when its PUT got a 2xx."""

    def __init__(self) -> None:
        self.clips: dict[str, ClipEntry] = {}
        self._lock = threading.Lock()

    def spooled(self, thing: str, clip_id: str, captured_at: str) -> None:
        with self._lock:
            self.clips[clip_id] = ClipEntry(thing, clip_id, captured_at, time.time())

    def put_done(self, clip_id: str) -> None:
        with self._lock:
            entry = self.clips.get(clip_id)
            if entry is not None and entry.put_done_at is None:
                entry.put_done_at = time.time()

    def counts(self) -> tuple[int, int]:
        with self._lock:
            return len(self.clips), sum(e.put_done_at is not None for e in self.clips.values())


class ObservedSpool(Spool):
    """The device's own spool, telling the ledger about each commit and each 2xx PUT."""

    def __init__(self, directory: Path, *, thing: str, ledger: Ledger, **limits: Any) -> None:
        super().__init__(directory, **limits)
        self.thing = thing
        self.ledger = ledger

    def add(
        self, clip: EncodedClip, *, clip_id: str, captured_at: str, sample_rate: int, duration_s: float
    ) -> SpoolEntry | None:
        entry = super().add(
            clip, clip_id=clip_id, captured_at=captured_at, sample_rate=sample_rate, duration_s=duration_s
        )
        if entry is not None:
            self.ledger.spooled(self.thing, entry.meta.clip_id, entry.meta.captured_at)
        return entry

    def remove_uploaded(self, entry: SpoolEntry, uploaded_at: str) -> None:
        self.ledger.put_done(entry.meta.clip_id)  # the delivery calls this right after the 2xx
        super().remove_uploaded(entry, uploaded_at)


class CaptureWindow(DeadlineScheduler):
    """The device's deadlines (start + k * interval) until the capture period is over; then its
    capture loop ends while delivery goes on (the drain)."""

    def __init__(self, interval_s: float, *, start: float, closed: threading.Event) -> None:
        super().__init__(interval_s, start=start)
        self.closed = closed

    def wait(self, stop: threading.Event) -> float | None:
        while not stop.is_set() and not self.closed.is_set():
            fired = self.due()
            if fired is not None:
                return fired
            self.closed.wait(min(0.5, max(0.0, self.next_deadline() - time.monotonic())))
        return None


def start_fleet_agent(
    device: Any, *, pool: Path, interval_s: float, offset_s: float, closed: threading.Event, ledger: Ledger
) -> EdgeAgent:
    """The real device program for `device`, with its provisioned config.toml (plus the pool folder
    and the accelerated timings), its spool observed by the ledger and its first capture at
    `offset_s`."""
    overrides = {
        **EDGE_TIMINGS,
        "HUMWATCH_EDGE_CAPTURE_FOLDER": str(pool),
        "HUMWATCH_EDGE_CAPTURE_LOOP": "true",
        "HUMWATCH_EDGE_CAPTURE_INTERVAL_S": str(interval_s),
        "HUMWATCH_EDGE_CAPTURE_DURATION_S": str(CLIP_S),
    }
    config = load_config(device.config_path, env=overrides)
    agent = EdgeAgent(config)
    spool = ObservedSpool(
        config.spool_dir,
        thing=device.thing,
        ledger=ledger,
        max_bytes=config.spool_max_bytes,
        max_clips=config.spool_max_clips,
        policy=config.spool_policy,
    )
    # Capture and delivery share the agent's one spool: both get the observed one.
    assert agent.deliverer.spool is agent.spool
    agent.spool = agent.deliverer.spool = spool
    agent.scheduler = CaptureWindow(interval_s, start=time.monotonic() + offset_s, closed=closed)
    agent.start()
    return agent


# --- what the pipeline did --------------------------------------------------------------------------
def clip_keys_of(event: dict[str, Any]) -> dict[str, Any]:
    """messageId -> the parsed clip key (`ClipKey`) of each SQS record's S3 event; records of
    other keys are skipped."""
    from humwatch.contracts import parse_clip_key

    out: dict[str, Any] = {}
    for record in event.get("Records", []):
        try:
            body = json.loads(record["body"])
        except (KeyError, ValueError):
            continue
        for s3_record in body.get("Records", []) if isinstance(body, dict) else []:
            try:
                out[record["messageId"]] = parse_clip_key(unquote_plus(s3_record["s3"]["object"]["key"]))
            except (KeyError, ValueError):
                continue
    return out


@dataclass(frozen=True)
class FailedInvocation:
    at: float
    error: str
    clips: list[Any]  # ClipKey of each record


class InvocationClock:
    """Wraps the event source's invoke: when each clip was processed (its invocation returned and
    did not report it failed), and which clips were in an invocation that failed."""

    def __init__(self, invoke: Callable[[dict[str, Any]], Any]) -> None:
        self._invoke = invoke
        self.done: dict[str, float] = {}
        self.retried: set[str] = set()  # clips whose processing failed at least once
        self.failed_invocations: list[FailedInvocation] = []

    def killed(self) -> FailedInvocation | None:
        return next((f for f in self.failed_invocations if f.error.startswith("InvocationKilled")), None)

    def __call__(self, event: dict[str, Any]) -> Any:
        keys = clip_keys_of(event)
        try:
            response = self._invoke(event)
        except Exception as exc:
            failed_keys = list(keys.values())
            self.failed_invocations.append(
                FailedInvocation(time.time(), f"{type(exc).__name__}: {exc}", failed_keys)
            )
            self.retried.update(k.clip_id for k in failed_keys)
            raise
        now = time.time()
        failures = response.get("batchItemFailures") or [] if isinstance(response, dict) else []
        failed = {f.get("itemIdentifier") for f in failures if isinstance(f, dict)}
        for message_id, key in keys.items():
            if message_id not in failed:
                self.done.setdefault(key.clip_id, now)
            else:
                self.retried.add(key.clip_id)
        return response


# --- the garbage device ---------------------------------------------------------------------------
def malformed_requests(now: datetime) -> list[tuple[str, str | None, bytes]]:
    """(case, clip id the answer would carry or None, payload) for each kind of bad request."""

    def request(**changes: Any) -> tuple[str, bytes]:
        clip_id = str(uuid.uuid4())
        body = {
            "clip_id": clip_id,
            "captured_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "content_type": "audio/flac",
            "size": 1000,
            "md5": base64.b64encode(hashlib.md5(b"x").digest()).decode(),
            "sample_rate": 16000,
            "duration_s": 10.0,
        }
        body.update(changes)
        return str(body["clip_id"]), json.dumps(body).encode()

    cases: list[tuple[str, str | None, bytes]] = [
        ("not_json", None, b"\xff\xfe{ not json"),
        ("json_array", None, b"[1, 2, 3]"),
        ("empty_object", None, b"{}"),
    ]
    for case, changes in (
        ("wrong_types", {"size": "big", "sample_rate": None, "duration_s": "ten", "captured_at": 12345}),
        ("negative_size", {"size": -1}),
        ("huge_size", {"size": 10**15}),
        ("bad_md5", {"md5": "not base64!"}),
        ("future_captured_at", {"captured_at": (now + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")}),
        ("ancient_captured_at", {"captured_at": "1999-01-01T00:00:00Z"}),
        ("bad_clip_id", {"clip_id": "../../other-thing/x"}),
        ("bad_content_type", {"content_type": "application/x-sh"}),
    ):
        clip_id, payload = request(**changes)
        cases.append((case, clip_id, payload))
    return cases


@dataclass
class GarbageReport:
    random_clips_sent: list[str] = field(default_factory=list)
    random_put_attempts: int = 0
    malformed_sent: int = 0
    malformed_answered: Counter[str] = field(default_factory=Counter)  # error code -> count
    malformed_granted: list[str] = field(default_factory=list)  # a URL for a malformed request: a bug
    malformed_unanswered: Counter[str] = field(default_factory=Counter)  # case -> count (dropped)


class GarbageDevice:
    """A provisioned device (its own certificate, the same ACL) that misbehaves, over a plain paho
    client with paho's own reconnect."""

    def __init__(self, device: Any, rng: random.Random) -> None:
        from humwatch.contracts import upload_request_ingest_topic, upload_response_topic

        self.thing = device.thing
        self.rng = rng
        self.report = GarbageReport()
        self.request_topic = upload_request_ingest_topic(self.thing)
        self.response_topic = upload_response_topic(self.thing)
        self._responses: dict[str, dict[str, Any]] = {}
        self._cond = threading.Condition()
        self._client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2, client_id=self.thing, protocol=mqtt.MQTTv311
        )
        self._client.tls_set(
            ca_certs=str(device.ca_file), certfile=str(device.cert_file), keyfile=str(device.key_file)
        )
        self._client.reconnect_delay_set(1, 5)
        self._client.on_connect = lambda client, *_: client.subscribe(self.response_topic, qos=1)
        self._client.on_message = self._on_message
        self._client.connect(device.mqtt_host, device.mqtt_port, keepalive=30)
        self._client.loop_start()

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        try:
            body = json.loads(message.payload)
        except ValueError:
            return
        with self._cond:
            self._responses[str(body.get("clip_id"))] = body
            self._cond.notify_all()

    def _ask(self, payload: bytes, clip_id: str | None, timeout_s: float) -> dict[str, Any] | None:
        self._client.publish(self.request_topic, payload, qos=1)
        if clip_id is None:
            time.sleep(timeout_s / 4)  # an answer without a clip id cannot be matched; give it time
            with self._cond:
                return self._responses.pop("None", None)
        with self._cond:
            self._cond.wait_for(lambda: clip_id[:64] in self._responses, timeout=timeout_s)
            return self._responses.pop(clip_id[:64], None)

    def send_malformed(self) -> None:
        for case, clip_id, payload in malformed_requests(datetime.now(UTC)):
            self.report.malformed_sent += 1
            answer = self._ask(payload, clip_id, timeout_s=4.0)
            if answer is None:
                self.report.malformed_unanswered[case] += 1
            elif "url" in answer:
                self.report.malformed_granted.append(case)
            else:
                self.report.malformed_answered[str(answer.get("error", {}).get("code"))] += 1

    def send_random_clip(self, give_up_at: float) -> None:
        """Random bytes announced as FLAC, through the normal device path, retried until stored."""
        data = self.rng.randbytes(self.rng.randint(2_000, 200_000))
        clip_id = str(uuid.uuid4())
        md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
        request = {
            "clip_id": clip_id,
            "captured_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "content_type": "audio/flac",
            "size": len(data),
            "md5": md5,
            "sample_rate": 16000,
            "duration_s": 10.0,
        }
        while time.monotonic() < give_up_at:
            self.report.random_put_attempts += 1
            answer = self._ask(json.dumps(request).encode(), clip_id, timeout_s=10.0)
            if answer is not None and "url" in answer:
                put = urllib.request.Request(
                    answer["url"], data=data, method="PUT", headers=answer["headers"]
                )
                try:
                    with urllib.request.urlopen(put, timeout=30) as response:
                        if 200 <= response.status < 300:
                            self.report.random_clips_sent.append(clip_id)
                            return
                except (urllib.error.URLError, OSError):
                    pass
            time.sleep(2.0)

    def run(
        self, *, every_s: float, capture_closed: threading.Event, give_up_at: Callable[[], float]
    ) -> None:
        turn = 0
        while not capture_closed.wait(every_s):
            if turn % 2 == 0:
                self.send_random_clip(give_up_at())
            else:
                self.send_malformed()
            turn += 1

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


# --- the run ----------------------------------------------------------------------------------------
@dataclass
class FaultEvent:
    fault: str
    at_s: float
    at: str
    duration_s: float
    detail: dict[str, Any]


class Console:
    """Progress lines on the terminal and in the run's log."""

    def __init__(self, stream: IO[str], log_file: IO[str], started: float) -> None:
        self.stream, self.log_file, self.started = stream, log_file, started

    def say(self, line: str) -> None:
        text = f"[{time.monotonic() - self.started:6.1f} s] {line}"
        print(text, file=self.stream, flush=True)
        self.log(text)

    def log(self, line: str) -> None:
        print(f"{_utc(time.time())} {line}", file=self.log_file, flush=True)

    def stack_event(self, line: str) -> None:
        """The stack's own lines; one per process_clip batch (hundreds) only in the log."""
        (self.log if line.startswith("process_clip") else self.say)(line)


@contextmanager
def logs_to(log_file: IO[str]) -> Iterator[None]:
    """The device programs' and the functions' log lines go to the run's log, not the terminal (a
    fault makes hundreds of them): warnings and errors, and whatever is printed (the functions'
    metric lines)."""
    # The Powertools logger first: it filters the root handlers present when it is created with a
    # name test that would also drop the device programs' `humwatch_edge.*` records.
    from humwatch.observability import SERVICE

    root = logging.getLogger()
    handler = logging.StreamHandler(log_file)
    handler.setFormatter(logging.Formatter("%(asctime)s %(threadName)s %(name)s %(levelname)s %(message)s"))
    saved_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    powertools = [h for h in logging.getLogger(SERVICE).handlers if isinstance(h, logging.StreamHandler)]
    streams = [h.setStream(log_file) for h in powertools]
    try:
        with redirect_stdout(log_file), redirect_stderr(log_file):
            yield
    finally:
        for h, stream in zip(powertools, streams, strict=True):
            if stream is not None:
                h.setStream(stream)
        root.removeHandler(handler)
        root.setLevel(saved_level)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--devices", type=int, default=50, help="fleet devices (plus one garbage device)")
    parser.add_argument("--minutes", type=float, default=10.0, help="capture period (then the drain)")
    parser.add_argument("--interval-s", type=float, default=15.0, help="seconds between a device's clips")
    parser.add_argument("--broker-down-s", type=float, default=5.0)
    parser.add_argument("--s3-outage-s", type=float, default=30.0, help="capped at 20%% of the period")
    parser.add_argument("--kill-after-items", type=int, default=3, help="clip items written before the kill")
    parser.add_argument("--drain-timeout-s", type=float, default=300.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS / "fleet_load.json")
    args = parser.parse_args(argv if argv is not None else [])
    if args.devices < 1 or args.minutes <= 0 or args.interval_s < CLIP_S:
        parser.error(f"need --devices >= 1, --minutes > 0 and --interval-s >= {CLIP_S:g}")

    # The functions log warnings only and emit no metric lines (as `make bench` runs benchmarks);
    # set before anything creates the Powertools logger.
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    CACHE.mkdir(parents=True, exist_ok=True)
    terminal = sys.stdout
    with LOG_PATH.open("w") as log_file, logs_to(log_file):
        console = Console(terminal, log_file, time.monotonic())
        result = run(args, console)
    print(table(result))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written: {args.out}  (log: {LOG_PATH})")
    return result


def run(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    from humwatch.config import default_uploads_per_hour
    from humwatch.contracts import PIPELINE
    from humwatch.dal.history import HistoryTable
    from humwatch.dal.model_store import ModelStore
    from humwatch.local.devices import provision_local_device
    from humwatch.local.killed_invocation import KillNextBatch
    from humwatch.local.scenario import DemoRecipe, ensure_demo_model, write_device_clips
    from humwatch.local.settings import LocalStackOptions
    from humwatch.local.stack import LocalStack

    capture_s = args.minutes * 60.0
    s3_outage_s = min(args.s3_outage_s, 0.2 * capture_s)
    rng = random.Random(args.seed)

    # A model of the default detector for 10 s clips, and the clip pools (cached between runs).
    recipe = DemoRecipe(model_id="fleet", clip_s=CLIP_S, train_clips=30)
    console.say("model and clip pools (cached after the first run)")
    model_dir, _ = ensure_demo_model(CACHE, recipe)
    pools = {
        "normal": CACHE / f"pool-normal-{recipe.cache_key()}",
        "faulty": CACHE / f"pool-faulty-{recipe.cache_key()}",
    }
    for name, folder in pools.items():
        if len(list(folder.glob("*.flac"))) != POOL_CLIPS:
            write_device_clips(
                folder,
                n_clips=POOL_CLIPS,
                recipe=recipe,
                fault_from=0 if name == "faulty" else None,
                seed=11 if name == "normal" else 12,
            )

    with tempfile.TemporaryDirectory(prefix="humwatch-fleet-") as work:
        options = LocalStackOptions.build(
            workdir=Path(work) / "stack",
            drift_interval_s=0,
            s3_fault_injection=True,
            # The deployed settings scaled to the accelerated interval, the upload quota included.
            function_env={
                "HUMWATCH_CLIP_INTERVAL_S": str(int(args.interval_s)),
                "HUMWATCH_MAX_UPLOADS_PER_HOUR": str(default_uploads_per_hour(int(args.interval_s))),
            },
        )
        stack = LocalStack(options, on_event=console.stack_event).start()
        agents: list[EdgeAgent] = []
        garbage: GarbageDevice | None = None
        try:
            history = HistoryTable(stack.info.table)
            ModelStore(stack.info.bucket).publish_dir(model_dir, recipe.model_id, history, make_default=True)
            things = [f"fleet-{i:03d}" for i in range(args.devices)]
            console.say(f"provisioning {len(things)} devices and {GARBAGE_THING} (certificates, IoT things)")
            devices = {
                thing: provision_local_device(
                    stack, thing, model_id=recipe.model_id, interval_s=args.interval_s, duration_s=CLIP_S
                )
                for thing in [*things, GARBAGE_THING]
            }
            ledger = Ledger()
            capture_closed = threading.Event()
            killer = KillNextBatch(
                stack.event_source.invoke,
                after_items=args.kill_after_items,
                timeout_s=PIPELINE.process_clip_timeout_s,
            )
            clock = InvocationClock(killer)
            stack.event_source.invoke = clock

            console.say(f"starting {len(things)} device programs, one clip each every {args.interval_s:g} s")
            for i, thing in enumerate(things):
                agents.append(
                    start_fleet_agent(
                        devices[thing],
                        pool=pools["faulty" if i < FAULTY_DEVICES else "normal"],
                        interval_s=args.interval_s,
                        offset_s=args.interval_s * i / len(things),
                        closed=capture_closed,
                        ledger=ledger,
                    )
                )
            garbage = GarbageDevice(devices[GARBAGE_THING], rng)
            t0 = time.monotonic()
            t0_wall = time.time()
            capture_ends = t0 + capture_s
            drain_ends = capture_ends + args.drain_timeout_s

            faults = inject_faults(
                stack=stack,
                agents=agents,
                killer=killer,
                clock=clock,
                history=history,
                garbage=garbage,
                capture_closed=capture_closed,
                t0=t0,
                capture_s=capture_s,
                broker_down_s=args.broker_down_s,
                s3_outage_s=s3_outage_s,
                interval_s=args.interval_s,
                drain_ends=drain_ends,
                progress=lambda: progress_line(ledger, clock, stack, agents),
                console=console,
            )
            capture_closed.set()
            capture_wall_s = time.time() - t0_wall
            console.say("capture period over: draining the devices' spools and the queue")

            def delivered() -> bool:
                recorded, sent = ledger.counts()
                return sent == recorded

            stack.wait_for(delivered, timeout_s=max(1.0, drain_ends - time.monotonic()), interval_s=1.0)
            uploaded = [e.clip_id for e in ledger.clips.values() if e.put_done_at is not None]
            expected = set(uploaded) | set(garbage.report.random_clips_sent)
            stack.wait_for(
                lambda: expected <= set(clock.done),
                timeout_s=max(1.0, drain_ends - time.monotonic()),
                interval_s=1.0,
            )
            stack.wait_until_drained(timeout_s=max(1.0, drain_ends - time.monotonic()))
            drain_s = time.monotonic() - capture_ends
            console.say(f"drained in {drain_s:.0f} s: {progress_line(ledger, clock, stack, agents)}")
            result = report(
                args=args,
                stack=stack,
                history=history,
                things=things,
                ledger=ledger,
                clock=clock,
                garbage=garbage.report,
                agents=agents,
                faults=faults,
                t0_wall=t0_wall,
                capture_wall_s=capture_wall_s,
                drain_s=drain_s,
                s3_outage_s=s3_outage_s,
            )
            stop_devices(agents, garbage)
            return result
        finally:
            stop_devices(agents, garbage)
            stack.stop()


def stop_devices(agents: list[EdgeAgent], garbage: GarbageDevice | None) -> None:
    """Stop every device program (all asked first, so they wind down together); twice is fine."""
    for agent in agents:
        agent.request_stop()
    while agents:
        agents.pop().shutdown()
    if garbage is not None:
        garbage.close()


def progress_line(ledger: Ledger, clock: InvocationClock, stack: Any, agents: list[EdgeAgent]) -> str:
    recorded, sent = ledger.counts()
    connected = sum(agent.link.ready for agent in agents)
    return (
        f"recorded {recorded}, sent {sent}, processed {len(clock.done)}, "
        f"queue {stack.clip_queue.depth()}, devices connected {connected}/{len(agents)}"
    )


def inject_faults(
    *,
    stack: Any,
    agents: list[EdgeAgent],
    killer: Any,
    clock: InvocationClock,
    history: Any,
    garbage: GarbageDevice,
    capture_closed: threading.Event,
    t0: float,
    capture_s: float,
    broker_down_s: float,
    s3_outage_s: float,
    interval_s: float,
    drain_ends: float,
    progress: Callable[[], str],
    console: Console,
) -> list[FaultEvent]:
    """Run the schedule until the capture period is over; return what was injected, when."""
    faults: list[FaultEvent] = []

    def note(name: str, started: float, detail: dict[str, Any]) -> None:
        event = FaultEvent(
            fault=name,
            at_s=round(started - t0, 1),
            at=_utc(time.time() - (time.monotonic() - started)),
            duration_s=round(time.monotonic() - started, 1),
            detail=detail,
        )
        faults.append(event)
        console.say(f"FAULT {name} at {event.at_s} s ({event.at}), {event.duration_s} s: {detail}")

    def garbage_loop() -> None:
        started = time.monotonic()
        garbage.run(every_s=interval_s, capture_closed=capture_closed, give_up_at=lambda: drain_ends)
        report = garbage.report
        note(
            "garbage_device",
            started,
            {
                "thing": garbage.thing,
                "random_clips_sent": len(report.random_clips_sent),
                "malformed_requests_sent": report.malformed_sent,
                "malformed_answered_by_code": dict(report.malformed_answered),
                "malformed_unanswered_by_case": dict(report.malformed_unanswered),
                "malformed_granted_a_url": report.malformed_granted,
            },
        )

    schedule: list[tuple[float, str]] = [
        (GARBAGE_FROM, "garbage"),
        (BROKER_RESTART_AT, "broker"),
        (S3_OUTAGE_AT, "s3"),
        (KILL_ARMED_AT, "kill"),
    ]
    garbage_thread: threading.Thread | None = None
    next_progress = t0 + 60.0
    kill_armed_at: float | None = None
    outage_started: float | None = None
    outage_before: Counter[str] = Counter()
    while time.monotonic() < t0 + capture_s:
        now = time.monotonic()
        if schedule and now >= t0 + schedule[0][0] * capture_s:
            _, what = schedule.pop(0)
            if what == "garbage":
                console.say(f"garbage device {garbage.thing} starts (random clips, malformed requests)")
                garbage_thread = threading.Thread(target=garbage_loop, name="garbage-device", daemon=True)
                garbage_thread.start()
            elif what == "broker":
                started = time.monotonic()
                attempts_before = sum(a.link.connect_attempts for a in agents)
                stack.broker.stop()
                time.sleep(broker_down_s)
                stack.broker.start()
                back = stack.wait_for(
                    lambda: all(a.link.ready for a in agents), timeout_s=120, interval_s=0.2
                )
                note(
                    "broker_restart",
                    started,
                    {
                        "down_s": broker_down_s,
                        "port": stack.broker.port,
                        "all_devices_reconnected": back,
                        "reconnected_after_restart_s": round(time.monotonic() - started - broker_down_s, 1),
                        "device_connect_attempts": sum(a.link.connect_attempts for a in agents)
                        - attempts_before,
                    },
                )
            elif what == "s3":
                outage_started = time.monotonic()
                outage_before = Counter(stack.s3_outage.refused)
                stack.s3_outage.begin(s3_outage_s)
                console.say(f"S3 answers 500 for {s3_outage_s:g} s")
            elif what == "kill":
                kill_armed_at = time.monotonic()
                killer.arm()
                console.say(f"process_clip kill armed (next batch of > {killer.after_items} records)")
        if outage_started is not None and not stack.s3_outage.active:
            refused = Counter(stack.s3_outage.refused)
            refused.subtract(outage_before)
            note("s3_outage", outage_started, {"http_500_by_method": dict(+refused)})
            outage_started = None
        killed = clock.killed()
        if kill_armed_at is not None and killed is not None:
            # Read at once: the batch comes back only after the visibility timeout.
            present = [history.clips.get(k.thing, k.captured_at, k.clip_id) for k in killed.clips]
            note(
                "process_clip_killed",
                kill_armed_at,
                {
                    "batch_records": len(killed.clips),
                    "killed_after_items": killer.after_items,
                    "killed_at": _utc(killed.at),
                    "history_items_written_before_kill": sum(r is not None for r in present),
                },
            )
            kill_armed_at = None
        if now >= next_progress:
            console.say(progress())
            next_progress += 60.0
        time.sleep(0.2)
    if kill_armed_at is not None:
        console.say("process_clip kill armed but no batch was big enough before the end of capture")
    capture_closed.set()
    if garbage_thread is not None:
        garbage_thread.join(timeout=max(1.0, drain_ends - time.monotonic()))
    if outage_started is not None:  # the capture period ended during the outage
        stack.s3_outage.end()
        note("s3_outage", outage_started, {"http_500_by_method": dict(stack.s3_outage.refused)})
    faults.sort(key=lambda f: f.at_s)
    return faults


def report(
    *,
    args: argparse.Namespace,
    stack: Any,
    history: Any,
    things: list[str],
    ledger: Ledger,
    clock: InvocationClock,
    garbage: GarbageReport,
    agents: list[EdgeAgent],
    faults: list[FaultEvent],
    t0_wall: float,
    capture_wall_s: float,
    drain_s: float,
    s3_outage_s: float,
) -> dict[str, Any]:
    from humwatch.contracts import CLIPS_PREFIX, PIPELINE, parse_clip_key
    from humwatch.dal import aws

    items = {thing: list(history.clips.query(thing)) for thing in [*things, GARBAGE_THING]}
    by_clip: Counter[str] = Counter(r.clip_id for records in items.values() for r in records)
    statuses: Counter[str] = Counter(r.status.value for records in items.values() for r in records)
    reasons: Counter[str] = Counter(
        str(r.reason) for records in items.values() for r in records if r.status.value == "REJECTED"
    )
    pages = (
        aws.client("s3")
        .get_paginator("list_objects_v2")
        .paginate(Bucket=stack.info.bucket, Prefix=CLIPS_PREFIX)
    )
    object_keys = [obj["Key"] for page in pages for obj in page.get("Contents", [])]
    objects_by_clip: Counter[str] = Counter(parse_clip_key(k).clip_id for k in object_keys)

    recorded = set(ledger.clips)
    sent = {c for c, e in ledger.clips.items() if e.put_done_at is not None}
    garbage_ids = set(garbage.random_clips_sent)
    lost = sorted((recorded | garbage_ids) - set(by_clip))
    duplicated = sorted(c for c, n in by_clip.items() if n > 1)
    duplicated_objects = sorted(c for c, n in objects_by_clip.items() if n > 1)
    unexpected = sorted(set(by_clip) - recorded - garbage_ids)
    garbage_records = items[GARBAGE_THING]
    garbage_not_rejected = [r.clip_id for r in garbage_records if r.status.value != "REJECTED"]
    # Only the random clips it PUT may be in S3 under its prefix: no malformed request got there.
    garbage_objects_unexpected = [
        k
        for k in object_keys
        if parse_clip_key(k).thing == GARBAGE_THING and parse_clip_key(k).clip_id not in garbage_ids
    ]
    double_counted = 0
    for thing in things:
        state = history.alert_states.get(thing)
        ids = [flag.clip_id for flag in state.alert.recent] if state else []
        double_counted += len(ids) - len(set(ids))

    latency_of = {
        c: clock.done[c] - put_done
        for c in sent
        if c in clock.done and (put_done := ledger.clips[c].put_done_at) is not None
    }
    latencies = list(latency_of.values())
    first_try = [v for c, v in latency_of.items() if c not in clock.retried]
    processed_times = sorted(clock.done[c] for c in recorded if c in clock.done)
    in_capture = [t for t in processed_times if t <= t0_wall + capture_wall_s]
    stats = stack.event_source.stats
    killed = clock.killed()
    if killed is not None:
        comeback = [clock.done[k.clip_id] - killed.at for k in killed.clips if k.clip_id in clock.done]
        for fault in faults:
            if fault.fault == "process_clip_killed":
                fault.detail.update(
                    {
                        "batch_back_after_s": round(min(comeback), 1) if comeback else None,
                        "history_items_of_batch_at_end": sum(by_clip.get(k.clip_id, 0) for k in killed.clips),
                    }
                )

    fault_names = {f.fault for f in faults}
    alerts = stack.inbox.alerts(topic_name="humwatch-alerts")
    result: dict[str, Any] = {
        "benchmark": "fleet_load",
        "when": _utc(t0_wall),
        "command": "python benchmarks/fleet_load.py " + " ".join(sys.argv[1:]),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "devices": len(things),
        "garbage_devices": 1,
        "minutes": round(capture_wall_s / 60, 2),
        "interval_s": args.interval_s,
        "clip": f"{CLIP_S:g} s FLAC, 16 kHz",
        "pipeline": {
            "batch_size": PIPELINE.clip_batch_size,
            "batch_window_s": stack.options.effective_batch_window_s,
            "visibility_timeout_s": stack.options.visibility_timeout_s,
            "max_receive_count": PIPELINE.clip_max_receive_count,
            "batches": stats.batches,
            "mean_batch_size": round(statistics.mean(stats.batch_sizes), 2) if stats.batch_sizes else 0,
            "failed_invocations": stats.invocation_errors,
            "records_returned_to_queue": stats.failed_records,
            "presign_invocations": stack.functions["presign_upload"].stats.invocations,
        },
        "faults": [vars(f) for f in faults],
        "clips": {
            "recorded": len(recorded),
            "sent": len(sent) + len(garbage_ids),
            "sent_by_fleet": len(sent),
            "sent_by_garbage_device": len(garbage_ids),
            "stored": len(object_keys),
            "history_items": sum(by_clip.values()),
            "scored": statuses.get("SCORED", 0),
            "rejected": statuses.get("REJECTED", 0),
            "rejected_by_reason": dict(reasons),
            "anomalous": sum(r.is_anomaly for records in items.values() for r in records),
            "lost": len(lost),
            "lost_ids": lost[:20],
            "duplicated": len(duplicated),
            "duplicated_objects": len(duplicated_objects),
            "unexpected_items": len(unexpected),
            "garbage_not_rejected": len(garbage_not_rejected),
            "garbage_objects_not_from_its_clips": len(garbage_objects_unexpected),
            "alert_state_double_counts": double_counted,
        },
        "dlq": stack.dlq.depth(),
        "queue_at_end": stack.clip_queue.depth(),
        "alerts_received": len(alerts),
        "devices_detail": {
            "mqtt_connect_attempts": sum(a.link.connect_attempts for a in agents),
            "delivery_attempts": sum(a.deliverer.attempts for a in agents),
            "spool_dropped": sum(a.spool.counters.dropped_clips for a in agents),
            "spool_rejected": sum(a.spool.counters.rejected_clips for a in agents),
            "captures_missed": sum(a.scheduler.missed for a in agents),
        },
        "latency_s": {
            "what": "PUT answered 2xx -> the process_clip invocation that wrote the clip's item returned",
            "n": len(latencies),
            "p50": round(statistics.median(latencies), 2) if latencies else None,
            "p95": round(_percentile(latencies, 0.95), 2) if latencies else None,
            "max": round(max(latencies), 2) if latencies else None,
            "first_try_n": len(first_try),
            "first_try_p50": round(statistics.median(first_try), 2) if first_try else None,
            "first_try_p95": round(_percentile(first_try, 0.95), 2) if first_try else None,
        },
        "throughput": {
            "offered_clips_per_s": round(len(things) / args.interval_s, 2),
            "processed_clips_per_s_during_capture": round(len(in_capture) / capture_wall_s, 2),
            "history_items_per_s_overall": round(sum(by_clip.values()) / (capture_wall_s + drain_s), 2),
            "drain_s": round(drain_s, 1),
        },
        "s3_outage_s": s3_outage_s,
    }
    checks = {
        "at_least_50_devices": len(things) >= 50,
        "at_least_10_minutes": capture_wall_s >= 600 - 1,
        "broker_restart_injected": "broker_restart" in fault_names,
        "s3_outage_injected": "s3_outage" in fault_names,
        "process_clip_kill_injected": "process_clip_killed" in fault_names,
        "garbage_device_injected": "garbage_device" in fault_names and bool(garbage_ids),
        "nothing_lost": not lost,
        "nothing_duplicated": not duplicated and not duplicated_objects and not double_counted,
        "garbage_all_rejected": not garbage_not_rejected
        and not garbage.malformed_granted
        and not garbage_objects_unexpected,
        "dlq_empty": result["dlq"] == 0,
    }
    result["checks"] = checks
    result["passed"] = all(v for k, v in checks.items() if not k.startswith("at_least"))
    result["full_size"] = all(checks.values())  # >= 50 devices for >= 10 minutes, and passed
    return result


def table(result: dict[str, Any]) -> str:
    c, lat, thr = result["clips"], result["latency_s"], result["throughput"]
    rows = [
        ("devices (+ garbage device)", f"{result['devices']} (+{result['garbage_devices']})"),
        ("capture period (min) / interval (s)", f"{result['minutes']} / {result['interval_s']:g}"),
        ("clips recorded by the fleet", c["recorded"]),
        (
            "clips sent (fleet + garbage)",
            f"{c['sent']} ({c['sent_by_fleet']} + {c['sent_by_garbage_device']})",
        ),
        ("objects stored in S3", c["stored"]),
        ("history items: scored / rejected", f"{c['scored']} / {c['rejected']}"),
        ("rejected by reason", ", ".join(f"{k} {v}" for k, v in c["rejected_by_reason"].items()) or "-"),
        ("LOST (recorded, no history item)", c["lost"]),
        (
            "DUPLICATED (items / objects / state)",
            f"{c['duplicated']} / {c['duplicated_objects']} / {c['alert_state_double_counts']}",
        ),
        ("DLQ depth", result["dlq"]),
        ("alerts received", result["alerts_received"]),
        ("latency PUT -> item p50 / p95 / max (s)", f"{lat['p50']} / {lat['p95']} / {lat['max']}"),
        ("  clips processed at the first try p50 / p95", f"{lat['first_try_p50']} / {lat['first_try_p95']}"),
        (
            "offered / processed during capture (clips/s)",
            f"{thr['offered_clips_per_s']} / {thr['processed_clips_per_s_during_capture']}",
        ),
        ("drain after capture (s)", thr["drain_s"]),
        (
            "failed invocations / records returned",
            f"{result['pipeline']['failed_invocations']} / {result['pipeline']['records_returned_to_queue']}",
        ),
    ]
    lines = [f"{'measure':46} value"] + [f"{name:46} {value}" for name, value in rows]
    lines.append("faults:")
    for f in result["faults"]:
        lines.append(
            f"  {f['at_s']:7.1f} s  {f['fault']:22} {f['duration_s']:6.1f} s  {json.dumps(f['detail'])}"
        )
    lines.append("checks: " + ", ".join(f"{k}={'ok' if v else 'FAIL'}" for k, v in result["checks"].items()))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    outcome = main(sys.argv[1:])
    sys.exit(0 if outcome["passed"] else 1)
