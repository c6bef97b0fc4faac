"""The values a running local stack writes into `local-stack.json` (this process stands in for
the stack), for the tests of the file's loader and of the operator tools that read it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def stack_values(directory: Path, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "format_version": 1,
        "pid": os.getpid(),
        "started_at": "2026-11-26T14:00:00Z",
        "region": "us-east-1",
        "endpoint_url": "http://127.0.0.1:5000",
        "table": "humwatch-history",
        "bucket": "humwatch-clips",
        "iot_policy": "humwatch-device-policy",
        "mqtt_host": "127.0.0.1",
        "mqtt_port": 18883,
        "ca_file": str(directory / "pki" / "ca.crt"),
        "ca_key_file": str(directory / "pki" / "ca.key"),
        "alert_topic_arn": "arn:aws:sns:us-east-1:123456789012:humwatch-alerts",
        "ops_topic_arn": "arn:aws:sns:us-east-1:123456789012:humwatch-ops",
        "clip_queue_url": "http://127.0.0.1:5000/123456789012/humwatch-clip-events",
        "clip_dlq_url": "http://127.0.0.1:5000/123456789012/humwatch-clip-events-dlq",
        "train_queue_url": "http://127.0.0.1:5000/123456789012/humwatch-train-requests",
        "train_dlq_url": "http://127.0.0.1:5000/123456789012/humwatch-train-requests-dlq",
        "iot_data_http_endpoint": "http://127.0.0.1:5001",
        "inbox_dir": str(directory / "inbox"),
        "devices_dir": str(directory / "devices"),
    }
    values.update(overrides)
    return values
