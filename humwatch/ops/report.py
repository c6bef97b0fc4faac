"""`humwatch report`: one self-contained HTML page for a period.

Per device: a timeline of score / threshold on a log scale, its time axis fitted to the device's
clips in the period (threshold line, anomalies, rejected clips, operator labels, the last alert and
acknowledgement), its silence and drift status; then every anomaly in the period and how
operators judged the anomalous clips. Images are PNGs inlined as base64 data URIs (matplotlib's
Agg canvas, no pyplot state), so the file can be mailed or attached to a ticket as is.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from humwatch.alerts.message import describe_duration
from humwatch.dal.history import HistoryTable
from humwatch.ops.devices import DeviceStatus, SilencePolicy, list_device_status
from humwatch.progress import progress_bar
from humwatch.records import ClipRecord, ClipStatus

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DriftReader = Callable[[str], Mapping[str, Any] | None]
"""thing -> the latest drift report (parsed JSON) or None."""


@dataclass(frozen=True)
class LabelCounts:
    """How operators judged clips. An anomalous clip labelled `anomaly` confirms the model, one
    labelled `normal` was a false alarm; a normal-scored clip labelled `anomaly` was missed."""

    confirmed: int = 0
    rejected: int = 0
    missed: int = 0
    agreed_normal: int = 0
    unlabelled_anomalies: int = 0

    @classmethod
    def of(cls, records: Iterable[ClipRecord]) -> LabelCounts:
        counts = {"confirmed": 0, "rejected": 0, "missed": 0, "agreed_normal": 0, "unlabelled_anomalies": 0}
        for r in records:
            if r.status is not ClipStatus.SCORED:
                continue
            if r.is_anomaly:
                key = {"anomaly": "confirmed", "normal": "rejected"}.get(
                    r.label or "", "unlabelled_anomalies"
                )
            elif r.label == "anomaly":
                key = "missed"
            elif r.label == "normal":
                key = "agreed_normal"
            else:
                continue
            counts[key] += 1
        return cls(**counts)

    def __add__(self, other: LabelCounts) -> LabelCounts:
        return LabelCounts(
            self.confirmed + other.confirmed,
            self.rejected + other.rejected,
            self.missed + other.missed,
            self.agreed_normal + other.agreed_normal,
            self.unlabelled_anomalies + other.unlabelled_anomalies,
        )


@dataclass(frozen=True)
class DeviceReport:
    status: DeviceStatus
    clips: list[ClipRecord]  # oldest first
    drift: Mapping[str, Any] | None
    labels: LabelCounts

    @property
    def scored(self) -> list[ClipRecord]:
        return [c for c in self.clips if c.status is ClipStatus.SCORED]

    @property
    def rejected(self) -> list[ClipRecord]:
        return [c for c in self.clips if c.status is ClipStatus.REJECTED]

    @property
    def anomalies(self) -> list[ClipRecord]:
        return [c for c in self.scored if c.is_anomaly]


@dataclass(frozen=True)
class ReportData:
    start: datetime
    end: datetime
    generated_at: datetime
    devices: list[DeviceReport]
    labels: LabelCounts
    anomalies: list[ClipRecord] = field(default_factory=list)  # newest first, every device


def collect_report_data(
    table: HistoryTable,
    *,
    start: datetime,
    end: datetime,
    now: datetime,
    drift_reader: DriftReader | None = None,
    silence_policy: SilencePolicy | None = None,
    page_size: int | None = None,
    progress: bool = False,
) -> ReportData:
    """Read everything the page shows: one Query per device over the period."""
    statuses = list_device_status(table, policy=silence_policy or SilencePolicy(), now=now)
    devices: list[DeviceReport] = []
    for status in progress_bar(
        statuses, enabled=progress, desc="devices", total=len(statuses), unit="device"
    ):
        clips = list(
            table.clips.query(status.device, since=start, until=end, newest_first=False, page_size=page_size)
        )
        drift = drift_reader(status.device) if drift_reader else None
        devices.append(DeviceReport(status=status, clips=clips, drift=drift, labels=LabelCounts.of(clips)))
    anomalies = sorted(
        (a for d in devices for a in d.anomalies), key=lambda r: (r.captured_at, r.thing), reverse=True
    )
    total = LabelCounts()
    for d in devices:
        total = total + d.labels
    return ReportData(
        start=start, end=end, generated_at=now, devices=devices, labels=total, anomalies=anomalies
    )


# --- images --------------------------------------------------------------------------------------
# The timeline's x axis spans the plotted clips, not the requested period: a month-long report of a
# device with three hours of data would otherwise squeeze every point against one edge.
_X_MARGIN = 0.03  # of the clips' time span, each side, so the first and last points clear the frame
_MIN_X_SPAN = timedelta(hours=1)  # one clip (or a burst of clips) still gets a readable time axis
# Ratios to the threshold range from ~0.3 (normal) to hundreds (a loud fault): a log10 axis keeps
# both readable. It always shows at least 0.3..3 so the threshold (1) has context on both sides.
_Y_MARGIN_DECADES = 0.15
_Y_MIN_LOW, _Y_MIN_HIGH = 0.3, 3.0
_TICK_MANTISSAS = (1, 3)  # ticks at 0.1, 0.3, 1, 3, 10, 30, 100, ...
_FLOOR_DECADES = 0.3  # the floor row's distance below the lowest ratio the axis shows
FLOOR_LABEL = "≤0 / rejected"  # the floor row's tick: ratios <= 0 and rejected clips (no score)


def plot_ratio(record: ClipRecord) -> float | None:
    """A scored clip's score / threshold: the stored ratio, else computed from score and threshold;
    None when there is nothing finite to plot."""
    ratio = record.ratio
    if ratio is None and record.score is not None and record.threshold:
        ratio = record.score / record.threshold
    return ratio if ratio is not None and math.isfinite(ratio) else None


@dataclass(frozen=True)
class TimelineAxes:
    """Limits of a device's timeline: x spans its plotted clips' capture times (the requested
    period when it has none), y is score / threshold on a log10 scale with the threshold at 1."""

    x_start: datetime
    x_end: datetime
    y_low: float
    y_high: float
    floor: float  # where ratios <= 0 and rejected clips (no score) are drawn: a log axis has no 0
    y_ticks: list[float]  # ratio ticks; the figure adds the floor row's own tick when it is used
    has_clips: bool  # False: nothing to fit, the x axis is the requested period


def plotted_times(device: DeviceReport) -> list[datetime]:
    """Capture times of the clips the timeline draws: scored ones with a ratio, rejected ones."""
    scored = [c.captured_at for c in device.scored if plot_ratio(c) is not None]
    return sorted(scored + [c.captured_at for c in device.rejected])


def timeline_axes(device: DeviceReport, *, start: datetime, end: datetime) -> TimelineAxes:
    ratios = [r for r in (plot_ratio(c) for c in device.scored) if r is not None]
    times = plotted_times(device)
    if times:
        first, last = min(times), max(times)
        span = last - first
        if span < _MIN_X_SPAN:
            middle = first + span / 2
            x_start, x_end = middle - _MIN_X_SPAN / 2, middle + _MIN_X_SPAN / 2
        else:
            x_start, x_end = first - span * _X_MARGIN, last + span * _X_MARGIN
    else:
        x_start, x_end = start, end
    margin = 10**_Y_MARGIN_DECADES
    positive = [r for r in ratios if r > 0] + [1.0]
    low = min(min(positive) / margin, _Y_MIN_LOW)
    high = max(max(positive) * margin, _Y_MIN_HIGH)
    ticks = [
        float(f"{mantissa}e{exponent}")
        for exponent in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
        for mantissa in _TICK_MANTISSAS
        if low <= float(f"{mantissa}e{exponent}") <= high
    ]
    # The floor row sits below every ratio tick, so a ratio of 0 never reads as 0.3
    floor = low / 10**_FLOOR_DECADES
    if device.rejected or any(r <= 0 for r in ratios):
        low = floor / margin  # room below the floor row, as above the highest point
    return TimelineAxes(x_start, x_end, low, high, floor, ticks, bool(times))


def _x(times: Iterable[datetime]) -> Any:
    from matplotlib import dates as mdates

    return mdates.date2num(list(times))


def _ratio_points(records: list[ClipRecord], floor: float) -> tuple[Any, list[float]]:
    pairs = [(r.captured_at, ratio) for r in records if (ratio := plot_ratio(r)) is not None]
    return _x(t for t, _ in pairs), [v if v > 0 else floor for _, v in pairs]


def timeline_figure(device: DeviceReport, *, start: datetime, end: datetime) -> Figure:
    """Score / threshold over time on a log axis with the threshold line at 1; anomalies red,
    labels ringed, rejected clips and ratios <= 0 on the floor row."""
    from matplotlib import dates as mdates
    from matplotlib import ticker
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    axes = timeline_axes(device, start=start, end=end)
    fig = Figure(figsize=(9.0, 2.8), dpi=90)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.set_yscale("log")
    scored = device.scored
    anomalous = device.anomalies
    ax.axhline(1.0, color="#555555", linestyle="--", linewidth=1.0, label="threshold")
    layers: list[tuple[list[ClipRecord], dict[str, Any]]] = [
        ([c for c in scored if not c.is_anomaly], {"s": 10, "color": "#3b75af", "label": "normal"}),
        (anomalous, {"s": 18, "color": "#d62728", "label": "anomaly"}),
    ]
    for label, colour in (("anomaly", "#000000"), ("normal", "#2ca02c")):
        marked = [c for c in scored if c.label == label]
        ring: dict[str, Any] = {"s": 70, "facecolors": "none", "edgecolors": colour, "linewidths": 1.5}
        layers.append((marked, dict(ring, label=f"labelled {label}")))
    for records, look in layers:
        xs, ys = _ratio_points(records, axes.floor)
        if ys:
            ax.scatter(xs, ys, **look)
    if device.rejected:
        xs = _x(c.captured_at for c in device.rejected)
        ax.scatter(
            xs, [axes.floor] * len(device.rejected), marker="x", s=20, color="#ff7f0e", label="rejected"
        )
    x_start, x_end = (float(v) for v in _x([axes.x_start, axes.x_end]))
    for when, colour, line, name in (
        (device.status.last_alert_at, "#d62728", "-", "last alert"),
        (device.status.acked_at, "#2ca02c", ":", "acknowledged"),
    ):
        # outside the clips' span it would widen the axis again; the facts table gives its time
        if when is not None and start <= when <= end and x_start <= float(_x([when])[0]) <= x_end:
            ax.axvline(
                float(_x([when])[0]), color=colour, linewidth=1.2, alpha=0.7, linestyle=line, label=name
            )
    if not axes.has_clips:
        ax.text(0.5, 0.75, "no clips in this period", transform=ax.transAxes, ha="center", va="center")
    ax.set_xlim(x_start, x_end)
    ax.xaxis.set_major_locator(mdates.AutoDateLocator())  # round times: the data are plain floats
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d %H:%M"))
    ax.set_ylim(axes.y_low, axes.y_high)
    ticks, labels = list(axes.y_ticks), [f"{t:g}" for t in axes.y_ticks]
    if axes.y_low < axes.floor:
        ticks, labels = [axes.floor, *ticks], [FLOOR_LABEL, *labels]
    ax.yaxis.set_major_locator(ticker.FixedLocator(ticks))
    ax.yaxis.set_major_formatter(ticker.FixedFormatter(labels))
    ax.yaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set_ylabel("score / threshold")
    ax.set_title(
        f"{device.status.device}: {len(scored)} scored, {len(anomalous)} anomalous, "
        f"{len(device.rejected)} rejected",
        fontsize=10,
    )
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", fontsize=7, ncol=4, framealpha=0.8)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def timeline_png(device: DeviceReport, *, start: datetime, end: datetime) -> bytes:
    buf = io.BytesIO()
    timeline_figure(device, start=start, end=end).savefig(buf, format="png")
    return buf.getvalue()


def png_data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


# --- HTML ----------------------------------------------------------------------------------------
_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}
table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #ccc;padding:3px 8px;font-size:13px}
th{background:#f2f2f2;text-align:left}td.num{text-align:right}.bad{color:#b00;font-weight:bold}
.ok{color:#070}section.device{border-top:2px solid #ddd;padding-top:.5em;margin-top:1.5em}
img{max-width:100%}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _ts(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%SZ") if value else "-"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _table(headers: list[str], rows: list[list[str]], *, numeric: set[int] | None = None) -> str:
    numeric = numeric or set()
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(r))
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def drift_summary(drift: Mapping[str, Any] | None) -> tuple[str, bool | None]:
    """(text, drifted?) from a drift report (`humwatch.drift.DriftReport` as JSON)."""
    if not drift:
        return "no drift report", None
    verdict = str(drift.get("verdict", "unknown"))
    parts = [verdict]
    for key in ("drift_score", "score_psi", "mean_abs_band_shift", "anomaly_rate"):
        value = drift.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            parts.append(f"{key}={value:.3f}")
    reasons = drift.get("reasons") or []
    if reasons:
        parts.append("; ".join(str(r) for r in reasons[:3]))
    day = str(drift.get("generated_at", ""))[:10]
    if day:
        parts.append(f"({day})")
    drifted = None if verdict in ("unknown", "insufficient_data") else verdict == "drift"
    return " ".join(parts), drifted


def _label_table(counts: LabelCounts) -> str:
    return _table(
        [
            "anomalies confirmed",
            "false alarms (labelled normal)",
            "missed (labelled anomaly)",
            "normal confirmed",
            "anomalies not yet labelled",
        ],
        [
            [
                str(counts.confirmed),
                str(counts.rejected),
                str(counts.missed),
                str(counts.agreed_normal),
                str(counts.unlabelled_anomalies),
            ]
        ],
        numeric={0, 1, 2, 3, 4},
    )


def _period_text(start: datetime, end: datetime) -> str:
    return f"{_ts(start)} to {_ts(end)} ({describe_duration((end - start).total_seconds())})"


def _timeline_span_text(device: DeviceReport, data: ReportData) -> str:
    """What the time axis shows against what was asked for: they differ whenever clips are sparse."""
    times = plotted_times(device)
    if not times:
        return f"No clips in the requested period {_period_text(data.start, data.end)}."
    captured = (
        f"its {len(times)} clips, captured {_period_text(times[0], times[-1])}"
        if len(times) > 1
        else f"its one clip, captured {_ts(times[0])}"
    )
    return f"Time axis fitted to {captured}; requested period {_period_text(data.start, data.end)}."


def _device_section(device: DeviceReport, data: ReportData) -> str:
    s = device.status
    slug = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in s.device)
    png = timeline_png(device, start=data.start, end=data.end)
    drift_text, drifted = drift_summary(device.drift)
    drift_class = "bad" if drifted else ("ok" if drifted is False else "")
    silent_html = (
        f'<span class="bad">SILENT ({_e(s.silent_reason)})</span>'
        if s.silent
        else '<span class="ok">sending</span>'
    )
    alert_class = "bad" if s.alert.startswith("ALERT") else ""
    model = f"{s.model_id}@{s.model_version}" if s.model_id and s.model_version else (s.model_id or "-")
    facts = _table(
        [
            "alert",
            "last clip",
            "last score",
            "last ratio",
            "model",
            "silence",
            "drift",
            "last alert",
            "acked",
        ],
        [
            [
                f'<span class="{alert_class}">{_e(s.alert)}</span>',
                _e(_ts(s.last_clip_at)),
                _num(s.last_score),
                _num(s.last_ratio),
                _e(model),
                silent_html,
                f'<span class="{drift_class}">{_e(drift_text)}</span>',
                _e(_ts(s.last_alert_at)),
                _e(_ts(s.acked_at)),
            ]
        ],
    )
    return (
        f'<section class="device" id="device-{_e(slug)}" data-device="{_e(s.device)}">'
        f"<h2>{_e(s.device)} <small>({_e(s.machine_type)})</small></h2>{facts}"
        f'<img alt="score timeline of {_e(s.device)}" src="{png_data_uri(png)}">'
        f'<p class="span">{_e(_timeline_span_text(device, data))}</p>'
        f"<h3>Operator labels</h3>{_label_table(device.labels)}</section>"
    )


def render_report_html(data: ReportData) -> str:
    devices_html = "".join(_device_section(d, data) for d in data.devices) or "<p>No devices registered.</p>"
    anomaly_rows = [
        [
            _e(_ts(a.captured_at)),
            _e(a.thing),
            _e(a.clip_id),
            _num(a.score),
            _num(a.threshold),
            _num(a.ratio),
            _e(a.label or ""),
            _e(a.label_note or ""),
        ]
        for a in data.anomalies
    ]
    anomalies_html = (
        _table(
            ["captured", "device", "clip", "score", "threshold", "ratio", "label", "note"],
            anomaly_rows,
            numeric={3, 4, 5},
        )
        if anomaly_rows
        else "<p>No anomalous clips in this period.</p>"
    )
    silent = [d.status.device for d in data.devices if d.status.silent]
    alerting = [d.status.device for d in data.devices if d.status.alert.startswith("ALERT")]
    summary = _table(
        ["devices", "clips", "anomalies", "rejected", "active alerts", "silent"],
        [
            [
                str(len(data.devices)),
                str(sum(len(d.clips) for d in data.devices)),
                str(len(data.anomalies)),
                str(sum(len(d.rejected) for d in data.devices)),
                _e(", ".join(alerting) or "none"),
                _e(", ".join(silent) or "none"),
            ]
        ],
        numeric={0, 1, 2, 3},
    )
    title = f"humwatch report {_ts(data.start)} to {_ts(data.end)}"
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{_e(title)}</h1><p>Generated {_e(_ts(data.generated_at))}.</p>"
        f'<p id="period">Requested period: {_e(_period_text(data.start, data.end))}. Each timeline\'s '
        "time axis spans that device's clips in the period, not the whole period; its y axis is "
        "score / threshold on a log scale, with the threshold at 1.</p>"
        f'<section id="summary"><h2>Summary</h2>{summary}'
        f"<h3>Operator labels (all devices)</h3>{_label_table(data.labels)}</section>"
        f'<section id="devices">{devices_html}</section>'
        f'<section id="anomalies"><h2>Anomalies ({len(data.anomalies)})</h2>{anomalies_html}</section>'
        "</body></html>\n"
    )
