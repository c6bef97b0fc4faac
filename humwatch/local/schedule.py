"""The local stand-in for the EventBridge schedule that runs the drift check."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from humwatch.contracts import format_timestamp

log = logging.getLogger(__name__)


def scheduled_event(
    *, rule_name: str, region: str, account: str, now: datetime | None = None
) -> dict[str, Any]:
    """The event EventBridge sends to a scheduled target."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": format_timestamp(now or datetime.now(UTC)),
        "region": region,
        "resources": [f"arn:aws:events:{region}:{account}:rule/{rule_name}"],
        "detail": {},
    }


class Schedule:
    """Invoke `invoke(event)` every `interval_s` seconds in a background thread; `trigger()` runs
    it now, in the caller's thread, and returns the handler's result."""

    def __init__(
        self,
        invoke: Callable[[dict[str, Any]], Any],
        *,
        interval_s: float,
        rule_name: str,
        region: str,
        account: str,
        on_result: Callable[[Any], None] | None = None,
    ) -> None:
        self.invoke = invoke
        self.interval_s = interval_s
        self.rule_name = rule_name
        self.region = region
        self.account = account
        self.on_result = on_result
        self.runs = 0
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"schedule-{rule_name}", daemon=True)

    def trigger(self) -> Any:
        event = scheduled_event(rule_name=self.rule_name, region=self.region, account=self.account)
        self.runs += 1
        try:
            result = self.invoke(event)
        except Exception:
            self.errors += 1
            raise
        if self.on_result is not None:
            self.on_result(result)
        return result

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.trigger()
            except Exception:  # EventBridge would retry; the next tick is soon enough locally
                log.exception("scheduled %s failed", self.rule_name)

    def start(self) -> Schedule:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=60)
