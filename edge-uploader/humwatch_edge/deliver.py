"""Deliver spooled clips, oldest first: request a presigned URL, PUT, delete only after a 2xx.

What each failure means:
- network trouble, a 5xx, no broker, no response in time -> back off (exponential, jitter,
  capped) and try the same clip again: a newer clip never overtakes an older one;
- the URL was refused (expired, signature or digest mismatch) -> ask for a fresh URL at once the
  first time, then with backoff; if the file no longer matches its MD5 it is set aside;
- the cloud refused the clip itself (bad request) -> set it aside in rejected/ and go on;
- the device's upload quota for this hour is used up (`quota_exceeded`) -> keep the clip (and
  every newer one) in the spool and ask again no sooner than the `retry_after_s` the cloud sent,
  plus a little jitter so a fleet refused in one hour does not ask at the same second.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from datetime import datetime, timezone

from humwatch_edge.backoff import Backoff
from humwatch_edge.contract import (
    UploadRefusal,
    format_timestamp,
    is_permanent_refusal,
    upload_request_payload,
)
from humwatch_edge.errors import ClipRejected, RetryLater, TransientDeliveryError, UrlRefused
from humwatch_edge.http_put import put_clip
from humwatch_edge.mqtt_link import MqttLink
from humwatch_edge.spool import Spool, SpoolEntry

log = logging.getLogger(__name__)

# Jitter added to the cloud's retry-after: up to 10% of it, at most a minute.
RETRY_AFTER_JITTER = 0.1
RETRY_AFTER_JITTER_MAX_S = 60.0


class Deliverer:
    def __init__(
        self,
        spool: Spool,
        link: MqttLink,
        *,
        response_timeout_s: float,
        http_timeout_s: float,
        backoff: Backoff,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.spool = spool
        self.link = link
        self.response_timeout_s = response_timeout_s
        self.http_timeout_s = http_timeout_s
        self.backoff = backoff
        self._rand = rand
        self.attempts = 0
        self._refusals: dict[int, int] = {}  # seq -> URL refusals in a row

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            entry = self.spool.wait_for_clip(timeout=1.0)
            if entry is None or stop.is_set() or not self.link.wait_ready(0.25):
                continue
            delay = self.deliver_one(entry)
            if delay > 0:
                stop.wait(delay)

    def deliver_one(self, entry: SpoolEntry) -> float:
        """Try one clip; return how long to wait before the next attempt (0 = go on)."""
        clip = entry.meta.clip_id
        self.attempts += 1
        try:
            self._deliver(entry)
        except ClipRejected as exc:
            log.error("clip %s rejected by the cloud, set aside: %s", clip, exc)
            self.spool.reject(entry, str(exc))
            self._refusals.pop(entry.meta.seq, None)
            return 0.0
        except UrlRefused as exc:
            refusals = self._refusals.get(entry.meta.seq, 0) + 1
            self._refusals[entry.meta.seq] = refusals
            self.spool.record_error(f"upload URL refused: {exc}")
            if not self.spool.verify(entry):
                log.error("clip %s no longer matches its MD5 on disk: set aside", clip)
                self.spool.reject(entry, f"corrupt on disk (URL refused: {exc})")
                self._refusals.pop(entry.meta.seq, None)
                return 0.0
            delay = 0.0 if refusals == 1 else self.backoff.next_delay()
            log.warning("upload URL for clip %s refused (%s); new request in %.1f s", clip, exc, delay)
            return delay
        except RetryLater as exc:
            # Not a failure of the link: the backoff is left as it is, and nothing is dropped.
            jitter = self._rand() * min(RETRY_AFTER_JITTER * exc.retry_after_s, RETRY_AFTER_JITTER_MAX_S)
            delay = exc.retry_after_s + jitter
            self.spool.record_error(str(exc))
            log.warning("clip %s kept in the spool: %s; next request in %.0f s", clip, exc, delay)
            return delay
        except TransientDeliveryError as exc:
            delay = self.backoff.next_delay()
            self.spool.record_error(str(exc))
            log.warning("delivery of clip %s failed (%s); retrying in %.1f s", clip, exc, delay)
            return delay
        self._refusals.pop(entry.meta.seq, None)
        self.backoff.reset()
        return 0.0

    def _deliver(self, entry: SpoolEntry) -> None:
        meta = entry.meta
        self.spool.pin(entry)
        try:
            if not self.spool.contains(entry):
                return  # dropped by the quota between listing and pinning
            try:
                data = self.spool.read(entry)
            except OSError as exc:
                raise ClipRejected(f"spooled file unreadable: {exc.strerror}") from exc
            payload = upload_request_payload(
                clip_id=meta.clip_id,
                captured_at=meta.captured_at,
                size=meta.size,
                md5=meta.md5,
                sample_rate=meta.sample_rate,
                duration_s=meta.duration_s,
            )
            response = self.link.request_upload(payload, meta.clip_id, self.response_timeout_s)
            if isinstance(response, UploadRefusal):
                reason = f"{response.code}: {response.message}"
                if is_permanent_refusal(response.code):
                    raise ClipRejected(reason)
                if response.retry_after_s is not None:
                    raise RetryLater(
                        f"upload request refused ({reason})", retry_after_s=response.retry_after_s
                    )
                raise TransientDeliveryError(f"upload request refused ({reason})")
            headers = dict(response.headers)
            lowered = {k.lower() for k in headers}
            if "content-md5" not in lowered:
                headers["Content-MD5"] = meta.md5
            if "content-type" not in lowered:
                headers["Content-Type"] = meta.content_type
            log.info("uploading clip %s (%d bytes) to %s", meta.clip_id, meta.size, response.key)
            put_clip(response.url, headers, data, timeout_s=self.http_timeout_s)
            self.spool.remove_uploaded(entry, format_timestamp(datetime.now(timezone.utc)))
            log.info("uploaded clip %s captured %s as %s", meta.clip_id, meta.captured_at, response.key)
        finally:
            self.spool.unpin(entry)
