"""End-to-end throughput of the local stack: clips per second from upload request to history item.

Three devices push N clips of 10 s (FLAC, 16 kHz) as fast as the device contract allows (MQTT
upload request -> presigned PUT), through mosquitto, moto's S3 -> SQS notification, the SQS
dispatcher (batch size 10, 5 s window: the deployed settings) and the real process_clip handler
(decode, ONNX score with a model of the default detector, DynamoDB history item, alert state).
Baseline in the same run: the same clips decoded and scored in-process with the same model (no
AWS, no MQTT), i.e. the compute ceiling; the ratio says how much the pipeline's plumbing costs on
this machine.

    python benchmarks/local_pipeline.py [--clips 120]

Prints a table and writes benchmarks/results/local_pipeline.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote_plus

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
CACHE = RESULTS / "tmp" / "local_pipeline"
DEVICES = ("bench-01", "bench-02", "bench-03")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clips", type=int, default=120, help="clips in total (spread over 3 devices)")
    args = parser.parse_args(argv if argv is not None else [])

    from humwatch.dal.history import HistoryTable
    from humwatch.dal.model_store import ModelStore
    from humwatch.local.device_client import LocalDeviceClient
    from humwatch.local.scenario import DemoRecipe, ensure_demo_model, write_device_clips
    from humwatch.local.settings import LocalStackOptions
    from humwatch.local.stack import LocalStack
    from humwatch.scoring import Scorer, score_clip

    # 10 s clips, as devices send by default; the default detector (what users run) trained on
    # a few clips (throughput does not depend on the model's quality).
    recipe = DemoRecipe(model_id="bench", clip_s=10.0, train_clips=30)
    model_dir, _ = ensure_demo_model(CACHE, recipe)
    clip_paths = write_device_clips(CACHE / f"clips-{recipe.cache_key()}", n_clips=args.clips, recipe=recipe)
    clips = [p.read_bytes() for p in clip_paths]

    # Baseline: decode + score in-process, warm.
    scorer = Scorer.from_dir(model_dir)
    score_clip(scorer, clips[0])
    started = time.perf_counter()
    for data in clips:
        score_clip(scorer, data)
    direct_s = time.perf_counter() - started

    with tempfile.TemporaryDirectory(prefix="humwatch-bench-") as work:
        stack = LocalStack(LocalStackOptions.build(workdir=Path(work), drift_interval_s=0)).start()
        try:
            history = HistoryTable(stack.info.table)
            ModelStore(stack.info.bucket).publish_dir(model_dir, recipe.model_id, history, make_default=True)
            devices = [stack.provision_device(thing) for thing in DEVICES]
            clients = [
                LocalDeviceClient(
                    d.thing,
                    host=d.mqtt_host,
                    port=d.mqtt_port,
                    ca_file=d.ca_file,
                    cert_file=d.cert_file,
                    key_file=d.key_file,
                ).connect()
                for d in devices
            ]
            # Warm-up: one clip per device (cold starts of both functions are not throughput).
            for client in clients:
                client.upload(clips[0])
            assert stack.wait_for(lambda: _count(history) >= len(DEVICES), timeout_s=60)
            assert stack.wait_until_drained(timeout_s=30)

            uploaded_at: dict[str, float] = {}
            lock = threading.Lock()

            def push(index: int) -> None:
                client = clients[index % len(clients)]
                result = client.upload(clips[index])
                with lock:
                    uploaded_at[result.clip_id] = time.time()

            # History items carry whole-second timestamps, so the end of each clip's processing is
            # taken where the (local) Lambda invocation that handled it returns.
            processed_at = _time_invocations(stack.event_source)
            started = time.perf_counter()
            started_wall = time.time()
            with ThreadPoolExecutor(max_workers=len(clients)) as pool:
                list(pool.map(push, range(len(clips))))
            upload_s = time.perf_counter() - started
            total = len(DEVICES) + len(clips)
            assert stack.wait_for(lambda: _count(history) >= total, timeout_s=600, interval_s=0.2)
            e2e_s = time.perf_counter() - started
            records = [r for t in DEVICES for r in history.clips.query(t) if r.clip_id in uploaded_at]
            latencies = [processed_at[c] - uploaded_at[c] for c in uploaded_at]
            last_processed = max(processed_at[c] for c in uploaded_at) - started_wall
            stats = stack.event_source.stats
            batch_sizes = stats.batch_sizes[1:] or stats.batch_sizes
            for client in clients:
                client.close()
        finally:
            stack.stop()

    n = len(clips)
    result = {
        "benchmark": "local_pipeline",
        "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "clips": n,
        "clip_seconds": recipe.clip_s,
        "devices": len(DEVICES),
        "batch_size": 10,
        "batch_window_s": 5,
        "upload_seconds": round(upload_s, 3),
        "end_to_end_seconds": round(e2e_s, 3),
        "end_to_end_clips_per_s": round(n / e2e_s, 2),
        "pipeline_clips_per_s_by_processed_at": round(n / last_processed, 2),
        "latency_s_median": round(statistics.median(latencies), 3),
        "latency_s_p95": round(_percentile(latencies, 0.95), 3),
        "mean_batch_size": round(statistics.mean(batch_sizes), 2),
        "baseline_direct_score_clips_per_s": round(n / direct_s, 1),
        "ratio_end_to_end_vs_direct": round((n / e2e_s) / (n / direct_s), 4),
        "all_scored": all(r.status == "SCORED" for r in records) and len(records) == n,
    }
    print(
        f"{'measure':44} value\n"
        f"{'clips (10 s FLAC) / devices':44} {n} / {len(DEVICES)}\n"
        f"{'end-to-end wall time (s)':44} {result['end_to_end_seconds']}\n"
        f"{'end-to-end throughput (clips/s)':44} {result['end_to_end_clips_per_s']}\n"
        f"{'PUT done -> history item, median (s)':44} {result['latency_s_median']}\n"
        f"{'PUT done -> history item, p95 (s)':44} {result['latency_s_p95']}\n"
        f"{'mean SQS batch size':44} {result['mean_batch_size']}\n"
        f"{'baseline: in-process decode+score (clips/s)':44} {result['baseline_direct_score_clips_per_s']}\n"
        f"{'ratio end-to-end / baseline':44} {result['ratio_end_to_end_vs_direct']}"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "local_pipeline.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def _time_invocations(event_source: Any) -> dict[str, float]:
    """Wrap the event source's invoke so that it notes when each clip's batch returned (by clip id,
    from the S3 keys in the SQS records)."""
    done: dict[str, float] = {}
    invoke = event_source.invoke

    def timed(event: dict[str, Any]) -> Any:
        response = invoke(event)
        now = time.time()
        for record in event["Records"]:
            for s3_record in json.loads(record["body"]).get("Records", []):
                key = unquote_plus(s3_record["s3"]["object"]["key"])
                done[PurePosixPath(key).stem.split("_", 1)[1]] = now
        return response

    event_source.invoke = timed
    return done


def _count(history: Any) -> int:
    return sum(1 for thing in DEVICES for _ in history.clips.query(thing))


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    main(sys.argv[1:])
