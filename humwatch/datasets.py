"""Turn dataset sources (folders, manifest CSVs, single files) into sorted labelled clip lists.

A folder is searched recursively for *.wav / *.flac. A clip's label comes from its file name
(prefix `normal_...`/`anomaly_...`, or a `normal`/`anomaly` token as in DCASE 2023's
`section_00_source_test_anomaly_0022_...`) or, failing that, from the nearest folder named
`normal`/`anomaly` (DCASE 2020 `train/normal/`, MIMII `id_00/abnormal/`). MIMII's `abnormal`
counts as anomaly. A clip with no label word is unlabelled (None): fine for scoring, not for
evaluation.

A manifest is a CSV with at least a `path` column (relative to the CSV's folder, or absolute)
and usually `label`; every other column is kept in `LabelledClip.meta`.

The result is sorted by path and free of duplicates, so "the first 60 normal clips" means the
same thing on every machine.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from humwatch.errors import DatasetError, NotFound

Label = Literal["normal", "anomaly"]
AUDIO_SUFFIXES = frozenset({".wav", ".flac"})
_LABEL_WORDS: dict[str, Label] = {
    "normal": "normal",
    "anomaly": "anomaly",
    "abnormal": "anomaly",
    "anomalous": "anomaly",
}
_TOKEN_SPLIT = re.compile(r"[_\-.\s]+")


@dataclass(frozen=True)
class LabelledClip:
    path: Path
    label: Label | None
    source: Path  # the folder, manifest or file it was listed by
    meta: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def fault(self) -> str | None:
        """The synthetic fault name when the manifest says (synth manifests do), else None."""
        return self.meta.get("fault") or None


def parse_label(value: str) -> Label | None:
    """A manifest label cell -> label; empty means unlabelled. Raises DatasetError if unknown."""
    word = value.strip().lower()
    if not word:
        return None
    if word not in _LABEL_WORDS:
        raise DatasetError(f"unknown label {value!r} (expected normal, anomaly or abnormal)")
    return _LABEL_WORDS[word]


def label_from_path(path: Path) -> Label | None:
    """Label from the file name (prefix first, then any token) or the nearest labelled folder."""
    tokens = [t.lower() for t in _TOKEN_SPLIT.split(path.stem) if t]
    if tokens and tokens[0] in _LABEL_WORDS:
        return _LABEL_WORDS[tokens[0]]
    in_name = {_LABEL_WORDS[t] for t in tokens if t in _LABEL_WORDS}
    if len(in_name) == 1:
        return in_name.pop()
    for part in reversed(path.parent.parts):
        if part.lower() in _LABEL_WORDS:
            return _LABEL_WORDS[part.lower()]
    return None


def _absolute(path: Path) -> Path:
    # abspath, not resolve(): keep the user's view of symlinked data folders.
    return Path(os.path.abspath(path))


def _is_audio(path: Path) -> bool:
    return path.suffix.lower() in AUDIO_SUFFIXES


def _from_folder(folder: Path) -> list[LabelledClip]:
    files = [p for p in folder.rglob("*") if _is_audio(p) and p.is_file()]
    if not files:
        raise NotFound(f"no .wav or .flac files under {folder}")
    return [LabelledClip(path=p, label=label_from_path(p), source=folder) for p in files]


def _from_manifest(manifest: Path) -> list[LabelledClip]:
    try:
        with manifest.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            columns = [c.strip() for c in (reader.fieldnames or [])]
            if "path" not in columns:
                raise DatasetError(f"{manifest}: no 'path' column in the header (found {columns})")
            rows = list(reader)
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{manifest}: not a UTF-8 text CSV ({exc.reason})") from None
    except csv.Error as exc:
        raise DatasetError(f"{manifest}: malformed CSV ({exc})") from None
    if not rows:
        raise DatasetError(f"{manifest}: no rows")
    clips = []
    for line, raw in enumerate(rows, start=2):
        row = {(k or "").strip(): (v or "").strip() for k, v in raw.items() if isinstance(v, str)}
        if not row.get("path"):
            raise DatasetError(f"{manifest}:{line}: empty path")
        path = _absolute(manifest.parent / row["path"])
        if not path.is_file():
            raise NotFound(f"{manifest}:{line}: clip {row['path']} does not exist")
        try:
            label = parse_label(row.get("label", "")) if "label" in columns else label_from_path(path)
        except DatasetError as exc:
            raise DatasetError(f"{manifest}:{line}: {exc.message}") from None
        meta = {k: v for k, v in row.items() if k not in ("path", "label")}
        clips.append(LabelledClip(path=path, label=label, source=manifest, meta=meta))
    return clips


def load_labelled_clips(sources: Iterable[str | os.PathLike[str]]) -> list[LabelledClip]:
    """Every clip named by the sources (folders, manifest CSVs, audio files), sorted by path.

    Raises NotFound for a missing source, a folder with no audio or a manifest row naming a
    missing file; DatasetError for a malformed manifest or an unusable source.
    """
    found: dict[Path, LabelledClip] = {}
    source_list = [Path(s) for s in sources]
    if not source_list:
        raise DatasetError("no dataset sources given")
    for source in source_list:
        source = _absolute(source)
        if source.is_dir():
            clips = _from_folder(source)
        elif source.is_file() and source.suffix.lower() == ".csv":
            clips = _from_manifest(source)
        elif source.is_file() and _is_audio(source):
            clips = [LabelledClip(path=source, label=label_from_path(source), source=source)]
        elif not source.exists():
            raise NotFound(f"dataset source {source} does not exist")
        else:
            raise DatasetError(f"{source} is neither a folder, a manifest .csv nor a .wav/.flac file")
        for clip in clips:
            found.setdefault(_absolute(clip.path), clip)  # the first source to list a clip wins
    return [found[p] for p in sorted(found, key=str)]


def count_labels(clips: Iterable[LabelledClip]) -> dict[str, int]:
    """{"normal": n, "anomaly": n, "unlabelled": n}: for progress messages and reports."""
    counts = {"normal": 0, "anomaly": 0, "unlabelled": 0}
    for clip in clips:
        counts[clip.label or "unlabelled"] += 1
    return counts
