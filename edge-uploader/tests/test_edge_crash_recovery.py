"""`kill -9` in the middle of a capture or an upload, as a real process: nothing partial, nothing lost."""

from __future__ import annotations

import base64
import hashlib
import io
import re
from pathlib import Path

import soundfile as sf
from edge_harness import Cloud, EdgeProcess, edge_document, wait_until, write_toml

from humwatch import contracts as c
from humwatch_edge.spool import read_only_stats

SPOOLED = re.compile(r"spooled clip (\S+) ")
CAPTURING = re.compile(r"capturing clip (\S+) ")
UPLOADING = re.compile(r"uploading clip (\S+) ")


def _md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def test_given_kill_9_during_capture_and_upload_when_restarted_then_no_partial_clip_and_none_lost(
    tmp_path: Path, cloud: Cloud
) -> None:
    # Given a device whose captures take a while (like a microphone) and whose uploads are slow
    spool = tmp_path / "spool"
    config = write_toml(
        tmp_path / "edge.toml", edge_document(spool, cloud.device(), cloud, interval_s=0.5, duration_s=0.1)
    )
    slow_capture = {"HUMWATCH_EDGE_TEST_CAPTURE_SLEEP_S": "0.3"}
    cloud.proxy.faults.delay_s = 0.4
    spooled: list[str] = []
    killed_capturing: list[str] = []

    # When it is killed -9 while a capture is in progress ...
    first = EdgeProcess(config, slow_capture)
    assert first.wait_for(SPOOLED, 2, 15), "".join(first.lines)
    assert first.wait_for(CAPTURING, len(first.matches(SPOOLED)) + 1, 5)
    first.kill9()
    spooled += first.matches(SPOOLED)
    killed_capturing.append(first.matches(CAPTURING)[-1])

    # ... and, after a restart, while an upload is in flight
    second = EdgeProcess(config, slow_capture)
    assert second.wait_for(UPLOADING, 1, 15), "".join(second.lines)
    uploading_at_kill = second.matches(UPLOADING)[-1]
    second.kill9()
    spooled += second.matches(SPOOLED)

    # Then after the final restart nothing partial is left, and every committed clip arrives once
    third = EdgeProcess(config, {"HUMWATCH_EDGE_CAPTURE_INTERVAL_S": "60"})
    assert wait_until(lambda: set(spooled) <= {k.split("_")[-1][:-5] for k in cloud.objects()}, 30), "".join(
        third.lines
    )
    assert wait_until(lambda: read_only_stats(spool).clips == 0, 10)
    assert third.terminate() == 0  # SIGTERM: a clean stop
    spooled += third.matches(SPOOLED)

    assert not [p.name for p in (spool / "clips").iterdir()]  # no temp file, no clip left over
    objects = cloud.objects()
    uploaded_ids = [c.parse_clip_key(key).clip_id for key in objects]
    assert sorted(uploaded_ids) == sorted(set(spooled))  # none lost, none invented
    assert uploading_at_kill in uploaded_ids
    # the interrupted capture either never became a clip or (had it just committed) was delivered
    assert (killed_capturing[0] in uploaded_ids) == (killed_capturing[0] in spooled)
    announced = {p["clip_id"]: p["md5"] for _, p in cloud.responder.requests}
    for key, data in objects.items():
        assert _md5(data) == announced[c.parse_clip_key(key).clip_id]
        samples, rate = sf.read(io.BytesIO(data))
        assert rate == 16000 and len(samples) == 1600


def test_given_sigterm_during_capture_when_stopping_then_clip_finished_committed_and_exit_0(
    tmp_path: Path, cloud: Cloud
) -> None:
    # Given a device in the middle of a (one second) capture, with the broker down
    cloud.broker.stop()
    spool = tmp_path / "spool"
    config = write_toml(
        tmp_path / "edge.toml", edge_document(spool, cloud.device(), cloud, interval_s=60, duration_s=0.1)
    )
    process = EdgeProcess(config, {"HUMWATCH_EDGE_TEST_CAPTURE_SLEEP_S": "1.0"})
    assert process.wait_for(CAPTURING, 1, 15), "".join(process.lines)
    # When systemd stops it
    code = process.terminate()
    # Then the capture in progress was finished and committed, whole, and the exit was clean
    assert code == 0, "".join(process.lines)
    capturing = process.matches(CAPTURING)
    assert process.matches(SPOOLED) == capturing
    stats = read_only_stats(spool)
    assert [m.clip_id for m in stats.entries] == capturing
    assert not [p.name for p in (spool / "clips").iterdir() if p.name.endswith(".tmp")]
