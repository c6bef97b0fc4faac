"""`humwatch report` timelines: a time axis fitted to the clips, score / threshold on a log axis.

The figure is checked through matplotlib's own transforms: where the drawn points and the
threshold line land in the axes' box, in display pixels.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from humwatch.ops.devices import DeviceStatus
from humwatch.ops.report import (
    FLOOR_LABEL,
    DeviceReport,
    LabelCounts,
    ReportData,
    render_report_html,
    timeline_figure,
    timeline_png,
)
from humwatch.records import ClipRecord, ClipStatus

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
MONTH_AGO = NOW - timedelta(days=30)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _scored(at: datetime, ratio: float | None, *, threshold: float = 2.0) -> ClipRecord:
    score = None if ratio is None else ratio * threshold
    return ClipRecord(
        thing="fan-01",
        clip_id=f"c-{at.isoformat()}",
        captured_at=at,
        status=ClipStatus.SCORED,
        processed_at=at,
        s3_key="k",
        score=score,
        threshold=threshold,
        ratio=ratio,
        is_anomaly=ratio is not None and ratio > 1.0,
    )


def _rejected(at: datetime) -> ClipRecord:
    return ClipRecord(
        thing="fan-01",
        clip_id=f"r-{at.isoformat()}",
        captured_at=at,
        status=ClipStatus.REJECTED,
        processed_at=at,
        s3_key="k",
        reason="silent",
    )


def _device(clips: list[ClipRecord], *, last_alert_at: datetime | None = None) -> DeviceReport:
    status = DeviceStatus(
        device="fan-01",
        machine_type="fan",
        model_id="fan-demo",
        model_version="v1",
        last_scored_by="fan-demo@v1",
        model_source="device",
        last_clip_at=clips[-1].captured_at if clips else None,
        last_status="scored",
        last_score=None,
        last_ratio=None,
        alert="ok",
        anomalous_recent=0,
        recent_window=0,
        evidence=0.0,
        last_alert_at=last_alert_at,
        acked_at=None,
        heartbeat_at=None,
        silent=False,
        silent_reason=None,
    )
    return DeviceReport(status=status, clips=clips, drift=None, labels=LabelCounts.of(clips))


def _drawn(fig: Figure) -> tuple[Any, np.ndarray]:
    """(axes box, display coordinates of every scattered point) of a rendered timeline."""
    fig.canvas.draw()
    ax = fig.axes[0]
    offsets = [
        np.asarray(c.get_offsets(), dtype=float) for c in ax.collections if isinstance(c, PathCollection)
    ]
    points = np.concatenate([o for o in offsets if o.size])
    return ax.get_window_extent(), ax.transData.transform(points)


def _threshold_y(fig: Figure) -> float:
    ax = fig.axes[0]
    (line,) = [ln for ln in ax.get_lines() if isinstance(ln, Line2D) and ln.get_label() == "threshold"]
    ys = np.asarray(line.get_ydata(), dtype=float)
    assert ys.min() == ys.max()  # horizontal
    x0, _ = ax.get_xlim()
    return float(ax.transData.transform([(x0, ys[0])])[0, 1])


def test_a_month_long_report_fits_the_time_axis_to_three_hours_of_clips() -> None:
    # Given a 30-day report window with clips only in its last 3 hours, every 5 minutes
    first = NOW - timedelta(hours=3)
    clips = [_scored(first + timedelta(minutes=5 * i), 0.4 + 0.01 * (i % 7)) for i in range(37)]
    device = _device(clips)

    # When its timeline is drawn
    box, points = _drawn(timeline_figure(device, start=MONTH_AGO, end=NOW))

    # Then the first and last clips sit near the left and right edges of the plot, inside it
    xs = points[:, 0]
    assert box.x0 < xs.min() < box.x0 + 0.05 * box.width
    assert box.x1 - 0.05 * box.width < xs.max() < box.x1
    # (with the axis over the requested window they would all sit in the last 0.5% of its width)

    # And the page states the requested period apart from what the axis shows
    page = render_report_html(
        ReportData(start=MONTH_AGO, end=NOW, generated_at=NOW, devices=[device], labels=device.labels)
    )
    text = re.sub(r"<[^>]+>", " ", page)
    assert "Requested period: 2026-10-27 14:00:00Z to 2026-11-26 14:00:00Z (30.0 days)" in text
    assert (
        "Time axis fitted to its 37 clips, captured 2026-11-26 11:00:00Z to 2026-11-26 14:00:00Z (3.0 h)"
        in text
    )


def test_ratios_from_half_to_290_are_on_a_log_axis_with_the_threshold_line_at_one() -> None:
    # Given a normal clip at half the threshold and a loud fault at 290 times it
    clips = [_scored(NOW - timedelta(hours=2), 0.5), _scored(NOW - timedelta(hours=1), 290.0)]

    # When the timeline is drawn
    fig = timeline_figure(_device(clips), start=MONTH_AGO, end=NOW)
    box, points = _drawn(fig)

    # Then both points fall inside the plot
    ys = points[:, 1]
    assert len(ys) == 2
    y_half, y_290 = float(ys.min()), float(ys.max())
    assert box.y0 < y_half < y_290 < box.y1
    # And the threshold line (ratio 1) sits between them at the log position: log(2) of log(580)
    expected_one = y_half + (y_290 - y_half) * math.log10(1 / 0.5) / math.log10(290 / 0.5)
    assert math.isclose(_threshold_y(fig), expected_one, abs_tol=0.5)
    # On a linear axis 1.0 would sit 0.2% of the way up instead of 11%
    assert (expected_one - y_half) / (y_290 - y_half) > 0.1
    # And the ticks are 0.3, 1, 3, 10, ... within range
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    assert labels == ["0.3", "1", "3", "10", "30", "100", "300"]


def test_ratios_at_or_below_zero_and_rejected_clips_sit_on_a_floor_row_inside_the_plot() -> None:
    # Given a zero ratio, a negative one, a clip without a score and a rejected clip among normal ones
    at = NOW - timedelta(hours=4)
    clips = [
        _scored(at, 0.6),
        _scored(at + timedelta(minutes=10), 0.0),
        _scored(at + timedelta(minutes=20), -0.2),
        _scored(at + timedelta(minutes=30), None),
        _rejected(at + timedelta(minutes=40)),
        _scored(at + timedelta(minutes=50), 0.8),
    ]

    # When the timeline is drawn
    fig = timeline_figure(_device(clips), start=MONTH_AGO, end=NOW)
    box, points = _drawn(fig)

    # Then the clip without a score is not drawn, and the other five are inside the plot
    assert len(points) == 5
    assert (points[:, 1] > box.y0).all() and (points[:, 1] < box.y1).all()
    # And the zero, negative and rejected ones share one row below every positive ratio
    floor_row = np.sort(points[:, 1])[:3]
    assert np.ptp(floor_row) < 0.5 and floor_row.max() < np.sort(points[:, 1])[3]
    # labelled as such, below the lowest ratio tick
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels() if t.get_text()]
    assert labels[:2] == [FLOOR_LABEL, "0.3"]
    assert timeline_png(_device(clips), start=MONTH_AGO, end=NOW).startswith(PNG_MAGIC)


def test_a_single_clip_gets_a_readable_span_centred_on_it() -> None:
    # Given one clip two days into a 30-day window and an alert long before it
    at = MONTH_AGO + timedelta(days=2)
    device = _device([_scored(at, 1.7)], last_alert_at=MONTH_AGO + timedelta(hours=1))

    # When its timeline is drawn
    fig = timeline_figure(device, start=MONTH_AGO, end=NOW)
    box, points = _drawn(fig)

    # Then the point is in the middle of an hour-long axis, and the alert far off it is not drawn
    assert math.isclose(float(points[0, 0]), box.x0 + box.width / 2, abs_tol=1.0)
    x0, x1 = fig.axes[0].get_xlim()
    assert math.isclose((x1 - x0) * 24 * 60, 60.0, abs_tol=0.01)  # matplotlib date units are days
    assert [ln.get_label() for ln in fig.axes[0].get_lines()] == ["threshold"]


def test_a_device_without_clips_shows_the_requested_period() -> None:
    device = _device([])
    fig = timeline_figure(device, start=MONTH_AGO, end=NOW)
    x0, x1 = fig.axes[0].get_xlim()
    assert math.isclose(x1 - x0, 30.0)
    page = render_report_html(
        ReportData(start=MONTH_AGO, end=NOW, generated_at=NOW, devices=[device], labels=device.labels)
    )
    assert "No clips in the requested period 2026-10-27 14:00:00Z to 2026-11-26 14:00:00Z" in page
