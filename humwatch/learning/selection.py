"""Which clips of a device train its model, and when a learning device's baseline is complete.

One rule set, used by process_clip (to decide that the baseline is complete) and by train_model
(to build the training set), so the two never disagree about what counts:
- a clip labelled `anomaly` never trains; a clip labelled `normal` always does (if it decoded);
- a rejected clip never trains;
- a clip the current model flagged does not train unless an operator labelled it normal;
- every other valid clip (a baseline clip, a scored clip under its threshold) trains.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from humwatch.records import ClipRecord, ClipStatus

# `humwatch model retrain`'s default window (the drift notice names the command with it).
DEFAULT_RETRAIN_SINCE = "7d"


class Selectable(Protocol):
    """What the rules read of a clip: a `ClipRecord`, or the drift check's `ClipSample`."""

    @property
    def status(self) -> ClipStatus: ...

    @property
    def label(self) -> str | None: ...

    @property
    def is_anomaly(self) -> bool: ...


def trains(record: Selectable) -> bool:
    if record.status is ClipStatus.REJECTED or record.label == "anomaly":
        return False
    if record.label == "normal":
        return True
    return not (record.status is ClipStatus.SCORED and record.is_anomaly)


@dataclass(frozen=True)
class TrainingPreview:
    """What a training run over some clips would take and leave out, by the rules above."""

    clips: int  # would train
    labelled_normal_kept: int
    flagged_left_out: int  # flagged by the current model, not labelled
    labelled_anomaly_left_out: int
    rejected: int  # rejected, not labelled

    def describe(self) -> str:
        parts = [f"{self.clips} clips"]
        if self.labelled_normal_kept:
            parts.append(f"{self.labelled_normal_kept} labelled normal kept in")
        if self.flagged_left_out:
            parts.append(f"{self.flagged_left_out} flagged by the current model left out")
        if self.labelled_anomaly_left_out:
            parts.append(f"{self.labelled_anomaly_left_out} labelled anomaly left out")
        if self.rejected:
            parts.append(f"{self.rejected} rejected left out")
        return ", ".join(parts)


def training_preview(records: Iterable[Selectable]) -> TrainingPreview:
    clips = flagged = normal = anomaly = rejected = 0
    for r in records:
        clips += trains(r)
        normal += r.label == "normal" and trains(r)
        anomaly += r.label == "anomaly"
        flagged += r.label is None and r.status is ClipStatus.SCORED and r.is_anomaly
        rejected += r.label is None and r.status is ClipStatus.REJECTED
    return TrainingPreview(clips, normal, flagged, anomaly, rejected)


@dataclass(frozen=True)
class BaselineProgress:
    clips: int
    needed_clips: int
    span: timedelta
    needed_span: timedelta
    first_at: datetime | None
    last_at: datetime | None

    @property
    def complete(self) -> bool:
        return self.clips >= self.needed_clips and self.span >= self.needed_span

    def describe(self) -> str:
        """ "37/288 clips over 3.1/24 h" (without the targets when they are not known: "37 clips
        over 3.1 h", as `humwatch devices` shows it; the targets are the functions' settings)."""
        hours = self.span.total_seconds() / 3600
        if not self.needed_clips:
            return f"{self.clips} clips over {hours:.1f} h"
        needed_hours = self.needed_span.total_seconds() / 3600
        return f"{self.clips}/{self.needed_clips} clips over {hours:.1f}/{needed_hours:g} h"


def baseline_progress(
    records: Sequence[ClipRecord],
    *,
    needed_clips: int,
    needed_hours: float,
    clip_interval: timedelta = timedelta(0),
) -> BaselineProgress:
    """How far the baseline is: usable clips and the capture-time span they cover.

    Each clip stands for its capture interval, so a day of 5-minute clips (288) spans 24 h."""
    times = sorted(r.captured_at for r in records if trains(r))
    span = times[-1] - times[0] + clip_interval if times else timedelta(0)
    return BaselineProgress(
        clips=len(times),
        needed_clips=needed_clips,
        span=span,
        needed_span=timedelta(hours=needed_hours),
        first_at=times[0] if times else None,
        last_at=times[-1] if times else None,
    )


def spread_evenly(records: Sequence[ClipRecord], limit: int) -> list[ClipRecord]:
    """At most `limit` records spread evenly over capture time (keeps day and night when a long
    window has more clips than a training run needs). Labelled-normal clips are always kept."""
    if len(records) <= limit:
        return list(records)
    labelled = [r for r in records if r.label == "normal"]
    rest = sorted((r for r in records if r.label != "normal"), key=lambda r: r.captured_at)
    room = max(0, limit - len(labelled))
    if room == 0:
        return labelled[:limit]
    step = len(rest) / room
    return labelled + [rest[int(i * step)] for i in range(room)]
