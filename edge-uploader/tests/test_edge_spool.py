"""The spool: atomic commits, crash repair at every step, quota policies, counters that persist."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import numpy as np
import pytest

from humwatch_edge.encode import EncodedClip, content_md5, encode_flac
from humwatch_edge.spool import MAX_REJECTED, Spool, read_only_stats


def _clip(seed: int, samples: int = 1600) -> EncodedClip:
    rng = np.random.default_rng(seed)
    return encode_flac((0.1 * rng.standard_normal(samples)).astype(np.float32), 16000)


def _open(path: Path, **kwargs: object) -> Spool:
    options: dict[str, object] = {"max_bytes": 10_000_000, "max_clips": 100, **kwargs}
    spool = Spool(path, **options)  # type: ignore[arg-type]
    spool.open()
    return spool


def _add(spool: Spool, seed: int) -> str:
    clip_id = str(uuid.UUID(int=seed + 1))
    entry = spool.add(
        _clip(seed), clip_id=clip_id, captured_at="2026-11-26T14:05:00Z", sample_rate=16000, duration_s=0.1
    )
    return clip_id if entry is not None else ""


def test_given_added_clips_when_reopened_then_same_clips_in_same_order(tmp_path: Path) -> None:
    spool = _open(tmp_path)
    ids = [_add(spool, i) for i in range(5)]
    reopened = _open(tmp_path)
    assert [m.clip_id for m in reopened.stats(with_entries=True).entries] == ids
    oldest = reopened.oldest()
    assert oldest is not None and oldest.meta.clip_id == ids[0]
    assert reopened.verify(oldest)
    assert content_md5(reopened.read(oldest)) == oldest.meta.md5


def test_given_upload_when_removed_then_gone_and_counted_across_restart(tmp_path: Path) -> None:
    spool = _open(tmp_path)
    _add(spool, 1)
    _add(spool, 2)
    first = spool.oldest()
    assert first is not None
    spool.remove_uploaded(first, "2026-11-26T14:06:00Z")
    assert not first.audio_path.exists() and not first.meta_path.exists()
    reopened = _open(tmp_path)
    assert reopened.stats().clips == 1
    assert reopened.counters.uploaded_clips == 1
    assert reopened.counters.last_upload_at == "2026-11-26T14:06:00Z"
    assert reopened.counters.next_seq == 3  # sequence numbers are never reused


def _stage_crash(spool: Spool, stage: str, seed: int = 9) -> tuple[str, EncodedClip]:
    """Leave the files a crash at `stage` of the commit protocol would leave."""
    clip = _clip(seed)
    clip_id = str(uuid.UUID(int=1000 + seed))
    name = f"{spool.counters.next_seq:012d}_{clip_id}"
    meta = {
        "seq": spool.counters.next_seq,
        "clip_id": clip_id,
        "captured_at": "2026-11-26T14:05:00Z",
        "size": clip.size,
        "md5": clip.md5,
        "sample_rate": 16000,
        "duration_s": 0.1,
        "content_type": "audio/flac",
    }
    d = spool.clips_dir
    if stage == "audio half written":
        (d / f"{name}.flac.tmp").write_bytes(clip.data[: clip.size // 2])
    elif stage == "metadata half written":
        (d / f"{name}.flac.tmp").write_bytes(clip.data)
        (d / f"{name}.json.tmp").write_text(json.dumps(meta)[:20])
    elif stage == "metadata committed, audio not renamed":
        (d / f"{name}.flac.tmp").write_bytes(clip.data)
        (d / f"{name}.json").write_text(json.dumps(meta))
    elif stage == "metadata committed, audio temp truncated":
        (d / f"{name}.flac.tmp").write_bytes(clip.data[:-10])
        (d / f"{name}.json").write_text(json.dumps(meta))
    elif stage == "upload delete interrupted":
        (d / f"{name}.json").write_text(json.dumps(meta))
    elif stage == "audio without metadata":
        (d / f"{name}.flac").write_bytes(clip.data)
    return clip_id, clip


@pytest.mark.parametrize(
    ("stage", "survives"),
    [
        ("audio half written", False),
        ("metadata half written", False),
        ("metadata committed, audio not renamed", True),
        ("metadata committed, audio temp truncated", False),
        ("upload delete interrupted", False),
    ],
)
def test_given_crash_at_each_commit_step_when_reopened_then_whole_clip_or_nothing(
    tmp_path: Path, stage: str, survives: bool
) -> None:
    # Given a spool with one good clip and the leftovers of a crash at `stage`
    spool = _open(tmp_path)
    good = _add(spool, 1)
    crashed_id, _ = _stage_crash(spool, stage)
    # When it is opened again
    reopened = _open(tmp_path)
    # Then no temp file is left, the good clip is intact, and the crashed one is whole or absent
    names = [p.name for p in reopened.clips_dir.iterdir()]
    assert not [n for n in names if n.endswith(".tmp")]
    ids = [m.clip_id for m in reopened.stats(with_entries=True).entries]
    assert good in ids
    assert (crashed_id in ids) is survives
    for entry_meta in reopened.stats(with_entries=True).entries:
        audio = reopened.clips_dir / f"{entry_meta.name}.flac"
        assert content_md5(audio.read_bytes()) == entry_meta.md5
    if survives:
        assert reopened.counters.recovered_clips == 1


def test_given_orphan_audio_when_reopened_then_set_aside_not_deleted(tmp_path: Path) -> None:
    spool = _open(tmp_path)
    _stage_crash(spool, "audio without metadata")
    reopened = _open(tmp_path)
    assert reopened.stats().clips == 0
    kept = list((tmp_path / "rejected").glob("*.flac"))
    assert len(kept) == 1 and kept[0].with_suffix(".reason.json").exists()


def test_given_count_limit_and_drop_oldest_when_full_then_oldest_dropped_and_counted(tmp_path: Path) -> None:
    spool = _open(tmp_path, max_clips=3)
    ids = [_add(spool, i) for i in range(5)]
    assert [m.clip_id for m in spool.stats(with_entries=True).entries] == ids[2:]
    counters = _open(tmp_path, max_clips=3).counters
    assert counters.dropped_oldest == 2 and counters.dropped_clips == 2 and counters.refused_new == 0
    assert counters.dropped_bytes > 0


def test_given_byte_limit_and_refuse_new_when_full_then_new_clip_refused_and_counted(tmp_path: Path) -> None:
    size = _clip(0).size
    spool = _open(tmp_path, max_bytes=int(size * 2.5), policy="refuse-new")
    ids = [_add(spool, i) for i in range(4)]
    assert ids[2] == ids[3] == ""  # refused
    assert [m.clip_id for m in spool.stats(with_entries=True).entries] == ids[:2]
    assert spool.counters.refused_new == 2 and spool.counters.dropped_clips == 2
    assert not [p for p in spool.clips_dir.iterdir() if p.name.endswith(".tmp")]


def test_given_clip_being_uploaded_when_quota_drops_then_pinned_clip_survives(tmp_path: Path) -> None:
    spool = _open(tmp_path, max_clips=2)
    first, second = _add(spool, 1), _add(spool, 2)
    in_flight = spool.oldest()
    assert in_flight is not None and in_flight.meta.clip_id == first
    spool.pin(in_flight)
    _add(spool, 3)
    ids = [m.clip_id for m in spool.stats(with_entries=True).entries]
    assert first in ids and second not in ids


def test_given_clip_larger_than_quota_when_added_then_refused_under_any_policy(tmp_path: Path) -> None:
    spool = _open(tmp_path, max_bytes=100)
    assert _add(spool, 1) == ""
    assert spool.counters.dropped_clips == 1


def test_given_corrupted_file_when_verified_then_detected_and_rejection_keeps_it(tmp_path: Path) -> None:
    spool = _open(tmp_path)
    _add(spool, 1)
    entry = spool.oldest()
    assert entry is not None
    with open(entry.audio_path, "r+b") as fh:
        fh.seek(100)
        fh.write(b"\x00\x01\x02")
    assert not spool.verify(entry)
    spool.reject(entry, "corrupt on disk")
    assert spool.stats().clips == 0 and spool.counters.rejected_clips == 1
    note = json.loads((tmp_path / "rejected" / f"{entry.meta.name}.reason.json").read_text())
    assert note["reason"] == "corrupt on disk" and note["meta"]["clip_id"] == entry.meta.clip_id


def test_given_many_rejections_when_set_aside_then_rejected_folder_is_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert MAX_REJECTED >= 50  # the real bound; a small one keeps the test fast
    monkeypatch.setattr("humwatch_edge.spool.MAX_REJECTED", 5)
    spool = _open(tmp_path)
    for i in range(5 + 3):
        _add(spool, i)
        entry = spool.oldest()
        assert entry is not None
        spool.reject(entry, "bad_request")
    kept = sorted(p.name for p in (tmp_path / "rejected").glob("*.flac"))
    assert len(kept) == 5 and kept[0].startswith("000000000004_")  # the oldest three went


def test_given_running_spool_when_read_only_stats_then_nothing_repaired(tmp_path: Path) -> None:
    spool = _open(tmp_path)
    _add(spool, 1)
    _stage_crash(spool, "audio half written")  # as if a capture were being written right now
    stats = read_only_stats(tmp_path)
    assert stats.clips == 1
    assert any(p.name.endswith(".tmp") for p in spool.clips_dir.iterdir())


def test_given_a_clip_whose_metadata_became_unreadable_when_status_reads_then_it_is_counted_and_named(
    tmp_path: Path,
) -> None:
    # Given a running spool with three committed clips, and the metadata of one of them damaged on
    # disk after the agent indexed it (the agent still holds and will deliver it)
    spool = _open(tmp_path)
    for seed in (1, 2, 3):
        _add(spool, seed)
    damaged = sorted(spool.clips_dir.glob("*.json"))[1]
    damaged.write_bytes(b"\x00" * 20)
    # When `status` reads the spool without opening it
    stats = read_only_stats(tmp_path)
    # Then all three clips and their bytes are counted, and the damaged one is named
    assert stats.clips == spool.stats().clips == 3
    assert stats.bytes == spool.stats().bytes
    assert len(stats.entries) == 2
    assert len(stats.unreadable) == 1 and stats.unreadable[0].startswith(damaged.name)


def test_given_unwritable_directory_when_opened_then_clear_spool_error(tmp_path: Path) -> None:
    from humwatch_edge.errors import SpoolError

    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(SpoolError, match="cannot create spool directory"):
        Spool(blocker / "spool", max_bytes=1, max_clips=1).open()


def test_given_corrupt_state_file_when_opened_then_counters_restart_and_clips_kept(tmp_path: Path) -> None:
    spool = _open(tmp_path)
    clip_id = _add(spool, 1)
    (tmp_path / "state.json").write_text("{not json")
    reopened = _open(tmp_path)
    assert [m.clip_id for m in reopened.stats(with_entries=True).entries] == [clip_id]
    assert reopened.counters.next_seq == 2
    assert os.path.exists(tmp_path / "state.json")


def test_given_disk_full_when_adding_then_clip_counted_as_lost_and_no_temp_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from humwatch_edge.errors import SpoolError

    spool = _open(tmp_path)
    real_write = __import__("humwatch_edge.spool", fromlist=["_write_synced"])._write_synced

    def full_disk(path: Path, data: bytes) -> None:
        if path.parent == spool.clips_dir and path.name.endswith(".json.tmp"):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(path, data)

    monkeypatch.setattr("humwatch_edge.spool._write_synced", full_disk)
    with pytest.raises(SpoolError, match="No space left on device"):
        _add(spool, 1)
    monkeypatch.undo()
    assert spool.counters.write_failures == 1 and spool.counters.dropped_clips == 1
    assert not list(spool.clips_dir.iterdir())
    assert _open(tmp_path).counters.write_failures == 1
