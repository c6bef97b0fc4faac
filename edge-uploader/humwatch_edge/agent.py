"""`humwatch-edge run`: capture on schedule, spool, deliver, report; stop cleanly on SIGTERM.

Three threads share one spool: capture (scheduler -> source -> FLAC -> spool), delivery (spool ->
presign -> PUT) and the MQTT link (connection, telemetry). A stop request lets a capture in
progress finish and commit (at most `capture.duration_s`), abandons an upload in flight (the clip
stays in the spool and is sent after the restart) and disconnects.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
import uuid
from types import FrameType
from typing import Any

from humwatch_edge.backoff import Backoff
from humwatch_edge.capture import CaptureSource, open_source
from humwatch_edge.config import EdgeConfig
from humwatch_edge.contract import format_timestamp
from humwatch_edge.deliver import Deliverer
from humwatch_edge.encode import encode_flac
from humwatch_edge.errors import CaptureError, SpoolError
from humwatch_edge.mqtt_link import MqttLink
from humwatch_edge.scheduler import DeadlineScheduler
from humwatch_edge.spool import Spool
from humwatch_edge.telemetry import build_telemetry, encode_telemetry

log = logging.getLogger(__name__)


class EdgeAgent:
    def __init__(self, config: EdgeConfig, *, source: CaptureSource | None = None) -> None:
        self.config = config
        self.stop_event = threading.Event()
        self.spool = Spool(
            config.spool_dir,
            max_bytes=config.spool_max_bytes,
            max_clips=config.spool_max_clips,
            policy=config.spool_policy,
        )
        self.source = source
        self.link = MqttLink(config, on_ready=self._send_telemetry, on_tick=self._telemetry_tick)
        self.deliverer = Deliverer(
            self.spool,
            self.link,
            response_timeout_s=config.delivery_response_timeout_s,
            http_timeout_s=config.delivery_http_timeout_s,
            backoff=Backoff(config.delivery_backoff_initial_s, config.delivery_backoff_max_s),
        )
        self.scheduler = DeadlineScheduler(config.capture_interval_s)
        self.captures = 0
        self.capture_errors = 0
        self._next_telemetry = 0.0
        self._started = time.monotonic()
        self._threads: list[threading.Thread] = []

    # --- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        report = self.spool.open()
        log.info(
            "spool %s: %d clips waiting, %d partial files removed, %d commits completed",
            self.config.spool_dir,
            report.clips,
            report.removed_temp,
            report.completed,
        )
        if self.source is None:
            # A missing microphone must not stop delivery of what is already spooled: the capture
            # loop tries to open the source again at every deadline.
            self._open_source()
        self.link.start()
        for name, target in (("capture", self._capture_loop), ("delivery", self._delivery_loop)):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def request_stop(self, *_: Any) -> None:
        if not self.stop_event.is_set():
            log.info("stop requested: finishing the current capture, keeping unsent clips in the spool")
        self.stop_event.set()

    def shutdown(self) -> None:
        self.stop_event.set()
        self.spool.wake()
        capture, delivery = self._threads if len(self._threads) == 2 else (None, None)
        if capture is not None:
            # A capture in progress finishes and is committed; a commit is never cut in half.
            capture.join(self.config.capture_duration_s + 30)
        if delivery is not None:
            delivery.join(5)  # an upload in flight may be abandoned: its clip stays in the spool
        self.link.stop()
        if self.source is not None:
            self.source.close()
        log.info("stopped")

    def run(self) -> int:
        """Run until SIGTERM/SIGINT; install the handlers only when called from the main thread."""
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._on_signal)
            signal.signal(signal.SIGINT, self._on_signal)
        self.start()
        try:
            while not self.stop_event.wait(1.0):
                pass
        finally:
            self.shutdown()
        return 0

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.request_stop()

    # --- capture ------------------------------------------------------------------------------
    def _capture_loop(self) -> None:
        while True:
            deadline = self.scheduler.wait(self.stop_event)
            if deadline is None:
                return
            self.capture_once()

    def _open_source(self) -> bool:
        try:
            self.source = open_source(self.config)
        except CaptureError as exc:
            self.capture_errors += 1
            self.spool.record_error(f"capture: {exc}")
            log.error("capture source unavailable (retried at the next capture): %s", exc)
            return False
        return True

    def capture_once(self) -> None:
        if self.source is None and not self._open_source():
            return
        assert self.source is not None
        clip_id = str(uuid.uuid4())
        try:
            log.info("capturing clip %s (%.1f s)", clip_id, self.config.capture_duration_s)
            recording = self.source.record(self.config.capture_duration_s)
            clip = encode_flac(recording.samples, recording.sample_rate)
            entry = self.spool.add(
                clip,
                clip_id=clip_id,
                captured_at=format_timestamp(recording.captured_at),
                sample_rate=recording.sample_rate,
                duration_s=recording.duration_s,
            )
        except (CaptureError, SpoolError, ValueError) as exc:
            self.capture_errors += 1
            self.spool.record_error(f"capture: {exc}")
            log.error("capture failed: %s", exc)
            return
        self.captures += 1
        if entry is not None:
            log.info(
                "spooled clip %s seq=%d captured %s (%d bytes, %s)",
                clip_id,
                entry.meta.seq,
                entry.meta.captured_at,
                clip.size,
                recording.source,
            )

    # --- delivery and telemetry -----------------------------------------------------------------
    def _delivery_loop(self) -> None:
        self.deliverer.run(self.stop_event)

    def _telemetry_tick(self) -> None:
        if time.monotonic() >= self._next_telemetry:
            self._send_telemetry()

    def _send_telemetry(self) -> None:
        self._next_telemetry = time.monotonic() + self.config.telemetry_interval_s
        stats = self.spool.stats()
        payload = build_telemetry(
            stats,
            last_error=self.link.last_error or None,
            extra={
                "thing": self.config.thing_name,
                "captures": self.captures,
                "capture_errors": self.capture_errors,
                "missed_captures": self.scheduler.missed,
                "delivery_attempts": self.deliverer.attempts,
                "uptime_s": round(time.monotonic() - self._started),
            },
        )
        if not self.link.publish_telemetry(encode_telemetry(payload)):
            log.debug("telemetry not sent: not connected")
