"""A small fleet for the console tests, written the way the pipeline leaves it.

fan-02 is in an alert episode; its newest clip (2.9x threshold) has 10 s of real audio in the
bucket, and the model that scored it keeps training band statistics from which that clip departs
most in one known band. It also has a model of its own with a promotion history (v1 and v2
promoted, v3 a candidate that passed its gate). fan-05 has seven clips to page through.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import soundfile as sf
from ops_seed import make_bundle, seed_device

from humwatch import contracts as c
from humwatch.audio import decode_audio
from humwatch.dal.clip_store import ClipStore
from humwatch.dal.history import HistoryTable
from humwatch.dal.model_store import ModelStore
from humwatch.features import band_means
from humwatch.model.bundle import ModelBundle, TrainingInfo
from humwatch.records import CandidateStatus, ClipRecord, ModelCandidate
from humwatch.research.synth import MachineSpec, synth_clip

ALERTING = "fan-02"
PAGED = "fan-05"
MODEL_ID = "fan-demo"
DEPARTING_BAND = 40  # the band where fan-02's alert clip is furthest from normal
DEPARTURE_SIGMA = 6.0


@dataclass(frozen=True)
class ConsoleFleet:
    alert_clip: ClipRecord  # fan-02's newest clip: anomalous, its audio in the bucket
    audio: bytes  # that clip's FLAC
    paged: list[ClipRecord]  # fan-05's clips, oldest first


def ten_second_flac(seed: int = 3) -> bytes:
    audio = synth_clip(MachineSpec.from_seed("fan", 1), seed=seed, duration_s=10.0)
    buf = io.BytesIO()
    sf.write(buf, audio, 16000, format="FLAC", subtype="PCM_16")
    return buf.getvalue()


def seed_console_fleet(
    history: HistoryTable, s3_client: Any, bucket: str, workdir: Path, *, now: datetime
) -> ConsoleFleet:
    flac = ten_second_flac()
    clip_bands = band_means(decode_audio(flac).samples)
    # Normal sits a little under the clip everywhere, and DEPARTURE_SIGMA spreads under it in one band.
    normal = clip_bands - 0.3
    normal[DEPARTING_BAND] = clip_bands[DEPARTING_BAND] - DEPARTURE_SIGMA
    bundle = make_bundle(workdir / "model", "v1")
    manifest = bundle.manifest.model_copy(
        update={
            "training": TrainingInfo.model_validate(
                {"band_means_mean": [float(v) for v in normal], "band_means_std": [1.0] * len(normal)}
            )
        }
    )
    models = ModelStore(bucket, client=s3_client)
    models.publish(ModelBundle(manifest, bundle.onnx_bytes), MODEL_ID, history, make_default=True)

    alerting = seed_device(
        history,
        ALERTING,
        [0.5, 1.5, 1.9, 2.2, 2.9],
        start=now - timedelta(minutes=25),
        alert_at=now - timedelta(minutes=5),
        model_id=MODEL_ID,
    )
    alert_clip = alerting.records[-1]
    ClipStore(bucket, client=s3_client).put(alert_clip.s3_key, flac, content_type="audio/flac")
    paged = seed_device(
        history, PAGED, [0.5, 1.2, 0.4, 1.5, 0.3, 0.6, 1.1], start=now - timedelta(hours=2), model_id=MODEL_ID
    )

    own = c.device_model_id(ALERTING)
    for version, status, promoted_days_ago in (
        ("v1", CandidateStatus.PROMOTED, 2),
        ("v2", CandidateStatus.PROMOTED, 1),
        ("v3", CandidateStatus.CANDIDATE, None),
    ):
        history.candidates.put(
            ModelCandidate(
                thing=ALERTING,
                model_id=own,
                version=version,
                sha256=f"{version[-1]}" * 64,
                request_id=f"retrain-{version}",
                reason="retrain",
                created_at=now - timedelta(days=3),
                status=status,
                passed=True,
                summary="caught 1 of 1 labelled anomalies; 0 false alarms",
                report_key=c.gate_report_key(own, version),
                n_clips=288,
                promoted_at=now - timedelta(days=promoted_days_ago) if promoted_days_ago else None,
            )
        )
        models.put_gate_report(own, version, json.dumps({"passed": True, "version": version}).encode())
    history.models.set_pointer(own, "v2", "2" * 64)
    return ConsoleFleet(alert_clip=alert_clip, audio=flac, paged=paged.records)
