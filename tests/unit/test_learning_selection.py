"""Which clips train a device's model, when its baseline is complete, and how a long window is thinned
(humwatch.learning.selection: process_clip and train_model both decide by these rules)."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from humwatch.learning.selection import baseline_progress, spread_evenly, training_preview, trains
from humwatch.records import ClipRecord, ClipSample, ClipStatus, Label

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def clip(
    status: ClipStatus = ClipStatus.BASELINE,
    *,
    flagged: bool = False,
    label: Label | None = None,
    at: datetime = T0,
) -> ClipRecord:
    clip_id = str(uuid.uuid4())
    return ClipRecord(
        thing="fan-01",
        clip_id=clip_id,
        captured_at=at,
        status=status,
        processed_at=at,
        s3_key=f"clips/fan-01/{clip_id}.flac",
        is_anomaly=flagged,
        ratio=1.4 if flagged else (0.6 if status is ClipStatus.SCORED else None),
        label=label,
    )


def hourly(n: int, *, start: datetime = T0) -> list[ClipRecord]:
    return [clip(at=start + timedelta(hours=i)) for i in range(n)]


# --- which clips train -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("record", "expected"),
    [
        # a clip labelled anomaly never trains, flagged or not, baseline or scored
        (clip(ClipStatus.SCORED, label="anomaly"), False),
        (clip(ClipStatus.SCORED, flagged=True, label="anomaly"), False),
        (clip(ClipStatus.BASELINE, label="anomaly"), False),
        # a clip labelled normal always trains, even one the current model flagged ...
        (clip(ClipStatus.SCORED, flagged=True, label="normal"), True),
        (clip(ClipStatus.BASELINE, label="normal"), True),
        # ... unless it was rejected (nothing decoded to train on)
        (clip(ClipStatus.REJECTED, label="normal"), False),
        # a clip the current model flagged is left out when nobody labelled it
        (clip(ClipStatus.SCORED, flagged=True), False),
        # a rejected clip never trains
        (clip(ClipStatus.REJECTED), False),
        # every other valid clip trains: a baseline clip, a scored clip under the threshold
        (clip(ClipStatus.BASELINE), True),
        (clip(ClipStatus.SCORED), True),
    ],
    ids=[
        "scored-labelled-anomaly",
        "flagged-labelled-anomaly",
        "baseline-labelled-anomaly",
        "flagged-labelled-normal",
        "baseline-labelled-normal",
        "rejected-labelled-normal",
        "flagged-unlabelled",
        "rejected-unlabelled",
        "baseline",
        "scored-under-threshold",
    ],
)
def test_which_clips_train(record: ClipRecord, expected: bool) -> None:
    # Given a clip of the device's history / When the rules judge it / Then it trains or not
    assert trains(record) is expected


def test_the_drift_check_s_projection_is_judged_by_the_same_rules() -> None:
    # Given the drift check's projection of a flagged clip, unlabelled and then labelled normal
    sample = ClipSample(
        captured_at=T0,
        status=ClipStatus.SCORED,
        score=3.0,
        is_anomaly=True,
        model_id="fan",
        model_version="v1",
        band_means=None,
    )
    relabelled = replace(sample, label="normal")
    # When / Then it is left out until labelled normal, exactly like the full record
    assert not trains(sample) and trains(relabelled)


def test_a_training_preview_counts_what_is_kept_and_what_is_left_out() -> None:
    # Given a window with every kind of clip
    records = [
        *hourly(3),
        clip(ClipStatus.SCORED),
        clip(ClipStatus.SCORED, flagged=True),
        clip(ClipStatus.SCORED, flagged=True),
        clip(ClipStatus.SCORED, flagged=True, label="normal"),
        clip(ClipStatus.SCORED, label="anomaly"),
        clip(ClipStatus.REJECTED),
    ]
    # When a retrain over it is previewed
    preview = training_preview(records)
    # Then 3 baseline + 1 under the threshold + 1 labelled normal train; the rest is counted out
    assert (preview.clips, preview.labelled_normal_kept) == (5, 1)
    assert (preview.flagged_left_out, preview.labelled_anomaly_left_out, preview.rejected) == (2, 1, 1)
    assert preview.describe() == (
        "5 clips, 1 labelled normal kept in, 2 flagged by the current model left out, "
        "1 labelled anomaly left out, 1 rejected left out"
    )


# --- baseline completeness -------------------------------------------------------------------------
def test_enough_clips_over_too_short_a_span_is_not_a_complete_baseline() -> None:
    # Given 30 clips a minute apart (half an hour)
    records = [clip(at=T0 + timedelta(minutes=i)) for i in range(30)]
    # When the baseline needs 20 clips over 24 h
    progress = baseline_progress(records, needed_clips=20, needed_hours=24)
    # Then the clips are there but the span is not: not complete
    assert progress.clips == 30 and progress.span == timedelta(minutes=29)
    assert not progress.complete


def test_a_long_enough_span_with_too_few_clips_is_not_a_complete_baseline() -> None:
    # Given 10 clips over 27 hours
    records = [clip(at=T0 + timedelta(hours=3 * i)) for i in range(10)]
    # When the baseline needs 20 clips over 24 h
    progress = baseline_progress(records, needed_clips=20, needed_hours=24)
    # Then the span is there but the clips are not: not complete
    assert progress.span == timedelta(hours=27) and not progress.complete


def test_clips_and_span_both_reached_complete_the_baseline() -> None:
    # Given 25 hourly clips (24 h from the first to the last)
    progress = baseline_progress(hourly(25), needed_clips=25, needed_hours=24)
    # Then both targets are met, exactly
    assert progress.complete
    assert (progress.first_at, progress.last_at) == (T0, T0 + timedelta(hours=24))
    assert progress.describe() == "25/25 clips over 24.0/24 h"


def test_clips_that_do_not_train_neither_count_nor_stretch_the_baseline() -> None:
    # Given 20 clips over 19 h, and later a rejected clip and a clip labelled anomaly
    records = [
        *hourly(20),
        clip(ClipStatus.REJECTED, at=T0 + timedelta(hours=30)),
        clip(ClipStatus.BASELINE, label="anomaly", at=T0 + timedelta(hours=31)),
    ]
    # When the baseline needs 20 clips over 24 h
    progress = baseline_progress(records, needed_clips=20, needed_hours=24)
    # Then the two late clips add neither a clip nor hours: still 19 h, not complete
    assert progress.clips == 20 and progress.span == timedelta(hours=19)
    assert progress.last_at == T0 + timedelta(hours=19) and not progress.complete


def test_without_targets_the_progress_reads_as_humwatch_devices_shows_it() -> None:
    # Given a learning device's clips, described without the functions' targets
    progress = baseline_progress(hourly(4), needed_clips=0, needed_hours=0.0)
    # Then it says clips and hours only
    assert progress.describe() == "4 clips over 3.0 h"


def test_no_clips_yet_is_an_empty_baseline() -> None:
    progress = baseline_progress([], needed_clips=5, needed_hours=1)
    assert (progress.clips, progress.span, progress.first_at) == (0, timedelta(0), None)
    assert not progress.complete


# --- thinning a long window ------------------------------------------------------------------------
def test_a_window_within_the_limit_is_kept_whole() -> None:
    records = hourly(10)
    assert spread_evenly(records, 10) == records


def test_a_long_window_is_thinned_evenly_over_time_and_keeps_every_labelled_normal_clip() -> None:
    # Given 100 hourly clips, two of them (late in the window) labelled normal
    records = hourly(100)
    records[97] = records[97].model_copy(update={"label": "normal"})
    records[98] = records[98].model_copy(update={"label": "normal"})
    # When a run may take 12 of them
    chosen = spread_evenly(records, 12)
    # Then both labelled clips are in, and the other 10 are spread over the whole window: from the
    # first hour on, one every 9 or 10 hours (day and night both in), none twice
    assert len(chosen) == 12 and len({r.clip_id for r in chosen}) == 12
    assert records[97] in chosen and records[98] in chosen
    spread = sorted(r.captured_at for r in chosen if r.label is None)
    assert len(spread) == 10 and spread[0] == T0
    gaps = {(b - a) // timedelta(hours=1) for a, b in itertools.pairwise(spread)}
    assert gaps <= {9, 10}
    assert spread[-1] >= T0 + timedelta(hours=80)


def test_more_labelled_normal_clips_than_the_limit_fill_it_with_labelled_ones() -> None:
    # Given 8 clips, 5 labelled normal, and room for 4
    records = hourly(8)
    for i in range(5):
        records[i] = records[i].model_copy(update={"label": "normal"})
    chosen = spread_evenly(records, 4)
    # Then the 4 are labelled-normal clips
    assert len(chosen) == 4 and all(r.label == "normal" for r in chosen)
