"""What each console API route does, over the history table, the clips and the model bundles.

Each view reuses what the operator commands use (`humwatch.ops`: device status, history, models,
candidates, labels, acknowledgements; `humwatch.services.promotion`), so the console and the CLI
cannot disagree. Every read is a GetItem or a Query (never a Scan). Nothing returned names the
bucket or an S3 key: audio leaves only as a presigned GET URL that lives at most 5 minutes.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from humwatch import contracts as c
from humwatch.audio import AudioLimits, decode_audio
from humwatch.config import ConsoleSettings
from humwatch.console import models as m
from humwatch.console.auth import Caller
from humwatch.console.sound import explain, spectrogram
from humwatch.dal.clip_store import ClipStore
from humwatch.dal.history import HistoryTable
from humwatch.dal.model_store import ModelStore
from humwatch.errors import AudioRejected, ModelBundleError, NotFound, RequestRejected
from humwatch.features import FeatureParams, band_edges_hz, log_mel
from humwatch.model.bundle import ModelManifest
from humwatch.observability import logger
from humwatch.ops.devices import DeviceStatus, SilencePolicy, list_device_status
from humwatch.ops.feedback import acknowledge_alert, label_clip
from humwatch.ops.formatting import plain
from humwatch.ops.history import require_device
from humwatch.ops.learning import candidate_row, candidate_rows, with_reports
from humwatch.ops.models import model_rows
from humwatch.ops.timeparse import parse_when
from humwatch.records import ClipRecord
from humwatch.services import promotion

# A stored clip is decoded for its picture whatever made it rejected (silent, clipped, short):
# only what cannot be decoded at all has no spectrogram.
_DISPLAY_LIMITS = AudioLimits(min_duration_s=0.01, silence_rms_dbfs=-math.inf, max_clipped_fraction=1.0)
# Candidate rows leave out where the gate report is stored (an S3 key): `report` carries it.
_HIDDEN_CANDIDATE_FIELDS = ("report_key",)


@dataclass(frozen=True)
class ConsoleDeps:
    settings: ConsoleSettings
    history: HistoryTable
    clips: ClipStore
    models: ModelStore


# --- reads ------------------------------------------------------------------------------------------
def me(caller: Caller) -> m.Me:
    return m.Me(username=caller.username, groups=list(caller.groups), can_write=caller.can_write)


def devices(deps: ConsoleDeps, *, now: datetime) -> m.DevicesResponse:
    return m.DevicesResponse(devices=[_row(s, now) for s in _statuses(deps, now)])


def device(deps: ConsoleDeps, thing: str, *, now: datetime) -> m.DeviceResponse:
    status = _status(deps, thing, now)
    model = None
    if status.model_id and status.model_version:
        manifest = _manifest(deps, status.model_id, status.model_version)
        if manifest is not None:
            model = m.ModelSummary(
                model_id=status.model_id,
                version=status.model_version,
                threshold=manifest.threshold.value,
                band_edges_hz=[round(edge, 1) for edge in band_edges_hz(manifest.features)],
            )
    return m.DeviceResponse(device=_row(status, now), model=model)


def clips(deps: ConsoleDeps, thing: str, query: m.ClipQuery, *, now: datetime) -> m.ClipPage:
    require_device(deps.history, thing)
    since = parse_when(query.since, now=now) if query.since else None
    until = parse_when(query.until, now=now) if query.until else None
    if since and until and since > until:
        raise RequestRejected("since is after until")
    try:
        records, last = deps.history.clips.page(
            thing,
            limit=query.limit,
            after=decode_page_token(query.next_token) if query.next_token else None,
            since=since,
            until=until,
            anomalies_only=query.anomalies,
        )
    except ValueError:
        raise RequestRejected("invalid paging token: start again without `next`") from None
    return m.ClipPage(items=[clip_item(r) for r in records], next=encode_page_token(last) if last else None)


def clip_detail(deps: ConsoleDeps, thing: str, clip_id: str, *, now: datetime) -> m.ClipDetail:
    require_device(deps.history, thing)
    record = deps.history.clips.find(thing, clip_id)
    if record is None:
        raise NotFound(f"no clip {clip_id} for device {thing}")
    model, manifest = _reference_model(deps, record)
    params = manifest.features if manifest is not None else FeatureParams()
    data = _clip_bytes(deps, record)
    samples = _decode(data, params, manifest) if data is not None else None
    picture = spectrogram(samples, params) if samples is not None else None

    clip_bands: list[float] | None = None
    if record.band_means and len(record.band_means) == params.n_mels:
        clip_bands = [round(float(v), 2) for v in record.band_means]  # what the model computed
    elif samples is not None:
        clip_bands = [round(float(v), 2) for v in log_mel(samples, params).mean(axis=1)]
    normal_mean = normal_std = None
    if manifest is not None and len(manifest.training.band_means_mean) == params.n_mels:
        normal_mean = [round(v, 2) for v in manifest.training.band_means_mean]
        if len(manifest.training.band_means_std) == params.n_mels:
            normal_std = [round(v, 2) for v in manifest.training.band_means_std]
    if normal_std is None:
        normal_mean = None

    audio_url = expires_at = None
    if data is not None:
        expiry = deps.settings.audio_url_expiry_s
        audio_url = deps.clips.presign_get(record.s3_key, expires_in=expiry)
        expires_at = c.format_timestamp(now + timedelta(seconds=expiry))
    return m.ClipDetail(
        clip=clip_item(record),
        audio_url=audio_url,
        audio_expires_at=expires_at,
        spectrogram=picture,
        bands=m.Bands(clip=clip_bands, normal_mean=normal_mean, normal_std=normal_std),
        explanation=explain(
            record,
            clip_bands=clip_bands,
            normal_mean=normal_mean,
            normal_std=normal_std,
            edges_hz=band_edges_hz(params),
            model=model,
        ),
    )


def model_list(deps: ConsoleDeps) -> m.ModelsResponse:
    return m.ModelsResponse(
        models=[plain(row) for row in model_rows(deps.history)],
        candidates=[_candidate(row) for row in candidate_rows(deps.history, None)],
    )


def candidates(deps: ConsoleDeps, thing: str) -> m.CandidatesResponse:
    rows = with_reports(candidate_rows(deps.history, thing), deps.models)
    return m.CandidatesResponse(candidates=[_candidate(row) for row in rows])


# --- writes (operators) -------------------------------------------------------------------------------
def label(
    deps: ConsoleDeps, caller: Caller, thing: str, clip_id: str, body: m.LabelRequest
) -> m.LabelResponse:
    outcome = label_clip(deps.history, thing, clip_id, body.label, body.note)
    _audit(caller, "label", thing, clip_id=clip_id, label=body.label)
    return m.LabelResponse(clip=clip_item(outcome.record))


def acknowledge(deps: ConsoleDeps, caller: Caller, thing: str, *, now: datetime) -> m.AckResponse:
    outcome = acknowledge_alert(deps.history, thing, now=now)
    if outcome.acknowledged:
        _audit(caller, "ack", thing)
    return m.AckResponse(
        device=_row(_status(deps, thing, now), now),
        acknowledged=outcome.acknowledged,
        message=outcome.message,
    )


def promote(
    deps: ConsoleDeps, caller: Caller, thing: str, body: m.PromoteRequest, *, now: datetime
) -> m.CandidateResponse:
    require_device(deps.history, thing)
    promoted = promotion.promote(deps.history, thing, body.version, now=now, force=body.force)
    _audit(caller, "promote", thing, version=body.version, force=body.force)
    return m.CandidateResponse(candidate=_candidate(candidate_row(promoted)))


def rollback(deps: ConsoleDeps, caller: Caller, thing: str, *, now: datetime) -> m.CandidateResponse:
    require_device(deps.history, thing)
    restored = promotion.rollback(deps.history, thing, now=now)
    _audit(caller, "rollback", thing, version=restored.version)
    return m.CandidateResponse(candidate=_candidate(candidate_row(restored)))


# --- paging tokens -------------------------------------------------------------------------------------
def encode_page_token(key: dict[str, str]) -> str:
    """DynamoDB's key to continue from, opaque to the browser (base64url of its JSON)."""
    raw = json.dumps(key, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page_token(token: str) -> dict[str, str]:
    """The key inside a token; ValueError for anything that is not one (the dal then checks that
    it is one of this device's clips)."""
    try:
        key = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError("not a paging token") from exc
    if (
        not isinstance(key, dict)
        or set(key) != {c.PK, c.SK}
        or not all(isinstance(v, str) for v in key.values())
    ):
        raise ValueError("not a paging token")
    return {str(k): str(v) for k, v in key.items()}


# --- helpers ----------------------------------------------------------------------------------------
def clip_item(record: ClipRecord) -> m.ClipItem:
    return m.ClipItem(
        clip_id=record.clip_id,
        captured_at=c.format_timestamp(record.captured_at),
        status=record.status.value,
        score=record.score,
        threshold=record.threshold,
        ratio=record.ratio,
        is_anomaly=record.is_anomaly,
        model_id=record.model_id,
        model_version=record.model_version,
        reason=record.reason,
        label=record.label,
        label_note=record.label_note,
        duration_s=record.duration_s,
        why=record.why.compact() if record.why is not None else None,
    )


def _statuses(deps: ConsoleDeps, now: datetime, only: str | None = None) -> list[DeviceStatus]:
    policy = SilencePolicy(
        clip_interval_s=deps.settings.clip_interval_s, after_intervals=deps.settings.silent_after_intervals
    )
    return list_device_status(deps.history, policy=policy, now=now, only=only)


def _status(deps: ConsoleDeps, thing: str, now: datetime) -> DeviceStatus:
    require_device(deps.history, thing)
    found = _statuses(deps, now, only=thing)
    if not found:  # clips or an alert state, but no registry entry (removed by hand)
        raise NotFound(f"device {thing!r} is not registered")
    return found[0]


def _row(status: DeviceStatus, now: datetime) -> dict[str, Any]:
    return dict(plain(status.row(now=now)))


def _candidate(row: dict[str, Any]) -> dict[str, Any]:
    return {k: plain(v) for k, v in row.items() if k not in _HIDDEN_CANDIDATE_FIELDS}


def _manifest(deps: ConsoleDeps, model_id: str, version: str) -> ModelManifest | None:
    try:
        return deps.models.load_bundle(model_id, version).manifest
    except (ModelBundleError, NotFound):
        logger.warning("model bundle unreadable", extra={"model_id": model_id, "model_version": version})
        return None


def _reference_model(deps: ConsoleDeps, record: ClipRecord) -> tuple[str | None, ModelManifest | None]:
    """The model that scored the clip; for a clip no model scored, the device's model now."""
    model_id, version = record.model_id, record.model_version
    if not (model_id and version):
        info = deps.history.devices.get(record.thing)
        model_id = (info.model_id if info else None) or deps.history.models.default_model_id()
        pointer = deps.history.models.pointer(model_id) if model_id else None
        version = pointer.version if pointer else None
    if not (model_id and version):
        return None, None
    manifest = _manifest(deps, model_id, version)
    return (f"{model_id}@{version}" if manifest else None), manifest


def _clip_bytes(deps: ConsoleDeps, record: ClipRecord) -> bytes | None:
    try:
        return deps.clips.get_bytes(record.s3_key, max_bytes=deps.settings.max_clip_bytes)
    except (NotFound, AudioRejected):  # expired by the bucket's lifecycle, empty, or oversized
        return None


def _decode(data: bytes, params: FeatureParams, manifest: ModelManifest | None) -> np.ndarray | None:
    channel = manifest.channel if manifest is not None else 0
    try:
        decoded = decode_audio(
            data,
            target_sample_rate=params.sample_rate,
            channel="mean" if channel == "mean" else int(channel),
            limits=_DISPLAY_LIMITS,
        )
    except AudioRejected:
        return None
    return decoded.samples


def _audit(caller: Caller, action: str, thing: str, **details: Any) -> None:
    """Who changed what, in the function's log (CloudWatch keeps it)."""
    logger.info(
        "console write", extra={"user": caller.username, "action": action, "device": thing, **details}
    )
