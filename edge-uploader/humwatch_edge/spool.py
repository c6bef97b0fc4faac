"""The durable on-disk spool: every recorded clip waits here until S3 has it.

Layout (`spool.dir`):

    state.json                         counters (drops, uploads, last error) and the next sequence
    clips/{seq:012d}_{clip_id}.flac    the clip
    clips/{seq:012d}_{clip_id}.json    its metadata: the commit record
    rejected/                          clips the cloud refused for good (kept for an operator)

Commit protocol (a power cut at any instant leaves either no clip or a whole one):
1. write `X.flac.tmp`, fsync; write `X.json.tmp`, fsync;
2. rename `X.json.tmp` -> `X.json`, fsync the directory (the metadata, with the clip's size and
   MD5, is now durable);
3. rename `X.flac.tmp` -> `X.flac`, fsync the directory.
Removal deletes `X.flac` first, then `X.json`. On start, `open()` repairs whatever a crash left:
a `.json` whose `.flac.tmp` is complete (size and MD5 match) is finished; any other temp file or
a `.json` without audio is deleted; a `.flac` without metadata is moved to `rejected/`.

Ordering is by a sequence number, never by wall-clock time: a Raspberry Pi without a real-time
clock can boot with a clock that is hours off until NTP corrects it.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import os
import shutil
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from humwatch_edge.contract import CONTENT_TYPE_FLAC
from humwatch_edge.encode import EncodedClip
from humwatch_edge.errors import SpoolError

log = logging.getLogger(__name__)

POLICY_DROP_OLDEST = "drop-oldest"
POLICY_REFUSE_NEW = "refuse-new"
MAX_REJECTED = 100  # refused-for-good clips kept for inspection; oldest removed beyond this
_AUDIO, _META, _TMP = ".flac", ".json", ".tmp"


@dataclass(frozen=True)
class ClipMeta:
    seq: int
    clip_id: str
    captured_at: str  # RFC3339 UTC
    size: int
    md5: str  # base64
    sample_rate: int
    duration_s: float
    content_type: str = CONTENT_TYPE_FLAC

    @property
    def name(self) -> str:
        return f"{self.seq:012d}_{self.clip_id}"

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> ClipMeta:
        raw: Any = json.loads(data)
        if not isinstance(raw, dict):
            raise ValueError("metadata is not a JSON object")
        return cls(
            seq=int(raw["seq"]),
            clip_id=str(raw["clip_id"]),
            captured_at=str(raw["captured_at"]),
            size=int(raw["size"]),
            md5=str(raw["md5"]),
            sample_rate=int(raw["sample_rate"]),
            duration_s=float(raw["duration_s"]),
            content_type=str(raw.get("content_type", CONTENT_TYPE_FLAC)),
        )


@dataclass(frozen=True)
class SpoolEntry:
    meta: ClipMeta
    audio_path: Path
    meta_path: Path


@dataclass
class SpoolCounters:
    """Persisted in state.json so drops and uploads survive restarts (telemetry reports them)."""

    next_seq: int = 1
    spooled_clips: int = 0
    uploaded_clips: int = 0
    dropped_clips: int = 0  # every clip lost: dropped oldest + refused new + write failures
    dropped_oldest: int = 0
    refused_new: int = 0
    dropped_bytes: int = 0
    write_failures: int = 0  # clips that could not be written (disk full, I/O error)
    rejected_clips: int = 0  # refused for good by the cloud, moved to rejected/
    recovered_clips: int = 0  # commits finished by open() after a crash
    last_upload_at: str | None = None
    last_error: str | None = None
    last_drop_at: str | None = None

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> SpoolCounters:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in raw.items() if k in known})


@dataclass(frozen=True)
class SpoolStats:
    clips: int
    bytes: int
    oldest: ClipMeta | None
    newest: ClipMeta | None
    counters: SpoolCounters
    disk_free_bytes: int
    entries: list[ClipMeta] = field(default_factory=list)
    # Committed clips whose metadata cannot be read now (counted in `clips`; `status` names them).
    unreadable: list[str] = field(default_factory=list)


@dataclass
class RecoveryReport:
    clips: int = 0
    completed: int = 0  # commits finished from a verified temp file
    removed_temp: int = 0  # partial captures / uncommitted temp files deleted
    removed_stale_meta: int = 0  # metadata whose clip was already uploaded (interrupted delete)
    orphans_set_aside: int = 0  # audio without metadata, moved to rejected/


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _md5_b64(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 16), b""):
            digest.update(block)
    return base64.b64encode(digest.digest()).decode("ascii")


class Spool:
    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        max_bytes: int,
        max_clips: int,
        policy: str = POLICY_DROP_OLDEST,
    ) -> None:
        if policy not in (POLICY_DROP_OLDEST, POLICY_REFUSE_NEW):
            raise ValueError(f"unknown spool policy {policy!r}")
        self.root = Path(directory)
        self.clips_dir = self.root / "clips"
        self.rejected_dir = self.root / "rejected"
        self.state_path = self.root / "state.json"
        self.max_bytes = max_bytes
        self.max_clips = max_clips
        self.policy = policy
        self.counters = SpoolCounters()
        self._entries: dict[int, SpoolEntry] = {}  # seq -> entry, kept in insertion (= seq) order
        self._bytes = 0
        self._pinned: set[int] = set()
        self._lock = threading.RLock()
        self.changed = threading.Condition(self._lock)  # notified when a clip is added

    # --- start-up ---------------------------------------------------------------------------------
    def open(self) -> RecoveryReport:
        """Create the directories, repair what a crash left, and index the committed clips."""
        try:
            self.clips_dir.mkdir(parents=True, exist_ok=True)
            self.rejected_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SpoolError(f"cannot create spool directory {self.root}: {exc.strerror}") from exc
        with self._lock:
            self.counters = self._load_counters()
            report = self._recover()
            entries = self._scan()
            self._entries = {e.meta.seq: e for e in entries}
            self._bytes = sum(e.meta.size for e in entries)
            highest = max(self._entries, default=0)
            self.counters.next_seq = max(self.counters.next_seq, highest + 1)
            self.counters.recovered_clips += report.completed
            report.clips = len(entries)
            self._save_counters()
        return report

    def _load_counters(self) -> SpoolCounters:
        try:
            raw = json.loads(self.state_path.read_bytes())
            return SpoolCounters.from_dict(raw) if isinstance(raw, dict) else SpoolCounters()
        except FileNotFoundError:
            return SpoolCounters()
        except (OSError, ValueError, TypeError) as exc:
            # Counters are reporting, not data: start them again rather than refuse to run.
            log.warning("spool state %s unreadable (%s); counters restart at zero", self.state_path, exc)
            return SpoolCounters()

    def _recover(self) -> RecoveryReport:
        report = RecoveryReport()
        names = {p.name for p in self.clips_dir.iterdir()}
        for name in sorted(names):
            path = self.clips_dir / name
            if name.endswith(_META + _TMP):
                path.unlink(missing_ok=True)  # metadata never committed: the capture never was
                report.removed_temp += 1
            elif name.endswith(_META):
                stem = name[: -len(_META)]
                if stem + _AUDIO in names:
                    continue
                if stem + _AUDIO + _TMP in names and self._finish_commit(stem):
                    report.completed += 1
                    continue
                path.unlink(missing_ok=True)  # its audio was uploaded and deleted, or never completed
                report.removed_stale_meta += 1
        names = {p.name for p in self.clips_dir.iterdir()}
        for name in sorted(names):
            path = self.clips_dir / name
            if name.endswith(_TMP):
                path.unlink(missing_ok=True)
                report.removed_temp += 1
            elif name.endswith(_AUDIO) and name[: -len(_AUDIO)] + _META not in names:
                self._set_aside(path, "orphan audio without metadata")
                report.orphans_set_aside += 1
        fsync_dir(self.clips_dir)
        if report.completed or report.removed_temp or report.removed_stale_meta or report.orphans_set_aside:
            log.warning("spool recovered after an unclean stop: %s", report)
        return report

    def _finish_commit(self, stem: str) -> bool:
        meta_path = self.clips_dir / (stem + _META)
        tmp_audio = self.clips_dir / (stem + _AUDIO + _TMP)
        try:
            meta = ClipMeta.from_json(meta_path.read_bytes())
            complete = tmp_audio.stat().st_size == meta.size and _md5_b64(tmp_audio) == meta.md5
        except (OSError, ValueError, KeyError, TypeError):
            return False
        if not complete:
            return False
        os.replace(tmp_audio, self.clips_dir / (stem + _AUDIO))
        return True

    def _scan(self) -> list[SpoolEntry]:
        entries: list[SpoolEntry] = []
        for meta_path in sorted(self.clips_dir.glob("*" + _META)):
            audio_path = meta_path.with_suffix(_AUDIO)
            try:
                meta = ClipMeta.from_json(meta_path.read_bytes())
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.error("unreadable spool metadata %s (%s): set aside", meta_path.name, exc)
                self._set_aside(audio_path, f"unreadable metadata: {exc}")
                meta_path.unlink(missing_ok=True)
                continue
            entries.append(SpoolEntry(meta, audio_path, meta_path))
        entries.sort(key=lambda e: e.meta.seq)
        return entries

    # --- adding -----------------------------------------------------------------------------------
    def add(
        self,
        clip: EncodedClip,
        *,
        clip_id: str,
        captured_at: str,
        sample_rate: int,
        duration_s: float,
    ) -> SpoolEntry | None:
        """Commit a clip durably; None when the quota policy refused it (counted)."""
        with self._lock:
            if not self._make_room(clip.size):
                self.counters.refused_new += 1
                self.counters.dropped_clips += 1
                self.counters.dropped_bytes += clip.size
                self.counters.last_drop_at = captured_at
                self._save_counters()
                log.error(
                    "spool full (%d clips, %d bytes; policy %s): new clip %s dropped",
                    len(self._entries),
                    self._bytes,
                    self.policy,
                    clip_id,
                )
                return None
            meta = ClipMeta(
                seq=self.counters.next_seq,
                clip_id=clip_id,
                captured_at=captured_at,
                size=clip.size,
                md5=clip.md5,
                sample_rate=sample_rate,
                duration_s=duration_s,
            )
            self.counters.next_seq += 1
        try:
            entry = self._commit(meta, clip.data)
        except SpoolError:
            with self._lock:  # e.g. the disk is full: the clip is lost, and that must be reported
                self.counters.write_failures += 1
                self.counters.dropped_clips += 1
                self.counters.dropped_bytes += clip.size
                self.counters.last_drop_at = captured_at
                self._save_counters()
            raise
        with self._lock:
            self._entries[meta.seq] = entry
            self._bytes += meta.size
            self.counters.spooled_clips += 1
            self._save_counters()
            self.changed.notify_all()
        return entry

    def _commit(self, meta: ClipMeta, data: bytes) -> SpoolEntry:
        audio = self.clips_dir / (meta.name + _AUDIO)
        meta_path = self.clips_dir / (meta.name + _META)
        tmp_audio = audio.with_name(audio.name + _TMP)
        tmp_meta = meta_path.with_name(meta_path.name + _TMP)
        try:
            _write_synced(tmp_audio, data)
            _write_synced(tmp_meta, meta.to_json())
            os.replace(tmp_meta, meta_path)
            fsync_dir(self.clips_dir)
            os.replace(tmp_audio, audio)
            fsync_dir(self.clips_dir)
        except OSError as exc:
            for path in (tmp_audio, tmp_meta, meta_path):
                with contextlib.suppress(OSError):
                    path.unlink(missing_ok=True)
            raise SpoolError(f"cannot write clip to spool {self.clips_dir}: {exc.strerror}") from exc
        return SpoolEntry(meta, audio, meta_path)

    def _make_room(self, size: int) -> bool:
        """Apply the policy so one more clip of `size` bytes fits; False if it cannot."""
        if size > self.max_bytes:
            return False

        def full() -> bool:
            return len(self._entries) + 1 > self.max_clips or self._bytes + size > self.max_bytes

        if not full():
            return True
        if self.policy == POLICY_REFUSE_NEW:
            return False
        for seq in list(self._entries):
            if not full():
                break
            if seq in self._pinned:
                continue  # being uploaded right now: it is about to leave anyway
            entry = self._entries[seq]
            self._delete_files(entry)
            del self._entries[seq]
            self._bytes -= entry.meta.size
            self.counters.dropped_oldest += 1
            self.counters.dropped_clips += 1
            self.counters.dropped_bytes += entry.meta.size
            self.counters.last_drop_at = entry.meta.captured_at
            log.error(
                "spool full: dropped oldest clip %s captured %s (%d bytes)",
                entry.meta.clip_id,
                entry.meta.captured_at,
                entry.meta.size,
            )
        return not full()

    # --- delivery side ----------------------------------------------------------------------------
    def oldest(self) -> SpoolEntry | None:
        with self._lock:
            for entry in self._entries.values():
                return entry
            return None

    def wait_for_clip(self, timeout: float) -> SpoolEntry | None:
        with self._lock:
            if not self._entries:
                self.changed.wait(timeout)
            return self.oldest()

    def wake(self) -> None:
        """Release anyone blocked in wait_for_clip (used when stopping)."""
        with self._lock:
            self.changed.notify_all()

    def pin(self, entry: SpoolEntry) -> None:
        with self._lock:
            self._pinned.add(entry.meta.seq)

    def unpin(self, entry: SpoolEntry) -> None:
        with self._lock:
            self._pinned.discard(entry.meta.seq)

    def contains(self, entry: SpoolEntry) -> bool:
        with self._lock:
            return entry.meta.seq in self._entries

    def read(self, entry: SpoolEntry) -> bytes:
        return entry.audio_path.read_bytes()

    def verify(self, entry: SpoolEntry) -> bool:
        """True when the file on disk still has the size and MD5 it was committed with."""
        try:
            return entry.audio_path.stat().st_size == entry.meta.size and (
                _md5_b64(entry.audio_path) == entry.meta.md5
            )
        except OSError:
            return False

    def remove_uploaded(self, entry: SpoolEntry, uploaded_at: str) -> None:
        with self._lock:
            self._forget(entry)
            self._delete_files(entry)
            self.counters.uploaded_clips += 1
            self.counters.last_upload_at = uploaded_at
            self._save_counters()

    def reject(self, entry: SpoolEntry, reason: str) -> None:
        """Move a clip the cloud refused for good out of the queue, keeping it for an operator."""
        with self._lock:
            self._forget(entry)
            self._set_aside(entry.audio_path, reason, meta=entry.meta)
            entry.meta_path.unlink(missing_ok=True)
            fsync_dir(self.clips_dir)
            self.counters.rejected_clips += 1
            self.counters.last_error = f"clip {entry.meta.clip_id} rejected: {reason}"
            self._save_counters()

    def record_error(self, message: str | None) -> None:
        with self._lock:
            if self.counters.last_error != message:
                self.counters.last_error = message
                self._save_counters()

    def _forget(self, entry: SpoolEntry) -> None:
        if self._entries.pop(entry.meta.seq, None) is not None:
            self._bytes -= entry.meta.size
        self._pinned.discard(entry.meta.seq)

    def _delete_files(self, entry: SpoolEntry) -> None:
        # Audio first: a crash in between leaves metadata without audio, which open() removes.
        entry.audio_path.unlink(missing_ok=True)
        entry.meta_path.unlink(missing_ok=True)
        fsync_dir(self.clips_dir)

    def _set_aside(self, audio_path: Path, reason: str, meta: ClipMeta | None = None) -> None:
        if not audio_path.exists():
            return
        target = self.rejected_dir / audio_path.name
        os.replace(audio_path, target)
        note: dict[str, Any] = {"reason": reason}
        if meta is not None:
            note["meta"] = asdict(meta)
        _write_synced(target.with_suffix(".reason.json"), json.dumps(note).encode())
        fsync_dir(self.rejected_dir)
        kept = sorted(self.rejected_dir.glob("*" + _AUDIO))
        for old in kept[: max(0, len(kept) - MAX_REJECTED)]:
            old.unlink(missing_ok=True)
            old.with_suffix(".reason.json").unlink(missing_ok=True)

    def _save_counters(self) -> None:
        tmp = self.state_path.with_name(self.state_path.name + _TMP)
        try:
            _write_synced(tmp, json.dumps(asdict(self.counters), sort_keys=True).encode())
            os.replace(tmp, self.state_path)
            fsync_dir(self.root)
        except OSError as exc:
            log.error("cannot save spool counters to %s: %s", self.state_path, exc.strerror)

    # --- reporting --------------------------------------------------------------------------------
    def stats(self, *, with_entries: bool = False) -> SpoolStats:
        with self._lock:
            entries = [e.meta for e in self._entries.values()]
            return SpoolStats(
                clips=len(entries),
                bytes=self._bytes,
                oldest=entries[0] if entries else None,
                newest=entries[-1] if entries else None,
                counters=SpoolCounters(**asdict(self.counters)),
                disk_free_bytes=disk_free(self.root),
                entries=entries if with_entries else [],
            )


def disk_free(path: Path) -> int:
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return -1


def read_only_stats(directory: str | os.PathLike[str]) -> SpoolStats:
    """Spool contents without repairing anything: safe while `run` is using the spool."""
    root = Path(directory)
    spool = Spool(root, max_bytes=1, max_clips=1)
    spool.counters = spool._load_counters()
    metas: list[ClipMeta] = []
    unreadable: list[str] = []
    unreadable_bytes = 0
    clips_dir = root / "clips"
    if clips_dir.is_dir():
        for meta_path in sorted(clips_dir.glob("*" + _META)):
            try:
                metas.append(ClipMeta.from_json(meta_path.read_bytes()))
            except FileNotFoundError:
                continue  # uploaded or dropped by the running agent between listing and reading
            except (OSError, ValueError, KeyError, TypeError) as exc:
                # Still a committed clip (the running agent read it at start and will deliver it;
                # a restart sets it aside): count it and name it instead of hiding it.
                unreadable.append(f"{meta_path.name} ({exc})")
                audio_path = meta_path.with_suffix(_AUDIO)
                with contextlib.suppress(OSError):
                    unreadable_bytes += audio_path.stat().st_size
    metas.sort(key=lambda m: m.seq)
    return SpoolStats(
        clips=len(metas) + len(unreadable),
        bytes=sum(m.size for m in metas) + unreadable_bytes,
        oldest=metas[0] if metas else None,
        newest=metas[-1] if metas else None,
        counters=spool.counters,
        disk_free_bytes=disk_free(root) if root.exists() else -1,
        entries=metas,
        unreadable=unreadable,
    )
