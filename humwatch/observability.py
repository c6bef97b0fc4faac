"""The one Powertools Logger, Tracer and Metrics of humwatch (service `humwatch`, namespace `Humwatch`).

Every module logs through `logger`, with the device and clip ids appended as keys (`clip_context`)
so one clip can be followed across log lines. Never log whole events or audio.

The Tracer is disabled outside Lambda (Powertools checks LAMBDA_TASK_ROOT), when
POWERTOOLS_TRACE_DISABLED is set, or when the X-Ray SDK is not installed, so local runs and tests
need no X-Ray daemon.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME") or "humwatch"
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "Humwatch"


class Metric:
    """Metric names (CloudWatch, namespace `Humwatch`)."""

    CLIPS_SCORED = "ClipsScored"
    CLIPS_REJECTED = "ClipsRejected"
    ANOMALY_SCORE = "AnomalyScore"  # score / threshold of each scored clip
    ALERTS_SENT = "AlertsSent"
    PROCESSING_MS = "ProcessingMs"
    DRIFT_SCORE = "DriftScore"
    SILENT_DEVICES = "SilentDevices"
    DUPLICATE_EVENTS = "DuplicateClipEvents"
    UPLOADS_PRESIGNED = "UploadsPresigned"
    UPLOADS_REFUSED = "UploadsRefused"
    UPLOAD_QUOTA_EXCEEDED = "UploadQuotaExceeded"  # refused: the device's hourly quota is used up
    UPLOAD_REQUESTS_DROPPED = "UploadRequestsDropped"  # no reply possible (not a valid thing name)
    BASELINE_CLIPS = "BaselineClips"  # clips kept for a learning device's baseline
    CANDIDATES_TRAINED = "CandidatesTrained"
    CANDIDATES_PROMOTED = "CandidatesPromoted"
    TRAINING_FAILED = "TrainingFailed"  # no candidate: too few usable clips


def _tracing_available() -> bool:
    return importlib.util.find_spec("aws_xray_sdk") is not None


logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE, disabled=True if not _tracing_available() else None)  # type: ignore[arg-type]
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


@contextmanager
def clip_context(thing: str | None, clip_id: str | None = None, **extra: Any) -> Iterator[None]:
    """Append device/clip ids to every log line inside the block (removed afterwards)."""
    keys = {"device": thing, "clip_id": clip_id, **extra}
    keys = {k: v for k, v in keys.items() if v is not None}
    logger.append_keys(**keys)
    try:
        yield
    finally:
        logger.remove_keys(list(keys))


def log_metrics(handler: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """`metrics.log_metrics` with the ColdStart metric, except when metrics are disabled: Powertools
    prints the cold-start metric through `single_metric`, which ignores POWERTOOLS_METRICS_DISABLED
    (a raw EMF line in the middle of `make demo`'s live view). Decided per call, because the local
    stack sets the functions' environment around each invocation."""

    @functools.wraps(handler)
    def with_metrics(event: Any, context: Any) -> Any:
        wrapped = metrics.log_metrics(handler, capture_cold_start_metric=not is_metrics_disabled())
        return wrapped(event, context)

    return with_metrics


def count(name: str, value: float = 1.0) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def milliseconds(name: str, value: float) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Milliseconds, value=value)


def gauge(name: str, value: float) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.NoUnit, value=value)
