"""humwatch.datasets: folders and manifests -> sorted labelled clip lists, with clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from humwatch.datasets import LabelledClip, count_labels, label_from_path, load_labelled_clips
from humwatch.errors import DatasetError, NotFound


def touch(root: Path, *relative: str) -> list[Path]:
    paths = []
    for rel in relative:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"RIFF")  # content is irrelevant here: datasets never decodes
        paths.append(path)
    return paths


def labels(clips: list[LabelledClip], root: Path) -> dict[str, str | None]:
    return {clip.path.relative_to(root).as_posix(): clip.label for clip in clips}


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        ("dev/fan/train/normal_id_00_00000000.wav", "normal"),  # DCASE 2020 file prefix
        ("dev/fan/test/anomaly_id_00_00000001.wav", "anomaly"),
        ("fan/id_00/abnormal/00000000.wav", "anomaly"),  # MIMII: label from the folder
        ("fan/id_00/normal/00000000.wav", "normal"),
        ("fan/test/section_00_source_test_anomaly_0022_m-n_W.wav", "anomaly"),  # DCASE 2023 token
        ("fan/test/section_00_target_test_normal_0003_x.flac", "normal"),
        ("synth/anomaly_bearing_0003.flac", "anomaly"),
        ("anomaly/normal_0001.wav", "normal"),  # the file name beats the folder
        ("recordings/2026-11-26/clip_0001.wav", None),  # no label word anywhere
        ("abnormality/normalised.wav", None),  # label words must be whole tokens
    ],
)
def test_given_a_path_when_labelled_then_from_name_or_nearest_folder(
    relative: str, expected: str | None
) -> None:
    assert label_from_path(Path("/data") / relative) == expected


def test_given_dcase_and_mimii_folder_layouts_when_loaded_then_labelled_and_sorted(tmp_path: Path) -> None:
    touch(
        tmp_path,
        "mimii/fan/id_00/normal/00000001.wav",
        "mimii/fan/id_00/normal/00000000.wav",
        "mimii/fan/id_00/abnormal/00000000.wav",
        "dcase/fan/train/normal_id_00_00000000.wav",
        "dcase/fan/test/anomaly_id_00_00000000.WAV",
        "dcase/fan/test/notes.txt",
        "dcase/fan/test/clip.flac",
    )
    clips = load_labelled_clips([tmp_path / "mimii", tmp_path / "dcase"])
    assert labels(clips, tmp_path) == {
        "dcase/fan/test/anomaly_id_00_00000000.WAV": "anomaly",
        "dcase/fan/test/clip.flac": None,
        "dcase/fan/train/normal_id_00_00000000.wav": "normal",
        "mimii/fan/id_00/abnormal/00000000.wav": "anomaly",
        "mimii/fan/id_00/normal/00000000.wav": "normal",
        "mimii/fan/id_00/normal/00000001.wav": "normal",
    }
    assert [c.path for c in clips] == sorted(c.path for c in clips)
    assert clips[0].source == tmp_path / "dcase"
    assert count_labels(clips) == {"normal": 3, "anomaly": 2, "unlabelled": 1}


def test_given_overlapping_sources_when_loaded_then_each_clip_once(tmp_path: Path) -> None:
    (clip,) = touch(tmp_path, "normal/a.wav")
    clips = load_labelled_clips([tmp_path, tmp_path / "normal", clip])
    assert [c.path for c in clips] == [clip]


def test_given_a_manifest_when_loaded_then_paths_relative_to_it_and_meta_kept(tmp_path: Path) -> None:
    touch(tmp_path, "data/x/one.wav", "data/two.flac", "data/three.wav")
    manifest = tmp_path / "data" / "manifest.csv"
    manifest.write_text(
        "path,label,machine_type,fault\n"
        "x/one.wav,normal,fan,\n"
        "two.flac,abnormal,fan,bearing\n"
        "three.wav,,pump,\n"
    )
    clips = load_labelled_clips([str(manifest)])
    assert labels(clips, tmp_path / "data") == {
        "three.wav": None,
        "two.flac": "anomaly",
        "x/one.wav": "normal",
    }
    by_name = {c.path.name: c for c in clips}
    assert by_name["two.flac"].fault == "bearing"
    assert by_name["one.wav"].fault is None
    assert by_name["three.wav"].meta["machine_type"] == "pump"
    assert all(c.source == manifest for c in clips)


def test_given_a_manifest_without_label_column_when_loaded_then_labels_from_paths(tmp_path: Path) -> None:
    touch(tmp_path, "normal/a.wav", "anomaly_b.wav")
    manifest = tmp_path / "list.csv"
    manifest.write_text("path\nnormal/a.wav\nanomaly_b.wav\n")
    assert labels(load_labelled_clips([manifest]), tmp_path) == {
        "anomaly_b.wav": "anomaly",
        "normal/a.wav": "normal",
    }


def test_given_missing_sources_when_loaded_then_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="does not exist"):
        load_labelled_clips([tmp_path / "nowhere"])
    (tmp_path / "empty").mkdir()
    touch(tmp_path, "empty/readme.txt")
    with pytest.raises(NotFound, match=r"no \.wav or \.flac"):
        load_labelled_clips([tmp_path / "empty"])
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,label\ngone.wav,normal\n")
    with pytest.raises(NotFound, match=r"m\.csv:2: clip gone\.wav does not exist"):
        load_labelled_clips([manifest])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("file,label\na.wav,normal\n", "no 'path' column"),
        ("path,label\n", "no rows"),
        ("path,label\na.wav,broken\n", r"m\.csv:2: unknown label 'broken'"),
        ("path,label\n,normal\n", "empty path"),
    ],
)
def test_given_a_bad_manifest_when_loaded_then_dataset_error(
    tmp_path: Path, content: str, message: str
) -> None:
    touch(tmp_path, "a.wav")
    manifest = tmp_path / "m.csv"
    manifest.write_text(content)
    with pytest.raises(DatasetError, match=message):
        load_labelled_clips([manifest])


def test_given_a_binary_csv_or_other_file_when_loaded_then_dataset_error(tmp_path: Path) -> None:
    binary = tmp_path / "m.csv"
    binary.write_bytes(b"\xff\xfe\x00garbage\x81")
    with pytest.raises(DatasetError, match="UTF-8"):
        load_labelled_clips([binary])
    other = tmp_path / "notes.txt"
    other.write_text("hello")
    with pytest.raises(DatasetError, match="neither"):
        load_labelled_clips([other])
    with pytest.raises(DatasetError, match="no dataset sources"):
        load_labelled_clips([])


@pytest.mark.shared_data
def test_given_the_real_manifest_when_loaded_then_every_clip_labelled_as_its_path_says(
    real_data_dir: Path,
) -> None:
    clips = load_labelled_clips([real_data_dir / "manifest.csv"])
    assert len(clips) == 140
    assert count_labels(clips) == {"normal": 117, "anomaly": 23, "unlabelled": 0}
    assert all(label_from_path(c.path) == c.label for c in clips)
    assert {c.meta["channels"] for c in clips} == {"1", "8"}
    # The real folder, scanned as a folder, gives the same clips and labels.
    assert [(c.path, c.label) for c in load_labelled_clips([real_data_dir])] == [
        (c.path, c.label) for c in clips
    ]


@pytest.mark.shared_data
def test_given_the_dcase_2020_folder_when_loaded_then_75_normals_in_a_stable_order(
    real_data_dir: Path,
) -> None:
    clips = load_labelled_clips([real_data_dir / "dcase2020-id00"])
    normals = [c for c in clips if c.label == "normal"]
    assert len(normals) == 75 and count_labels(clips)["anomaly"] == 1
    assert normals[0].path.name == "normal_id_00_00000000.wav"
    assert normals[59].path.name == "normal_id_00_00000059.wav"
