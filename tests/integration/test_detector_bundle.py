"""spectral-gauss end to end: `humwatch train` (default model type) -> bundle -> the serving Scorer.

Real processes, real files, real onnxruntime; plus the evaluation suite's quick mode and the real
DCASE recordings when they are present.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_process import humwatch

from humwatch.model.bundle import ModelBundle
from humwatch.research.synth import MachineSpec, write_dataset
from humwatch.scoring import Scorer, score_clip

CLIP_SECONDS = 4.0
# The fan's nameplate speed as a user would state it (write_dataset's machine 0, rounded to 0.1 rpm)
SHAFT_RPM = round(60.0 * MachineSpec.from_seed("fan", 0).rotation_hz, 1)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Given 16 normal clips of a fan and 3 clips with a severe speed fault
    out = tmp_path_factory.mktemp("fan")
    write_dataset(out, machine_type="fan", n_clips=16, snr_db=10.0, seed=5, duration_s=CLIP_SECONDS)
    write_dataset(
        out,
        machine_type="fan",
        n_clips=3,
        fault="speed",
        severity=1.0,
        snr_db=10.0,
        seed=6,
        duration_s=CLIP_SECONDS,
    )
    write_dataset(out / "unseen", machine_type="fan", n_clips=3, snr_db=10.0, seed=7, duration_s=CLIP_SECONDS)
    return out


@pytest.fixture(scope="module")
def model_dir(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    # When `humwatch train` runs with its default model type and the machine's nameplate speed
    out = tmp_path_factory.mktemp("model") / "fan"
    result = humwatch(
        "train",
        data_dir / "manifest.csv",
        "--out",
        out,
        "--model-id",
        "fan-sg",
        "--target-fpr",
        "0.01",
        "--shaft-rpm",
        str(SHAFT_RPM),
    )
    assert result.returncode == 0, result.stderr
    assert "threshold" in result.stdout
    return out


def test_the_bundle_is_a_calibrated_spectral_gauss_model(model_dir: Path) -> None:
    bundle = ModelBundle.load(model_dir)  # validates sha256, inputs/outputs, feature parameters
    manifest = json.loads((model_dir / "model.json").read_text())
    assert manifest["model_type"] == "spectral-gauss"
    assert manifest["onnx_outputs"] == [
        "score",
        "member_scores",
        "band_means",
        "member_z",
        "why_index",
        "why_value",
    ]
    assert [axis["member"] for axis in manifest["why"]["members"]] == manifest["detector"]["member_names"]
    assert manifest["why"]["shaft_hz"] == pytest.approx(SHAFT_RPM / 60.0)  # from --shaft-rpm
    assert manifest["threshold"]["validation"] == "out-of-fold"
    assert manifest["threshold"]["n_validation"] == 16  # every normal clip calibrates; anomalies skipped
    assert manifest["training"]["skipped_anomalies"] == 3
    assert len(manifest["training"]["band_means_mean"]) == bundle.manifest.features.n_mels
    assert len(manifest["training"]["score_samples"]) == 16


def test_the_serving_scorer_passes_unseen_normals_and_flags_the_fault(
    model_dir: Path, data_dir: Path
) -> None:
    scorer = Scorer.from_dir(model_dir)
    normal = [score_clip(scorer, p) for p in sorted((data_dir / "unseen").glob("normal_*.wav"))]
    faulty = [score_clip(scorer, p) for p in sorted(data_dir.glob("anomaly_speed_*.wav"))]
    assert [c.is_anomaly for c in normal] == [False] * 3
    assert [c.is_anomaly for c in faulty] == [True] * 3
    assert all(len(c.band_means) == 64 and c.model_id == "fan-sg" for c in normal + faulty)
    # and every clip carries the model's evidence unit: log(threshold / median calibration score)
    median = float(np.median(scorer.bundle.manifest.training.score_samples))
    assert all(c.normal_gap == pytest.approx(np.log(scorer.threshold / median)) for c in normal + faulty)
    assert all(c.normal_gap > 0 for c in normal)


def test_score_command_reads_the_bundle(model_dir: Path, data_dir: Path) -> None:
    files = [
        *sorted((data_dir / "unseen").glob("normal_*.wav"))[:1],
        *sorted(data_dir.glob("anomaly_*.wav"))[:1],
    ]
    result = humwatch("score", "--model", model_dir, "--format", "json", *files)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [r["is_anomaly"] for r in rows] == [False, True]
    # and each row says why: the member that fired and where (a speed fault moves lines)
    why = rows[1]["why"]
    assert why["member"] in ("modulation", "modulation_fine", "fine", "frames", "level")
    assert why["z"] == pytest.approx(np.log(rows[1]["score"]), abs=0.01)
    assert why["kind"] == "level" or why.get("frequency_hz") or why.get("band_hz")
    # and, the model knowing the shaft speed (--shaft-rpm), a modulation or line says its shaft order
    located = [r["why"] for r in rows if r["why"]["kind"] in ("modulation", "line")]
    assert located, "neither clip's why is a modulation or a line: nothing to check the order on"
    for said in located:
        assert said["shaft_order"] == pytest.approx(said["frequency_hz"] / (SHAFT_RPM / 60.0), abs=0.01)
    table = humwatch("score", "--model", model_dir, *files)
    assert table.returncode == 0, table.stderr
    assert "ANOMALY: " in table.stdout and "σ" in table.stdout.splitlines()[2]
    assert "x shaft speed)" in table.stdout


def test_blog_ae_stays_available(data_dir: Path, tmp_path: Path) -> None:
    result = humwatch("train", data_dir, "--out", tmp_path / "ae", "--model-type", "blog-ae", "--epochs", "2")
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "ae" / "model.json").read_text())["model_type"] == "blog-ae"


def test_an_option_the_default_detector_does_not_use_is_refused_with_a_clear_error(
    data_dir: Path, tmp_path: Path
) -> None:
    # Given the default detector (spectral-gauss has no epochs) and an autoencoder option
    result = humwatch("train", data_dir, "--out", tmp_path / "sg", "--epochs", "5")
    # Then the command stops with one clear line instead of ignoring the option, and writes nothing
    assert result.returncode == 2
    assert "error: spectral-gauss does not use the option(s) epochs" in result.stderr
    assert not (tmp_path / "sg").exists()


def test_the_shaft_speed_is_refused_for_the_autoencoder_which_cannot_say_why(
    data_dir: Path, tmp_path: Path
) -> None:
    # Given blog-ae (no why to say shaft orders in) and a nameplate speed
    result = humwatch(
        "train", data_dir, "--out", tmp_path / "ae", "--model-type", "blog-ae", "--shaft-rpm", "1470"
    )
    # Then the command stops with one clear line rather than dropping the speed, and writes nothing
    assert result.returncode == 2
    assert "error: blog-ae does not use the option(s) shaft_rpm" in result.stderr
    assert not (tmp_path / "ae").exists()


def test_evaluate_suite_quick_writes_the_table_and_json(tmp_path: Path) -> None:
    result = humwatch("evaluate-suite", "--out", tmp_path / "eval", "--quick", "--no-real")
    assert result.returncode == 0, result.stderr
    results = json.loads((tmp_path / "eval" / "eval.json").read_text())
    # Both generators, every detector, every fault
    assert set(results["generators"]) == {"synth", "orders"}
    for generator in results["generators"].values():
        case = generator["cases"][0]
        assert set(case["models"]) == {"spectral-gauss", "blog-ae"}
        assert set(case["models"]["spectral-gauss"]["faults"]) == {
            "bearing",
            "imbalance",
            "rubbing",
            "speed",
            "blade",
        }
        # Few-shot with as many clips as the detectors trained on is the served model's result:
        # the numpy fit on the front end's statistics and the trained bundle rank the clips alike
        n_train = str(case["n_train"])
        assert generator["few_shot"][n_train]["pooled"]["auc"] == pytest.approx(
            case["models"]["spectral-gauss"]["pooled"]["auc"], abs=0.02
        )
    assert {(r["tuned_on"], r["scored_on"]) for r in results["leave_one_generator_out"]} == {
        ("synth", "orders"),
        ("orders", "synth"),
    }
    table = (tmp_path / "eval" / "eval.md").read_text()
    assert "| 0 | - | 0.5 | 12 | spectral-gauss |" in table and "| 0 | - | 0.5 | 12 | blog-ae |" in table
    # The drifting case: its own rows and false-alarm rate beside the set point's, on both generators
    for name, generator in results["generators"].items():
        drifting = [c for c in generator["cases"] if c["drift"]]
        assert len(drifting) == 1 and set(drifting[0]["models"]) == {"spectral-gauss", "blog-ae"}
        assert set(generator["false_alarm_rate"]) == {"0.0", "0.0 drift"}
        assert f"| {name} | drifting | spectral-gauss | 12 |" in table
    assert "| 0 | level +-1.5 dB, speed +-1 % | 0.5 | 12 | spectral-gauss |" in table
    for section in ("## Targets", "## Few-shot", "## Leave one generator out"):
        assert section in table


def test_simulate_alerts_quick_writes_a_grid(tmp_path: Path) -> None:
    result = humwatch(
        "simulate-alerts",
        "--quick",
        "--days",
        "2",
        "--policy",
        "3/5",
        "--fpr",
        "0.01",
        "--evidence",
        "0",
        "--evidence",
        "5",
        "--out",
        tmp_path / "sim",
    )
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "sim" / "alerts.json").read_text())
    assert [(row["k"], row["n"], row["evidence"], row["target_fpr"]) for row in report["grid"]] == [
        (3, 5, 0.0, 0.01),
        (3, 5, 5.0, 0.01),
    ]
    assert "| 3/5 or evidence 5 | 0.01 |" in (tmp_path / "sim" / "alerts.md").read_text()
    assert report["grid"][0]["normal_clip_fpr"] < 0.2


def test_bad_policy_is_a_clean_error() -> None:
    result = humwatch("simulate-alerts", "--out", "/tmp/never", "--policy", "5/3")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "k <= n" in result.stderr


@pytest.mark.shared_data
def test_real_dcase_machine_unseen_normals_pass_and_the_anomaly_alarms(real_data_dir: Path) -> None:
    from humwatch.datasets import load_labelled_clips
    from humwatch.detectors import DEFAULT_DETECTOR, train_bundle

    # Given the first 60 normal clips of the real DCASE id_00 machine
    clips = load_labelled_clips([real_data_dir / "dcase2020-id00" / "train"])
    clips = sorted(clips, key=lambda c: c.path.name)
    bundle = train_bundle(DEFAULT_DETECTOR, clips[:60], None, target_fpr=0.01)
    scorer = Scorer(bundle)
    # When the other 15 normals and the anomaly are scored
    normal = [score_clip(scorer, c.path) for c in clips[60:]]
    anomaly = [
        score_clip(scorer, p) for p in (real_data_dir / "dcase2020-id00" / "test" / "anomaly").glob("*.wav")
    ]
    # Then at most one normal clip is flagged and the anomaly is
    assert sum(c.is_anomaly for c in normal) <= 1
    assert all(c.is_anomaly for c in anomaly)
