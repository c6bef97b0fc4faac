"""What Lambda's SQS event source mapping does, for the local stack: poll, batch, invoke, delete.

Semantics kept from AWS:
- long polling; a batch closes at `batch_size` records or `batch_window_s` after its first record;
- the handler gets the SQS-Lambda event shape (`Records[].messageId/receiptHandle/body/attributes/
  messageAttributes/md5OfBody/eventSource/eventSourceARN/awsRegion`);
- ReportBatchItemFailures: records named in `batchItemFailures` stay in the queue, the rest are
  deleted; a handler exception, or a malformed failure list, leaves the whole batch in the queue;
- a record left in the queue becomes visible again after the queue's visibility timeout, and the
  queue's RedrivePolicy moves it to the DLQ after `maxReceiveCount` receives (SQS does that, here
  moto, exactly as in AWS).
One poller and one execution environment: on a 2-core laptop more would only compete for the CPU.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from humwatch.dal.sqs_queue import SQS_MAX_BATCH, QueueMessage, SqsQueue

log = logging.getLogger(__name__)

InvokeFn = Callable[[dict[str, Any]], Any]


def lambda_message_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    """SQS API message attributes (`StringValue`, ...) -> the Lambda event's (`stringValue`, ...)."""
    out: dict[str, Any] = {}
    for name, value in attributes.items():
        out[name] = {
            "stringValue": value.get("StringValue"),
            "binaryValue": value.get("BinaryValue"),
            "stringListValues": value.get("StringListValues", []),
            "binaryListValues": value.get("BinaryListValues", []),
            "dataType": value.get("DataType", "String"),
        }
    return out


def sqs_lambda_event(messages: list[QueueMessage], *, queue_arn: str, region: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": m.message_id,
                "receiptHandle": m.receipt_handle,
                "body": m.body,
                "attributes": dict(m.attributes),
                "messageAttributes": lambda_message_attributes(m.message_attributes),
                "md5OfBody": m.md5_of_body,
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for m in messages
        ]
    }


def failed_message_ids(response: Any, batch_ids: set[str]) -> set[str]:
    """The message ids the handler reported as failed (ReportBatchItemFailures).

    As in AWS: no response or no `batchItemFailures` = all succeeded; an identifier that is missing,
    empty or not in the batch makes the whole batch count as failed.
    """
    if not isinstance(response, dict) or "batchItemFailures" not in response:
        return set()
    failures = response["batchItemFailures"]
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return set(batch_ids)
    failed: set[str] = set()
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not identifier or identifier not in batch_ids:
            return set(batch_ids)
        failed.add(str(identifier))
    return failed


@dataclass(frozen=True)
class BatchResult:
    message_ids: tuple[str, ...]
    failed_ids: frozenset[str]
    error: str | None  # the handler raised (whole batch failed)
    duration_ms: float

    @property
    def size(self) -> int:
        return len(self.message_ids)


@dataclass
class EventSourceStats:
    batches: int = 0
    records: int = 0
    deleted: int = 0
    failed_records: int = 0
    invocation_errors: int = 0
    batch_sizes: list[int] = field(default_factory=list)


class SqsEventSource:
    """Poll `queue` and invoke `invoke(event)` with batches, in a background thread (`start`/`stop`)
    or one batch at a time (`poll_once`, for tests)."""

    def __init__(
        self,
        queue: SqsQueue,
        invoke: InvokeFn,
        *,
        batch_size: int,
        batch_window_s: float,
        region: str,
        poll_wait_s: int = 1,
        on_batch: Callable[[BatchResult], None] | None = None,
        name: str = "sqs-event-source",
    ) -> None:
        if batch_size < 1 or batch_window_s < 0:
            raise ValueError("batch_size must be >= 1 and batch_window_s >= 0")
        self.queue = queue
        self.invoke = invoke
        self.batch_size = batch_size
        self.batch_window_s = batch_window_s
        self.region = region
        self.poll_wait_s = poll_wait_s
        self.on_batch = on_batch
        self.stats = EventSourceStats()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        # Set while a received batch is being processed (between receive and delete).
        self._processing = threading.Event()

    # --- batching -----------------------------------------------------------------------------------
    def collect_batch(self) -> list[QueueMessage]:
        """Receive until `batch_size` records, or `batch_window_s` after the first one arrived."""
        batch: list[QueueMessage] = []
        window_ends: float | None = None
        while not self._stop.is_set() and len(batch) < self.batch_size:
            remaining = None if window_ends is None else window_ends - time.monotonic()
            if remaining is not None and remaining <= 0:
                break
            wait = self.poll_wait_s if remaining is None else min(self.poll_wait_s, int(remaining))
            messages = self.queue.receive(
                max_messages=min(SQS_MAX_BATCH, self.batch_size - len(batch)), wait_s=wait
            )
            if not messages:
                if window_ends is None:
                    return batch  # nothing arrived during the long poll: let the loop check stop
                if wait == 0:
                    time.sleep(min(0.05, max(0.0, window_ends - time.monotonic())))
                continue
            if window_ends is None:
                window_ends = time.monotonic() + self.batch_window_s
            # A message seen again (its visibility ran out while the batch was open) keeps one
            # entry, with the newest receipt handle: only that one can delete it.
            seen = {m.message_id for m in messages}
            batch = [m for m in batch if m.message_id not in seen] + messages
        return batch

    def process(self, batch: list[QueueMessage]) -> BatchResult:
        """Invoke the function with one batch and settle it the way Lambda does."""
        self._processing.set()
        try:
            return self._process(batch)
        finally:
            self._processing.clear()

    def _process(self, batch: list[QueueMessage]) -> BatchResult:
        ids = tuple(m.message_id for m in batch)
        event = sqs_lambda_event(batch, queue_arn=self.queue.arn, region=self.region)
        started = time.perf_counter()
        error: str | None = None
        try:
            response = self.invoke(event)
            failed = failed_message_ids(response, set(ids))
        except Exception as exc:  # a failed invocation: every record goes back to the queue
            log.exception("invocation failed for a batch of %d records", len(batch))
            error = f"{type(exc).__name__}: {exc}"
            failed = set(ids)
        duration_ms = (time.perf_counter() - started) * 1000
        succeeded = [m.receipt_handle for m in batch if m.message_id not in failed]
        not_deleted = self.queue.delete(succeeded) if succeeded else []
        self.stats.batches += 1
        self.stats.records += len(batch)
        self.stats.deleted += len(succeeded) - len(not_deleted)
        self.stats.failed_records += len(failed)
        self.stats.invocation_errors += error is not None
        self.stats.batch_sizes.append(len(batch))
        result = BatchResult(
            message_ids=ids, failed_ids=frozenset(failed), error=error, duration_ms=duration_ms
        )
        if self.on_batch is not None:
            self.on_batch(result)
        return result

    def poll_once(self) -> BatchResult | None:
        batch = self.collect_batch()
        return self.process(batch) if batch else None

    # --- background loop --------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:  # the queue endpoint failed: back off, keep the poller alive
                log.exception("polling %s failed", self.queue.queue_url)
                self._stop.wait(1.0)

    def start(self) -> SqsEventSource:
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 30.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=timeout_s)

    def wait_drained(self, timeout_s: float, *, settle_s: float = 0.5) -> bool:
        """True once the queue holds no message (visible or in flight) and no batch is being
        received or processed, for `settle_s` in a row; False after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        quiet_since: float | None = None
        while time.monotonic() < deadline:
            if self.queue.depth() == 0 and not self._processing.is_set():
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since >= settle_s:
                    return True
            else:
                quiet_since = None
            time.sleep(0.1)
        return False

    @property
    def running(self) -> bool:
        return self._thread.is_alive()
