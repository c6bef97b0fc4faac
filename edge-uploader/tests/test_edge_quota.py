"""The cloud's `quota_exceeded` reply: the clip stays in the spool and the next request waits at
least the cloud's retry-after (a fake MQTT link here; the real broker, presign logic and quota
counter in test_edge_delivery.py)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from humwatch import contracts as c
from humwatch_edge import contract as edge
from humwatch_edge.backoff import Backoff
from humwatch_edge.deliver import Deliverer
from humwatch_edge.encode import encode_flac
from humwatch_edge.spool import Spool, read_only_stats


class QuotaLink:
    """Answers every upload request with the cloud's own quota refusal (built from its model)."""

    def __init__(self, retry_after_s: int | None) -> None:
        self.retry_after_s = retry_after_s
        self.requests: list[str] = []

    def request_upload(self, payload: bytes, clip_id: str, timeout_s: float) -> Any:
        self.requests.append(clip_id)
        error = c.ErrorBody(code="quota_exceeded", message="quota used up", retry_after_s=self.retry_after_s)
        answer = c.UploadError(clip_id=clip_id, error=error).model_dump_json(exclude_none=True)
        return edge.parse_upload_response(answer.encode())


def _spool_with_clips(path: Path, count: int) -> tuple[Spool, list[str]]:
    spool = Spool(path, max_bytes=10_000_000, max_clips=100)
    spool.open()
    ids = []
    for i in range(count):
        clip = encode_flac((0.1 * np.random.default_rng(i).standard_normal(1600)).astype(np.float32), 16000)
        clip_id = str(uuid.UUID(int=i + 1))
        spool.add(
            clip, clip_id=clip_id, captured_at="2026-11-26T14:05:00Z", sample_rate=16000, duration_s=0.1
        )
        ids.append(clip_id)
    return spool, ids


@pytest.mark.parametrize("draw", [0.0, 0.999])
def test_given_quota_refusal_when_delivering_then_clip_kept_and_next_try_after_retry_after(
    tmp_path: Path, draw: float
) -> None:
    # Given three spooled clips and a cloud that says: quota used up, ask again in 1500 s
    spool, ids = _spool_with_clips(tmp_path / "spool", 3)
    link = QuotaLink(retry_after_s=1500)
    backoff = Backoff(2.0, 300.0)
    deliverer = Deliverer(
        spool, link, response_timeout_s=1, http_timeout_s=1, backoff=backoff, rand=lambda: draw
    )  # type: ignore[arg-type]
    # When the oldest clip is tried twice
    delays = [deliverer.deliver_one(spool.oldest()) for _ in range(2)]  # type: ignore[arg-type]
    # Then each next attempt waits at least the retry-after (plus at most 10% jitter, capped at 60 s)
    for delay in delays:
        assert 1500 <= delay <= 1500 + 60
    assert delays[0] == pytest.approx(1500 + draw * 60)
    # And it was the same (oldest) clip each time; nothing was dropped or set aside
    assert link.requests == [ids[0], ids[0]]
    stats = read_only_stats(tmp_path / "spool")
    assert [m.clip_id for m in stats.entries] == ids
    assert stats.counters.rejected_clips == 0 and stats.counters.dropped_clips == 0
    assert not list((tmp_path / "spool").glob("rejected/*"))
    assert "quota_exceeded" in (stats.counters.last_error or "")
    # And the backoff for link failures is untouched (a quota is not a failing link)
    assert backoff.failures == 0


def test_given_quota_refusal_without_retry_after_when_delivering_then_backoff_and_clip_kept(
    tmp_path: Path,
) -> None:
    spool, ids = _spool_with_clips(tmp_path / "spool", 1)
    deliverer = Deliverer(
        spool,
        QuotaLink(retry_after_s=None),
        response_timeout_s=1,
        http_timeout_s=1,
        backoff=Backoff(2.0, 300.0),  # type: ignore[arg-type]
    )
    delay = deliverer.deliver_one(spool.oldest())  # type: ignore[arg-type]
    assert 1.0 <= delay <= 2.0  # the first backoff step
    assert [m.clip_id for m in read_only_stats(tmp_path / "spool").entries] == ids


@pytest.mark.parametrize(
    ("value", "parsed"),
    [(120, 120.0), (0.5, 0.5), (-3, 0.0), (10**9, edge.MAX_RETRY_AFTER_S), ("60", None), (None, None),
     (float("nan"), None), (True, None)],
)  # fmt: skip
def test_given_retry_after_values_when_parsed_then_bounded_or_ignored(
    value: Any, parsed: float | None
) -> None:
    payload = {"clip_id": "abc", "error": {"code": "quota_exceeded", "message": "m", "retry_after_s": value}}
    refusal = edge.parse_upload_response(json.dumps(payload).encode())
    assert isinstance(refusal, edge.UploadRefusal)
    assert refusal.retry_after_s == parsed
    assert not edge.is_permanent_refusal(refusal.code)
