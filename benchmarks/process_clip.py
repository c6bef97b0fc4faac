"""Warm per-invocation time of the process_clip Lambda handler for a batch of 10 clips (moto).

Setup (not timed): a moto server in this process with the full resource set, a model of the
default detector (spectral-gauss) trained on 20 synthetic fan clips (production feature settings,
10 s clips) published as default.
Each round uploads 10 fresh 10-s FLAC clips, receives their real S3 -> SQS notifications and calls
the handler with them as one Lambda SQS event. Round 0 is the cold invocation (settings, clients,
model download, onnxruntime session); the median of the following rounds is the warm time.

Baseline in the same run: decoding + scoring the same 10 clips in-process with the same Scorer
(no AWS calls). The ratio shows what S3/DynamoDB/state updates add per batch (moto on localhost).

Run: `.venv/bin/python benchmarks/process_clip.py [--rounds 7]`; writes benchmarks/results/process_clip.json.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
BATCH = 10


def _clip(seed: int) -> bytes:
    import soundfile as sf

    from humwatch.research.synth import MachineSpec, synth_clip

    buf = io.BytesIO()
    samples = synth_clip(MachineSpec.from_seed("fan", 0), seed=seed, duration_s=10.0)
    sf.write(buf, samples, 16000, format="FLAC", subtype="PCM_16")
    return buf.getvalue()


def main(rounds: int = 7) -> dict[str, Any]:
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
        }
    )
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    sys.path.insert(0, str(REPO / "tests" / "integration"))
    from lambda_harness import invoke, load_handler, receive_lambda_event

    from humwatch import contracts as c
    from humwatch.dal import aws
    from humwatch.dal.history import HistoryTable
    from humwatch.dal.model_store import ModelStore
    from humwatch.dal.provisioning import provision_stack
    from humwatch.datasets import load_labelled_clips
    from humwatch.detectors import DEFAULT_DETECTOR, train_bundle
    from humwatch.research.synth import write_dataset
    from humwatch.scoring import Scorer, score_clip
    from humwatch.services import wiring

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        stack = provision_stack(endpoint_url=endpoint, region="us-east-1")
        os.environ.update(stack.environment())
        with tempfile.TemporaryDirectory() as tmp:
            manifest = write_dataset(Path(tmp) / "clips", n_clips=20, duration_s=10.0, seed=3)
            bundle = train_bundle(DEFAULT_DETECTOR, load_labelled_clips([manifest]), None, model_id="bench")
        history = HistoryTable(stack.table, client=aws.client("dynamodb", endpoint_url=endpoint))
        ModelStore(stack.bucket, client=aws.client("s3", endpoint_url=endpoint)).publish(
            bundle, "bench", history, make_default=True
        )
        s3 = aws.client("s3", endpoint_url=endpoint)
        wiring.reset()
        handler = load_handler("process_clip")
        scorer = Scorer(bundle)

        t0 = datetime.now(UTC) - timedelta(hours=2)
        handler_ms: list[float] = []
        baseline_ms: list[float] = []
        for r in range(rounds + 1):
            clips = [_clip(1000 * r + i) for i in range(BATCH)]
            for i, data in enumerate(clips):
                at = t0 + timedelta(seconds=10 * (BATCH * r + i))
                key = c.clip_key("bench-01", at, uuid.uuid4(), "flac")
                s3.put_object(Bucket=stack.bucket, Key=key, Body=data, ContentType="audio/flac")
            event = receive_lambda_event(stack, expected=BATCH, max_batch=BATCH + 1)
            started = time.perf_counter()
            result = invoke(handler, event)
            handler_ms.append((time.perf_counter() - started) * 1000)
            assert result == {"batchItemFailures": []}, result
            started = time.perf_counter()
            for data in clips:
                score_clip(scorer, data)
            baseline_ms.append((time.perf_counter() - started) * 1000)
        items = sum(1 for _ in history.clips.query("bench-01"))
        assert items == BATCH * (rounds + 1), items
    finally:
        server.stop()

    warm = statistics.median(handler_ms[1:])
    base = statistics.median(baseline_ms[1:])
    result = {
        "batch_size": BATCH,
        "clip_seconds": 10.0,
        "rounds": rounds,
        "cold_invocation_ms": round(handler_ms[0], 1),
        "warm_invocation_ms_median": round(warm, 1),
        "warm_invocation_ms_all": [round(v, 1) for v in handler_ms[1:]],
        "warm_per_clip_ms": round(warm / BATCH, 2),
        "baseline_decode_score_ms_median": round(base, 1),
        "ratio_handler_to_baseline": round(warm / base, 2),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "note": f"{DEFAULT_DETECTOR} model; moto server on localhost in this process; AWS latency differs",
    }
    print(f"process_clip, batch of {BATCH} x 10 s FLAC clips, {DEFAULT_DETECTOR} model, moto on localhost")
    print(f"  cold invocation            {handler_ms[0]:8.1f} ms")
    print(f"  warm invocation (median)   {warm:8.1f} ms   ({warm / BATCH:.1f} ms per clip)")
    print(f"  baseline decode+score only {base:8.1f} ms")
    print(f"  handler / baseline         {warm / base:8.2f} x")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "process_clip.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS / 'process_clip.json'}")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="warm rounds after the cold one")
    main(parser.parse_args().rounds)
