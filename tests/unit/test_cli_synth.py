"""`humwatch synth`: writes the clips and manifest it says, explains itself, fails cleanly."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import humwatch.cli.data  # noqa: F401  (registers the command)
from humwatch.audio import decode_audio
from humwatch.cli import cli, main


def manifest_rows(folder: Path) -> list[dict[str, str]]:
    with (folder / "manifest.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_given_help_when_asked_then_it_explains_with_an_example() -> None:
    result = CliRunner().invoke(cli, ["synth", "--help"])
    assert result.exit_code == 0
    assert "humwatch synth --out data/train --clips 300" in result.output
    for option in (
        "--snr",
        "--fault",
        "--severity",
        "--anomalies",
        "--machine-seed",
        "--format",
        "--generator",
    ):
        assert option in result.output


def test_given_normal_and_anomalies_when_synthesised_then_files_and_manifest_match(tmp_path: Path) -> None:
    out = tmp_path / "data"
    args = ["synth", "--out", str(out), "--clips", "2", "--fault", "rubbing", "--anomalies", "1"]
    args += ["--machine", "pump", "--snr", "6", "--seed", "3", "--machine-seed", "4", "--duration", "2.5"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "wrote 3 clips (2 normal, 1 rubbing)" in result.output
    rows = manifest_rows(out)
    assert [(r["path"], r["label"], r["fault"]) for r in rows] == [
        ("anomaly_rubbing_0000.wav", "anomaly", "rubbing"),
        ("normal_0000.wav", "normal", ""),
        ("normal_0001.wav", "normal", ""),
    ]
    assert {(r["machine_type"], r["machine_seed"], r["snr_db"]) for r in rows} == {("pump", "4", "6")}
    assert decode_audio(out / "normal_0000.wav").duration_s == pytest.approx(2.5)


def test_given_fault_all_in_flac_when_synthesised_then_each_fault_written(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "synth",
            "--out",
            str(tmp_path),
            "--clips",
            "1",
            "--fault",
            "all",
            "--format",
            "flac",
            "--duration",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = manifest_rows(tmp_path)
    assert sorted(r["fault"] for r in rows) == ["bearing", "blade", "imbalance", "rubbing", "speed"]
    assert all(r["path"].endswith(".flac") and (tmp_path / r["path"]).is_file() for r in rows)


def test_given_the_same_seed_twice_when_synthesised_then_identical_files(tmp_path: Path) -> None:
    for name in ("a", "b"):
        args = ["synth", "--out", str(tmp_path / name), "--clips", "1", "--duration", "2", "--seed", "9"]
        assert CliRunner().invoke(cli, args).exit_code == 0
    assert (tmp_path / "a" / "normal_0000.wav").read_bytes() == (
        tmp_path / "b" / "normal_0000.wav"
    ).read_bytes()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--clips", "1", "--anomalies", "2"], "--anomalies needs --fault"),
        (["--clips", "0"], "nothing to write"),
        (["--clips", "1", "--severity", "1.5"], "1.5 is not in the range"),
        (["--clips", "1", "--fault", "gremlins"], "'gremlins' is not one of"),
    ],
)
def test_given_bad_options_when_run_then_one_line_error_and_no_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["synth", "--out", str(tmp_path / "x"), *args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()


def test_given_the_orders_generator_when_synthesised_then_same_layout_and_rows_name_it(
    tmp_path: Path,
) -> None:
    # Given the second generator chosen by flag
    args = ["synth", "--out", str(tmp_path), "--clips", "1", "--fault", "blade", "--anomalies", "1"]
    result = CliRunner().invoke(
        cli, [*args, "--generator", "orders", "--machine-seed", "901", "--duration", "2"]
    )
    # Then it writes synth's layout, says which generator, and every row names it
    assert result.exit_code == 0, result.output
    assert "of orders fan #901" in result.output
    rows = manifest_rows(tmp_path)
    assert [(r["path"], r["generator"]) for r in rows] == [
        ("anomaly_blade_0000.wav", "orders"),
        ("normal_0000.wav", "orders"),
    ]
    # And the clips differ from synth's machine with the same seed: another generator rendered them
    synth_dir = tmp_path / "synth"
    assert (
        CliRunner()
        .invoke(
            cli,
            ["synth", "--out", str(synth_dir), "--clips", "1", "--machine-seed", "901", "--duration", "2"],
        )
        .exit_code
        == 0
    )
    orders_clip = decode_audio(tmp_path / "normal_0000.wav").samples
    synth_clip = decode_audio(synth_dir / "normal_0000.wav").samples
    assert not np.allclose(orders_clip, synth_clip)
