"""Seed the history table the way process_clip leaves it, for the operator-tool tests."""

from __future__ import annotations

import urllib.request
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from click.testing import CliRunner, Result

from humwatch.alerts.policy import AlertState, ClipFlag, Severity
from humwatch.cli import cli
from humwatch.dal.history import HistoryTable
from humwatch.dal.provisioning import StackResources
from humwatch.detectors.blog_ae.autoencoder import Autoencoder
from humwatch.detectors.blog_ae.graph import build_scoring_graph
from humwatch.features import FeatureParams
from humwatch.model.bundle import ModelBundle, ModelManifest, sha256_hex
from humwatch.records import ClipRecord, ClipStatus, DeviceState

THRESHOLD = 1.0


@dataclass(frozen=True)
class Seeded:
    thing: str
    records: list[ClipRecord]


def clip(thing: str, at: datetime, score: float | None, *, rejected: str | None = None) -> ClipRecord:
    clip_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{thing}/{at.isoformat()}"))
    key = f"clips/{thing}/{at:%Y/%m/%d}/{at:%Y-%m-%dT%H:%M:%SZ}_{clip_id}.flac"
    if rejected:
        return ClipRecord(
            thing=thing,
            clip_id=clip_id,
            captured_at=at,
            status=ClipStatus.REJECTED,
            processed_at=at,
            s3_key=key,
            reason=rejected,
            reason_message=f"clip rejected: {rejected}",
        )
    assert score is not None
    return ClipRecord(
        thing=thing,
        clip_id=clip_id,
        captured_at=at,
        status=ClipStatus.SCORED,
        processed_at=at,
        s3_key=key,
        score=score,
        threshold=THRESHOLD,
        ratio=score / THRESHOLD,
        is_anomaly=score > THRESHOLD,
        model_id="fan-demo",
        model_version="v1",
        duration_s=10.0,
        sample_rate=16000,
        band_means=[0.0] * 4,
        processing_ms=3.0,
    )


def seed_device(
    history: HistoryTable,
    thing: str,
    scores: Sequence[float | None],
    *,
    start: datetime,
    every: timedelta = timedelta(minutes=5),
    alert_at: datetime | None = None,
    severity: Severity = Severity.WARNING,
    machine_type: str = "fan",
    model_id: str | None = None,
) -> Seeded:
    """Register `thing`, write one clip per score (None -> a REJECTED silent clip), save its state."""
    history.devices.put(thing, model_id=model_id, machine_type=machine_type)
    records = []
    for i, score in enumerate(scores):
        at = start + i * every
        record = clip(thing, at, score, rejected="silent" if score is None else None)
        assert history.clips.put(record)
        records.append(record)
    scored = [r for r in records if r.status is ClipStatus.SCORED]
    if scored:
        last = scored[-1]
        flags = tuple(
            ClipFlag(r.clip_id, r.captured_at, r.is_anomaly, float(r.ratio or 0.0)) for r in scored[-5:]
        )
        firing = sum(f.is_anomaly for f in flags) >= 3
        alert = AlertState(
            recent=flags,
            last_alert_at=alert_at,
            last_severity=severity if alert_at else None,
            episode_open=firing,
            clock=last.captured_at,
        )
        state = DeviceState(
            thing=thing,
            alert=alert,
            last_clip_at=last.captured_at,
            last_status=ClipStatus.SCORED,
            last_score=last.score,
            last_ratio=last.ratio,
            model_id="fan-demo",
            model_version="v1",
            alerts_sent=1 if alert_at else 0,
        )
        history.alert_states.save(thing, state, 0)
    return Seeded(thing, records)


def stack_args(stack: StackResources) -> list[str]:
    assert stack.endpoint_url
    return [
        "--table",
        stack.table,
        "--bucket",
        stack.bucket,
        "--endpoint-url",
        stack.endpoint_url,
        "--region",
        stack.region,
    ]


def run(args: Sequence[str], *, env: dict[str, str] | None = None, isolate: bool = True) -> Result:
    """Invoke the real `humwatch` click group (with the ops commands registered).

    `isolate` hides the developer's HUMWATCH_* settings so discovery comes from the flags alone;
    pass False when an in-process local stack relies on its own environment variables (CliRunner
    changes os.environ for the whole process while a command runs).
    """
    import humwatch.cli.ops  # noqa: F401  (registers the commands)

    clean: dict[str, str | None] = (
        {"HUMWATCH_LOCAL_SETTINGS": None, "HUMWATCH_TABLE": None, "HUMWATCH_BUCKET": None} if isolate else {}
    )
    clean.update(env or {})
    return CliRunner().invoke(cli, list(args), env=clean, catch_exceptions=True)


def reset_moto_data(endpoint: str) -> None:
    """Wipe every moto backend of this process (all moto servers in a process share them)."""
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass


def make_bundle(directory: Path, version: str, *, seed: int = 0) -> ModelBundle:
    """An untrained (random-weight) but real blog-style scoring graph and a valid manifest."""
    params = FeatureParams.model_validate({})  # the defaults
    model = Autoencoder.initialise(params.n_mels * params.frames, np.random.default_rng(seed))
    onnx_bytes = build_scoring_graph(params, model).serialize()
    manifest = ModelManifest.model_validate(
        {
            "format_version": 1,
            "model_id": "fan-demo",
            "version": version,
            "model_type": "blog-ae",
            "created_at": datetime.now(UTC).isoformat(),
            "onnx_sha256": sha256_hex(onnx_bytes),
            "onnx_inputs": ["waveform"],
            "onnx_outputs": ["score", "vector_errors", "band_means"],
            "features": params.model_dump(),
            "threshold": {"value": 12.5, "method": "gamma", "target_fpr": 0.01},
        }
    )
    bundle = ModelBundle(manifest, onnx_bytes)
    bundle.save(directory)
    return bundle
