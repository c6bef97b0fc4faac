"""`humwatch report` rendered from a seeded history on a moto server, checked by parsing its HTML."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

from ops_seed import run, seed_device, stack_args

from humwatch.alerts.policy import Severity
from humwatch.dal import aws
from humwatch.dal.history import HistoryTable
from humwatch.dal.provisioning import StackResources
from humwatch.dal.report_store import ReportStore
from humwatch.drift import DriftReport, Verdict

NOW = datetime.now(UTC).replace(microsecond=0)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class ReportParser(HTMLParser):
    """Collects device sections, their images, and the text of every table cell."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: dict[str, list[str]] = {}  # device -> image data URIs
        self.section_text: dict[str, list[str]] = {}
        self.ids: list[str] = []
        self._device: str | None = None
        self._depth = 0
        self.anomaly_rows = 0
        self._in_anomalies = False
        self._in_tbody = False
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.append(str(a["id"]))
        if tag == "section":
            if a.get("class") == "device":
                self._device = str(a["data-device"])
                self.sections[self._device] = []
                self.section_text[self._device] = []
                self._depth = 0
            elif a.get("id") == "anomalies":
                self._in_anomalies = True
            if self._device is not None:
                self._depth += 1
        if tag == "img" and self._device is not None:
            self.sections[self._device].append(str(a.get("src")))
        if tag == "tbody":
            self._in_tbody = True
        if tag == "tr" and self._in_anomalies and self._in_tbody:
            self.anomaly_rows += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "tbody":
            self._in_tbody = False
        if tag == "section" and self._device is not None:
            self._depth -= 1
            if self._depth == 0:
                self._device = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._device is not None:
            self.section_text[self._device].append(data)


def test_report_has_a_section_and_timeline_per_device_anomalies_drift_and_labels(
    aws_stack: StackResources, history: HistoryTable, tmp_path: Path
) -> None:
    # Given a normal fan with a drift report, a faulty fan in an alert episode with two labelled
    # anomalies (one confirmed, one false alarm), and a pump that went silent a day ago
    # (the fans' newest clips are minutes old: not silent)
    seed_device(
        history,
        "fan-01",
        [0.4, 0.5, None, 0.45] * 5,
        start=NOW - timedelta(minutes=154),
        every=timedelta(minutes=8),
    )
    faulty = seed_device(
        history,
        "fan-02",
        [0.5] * 10 + [1.4, 1.8, 2.6, 0.6, 2.9],
        start=NOW - timedelta(minutes=145),
        every=timedelta(minutes=10),
        alert_at=NOW - timedelta(minutes=40),
        severity=Severity.CRITICAL,
    )
    seed_device(history, "pump-01", [0.3] * 3, start=NOW - timedelta(days=1), machine_type="pump")
    anomalies = [r for r in faulty.records if r.is_anomaly]
    history.clips.set_label("fan-02", anomalies[0].clip_id, "normal", "door slammed")
    history.clips.set_label("fan-02", anomalies[-1].clip_id, "anomaly", "bearing noise confirmed")
    s3 = aws.client("s3", endpoint_url=aws_stack.endpoint_url, region=aws_stack.region)
    ReportStore(aws_stack.bucket, client=s3).put_drift_report(
        DriftReport(
            thing="fan-01",
            model_id="fan-demo",
            model_version="v1",
            generated_at=NOW - timedelta(hours=1),
            window_start=NOW - timedelta(days=1),
            window_end=NOW,
            n_clips=200,
            verdict=Verdict.DRIFT,
            drift_score=3.2,
            reasons=["band 12 mean shifted by 3.2 sd"],
            score_psi=0.31,
        )
    )
    out = tmp_path / "reports" / "report.html"

    # When the weekly report is rendered
    result = run(["report", "--since", "2d", "--out", str(out), *stack_args(aws_stack)])

    # Then it names every device in its own section, each with an inline PNG timeline
    assert result.exit_code == 0, result.output
    assert "3 devices, 4 anomalies" in result.output
    page = ReportParser()
    page.feed(out.read_text())
    assert set(page.sections) == {"fan-01", "fan-02", "pump-01"}
    for device, images in page.sections.items():
        assert len(images) == 1, device
        assert images[0].startswith("data:image/png;base64,")
        png = base64.b64decode(images[0].split(",", 1)[1])
        assert png.startswith(PNG_MAGIC) and len(png) > 2000
    assert {"summary", "devices", "anomalies", "device-fan-02"} <= set(page.ids)

    # And the anomaly list, alert, drift, silence and label counts are shown
    assert page.anomaly_rows == 4
    fan02 = " ".join(page.section_text["fan-02"])
    assert "ALERT critical" in fan02
    fan01 = " ".join(page.section_text["fan-01"])
    assert "drift" in fan01 and "band 12 mean shifted" in fan01
    assert "SILENT" in " ".join(page.section_text["pump-01"])
    assert "SILENT" not in fan01
    text = " ".join(page.text)
    assert "door slammed" in text and "bearing noise confirmed" in text
    # And it states the period asked for apart from the span each timeline's time axis shows
    assert re.search(r"Requested period: \S+ \S+Z to \S+ \S+Z \(2\.0 days\)", text)
    assert "Time axis fitted to its 3 clips" in " ".join(page.section_text["pump-01"])
    # fan-02's label table: 1 confirmed, 1 false alarm, 0 missed, 0 normal confirmed, 2 unlabelled
    cells = [t.strip() for t in page.section_text["fan-02"] if t.strip()]
    at = cells.index("anomalies not yet labelled")
    assert cells[at + 1 : at + 6] == ["1", "1", "0", "0", "2"]


def test_report_of_an_empty_stack_still_renders(aws_stack: StackResources, tmp_path: Path) -> None:
    out = tmp_path / "empty.html"
    result = run(["report", "--out", str(out), *stack_args(aws_stack)])
    assert result.exit_code == 0, result.output
    page = ReportParser()
    page.feed(out.read_text())
    assert page.sections == {} and "No devices registered." in " ".join(page.text)
