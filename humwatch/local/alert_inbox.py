"""Where the local stack's SNS alerts land: an SQS queue subscribed to the alert and ops topics,
polled, printed the way an operator would read the e-mail, and saved one file per message.

In AWS the topics deliver to e-mail and SMS; locally the same SNS publish (subject, body and
message attributes) reaches this inbox, so what a person would receive can be read and tested.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from humwatch.dal.sqs_queue import QueueMessage, SqsQueue

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReceivedAlert:
    """One SNS message as a subscriber receives it."""

    topic_arn: str
    subject: str
    message: str
    attributes: dict[str, str]
    timestamp: str
    message_id: str
    path: str = ""  # the file it was saved to

    @property
    def topic_name(self) -> str:
        return self.topic_arn.rsplit(":", 1)[-1]

    @property
    def severity(self) -> str:
        return self.attributes.get("severity", "")

    @property
    def device(self) -> str:
        return self.attributes.get("device", "")

    def render(self) -> str:
        """The message as an e-mail client would show it."""
        attrs = ", ".join(f"{k}={v}" for k, v in sorted(self.attributes.items()))
        return (
            f"From: {self.topic_name} (SNS)\nDate: {self.timestamp}\nSubject: {self.subject}\n"
            f"Attributes: {attrs or '-'}\n\n{self.message.rstrip()}\n"
        )


def parse_sns_envelope(body: str) -> ReceivedAlert:
    """The JSON envelope SNS delivers to an SQS subscriber -> ReceivedAlert."""
    envelope = json.loads(body)
    attributes = {
        name: str(value.get("Value", "")) for name, value in (envelope.get("MessageAttributes") or {}).items()
    }
    return ReceivedAlert(
        topic_arn=str(envelope.get("TopicArn", "")),
        subject=str(envelope.get("Subject") or ""),
        message=str(envelope.get("Message", "")),
        attributes=attributes,
        timestamp=str(envelope.get("Timestamp", "")),
        message_id=str(envelope.get("MessageId", "")),
    )


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")[:40] or "message"


@dataclass
class AlertInbox:
    """Poll `queue` in a background thread; save each message under `directory` and hand it to
    `on_alert` (the console). Messages are deleted only after they were saved."""

    queue: SqsQueue
    directory: Path
    on_alert: Callable[[ReceivedAlert], None] | None = None
    poll_wait_s: int = 1
    received: list[ReceivedAlert] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="alert-inbox", daemon=True)

    def _save(self, alert: ReceivedAlert) -> ReceivedAlert:
        with self._lock:
            index = len(self.received) + 1
        parts = (alert.topic_name, alert.device or "all", alert.severity or "info")
        stem = f"{index:03d}-" + "-".join(_slug(part) for part in parts)
        text_path = self.directory / f"{stem}.txt"
        text_path.write_text(alert.render())
        saved = ReceivedAlert(**{**asdict(alert), "path": str(text_path)})
        (self.directory / f"{stem}.json").write_text(json.dumps(asdict(saved), indent=2) + "\n")
        return saved

    def _handle(self, message: QueueMessage) -> None:
        try:
            alert = self._save(parse_sns_envelope(message.body))
        except (ValueError, AttributeError) as exc:
            log.warning("inbox: unreadable SNS delivery %s: %s", message.message_id, exc)
            return
        with self._lock:
            self.received.append(alert)
        if self.on_alert is not None:
            self.on_alert(alert)

    def poll_once(self) -> int:
        messages = self.queue.receive(wait_s=self.poll_wait_s)
        for message in messages:
            self._handle(message)
        if messages:
            self.queue.delete([m.receipt_handle for m in messages])
        return len(messages)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:
                log.exception("inbox: polling failed")
                self._stop.wait(1.0)

    def start(self) -> AlertInbox:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def alerts(self, *, topic_name: str | None = None) -> list[ReceivedAlert]:
        with self._lock:
            return [a for a in self.received if topic_name is None or a.topic_name == topic_name]
