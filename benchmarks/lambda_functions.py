"""Right-size the Lambda functions: peak RSS, duration and AWS calls per invocation, cold and warm.

Each function runs in a fresh Python process (as a new Lambda execution environment does) against
a moto server in this process, with the log level and metrics the deployed functions use
(Powertools INFO logs and EMF metric lines on stdout, which is what CloudWatch Logs bills):

- `presign_upload`: upload requests as the IoT rule hands them over (edge uploader's payload);
- `process_clip` at batch sizes 1 and 10 (the configured batch size): real S3 -> SQS
  notifications of 10 s FLAC clips, scored with a model of the default detector;
- `drift_check`: 2 and then 10 devices with a day of 5-minute clips (288 each) in their history.

Per invocation it records wall time, CPU time (process_time: every thread), peak RSS, stdout
bytes, and each AWS call with its DynamoDB capacity units (item sizes by DynamoDB's rules) and
payload bytes. From those it models the duration on Lambda for each memory size using Lambda's
documented CPU share (one vCPU at 1,769 MB, proportionally less below) and an assumed in-region
latency per AWS call (moto on localhost is not AWS), and picks the smallest memory that keeps 50%
headroom over peak RSS and meets each function's latency budget (`BUDGETS`); drift_check, which runs
once a day, gets the fastest size instead (`FASTEST_FOR`: the most devices per run).

It also measures the inputs of `humwatch cost` (clip bytes as the edge uploader encodes the real
recordings in ../shared/data/real, MQTT payload sizes, DynamoDB items per clip, log bytes per clip);
`--write-cost-inputs` writes them to humwatch/ops/cost_inputs.json. Last, it prices the defaults
(1,000 devices) with the inputs just measured and prints the cost per device-month against its
target ($0.25), PASS or FAIL.

Run: `.venv/bin/python benchmarks/run_all.py lambda_functions` or
`.venv/bin/python benchmarks/lambda_functions.py [--write-cost-inputs]`; writes
benchmarks/results/lambda_functions.json.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

REPO = Path(__file__).resolve().parents[1]
REAL_DATA = REPO.parent / "shared" / "data" / "real"
RESULTS = REPO / "benchmarks" / "results"
COST_INPUTS = REPO / "humwatch" / "ops" / "cost_inputs.json"
COMMAND = ".venv/bin/python benchmarks/lambda_functions.py --write-cost-inputs"

CLIP_SECONDS = 10.0
LONG_CLIP_SECONDS = 60.0  # humwatch.audio.AudioLimits.max_duration_s
SAMPLE_RATE = 16000
BATCH_SIZES = (1, 10)  # 10 = contracts.PIPELINE.clip_batch_size
WARM_ROUNDS = 5
DRIFT_DEVICES = (2, 10)
CLIPS_PER_DEVICE_DAY = 288  # 5-minute interval, the drift check's 24 h window

# Lambda's CPU share: one full vCPU at 1,769 MB, proportional below (docs.aws.amazon.com/lambda/
# latest/dg/configuration-memory.html). These functions are single-threaded Python (onnxruntime
# runs the graph on one thread), so more than one vCPU buys nothing.
FULL_VCPU_MB = 1769
MEMORY_CANDIDATES_MB = (128, 256, 512, 768, 1024, 1536, 1769)
RSS_HEADROOM = 1.5  # memory >= 1.5 x peak RSS: larger bundles, bigger clips, allocator slack
# Assumed in-region latency of one AWS call from Lambda (moto on localhost answers in ~1-3 ms);
# an S3 GET of a ~240 kB clip includes its transfer. Assumptions, not measurements.
AWS_CALL_LATENCY_MS = {"s3": 25.0, "dynamodb": 8.0, "sns": 20.0, "iot-data": 20.0, "default": 20.0}
# Lambda's own lines per invocation (START, END, REPORT with the X-Ray segment): about this many.
PLATFORM_LOG_BYTES = 380
LAMBDA_PRICE_GB_S = 0.0000166667  # x86, us-east-1 (humwatch/ops/cost_prices.json has the source)
COST_TARGET_DEVICES = 1000
COST_TARGET_USD = 0.25  # per device-month at the defaults


# NamedTuples and plain classes, not dataclasses: run_all.py loads this file without registering it
# in sys.modules, which dataclasses need.
class Budget(NamedTuple):
    """What each function must still do at the chosen memory (modelled durations on Lambda)."""

    cold_s: float  # init + first invocation
    warm_s: float  # one warm invocation (process_clip: a full batch of 10)
    why: str


BUDGETS = {
    "presign_upload": Budget(2.0, 0.2, "a device waits for its URL (edge response timeout 20 s)"),
    "process_clip": Budget(10.0, 5.0, "60 s timeout, 4x margin on a batch of 10; nobody waits on it"),
    # One run checks every device in turn (contracts.PIPELINE.drift_check_timeout_s = 900).
    "drift_check": Budget(30.0, 900.0, "a 10,000-device run must fit the 900 s timeout"),
}
DRIFT_BUDGET_DEVICES = 10_000
# drift_check runs once a day and costs cents at any size, while its memory sets how many devices
# one run gets through: it takes the fastest size (one full vCPU), not the smallest that fits.
FASTEST_FOR = ("drift_check",)


# --- DynamoDB item sizes: the rules of the DynamoDB developer guide (humwatch.dal.dynamo_items)
def item_bytes(item: Mapping[str, Any]) -> int:
    from humwatch.dal.dynamo_items import item_size

    return item_size(item)


def write_units(size: int) -> int:
    return max(1, math.ceil(size / 1024))


def read_units(size: int, *, consistent: bool) -> float:
    units = max(1, math.ceil(size / 4096))
    return float(units) if consistent else units / 2


# --- the child: one function in a fresh process ------------------------------------------------------
class _CountingStdout(io.TextIOBase):
    """Stands in for stdout so every log and metric line the function prints is counted."""

    def __init__(self) -> None:
        self.bytes = 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.bytes += len(text.encode())
        return len(text)


class _Context:
    """The context attributes Powertools reads."""

    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:humwatch-bench"

    def __init__(self, function_name: str, aws_request_id: str) -> None:
        self.function_name = function_name
        self.aws_request_id = aws_request_id

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


class _CallLog:
    """Every AWS call the function makes, with DynamoDB capacity units and payload sizes."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.calls: dict[str, int] = {}
        self.units = {"wru": 0.0, "gsi_wru": 0.0, "rru": 0.0}
        self.bytes: dict[str, int] = {}
        self.updated_keys: list[dict[str, Any]] = []

    def install(self) -> None:
        import botocore.client

        base: Any = botocore.client.BaseClient  # _make_api_call is private: not in the stubs
        original = base._make_api_call
        log = self

        def counted(client: Any, operation: str, params: dict[str, Any]) -> Any:
            service = client.meta.service_model.service_name
            response: Any = None
            try:
                response = original(client, operation, params)
                return response
            finally:
                log.record(service, operation, params, response)

        base._make_api_call = counted

    def record(self, service: str, operation: str, params: dict[str, Any], response: Any) -> None:
        name = f"{service}:{operation}"
        self.calls[name] = self.calls.get(name, 0) + 1
        if service == "dynamodb":
            self._dynamodb(operation, params, response or {})
        elif operation in ("PutObject", "Publish"):
            body = params.get("Body", params.get("payload", params.get("Message", b"")))
            size = _payload_bytes(body)
            self.bytes[name] = self.bytes.get(name, 0) + size

    def _dynamodb(self, operation: str, params: dict[str, Any], response: dict[str, Any]) -> None:
        from humwatch.contracts import ANOMALY_INDEX_PK

        consistent = bool(params.get("ConsistentRead"))
        if operation == "PutItem":
            size = item_bytes(params["Item"])
            self.units["wru"] += write_units(size)
            if ANOMALY_INDEX_PK in params["Item"]:
                self.units["gsi_wru"] += write_units(size)
        elif operation == "UpdateItem":
            # Billed on the larger of the item before and after: sized by the parent from the table.
            self.updated_keys.append(params["Key"])
        elif operation == "GetItem":
            self.units["rru"] += read_units(item_bytes(response.get("Item", {})), consistent=consistent)
        elif operation == "Query":
            size = sum(item_bytes(item) for item in response.get("Items", []))
            self.units["rru"] += read_units(size, consistent=consistent)

    def take(self) -> dict[str, Any]:
        out = {"calls": self.calls, "units": self.units, "bytes": self.bytes, "updated": self.updated_keys}
        self.reset()
        return out


def _payload_bytes(body: Any) -> int:
    if isinstance(body, str):
        return len(body.encode())
    if hasattr(body, "getbuffer"):  # BytesIO
        return int(body.getbuffer().nbytes)
    return len(body or b"")


def _rss_mb() -> float:
    """Peak RSS of this process. VmHWM, not getrusage's ru_maxrss: that one survives exec and so
    reports the (large) parent this child was forked from."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    import resource  # not Linux

    return (
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / (1024 if sys.platform == "darwin" else 1)
    )


def child(function: str, events_path: Path, out_path: Path) -> None:
    """Import the handler as the Lambda runtime does, then invoke it with each event in turn."""
    import importlib.util

    counter = _CountingStdout()
    sys.stdout = counter  # before the handler's import creates its Powertools logger
    started, cpu_started = time.perf_counter(), time.process_time()
    spec = importlib.util.spec_from_file_location(
        f"handler_{function}", REPO / "functions" / function / "handler.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    init = {
        "wall_s": time.perf_counter() - started,
        "cpu_s": time.process_time() - cpu_started,
        "rss_mb": _rss_mb(),
        "stdout_bytes": counter.bytes,
    }
    log = _CallLog()
    log.install()
    invocations = []
    for event in json.loads(events_path.read_text()):
        before = counter.bytes
        started, cpu_started = time.perf_counter(), time.process_time()
        result = module.handler(event, _Context(function, aws_request_id=str(uuid.uuid4())))
        invocations.append(
            {
                "wall_s": time.perf_counter() - started,
                "cpu_s": time.process_time() - cpu_started,
                "rss_mb": _rss_mb(),
                "stdout_bytes": counter.bytes - before,
                "result": result if function != "drift_check" else {"devices": result["devices"]},
                **log.take(),
            }
        )
    out_path.write_text(json.dumps({"init": init, "invocations": invocations}))


# --- the parent: stack, events, children -----------------------------------------------------------
class Bench:
    """The moto stack the children run against."""

    def __init__(self, endpoint: str, stack: Any, history: Any, workdir: Path) -> None:
        self.endpoint = endpoint
        self.stack = stack  # humwatch.dal.provisioning.StackResources
        self.history = history  # humwatch.dal.history.HistoryTable
        self.workdir = workdir

    def run_child(
        self,
        function: str,
        events: list[dict[str, Any]],
        *,
        entry: Path | None = None,
        launcher: Sequence[str] = (),
    ) -> dict[str, Any]:
        """Run `function` in a fresh process. `entry` is the script whose `--child` runs it (this
        file; train_model.py wraps `child` with phase timers); `launcher` prefixes the command
        (`taskset -c 0`: one core)."""
        events_path = self.workdir / f"{function}-events.json"
        out_path = self.workdir / f"{function}-out.json"
        events_path.write_text(json.dumps(events))
        # The deployed functions' environment: INFO logs and EMF metrics (Powertools defaults).
        env = {k: v for k, v in os.environ.items() if not k.startswith("POWERTOOLS_")}
        env.update(self.stack.environment())
        env.update(
            {
                "HUMWATCH_IOT_DATA_ENDPOINT": self.endpoint,
                "POWERTOOLS_SERVICE_NAME": "humwatch",
                "POWERTOOLS_METRICS_NAMESPACE": "Humwatch",
                "POWERTOOLS_TRACE_DISABLED": "true",
            }
        )
        cmd = [
            *launcher,
            sys.executable,
            str(entry or Path(__file__).resolve()),
            "--child",
            function,
            str(events_path),
            str(out_path),
        ]
        subprocess.run(cmd, cwd=REPO, env=env, check=True)
        result: dict[str, Any] = json.loads(out_path.read_text())
        for invocation in result["invocations"]:
            self._size_updates(invocation)
        return result

    def _size_updates(self, invocation: dict[str, Any]) -> None:
        from humwatch.dal import aws

        ddb = aws.client("dynamodb", endpoint_url=self.endpoint)
        for key in invocation.pop("updated"):
            item = ddb.get_item(TableName=self.stack.table, Key=key).get("Item", {})
            invocation["units"]["wru"] += write_units(item_bytes(item))


def _flac_clip(machine: str, spec_seed: int, seed: int, duration_s: float = CLIP_SECONDS) -> bytes:
    """A synthetic clip encoded exactly as the edge uploader encodes it."""
    from humwatch_edge.encode import encode_flac

    from humwatch.research.synth import MachineSpec, synth_clip

    samples = synth_clip(MachineSpec.from_seed(machine, spec_seed), seed=seed, duration_s=duration_s)
    return encode_flac(samples, SAMPLE_RATE).data


def _real_clip_sizes() -> list[int]:
    """Each real recording (../shared/data/real) as a device would send it: the first 10 s of its
    first channel (MIMII has 8 microphones), 16-bit, through the edge uploader's `encode_flac`."""
    import csv

    import soundfile as sf
    from humwatch_edge.encode import encode_flac

    sizes = []
    with (REAL_DATA / "manifest.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            data, rate = sf.read(REAL_DATA / row["path"], dtype="int16", always_2d=True)
            mono = data[: int(CLIP_SECONDS * rate), 0]
            sizes.append(round(encode_flac(mono, rate).size * CLIP_SECONDS * rate / len(mono)))
    return sizes


def measure_clip_bytes() -> dict[str, Any]:
    """Clip size as the edge uploader encodes it: the real recordings when they are present (what
    the bill uses: the synthetic clips are louder than real machines and compress less), else the
    synthetic ones (and the result says so)."""
    synthetic = [len(_flac_clip(m, s, seed)) for m in ("fan", "pump") for s in range(3) for seed in range(4)]
    out: dict[str, Any] = {
        "synthetic": {
            "mean": round(statistics.mean(synthetic)),
            "min": min(synthetic),
            "max": max(synthetic),
            "n": len(synthetic),
            "what": "10 s, 16 kHz mono synthetic fan/pump clips (3 machines each, 4 seeds)",
        }
    }
    real = _real_clip_sizes() if (REAL_DATA / "manifest.csv").is_file() else []
    if real:
        out["real"] = {
            "mean": round(statistics.mean(real)),
            "min": min(real),
            "max": max(real),
            "n": len(real),
            "what": f"{len(real)} real machine recordings (DCASE 2020/2023, MIMII; ../shared/data/real), "
            "first channel, 10 s, 16 kHz",
        }
    chosen = out.get("real", out["synthetic"])
    out.update(
        mean=chosen["mean"],
        what=chosen["what"]
        + ", humwatch_edge.encode.encode_flac (16-bit FLAC)"
        + ("" if real else " (real recordings not found: synthetic, an upper bound)"),
    )
    return out


def presign_events(n: int) -> tuple[list[dict[str, Any]], int]:
    """Upload requests as the edge uploader sends them and the IoT rule hands them on."""
    from humwatch_edge.contract import upload_request_payload
    from humwatch_edge.encode import content_md5

    from humwatch import contracts as c

    data = _flac_clip("fan", 0, 0)
    events = []
    payload = b""
    for i in range(n):
        payload = upload_request_payload(
            clip_id=str(uuid.uuid4()),
            captured_at=c.format_timestamp(datetime.now(UTC) - timedelta(seconds=5 + i)),
            size=len(data),
            md5=content_md5(data),
            sample_rate=SAMPLE_RATE,
            duration_s=CLIP_SECONDS,
        )
        events.append(c.upload_request_rule_event(c.upload_request_topic("bench-01"), json.loads(payload)))
    return events, len(payload) + len(c.upload_request_ingest_topic("bench-01"))


def clip_events(
    bench: Bench, thing: str, batch: int, rounds: int, seed: int, duration_s: float = CLIP_SECONDS
) -> list[dict[str, Any]]:
    """`rounds` SQS events of `batch` real S3 notifications each (the messages are then deleted,
    as the event source mapping does after a successful batch)."""
    sys.path.insert(0, str(REPO / "tests" / "integration"))
    from lambda_harness import receive_lambda_event

    from humwatch import contracts as c
    from humwatch.dal import aws

    s3 = aws.client("s3", endpoint_url=bench.endpoint)
    sqs = aws.client("sqs", endpoint_url=bench.endpoint)
    t0 = datetime.now(UTC) - timedelta(hours=1)
    events = []
    for r in range(rounds):
        for i in range(batch):
            data = _flac_clip("fan", 0, seed + 100 * r + i, duration_s)
            key = c.clip_key(thing, t0 + timedelta(seconds=10 * (batch * r + i)), uuid.uuid4(), "flac")
            s3.put_object(Bucket=bench.stack.bucket, Key=key, Body=data, ContentType="audio/flac")
        event = receive_lambda_event(bench.stack, expected=batch, max_batch=batch + 1)
        event["Records"] = [rec for rec in event["Records"] if "s3:TestEvent" not in rec["body"]]
        for rec in event["Records"]:
            sqs.delete_message(QueueUrl=bench.stack.queue_url, ReceiptHandle=rec["receiptHandle"])
        events.append(event)
    return events


def seed_drift_history(bench: Bench, scorer: Any, things: list[str]) -> None:
    """A day of scored 5-minute clips per device, as process_clip writes them."""
    from humwatch import contracts as c
    from humwatch.audio import DecodedAudio
    from humwatch.records import ClipRecord, ClipStatus
    from humwatch.research.synth import MachineSpec, synth_clip

    spec = MachineSpec.from_seed("fan", 0)
    scores = [
        scorer.score(
            DecodedAudio(synth_clip(spec, seed=7000 + i, duration_s=3.0), SAMPLE_RATE, 3.0, SAMPLE_RATE, 1)
        )
        for i in range(12)
    ]
    now = datetime.now(UTC).replace(microsecond=0)
    for thing in things:
        bench.history.devices.put(thing, machine_type="fan")
        for i in range(CLIPS_PER_DEVICE_DAY):
            score = scores[i % len(scores)]
            at = now - timedelta(minutes=5 * (CLIPS_PER_DEVICE_DAY - i))
            clip_id = str(uuid.uuid4())
            bench.history.clips.put(
                ClipRecord(
                    thing=thing,
                    clip_id=clip_id,
                    captured_at=at,
                    status=ClipStatus.SCORED,
                    processed_at=at,
                    s3_key=c.clip_key(thing, at, clip_id, "flac"),
                    size=236_000,
                    score=score.score,
                    threshold=score.threshold,
                    ratio=score.ratio,
                    is_anomaly=score.is_anomaly,
                    model_id="bench",
                    model_version=score.model_version,
                    duration_s=CLIP_SECONDS,
                    sample_rate=SAMPLE_RATE,
                    band_means=[round(float(v), 4) for v in score.band_means],
                    processing_ms=12.345,
                )
            )


def table_item_sizes(bench: Bench) -> dict[str, Any]:
    """Sizes of the items the pipeline keeps, by kind (scanned once from the moto table)."""
    from humwatch import contracts as c
    from humwatch.dal import aws

    ddb = aws.client("dynamodb", endpoint_url=bench.endpoint)
    kinds: dict[str, list[int]] = {}
    for page in ddb.get_paginator("scan").paginate(TableName=bench.stack.table):
        for item in page["Items"]:
            sk = item[c.SK]["S"]
            kind = sk.split("#")[0]
            if kind == "clip" and not item[c.PK]["S"].startswith(c.device_pk("bench-")):
                kind = "seeded-clip"  # the drift check's history, written here, not by process_clip
            kinds.setdefault(kind, []).append(item_bytes(item))
    return {
        kind: {"mean": round(statistics.mean(v)), "max": max(v), "n": len(v)} for kind, v in kinds.items()
    }


def telemetry_item(bench: Bench) -> dict[str, int]:
    """The heartbeat as the edge uploader builds it, and the item the telemetry rule writes."""
    from humwatch_edge.spool import SpoolCounters, SpoolStats
    from humwatch_edge.telemetry import build_telemetry, encode_telemetry

    from humwatch import contracts as c
    from humwatch.dal import aws

    counters = SpoolCounters(uploaded_clips=104_857, last_upload_at="2026-11-26T15:26:20Z")
    stats = SpoolStats(
        clips=0, bytes=0, oldest=None, newest=None, counters=counters, disk_free_bytes=12_884_901_888
    )
    extra = {"thing": "bench-01", "captures": 104_860, "capture_errors": 0, "missed_captures": 0}
    payload = build_telemetry(
        stats, last_error=None, extra={**extra, "delivery_attempts": 104_902, "uptime_s": 31_536_000}
    )
    bench.history.telemetry.put("bench-01", payload)
    key = {c.PK: {"S": c.device_pk("bench-01")}, c.SK: {"S": c.TELEMETRY_SK}}
    item = aws.client("dynamodb", endpoint_url=bench.endpoint).get_item(TableName=bench.stack.table, Key=key)[
        "Item"
    ]
    return {
        "payload_bytes": len(encode_telemetry(payload)) + len(c.telemetry_ingest_topic("bench-01")),
        "item_bytes": item_bytes(item),
    }


# --- summaries and the memory model ----------------------------------------------------------------
def _median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def _aws_wait_s(calls: Mapping[str, float]) -> float:
    total = 0.0
    for name, count in calls.items():
        service = name.split(":")[0]
        total += count * AWS_CALL_LATENCY_MS.get(service, AWS_CALL_LATENCY_MS["default"]) / 1000
    return total


def summarise(run: dict[str, Any]) -> dict[str, Any]:
    """Cold (init + first invocation) and warm (median of the rest) numbers of one child run."""
    init, first, warm = run["init"], run["invocations"][0], run["invocations"][1:]

    def med(key: str) -> float:
        return _median([inv[key] for inv in warm])

    calls = {k: _median([inv["calls"].get(k, 0) for inv in warm]) for k in warm[0]["calls"]} if warm else {}
    return {
        "init_wall_s": round(init["wall_s"], 4),
        "init_cpu_s": round(init["cpu_s"], 4),
        "cold_invoke_wall_s": round(first["wall_s"], 4),
        "cold_invoke_cpu_s": round(first["cpu_s"], 4),
        "warm_wall_s": round(med("wall_s"), 4),
        "warm_cpu_s": round(med("cpu_s"), 4),
        "warm_wall_s_all": [round(inv["wall_s"], 4) for inv in warm],
        "peak_rss_mb_after_init": round(init["rss_mb"], 1),
        "peak_rss_mb_cold": round(first["rss_mb"], 1),
        "peak_rss_mb": round(max(inv["rss_mb"] for inv in run["invocations"]), 1),
        "init_log_bytes": init["stdout_bytes"],
        "cold_log_bytes": first["stdout_bytes"],
        "warm_log_bytes": med("stdout_bytes"),
        "cold_calls": first["calls"],
        "warm_calls": calls,
        "warm_units": {k: _median([inv["units"][k] for inv in warm]) for k in ("wru", "gsi_wru", "rru")},
        "warm_bytes": {k: _median([inv["bytes"].get(k, 0) for inv in warm]) for k in warm[0]["bytes"]}
        if warm
        else {},
        "cold_extra_cpu_s": round(init["cpu_s"] + first["cpu_s"] - med("cpu_s"), 4),
        "cold_wait_s": _aws_wait_s(first["calls"]),
        "warm_wait_s": _aws_wait_s(calls),
    }


def lambda_seconds(cpu_s: float, wait_s: float, memory_mb: int) -> float:
    """Modelled duration on Lambda: CPU work at the memory's vCPU share, plus waiting on AWS."""
    return cpu_s * max(1.0, FULL_VCPU_MB / memory_mb) + wait_s


def memory_table(
    name: str, s: dict[str, Any], warm_cpu_s: float, warm_wait_s: float, rss_mb: float
) -> list[dict[str, Any]]:
    cold_cpu = s["init_cpu_s"] + s["cold_invoke_cpu_s"]
    rows = []
    for mb in MEMORY_CANDIDATES_MB:
        cold = lambda_seconds(cold_cpu, s["cold_wait_s"], mb)
        warm = lambda_seconds(warm_cpu_s, warm_wait_s, mb)
        budget = BUDGETS[name]
        rows.append(
            {
                "memory_mb": mb,
                "cold_s": round(cold, 3),
                "warm_s": round(warm, 3),
                "warm_usd_per_million": round(1e6 * warm * mb / 1024 * LAMBDA_PRICE_GB_S, 2),
                "fits_rss": mb >= RSS_HEADROOM * rss_mb,
                "meets_budget": cold <= budget.cold_s and warm <= budget.warm_s,
            }
        )
    return rows


def choose(rows: list[dict[str, Any]]) -> int:
    """The smallest memory with RSS headroom that meets the latency budget. Below one vCPU the
    CPU-bound part costs the same GB-s at any size (time scales with 1/memory), while waiting on
    AWS is billed at the full size: the smallest size that is fast enough is also the cheapest.
    When no size meets the budget, the fastest (one full vCPU) comes closest."""
    ok = [r["memory_mb"] for r in rows if r["fits_rss"] and r["meets_budget"]]
    return min(ok) if ok else MEMORY_CANDIDATES_MB[-1]


def choose_fastest(rows: list[dict[str, Any]]) -> int:
    """The fastest memory with RSS headroom (the warm time falls with memory up to one vCPU)."""
    fits = [r for r in rows if r["fits_rss"]]
    return int(min(fits, key=lambda r: (r["warm_s"], -r["memory_mb"]))["memory_mb"])


def drift_devices_per_run(device: Mapping[str, float], memory_mb: int, timeout_s: float) -> int:
    """How many devices one drift_check run gets through before its timeout (modelled)."""
    fixed = lambda_seconds(device["cpu_s_fixed"], device["wait_s_fixed"], memory_mb)
    each = lambda_seconds(device["cpu_s_per_unit"], device["wait_s_per_unit"], memory_mb)
    return int((timeout_s - fixed) / each) if each > 0 else 0


# --- main -------------------------------------------------------------------------------------------
@contextmanager
def moto_stack(workdir: Path) -> Iterator[Bench]:
    import logging

    from moto.server import ThreadedMotoServer

    from humwatch.dal import aws
    from humwatch.dal.history import HistoryTable
    from humwatch.dal.provisioning import provision_stack

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        stack = provision_stack(endpoint_url=endpoint, region="us-east-1")
        history = HistoryTable(stack.table, client=aws.client("dynamodb", endpoint_url=endpoint))
        yield Bench(endpoint=endpoint, stack=stack, history=history, workdir=workdir)
    finally:
        server.stop()


def publish_model(bench: Bench, workdir: Path) -> Any:
    from humwatch.dal import aws
    from humwatch.dal.model_store import ModelStore
    from humwatch.datasets import load_labelled_clips
    from humwatch.detectors import DEFAULT_DETECTOR, train_bundle
    from humwatch.research.synth import write_dataset
    from humwatch.scoring import Scorer

    manifest = write_dataset(workdir / "train", n_clips=20, duration_s=CLIP_SECONDS, seed=3)
    bundle = train_bundle(DEFAULT_DETECTOR, load_labelled_clips([manifest]), None, model_id="bench")
    store = ModelStore(bench.stack.bucket, client=aws.client("s3", endpoint_url=bench.endpoint))
    store.publish(bundle, "bench", bench.history, make_default=True)
    return Scorer(bundle)


def _published_bytes() -> list[int]:
    from moto.iotdata.models import iotdata_backends

    backend = iotdata_backends["123456789012"]["us-east-1"]
    return [len(topic) + len(payload) for topic, payload in backend.published_payloads]


def measure(workdir: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"clip_bytes": measure_clip_bytes()}
    with moto_stack(workdir) as bench:
        scorer = publish_model(bench, workdir)
        events, request_bytes = presign_events(1 + WARM_ROUNDS * 4)
        presign = summarise(bench.run_child("presign_upload", events))
        answers = _published_bytes()
        presign["mqtt"] = {"request_bytes": request_bytes, "response_bytes": max(answers) if answers else 0}
        out["presign_upload"] = presign

        process: dict[str, Any] = {}
        for n, batch in enumerate(BATCH_SIZES):
            thing = f"bench-{batch:02d}"
            events = clip_events(bench, thing, batch, 1 + WARM_ROUNDS, seed=10_000 * (n + 1))
            process[str(batch)] = summarise(bench.run_child("process_clip", events))
        out["process_clip"] = process
        # The longest clip process_clip accepts (AudioLimits.max_duration_s): its peak RSS.
        events = clip_events(bench, "bench-long", 1, 2, seed=90_000, duration_s=LONG_CLIP_SECONDS)
        out["process_clip_long"] = summarise(bench.run_child("process_clip", events))

        drift: dict[str, Any] = {}
        seeded: list[str] = []
        for devices in DRIFT_DEVICES:
            things = [f"drift-{i:02d}" for i in range(len(seeded), devices)]
            seed_drift_history(bench, scorer, things)
            seeded += things
            drift[str(devices)] = summarise(bench.run_child("drift_check", [{"time": None}, {"time": None}]))
        out["drift_check"] = drift
        out["items"] = table_item_sizes(bench)
        out["telemetry"] = telemetry_item(bench)
    return out


def per_unit(small: dict[str, Any], large: dict[str, Any], n_small: int, n_large: int) -> dict[str, float]:
    """Split a warm invocation into a fixed part and a part per clip (or per device)."""
    span = n_large - n_small

    def slope(a: float, b: float) -> float:
        return max(0.0, (b - a) / span)

    keys = {
        "cpu_s": ("warm_cpu_s",),
        "wall_s": ("warm_wall_s",),
        "wait_s": ("warm_wait_s",),
        "log_bytes": ("warm_log_bytes",),
        "wru": ("warm_units", "wru"),
        "gsi_wru": ("warm_units", "gsi_wru"),
        "rru": ("warm_units", "rru"),
    }
    out: dict[str, float] = {}
    for name, path in keys.items():
        a, b = _dig(small, path), _dig(large, path)
        out[f"{name}_per_unit"] = round(slope(a, b), 6)
        out[f"{name}_fixed"] = round(max(0.0, a - slope(a, b) * n_small), 6)
    calls_a, calls_b = small["warm_calls"], large["warm_calls"]
    for name in sorted(set(calls_a) | set(calls_b)):
        out[f"calls_per_unit:{name}"] = round(slope(calls_a.get(name, 0), calls_b.get(name, 0)), 3)
    return out


def _dig(data: Mapping[str, Any], path: tuple[str, ...]) -> float:
    value: Any = data
    for key in path:
        value = value[key]
    return float(value)


def derive(m: dict[str, Any]) -> dict[str, Any]:
    """Per-clip and per-device figures and the memory choice for each function."""
    b1, b10 = m["process_clip"]["1"], m["process_clip"]["10"]
    clip = per_unit(b1, b10, 1, 10)
    d_small, d_large = m["drift_check"][str(DRIFT_DEVICES[0])], m["drift_check"][str(DRIFT_DEVICES[1])]
    device = per_unit(d_small, d_large, *DRIFT_DEVICES)
    presign = m["presign_upload"]
    long_rss = m["process_clip_long"]["peak_rss_mb"]

    memory = {
        "presign_upload": memory_table(
            "presign_upload", presign, presign["warm_cpu_s"], presign["warm_wait_s"], presign["peak_rss_mb"]
        ),
        # RSS: the larger of a batch of 10 s clips and one clip of the longest accepted length.
        "process_clip": memory_table(
            "process_clip", b10, b10["warm_cpu_s"], b10["warm_wait_s"], max(b10["peak_rss_mb"], long_rss)
        ),
        # drift_check's warm figure is a whole run over DRIFT_BUDGET_DEVICES devices.
        "drift_check": memory_table(
            "drift_check",
            d_large,
            device["cpu_s_fixed"] + DRIFT_BUDGET_DEVICES * device["cpu_s_per_unit"],
            device["wait_s_fixed"] + DRIFT_BUDGET_DEVICES * device["wait_s_per_unit"],
            d_large["peak_rss_mb"],
        ),
    }
    chosen = {
        name: choose_fastest(rows) if name in FASTEST_FOR else choose(rows) for name, rows in memory.items()
    }
    from humwatch.contracts import PIPELINE

    for row in memory["drift_check"]:
        row["devices_per_run"] = drift_devices_per_run(
            device, row["memory_mb"], PIPELINE.drift_check_timeout_s
        )
    return {"per_clip": clip, "per_device": device, "memory": memory, "chosen_memory_mb": chosen}


def cost_inputs(m: dict[str, Any], d: dict[str, Any]) -> dict[str, Any]:
    """What `humwatch cost` reads (humwatch/ops/cost_inputs.json): each value with how it was got."""
    from humwatch_edge.mqtt_link import RESPONSE_QOS

    from humwatch.contracts import PIPELINE

    chosen = d["chosen_memory_mb"]
    presign, clip, device = m["presign_upload"], d["per_clip"], d["per_device"]
    b10 = m["process_clip"]["10"]
    drift = m["drift_check"][str(DRIFT_DEVICES[1])]
    items = m["items"]
    modelled = f"modelled at the chosen memory: CPU s measured here x {FULL_VCPU_MB}/MB + assumed AWS latency"

    def lambda_s(cpu: float, wait: float, mb: int) -> float:
        return round(lambda_seconds(cpu, wait, mb), 4)

    def cold_extra(s: dict[str, Any], mb: int) -> float:
        """Init + first invocation, less a warm one (imports, clients, model download)."""
        return lambda_s(s["cold_extra_cpu_s"], max(0.0, s["cold_wait_s"] - s["warm_wait_s"]), mb)

    def value(v: float, unit: str, how: str) -> dict[str, Any]:
        return {"value": v, "unit": unit, "how": how}

    drift_row = next(r for r in d["memory"]["drift_check"] if r["memory_mb"] == chosen["drift_check"])
    values = {
        "clip_bytes": value(m["clip_bytes"]["mean"], "bytes", m["clip_bytes"]["what"] + ", mean"),
        "upload_request_bytes": value(
            presign["mqtt"]["request_bytes"],
            "bytes",
            "edge uploader's upload request payload + its Basic Ingest topic (not metered)",
        ),
        "upload_response_bytes": value(
            presign["mqtt"]["response_bytes"], "bytes", "presign_upload's answer (presigned URL) + topic"
        ),
        "upload_response_qos": value(
            RESPONSE_QOS, "QoS", "humwatch_edge.mqtt_link.RESPONSE_QOS: the edge uploader's subscription"
        ),
        "presign_write_units_per_request": value(
            round(presign["warm_units"]["wru"], 3),
            "WRU",
            "DynamoDB writes of a warm presign_upload (the device's hourly upload counter)",
        ),
        "telemetry_bytes": value(
            m["telemetry"]["payload_bytes"],
            "bytes",
            "edge uploader's heartbeat (build_telemetry) + its Basic Ingest topic (not metered)",
        ),
        "telemetry_item_bytes": value(
            m["telemetry"]["item_bytes"], "bytes", "the item the telemetry rule writes (DynamoDB size rules)"
        ),
        "clip_item_bytes": value(items["clip"]["mean"], "bytes", "history items process_clip wrote (mean)"),
        "state_item_bytes": value(
            items["state"]["max"], "bytes", "largest alert-state item (a full window of recent clips)"
        ),
        "write_units_per_clip": value(
            round(clip["wru_per_unit"], 3),
            "WRU",
            "DynamoDB writes of warm process_clip, batch 10 - batch 1, /9",
        ),
        "read_units_per_clip": value(
            round(clip["rru_per_unit"], 3),
            "RRU",
            "DynamoDB reads of warm process_clip, batch 10 - batch 1, /9",
        ),
        "s3_gets_per_clip": value(
            clip.get("calls_per_unit:s3:GetObject", 1.0), "requests", "S3 GETs per clip in process_clip"
        ),
        "presign_memory_mb": value(
            chosen["presign_upload"], "MB", "chosen by this benchmark (docs/deploy.md)"
        ),
        "presign_warm_s": value(
            lambda_s(presign["warm_cpu_s"], presign["warm_wait_s"], chosen["presign_upload"]), "s", modelled
        ),
        "presign_cold_extra_s": value(cold_extra(presign, chosen["presign_upload"]), "s", modelled),
        "presign_log_bytes": value(
            round(presign["warm_log_bytes"]) + PLATFORM_LOG_BYTES,
            "bytes/invocation",
            f"stdout of a warm invocation + {PLATFORM_LOG_BYTES} B of Lambda START/END/REPORT lines",
        ),
        "process_clip_memory_mb": value(
            chosen["process_clip"], "MB", "chosen by this benchmark (docs/deploy.md)"
        ),
        "process_clip_batch_size": value(PIPELINE.clip_batch_size, "clips", "contracts.PIPELINE"),
        "process_clip_batch_window_s": value(PIPELINE.clip_batch_window_s, "s", "contracts.PIPELINE"),
        "process_clip_batch_fixed_s": value(
            lambda_s(clip["cpu_s_fixed"], clip["wait_s_fixed"], chosen["process_clip"]),
            "s/invocation",
            modelled + "; warm batch 10 - batch 1 split into fixed + per clip",
        ),
        "process_clip_per_clip_s": value(
            lambda_s(clip["cpu_s_per_unit"], clip["wait_s_per_unit"], chosen["process_clip"]),
            "s/clip",
            modelled,
        ),
        "process_clip_cold_extra_s": value(cold_extra(b10, chosen["process_clip"]), "s", modelled),
        "process_clip_log_bytes_per_batch": value(
            round(clip["log_bytes_fixed"]) + PLATFORM_LOG_BYTES,
            "bytes/invocation",
            f"stdout, warm batch 10 - batch 1 split; + {PLATFORM_LOG_BYTES} B of Lambda's own lines",
        ),
        "process_clip_log_bytes_per_clip": value(
            round(clip["log_bytes_per_unit"]), "bytes/clip", "stdout, as above"
        ),
        "drift_check_memory_mb": value(
            chosen["drift_check"], "MB", "chosen by this benchmark (docs/deploy.md)"
        ),
        "drift_check_run_fixed_s": value(
            lambda_s(
                device["cpu_s_fixed"] + drift["cold_extra_cpu_s"],
                device["wait_s_fixed"],
                chosen["drift_check"],
            ),
            "s/run",
            modelled + f"; runs with {DRIFT_DEVICES[0]} and {DRIFT_DEVICES[1]} devices; a daily run is cold",
        ),
        "drift_check_per_device_s": value(
            lambda_s(device["cpu_s_per_unit"], device["wait_s_per_unit"], chosen["drift_check"]),
            "s/device",
            modelled,
        ),
        "drift_check_devices_per_run": value(
            drift_row["devices_per_run"],
            "devices",
            f"what fits the {PIPELINE.drift_check_timeout_s} s timeout",
        ),
        "drift_check_log_bytes_per_run": value(
            round(device["log_bytes_fixed"]) + PLATFORM_LOG_BYTES, "bytes/run", "stdout, fixed part"
        ),
        "drift_check_log_bytes_per_device": value(
            round(device["log_bytes_per_unit"]), "bytes/device", "stdout"
        ),
        "drift_check_read_units_per_device": value(
            round(device["rru_per_unit"], 3), "RRU", f"a day of {CLIPS_PER_DEVICE_DAY} clips per device"
        ),
        "drift_check_s3_gets_per_device": value(
            device.get("calls_per_unit:s3:GetObject", 0.0),
            "requests",
            "earlier reports read for the cooldown (only for a device without a drift-notices item)",
        ),
        "drift_check_s3_puts_per_device": value(
            device.get("calls_per_unit:s3:PutObject", 0.0), "requests", "one report per device and day"
        ),
        "drift_report_bytes": value(
            round(
                drift["warm_bytes"].get("s3:PutObject", 0)
                / max(1, drift["warm_calls"].get("s3:PutObject", 1))
            ),
            "bytes",
            "drift report JSON written per device",
        ),
    }
    return {
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%d"),
        "command": COMMAND,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "method": (
            "Each function runs in a fresh process against a moto server with the deployed log level "
            "(Powertools INFO + EMF metrics); every AWS call is counted and DynamoDB units follow "
            "DynamoDB's item-size rules on the items actually written and read. Durations on Lambda "
            f"are modelled, not measured: CPU seconds measured here x {FULL_VCPU_MB}/memory (Lambda's "
            f"CPU share below one vCPU) + the calls counted x an assumed in-region latency "
            f"{AWS_CALL_LATENCY_MS} ms."
        ),
        "peak_rss_mb": {
            "presign_upload": presign["peak_rss_mb"],
            "process_clip_batch_10": b10["peak_rss_mb"],
            "process_clip_60s_clip": m["process_clip_long"]["peak_rss_mb"],
            "drift_check": drift["peak_rss_mb"],
        },
        "values": values,
    }


def print_report(m: dict[str, Any], d: dict[str, Any]) -> None:
    rows = [("presign_upload", m["presign_upload"])]
    rows += [(f"process_clip x{b}", m["process_clip"][b]) for b in m["process_clip"]]
    rows += [("process_clip 60 s clip", m["process_clip_long"])]
    rows += [(f"drift_check {n} dev", m["drift_check"][n]) for n in m["drift_check"]]
    print(
        "function                 init s  cold s  warm s  warm cpu s  peak RSS MB  log B warm  AWS calls warm"
    )
    for name, s in rows:
        calls = sum(s["warm_calls"].values())
        print(
            f"{name:22s} {s['init_wall_s']:7.3f} {s['cold_invoke_wall_s']:7.3f} {s['warm_wall_s']:7.3f}"
            f" {s['warm_cpu_s']:11.4f} {s['peak_rss_mb']:12.1f} {s['warm_log_bytes']:11.0f} {calls:15.0f}"
        )
    print(f"\nper clip (process_clip, batch 10 - batch 1): {d['per_clip']}")
    print(f"per device (drift_check): {d['per_device']}")
    print(
        f"\nmodelled on Lambda (CPU x {FULL_VCPU_MB}/MB + assumed AWS latency); chosen = smallest that fits"
    )
    for name, table in d["memory"].items():
        print(f"  {name} (budget {BUDGETS[name]})")
        for r in table:
            mark = "<- chosen" if r["memory_mb"] == d["chosen_memory_mb"][name] else ""
            print(
                f"    {r['memory_mb']:5d} MB  cold {r['cold_s']:7.3f} s  warm {r['warm_s']:7.3f} s  "
                f"${r['warm_usd_per_million']:8.2f}/M warm  rss ok {r['fits_rss']!s:5}  "
                f"budget ok {r['meets_budget']!s:5}"
                + (f"  {r['devices_per_run']:5d} devices/run" if "devices_per_run" in r else "")
                + f" {mark}"
            )


def cost_target(inputs: dict[str, Any]) -> dict[str, Any]:
    """`humwatch cost` at the defaults (1,000 devices, a clip every 5 minutes, clips kept 90 days,
    us-east-1) with the inputs measured in this run, against the per-device-month target."""
    from humwatch.ops.cost import Fleet, MeasuredInputs, estimate

    measured = MeasuredInputs(
        values={name: float(entry["value"]) for name, entry in inputs["values"].items()},
        measured_at=str(inputs["measured_at"]),
        command=COMMAND,
    )
    bill = estimate(Fleet(devices=COST_TARGET_DEVICES), inputs=measured)
    per_device = bill.per_device_month_usd
    ok = per_device <= COST_TARGET_USD
    f = bill.fleet
    print(
        f"\nhumwatch cost at the defaults ({f.devices:,} devices, a clip every {f.interval_s:g} s kept "
        f"{f.retention_days} days, us-east-1), inputs from this run: {bill.total_usd:,.2f} USD a month"
    )
    for service, usd in bill.by_service().items():
        print(f"  {service:12s} {usd:9.2f}  {usd / bill.total_usd:4.0%}")
    print(f"per device-month ${per_device:.3f} <= ${COST_TARGET_USD:.2f} {'PASS' if ok else 'FAIL'}")
    return {
        "devices": COST_TARGET_DEVICES,
        "total_usd": round(bill.total_usd, 2),
        "per_device_month_usd": round(per_device, 4),
        "target_usd": COST_TARGET_USD,
        "ok": ok,
        "by_service": {k: round(v, 2) for k, v in bill.by_service().items()},
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write-cost-inputs", action="store_true", help=f"also write {COST_INPUTS.name}")
    args = parser.parse_args(argv if argv is not None else [])
    os.environ.update(
        {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1"}
    )
    with tempfile.TemporaryDirectory(prefix="humwatch-functions-") as tmp:
        measured = measure(Path(tmp))
    derived = derive(measured)
    print_report(measured, derived)
    inputs = cost_inputs(measured, derived)
    cost = cost_target(inputs)
    result = {
        "benchmark": "functions",
        "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "budgets": {k: v._asdict() for k, v in BUDGETS.items()},
        "aws_call_latency_ms_assumed": AWS_CALL_LATENCY_MS,
        "measured": measured,
        "derived": derived,
        "cost_inputs": inputs,
        "cost_at_defaults": cost,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "lambda_functions.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS / 'lambda_functions.json'}")
    if args.write_cost_inputs:
        COST_INPUTS.write_text(json.dumps(inputs, indent=2) + "\n")
        print(f"wrote {COST_INPUTS}")
    return result


def _entry(argv: list[str]) -> None:
    if argv[:1] == ["--child"]:
        child(argv[1], Path(argv[2]), Path(argv[3]))
    else:
        main(argv)


if __name__ == "__main__":
    _entry(sys.argv[1:])
