"""`humwatch train` with few clips says what accuracy to expect (the few-shot results of make eval)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

import humwatch.cli.model  # noqa: F401  (registers the command)
from humwatch.cli import cli
from humwatch.detectors.few_shot import FEW_CLIPS, FEW_SHOT_POOLED_AUC, few_clips_warning
from humwatch.research.synth import write_dataset


@pytest.fixture(scope="module")
def twelve_clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("few")
    write_dataset(out, machine_type="fan", n_clips=12, snr_db=10.0, seed=4, duration_s=3.0)
    return out


def test_given_twelve_clips_when_training_then_stderr_says_the_accuracy_measured_with_ten(
    twelve_clips: Path, tmp_path: Path
) -> None:
    # Given 12 normal clips (fewer than the 50 below which train warns)
    # When the default detector is trained on them
    result = CliRunner().invoke(cli, ["train", str(twelve_clips), "--out", str(tmp_path / "model")])
    # Then training succeeds, and stderr (not stdout) gives the pooled AUC make eval measured with 10 clips
    assert result.exit_code == 0, result.output
    measured = FEW_SHOT_POOLED_AUC[10]
    expected = f"With 10 clips the default detector reached a pooled AUC of {measured['synth']:.3f} on synth"
    assert expected in result.stderr
    assert f"{measured['orders']:.3f} on orders machines" in result.stderr
    assert "200+ normal clips are recommended" in result.stderr
    assert "pooled AUC" not in result.stdout
    assert (tmp_path / "model" / "model.onnx").is_file()


def test_given_fewer_clips_than_any_measured_when_warned_then_it_says_to_expect_less() -> None:
    warning = few_clips_warning(6, "spectral-gauss")
    assert warning is not None
    assert "With 10 clips" in warning and "fewer than 10 were not measured, expect less" in warning


def test_given_thirty_clips_when_warned_then_the_thirty_clip_result_is_quoted() -> None:
    warning = few_clips_warning(45, "spectral-gauss")
    assert warning is not None and "With 30 clips" in warning
    assert f"{FEW_SHOT_POOLED_AUC[30]['orders']:.3f} on orders machines" in warning


def test_given_enough_clips_when_trained_then_no_few_clips_warning() -> None:
    assert few_clips_warning(FEW_CLIPS, "spectral-gauss") is None
    assert few_clips_warning(FEW_CLIPS - 1, "spectral-gauss") is not None


def test_given_the_autoencoder_when_warned_then_it_says_the_numbers_are_the_default_detectors() -> None:
    warning = few_clips_warning(20, "blog-ae")
    assert warning is not None and "(measured for spectral-gauss, not blog-ae)" in warning
