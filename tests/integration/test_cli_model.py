"""`humwatch train / evaluate / score` end to end, as a user runs them (real processes, real files)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_process import humwatch

from humwatch.research.synth import write_dataset

CLIP_SECONDS = 3.0


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Given a small synthetic fan data set: 20 normal clips and 4 with a bearing fault
    out = tmp_path_factory.mktemp("fan")
    write_dataset(out, machine_type="fan", n_clips=20, snr_db=10.0, seed=3, duration_s=CLIP_SECONDS)
    write_dataset(
        out,
        machine_type="fan",
        n_clips=4,
        fault="bearing",
        severity=1.0,
        snr_db=10.0,
        seed=3,
        duration_s=CLIP_SECONDS,
    )
    return out


@pytest.fixture(scope="module")
def model_dir(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("model") / "fan"
    result = humwatch(
        "train",
        data_dir / "manifest.csv",
        "--out",
        out,
        "--epochs",
        "8",
        "--seed",
        "1",
        "--model-id",
        "cli-fan",
        "--model-type",
        "blog-ae",  # this module checks the autoencoder's options (epochs); spectral-gauss is the default
    )
    assert result.returncode == 0, result.stderr
    assert "threshold" in result.stdout
    # 20 clips is far under what the alert defaults were tuned with: the command says so
    assert "note: trained on 20 normal clips" in result.stderr
    return out


def test_train_writes_a_bundle_from_normal_clips_only(model_dir: Path) -> None:
    manifest = json.loads((model_dir / "model.json").read_text())
    assert manifest["model_id"] == "cli-fan"
    assert manifest["training"]["n_clips"] == 20  # the 4 anomalies were not trained on
    assert manifest["training"]["skipped_anomalies"] == 4
    assert manifest["training"]["epochs"] == 8 and manifest["training"]["seed"] == 1
    assert (model_dir / "model.onnx").stat().st_size > 10_000


def test_evaluate_writes_metrics_report_and_plots(model_dir: Path, data_dir: Path, tmp_path: Path) -> None:
    report = tmp_path / "report"
    # The manifest carries each clip's fault, so the report has a per-fault table
    result = humwatch("evaluate", "--model", model_dir, data_dir / "manifest.csv", "--out", report)
    assert result.returncode == 0, result.stderr
    metrics = json.loads((report / "metrics.json").read_text())
    rates = {"auc", "pauc", "precision", "recall", "f1", "accuracy", "false_alarm_rate"}
    assert rates | {"threshold", "n_normal", "n_anomaly"} <= set(metrics)
    assert rates | {"threshold", "n_normal", "n_anomaly"} <= set(metrics["normal_positive"])
    assert (metrics["n_normal"], metrics["n_anomaly"]) == (20, 4)
    assert metrics["auc"] > 0.9  # a full-severity bearing fault at 10 dB SNR is easy
    assert metrics["per_fault"]["bearing"]["n"] == 4
    for png in ("scores.png", "roc.png", "confusion.png"):
        assert (report / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| auc |" in (report / "report.md").read_text()
    # A folder works too (labels from file names; no fault column, so no per-fault table)
    from_folder = humwatch("evaluate", "--model", model_dir, data_dir, "--out", tmp_path / "r2")
    assert from_folder.returncode == 0, from_folder.stderr
    assert "per_fault" not in json.loads((tmp_path / "r2" / "metrics.json").read_text())


def test_score_json_lists_each_file_and_exits_1_on_a_rejected_one(
    model_dir: Path, data_dir: Path, tmp_path: Path
) -> None:
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes((data_dir / "normal_0000.wav").read_bytes()[:300])
    files = [data_dir / "normal_0001.wav", data_dir / "anomaly_bearing_0000.wav", corrupt]
    result = humwatch("score", "--model", model_dir, "--format", "json", *files)
    assert result.returncode == 1
    rows = json.loads(result.stdout)
    assert [r["file"] for r in rows] == [str(f) for f in files]
    assert set(rows[0]) == {"file", "score", "threshold", "ratio", "is_anomaly", "why"}
    assert rows[0]["why"] is None  # the autoencoder cannot say which part of the sound moved
    assert rows[0]["is_anomaly"] is False and rows[1]["is_anomaly"] is True
    assert rows[1]["ratio"] == pytest.approx(rows[1]["score"] / rows[1]["threshold"])
    assert set(rows[2]) == {"file", "error"} and rows[2]["error"]["code"] in ("truncated", "not_audio")
    assert rows[2]["error"]["message"]


def test_score_table_exits_0_when_every_file_scores(model_dir: Path, data_dir: Path) -> None:
    result = humwatch(
        "score", "--model", model_dir, data_dir / "normal_0002.wav", data_dir / "anomaly_bearing_0001.wav"
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].split()[:2] == ["file", "score"]
    assert lines[1].endswith("normal") and lines[2].endswith("ANOMALY")


def test_errors_are_one_clean_line(tmp_path: Path, model_dir: Path) -> None:
    missing = humwatch("train", tmp_path / "nothing-here", "--out", tmp_path / "m")
    assert missing.returncode != 0
    assert "Traceback" not in missing.stderr and missing.stderr.strip().startswith("error:")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.json").write_text("{}")
    (broken / "model.onnx").write_bytes(b"x")
    bad_model = humwatch("score", "--model", broken, tmp_path / "x.wav")
    assert bad_model.returncode == 2 and "Traceback" not in bad_model.stderr
    assert bad_model.stderr.strip().startswith("error: model.json")


@pytest.mark.parametrize("command", ["train", "evaluate", "score"])
def test_help_explains_with_an_example(command: str) -> None:
    result = humwatch(command, "--help")
    assert result.returncode == 0 and "Examples:" in result.stdout and "humwatch " + command in result.stdout
