"""A clip as the console shows it: the spectrogram the page draws and the sentence that says where
the clip departs from normal."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from humwatch.console.sound import downsample_frames, explain, spectrogram
from humwatch.explain import Why, format_band
from humwatch.features import FeatureParams, band_edges_hz, hz_to_mel, log_mel
from humwatch.records import ClipRecord, ClipStatus

PARAMS = FeatureParams()
AT = datetime(2026, 11, 26, 14, 5, tzinfo=UTC)


def tone(seconds: float, hz: float = 1000.0, rate: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.1 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def record(status: ClipStatus = ClipStatus.SCORED, **values: object) -> ClipRecord:
    base: dict = {
        "thing": "fan-02",
        "clip_id": "c1",
        "captured_at": AT,
        "status": status,
        "processed_at": AT,
        "s3_key": "clips/fan-02/x.flac",
    }
    if status is ClipStatus.SCORED:
        base.update(score=2.9, threshold=1.0, ratio=2.9, is_anomaly=True, model_id="m", model_version="v1")
    base.update(values)
    return ClipRecord(**base)


def test_a_ten_second_clip_keeps_every_frame_in_tenths_of_a_db() -> None:
    picture = spectrogram(tone(10.0), PARAMS)
    frames = log_mel(tone(10.0), PARAMS).shape[1]  # 313 at hop 512
    assert len(picture.db) == 64 and {len(row) for row in picture.db} == {frames}
    assert picture.frame_s == pytest.approx(512 / 16000)
    values = np.array(picture.db)
    assert np.allclose(values * 10, np.round(values * 10))  # 0.1 dB steps
    assert (picture.min_db, picture.max_db) == (values.min(), values.max())
    # And the tone's band is the loudest row
    edges = picture.band_edges_hz
    loudest = int(np.argmax(values.mean(axis=1)))
    assert edges[loudest] <= 1000 <= edges[loudest + 1] + 60  # neighbouring triangles overlap


def test_a_long_clip_is_averaged_down_to_at_most_400_columns() -> None:
    picture = spectrogram(tone(60.0), PARAMS)
    columns = {len(row) for row in picture.db}
    assert columns == {376}  # 1876 frames in runs of 5
    assert picture.frame_s == pytest.approx(5 * 512 / 16000)


def test_downsampling_averages_each_run_and_keeps_a_short_last_run() -> None:
    db = np.arange(10, dtype=np.float64).reshape(1, 10)
    out, factor = downsample_frames(db, max_columns=4)
    assert factor == 3 and out.tolist() == [[1.0, 4.0, 7.0, 9.0]]
    same, one = downsample_frames(db, max_columns=10)
    assert one == 1 and same is db


def test_band_edges_split_the_mel_range_in_equal_steps() -> None:
    edges = band_edges_hz(PARAMS)
    assert len(edges) == 65 and edges[0] == 0.0 and edges[-1] == pytest.approx(8000.0)
    steps = np.diff(hz_to_mel(np.array(edges)))
    assert np.allclose(steps, steps[0])


def test_the_explanation_names_the_band_furthest_from_normal_and_the_score() -> None:
    # Given a clip 6.2 spreads above normal in band 50, a little off elsewhere
    edges = band_edges_hz(PARAMS)
    mean, std = [-40.0] * 64, [2.0] * 64
    clip = [m + 0.5 for m in mean]
    clip[50] = mean[50] + 6.2 * 2.0
    text = explain(record(), clip_bands=clip, normal_mean=mean, normal_std=std, edges_hz=edges, model="m@v1")
    band = format_band((edges[50], edges[51]))
    assert text == f"The {band} band is 6.2 σ above normal (largest of 64 bands); score 2.9x threshold."
    # And a band far below normal is said to be below
    clip[50], clip[3] = mean[50], mean[3] - 3.0 * 2.0
    text = explain(record(), clip_bands=clip, normal_mean=mean, normal_std=std, edges_hz=edges, model="m@v1")
    assert "3.0 σ below normal" in text and format_band((edges[3], edges[4])) in text


def test_what_the_detector_says_fired_comes_first() -> None:
    # Given a clip whose model could tell which member fired and where (the clip's `why`)
    why = Why(member="modulation", kind="modulation", z=7.3, deviation=6.2, band_hz=(2375.0, 2625.0),
              frequency_hz=87.0)  # fmt: skip
    edges = band_edges_hz(PARAMS)
    mean, std = [-40.0] * 64, [2.0] * 64
    clip = [m + 0.5 for m in mean]
    clip[50] = mean[50] + 4.0 * 2.0
    text = explain(
        record(why=why), clip_bands=clip, normal_mean=mean, normal_std=std, edges_hz=edges, model="m@v1"
    )
    # Then the sentence starts with the detector's account, then backs it with the band comparison
    assert text.startswith(
        "A rhythmic pattern at 87 Hz in the 2.38–2.62 kHz band rose 6.2 σ above normal "
        "(its modulation member, 7.3 σ); score 2.9x threshold. Band by band, the "
    )
    assert text.endswith("band is 4.0 σ above normal (largest of 64 bands).")


def test_the_console_says_the_shaft_order_where_the_model_knew_the_speed() -> None:
    from humwatch.console.views import clip_item

    # Given a clip whose model was trained with the machine's nameplate speed (87 Hz = 4.09x shaft)
    why = Why(member="modulation", kind="modulation", z=7.3, deviation=6.2, band_hz=(2375.0, 2625.0),
              frequency_hz=87.0, shaft_order=4.09)  # fmt: skip
    edges = band_edges_hz(PARAMS)
    mean, std = [-40.0] * 64, [2.0] * 64
    text = explain(
        record(why=why), clip_bands=mean, normal_mean=mean, normal_std=std, edges_hz=edges, model="m@v1"
    )
    # Then the clip page's sentence says it, and the clip list's why carries it for the page
    assert text.startswith(
        "A rhythmic pattern at 87 Hz (4.1x shaft speed) in the 2.38–2.62 kHz band rose 6.2 σ"
    )
    listed = clip_item(record(why=why)).why
    assert listed is not None and listed["shaft_order"] == 4.09


def test_the_explanation_says_plainly_what_it_cannot_compare() -> None:
    edges = band_edges_hz(PARAMS)
    clip = [-40.0] * 64
    # A model without band statistics
    text = explain(record(), clip_bands=clip, normal_mean=None, normal_std=None, edges_hz=edges, model="m@v1")
    assert text == (
        "Score 2.9x threshold. The model m@v1 keeps no band statistics, "
        "so the clip cannot be compared band by band."
    )
    # A clip under the threshold says so
    quiet = record(score=0.6, ratio=0.6, is_anomaly=False)
    assert "score 0.6x threshold (under it: normal to the model)" in explain(
        quiet, clip_bands=clip, normal_mean=clip, normal_std=[1.0] * 64, edges_hz=edges, model="m@v1"
    )


def test_clips_no_model_scored_say_so() -> None:
    edges = band_edges_hz(PARAMS)
    rejected = record(ClipStatus.REJECTED, reason="silent", reason_message="clip is silent (RMS -90 dBFS)")
    text = explain(rejected, clip_bands=None, normal_mean=None, normal_std=None, edges_hz=edges, model=None)
    assert text.startswith("Not scored: the clip was rejected (silent: clip is silent (RMS -90 dBFS)).")
    assert "no audio of this clip" in text
    baseline = record(ClipStatus.BASELINE)
    text = explain(
        baseline, clip_bands=[-40.0] * 64, normal_mean=None, normal_std=None, edges_hz=edges, model=None
    )
    assert text == (
        "Not scored: a baseline clip, kept while the device learned its normal. "
        "There is no model of this device yet to compare the clip with."
    )
