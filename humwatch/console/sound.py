"""A clip as the console shows it: its log-mel spectrogram, and where it departs from normal, in words.

The spectrogram is the model's own front end (`humwatch.features.log_mel` with the model's
feature parameters), so what the page draws is what the model heard. What fired comes first when
the detector could tell (the clip's `why`, `humwatch.explain`: member, band, modulation or line
frequency); then the comparison with the model's training band means (model.json
`training.band_means_mean` / `band_means_std`): each band of the clip in units of that spread (a
z-score), the largest departure named with its frequency range.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from humwatch.console.models import Spectrogram
from humwatch.explain import describe_why, format_band
from humwatch.features import FeatureParams, band_edges_hz, log_mel
from humwatch.records import ClipRecord, ClipStatus

MAX_COLUMNS = 400  # frame columns sent to the browser (a 10 s clip has 313; longer ones are averaged)
# A band whose training spread is (nearly) zero would make any difference look infinite: the
# spread never counts as less than this (dB).
MIN_SPREAD_DB = 0.1


def downsample_frames(db: np.ndarray, max_columns: int = MAX_COLUMNS) -> tuple[np.ndarray, int]:
    """[bands, frames] -> [bands, <= max_columns] by averaging runs of `factor` frames (the last run
    may be shorter); returns the array and the factor."""
    n_frames = db.shape[1]
    factor = max(1, math.ceil(n_frames / max_columns))
    if factor == 1:
        return db, 1
    columns = math.ceil(n_frames / factor)
    padded = np.full((db.shape[0], columns * factor), np.nan)
    padded[:, :n_frames] = db
    return np.nanmean(padded.reshape(db.shape[0], columns, factor), axis=2), factor


def spectrogram(samples: np.ndarray, params: FeatureParams, *, max_columns: int = MAX_COLUMNS) -> Spectrogram:
    """The clip's log-mel spectrogram at most `max_columns` wide, dB rounded to 0.1."""
    db, factor = downsample_frames(log_mel(samples, params), max_columns)
    rounded = np.round(db, 1)
    return Spectrogram(
        db=rounded.tolist(),
        n_mels=params.n_mels,
        frame_s=params.hop_length * factor / params.sample_rate,
        band_edges_hz=[round(edge, 1) for edge in band_edges_hz(params)],
        min_db=float(rounded.min()),
        max_db=float(rounded.max()),
    )


def largest_departure(
    clip: Sequence[float], normal_mean: Sequence[float], normal_std: Sequence[float]
) -> tuple[int, float]:
    """(band index, z) of the band furthest from normal, in units of its training spread."""
    z = (np.asarray(clip, dtype=np.float64) - np.asarray(normal_mean, dtype=np.float64)) / np.maximum(
        np.asarray(normal_std, dtype=np.float64), MIN_SPREAD_DB
    )
    band = int(np.argmax(np.abs(z)))
    return band, float(z[band])


def explain(
    record: ClipRecord,
    *,
    clip_bands: Sequence[float] | None,
    normal_mean: Sequence[float] | None,
    normal_std: Sequence[float] | None,
    edges_hz: Sequence[float] | None,
    model: str | None,
) -> str:
    """One or two sentences: where the clip departs most from normal, and what the model made of it.

    `model` names the reference (`model_id@version`), None when there is none."""
    parts: list[str] = []
    if record.status is ClipStatus.REJECTED:
        why = record.reason_message or record.reason or "invalid audio"
        reason = f"{record.reason}: {why}" if record.reason and record.reason_message else why
        parts.append(f"Not scored: the clip was rejected ({reason}).")
    elif record.status is ClipStatus.BASELINE:
        parts.append("Not scored: a baseline clip, kept while the device learned its normal.")

    comparison = _comparison(clip_bands, normal_mean, normal_std, edges_hz, model)
    if record.status is ClipStatus.SCORED:
        ratio = record.ratio
        if ratio is None and record.score is not None and record.threshold:
            ratio = record.score / record.threshold
        score = f"score {ratio:.1f}x threshold" if ratio is not None else "no score recorded"
        if ratio is not None and ratio < 1:
            score += " (under it: normal to the model)"
        if record.why is not None:
            # The detector's own account first; the band-by-band comparison backs it up.
            fired = f"{describe_why(record.why)} (its {record.why.member} member, {record.why.z:.1f} σ)"
            parts.append(f"{_capital(fired)}; {score}.")
            parts.append(f"Band by band, {comparison}." if comparison.startswith("the ") else comparison)
        elif comparison.startswith("the "):
            parts.append(f"{_capital(comparison)}; {score}.")
        else:
            parts.append(f"{_capital(score)}. {comparison}")
    else:
        parts.append(_capital(comparison) if comparison.startswith("the ") else comparison)
    text = " ".join(parts)
    return text if text.endswith(".") else text + "."


def _comparison(
    clip_bands: Sequence[float] | None,
    normal_mean: Sequence[float] | None,
    normal_std: Sequence[float] | None,
    edges_hz: Sequence[float] | None,
    model: str | None,
) -> str:
    if clip_bands is None:
        return (
            "There is no audio of this clip to compare with normal (not stored any more, or not decodable)."
        )
    if model is None:
        return "There is no model of this device yet to compare the clip with."
    n = len(clip_bands)
    if not normal_mean or not normal_std or len(normal_mean) != n or len(normal_std) != n:
        return f"The model {model} keeps no band statistics, so the clip cannot be compared band by band."
    band, z = largest_departure(clip_bands, normal_mean, normal_std)
    where = (
        f"{format_band((edges_hz[band], edges_hz[band + 1]))} band"
        if edges_hz is not None and len(edges_hz) == n + 1
        else f"band {band + 1}"
    )
    side = "above" if z > 0 else "below"
    return f"the {where} is {abs(z):.1f} σ {side} normal (largest of {n} bands)"


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]
