"""`humwatch-edge check` and `status` against a real broker and a real spool."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from edge_harness import Cloud, edge_document, write_toml

from humwatch.pki import issue_cert, make_ca


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "humwatch_edge", *args], capture_output=True, text=True, timeout=60
    )


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    import numpy as np
    import soundfile as sf

    path = tmp_path / "recordings"
    path.mkdir()
    sf.write(path / "a.wav", np.zeros(1600, dtype=np.float32), 16000)
    return path


def test_given_valid_device_when_check_then_every_check_passes(
    tmp_path: Path, cloud: Cloud, folder: Path
) -> None:
    document = edge_document(
        tmp_path / "spool", cloud.device(), cloud, source={"source": "folder", "folder": str(folder)}
    )
    result = _cli("--config", str(write_toml(tmp_path / "edge.toml", document)), "check")
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("certificates", "endpoint", "mqtt session", "spool", "capture source"):
        assert any(line.startswith("ok") and name in line for line in result.stdout.splitlines()), name


def test_given_key_of_another_certificate_when_check_then_mismatch_reported(
    tmp_path: Path, cloud: Cloud, folder: Path
) -> None:
    device = cloud.device()
    _, other_key = issue_cert(cloud.ca, "fan-99", tmp_path / "other")
    document = edge_document(
        tmp_path / "spool", device, cloud, source={"source": "folder", "folder": str(folder)}
    )
    document["mqtt"]["key_file"] = str(other_key)
    result = _cli("--config", str(write_toml(tmp_path / "edge.toml", document)), "check")
    assert result.returncode == 1
    assert "does not belong to certificate" in result.stdout


def test_given_certificate_from_unknown_ca_when_check_then_session_refusal_reported(
    tmp_path: Path, cloud: Cloud, folder: Path
) -> None:
    rogue = make_ca(tmp_path / "rogue", common_name="rogue")
    document = edge_document(
        tmp_path / "spool", cloud.device(ca=rogue), cloud, source={"source": "folder", "folder": str(folder)}
    )
    result = _cli("--config", str(write_toml(tmp_path / "edge.toml", document)), "check")
    assert result.returncode == 1
    assert any(line.startswith("FAIL") and "mqtt session" in line for line in result.stdout.splitlines())


def test_given_bad_values_when_run_then_one_line_per_problem_and_no_traceback(
    tmp_path: Path,
) -> None:
    config = tmp_path / "edge.toml"
    config.write_text('[device]\nthing_name = "fan 01"\n[capture]\ninterval_s = -5\n')
    result = _cli("--config", str(config), "run")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "device.thing_name (HUMWATCH_EDGE_DEVICE_THING_NAME) = 'fan 01'" in result.stderr
    assert "capture.interval_s (HUMWATCH_EDGE_CAPTURE_INTERVAL_S) = -5: must be > 0" in result.stderr
    assert "mqtt.endpoint (HUMWATCH_EDGE_MQTT_ENDPOINT): required" in result.stderr


def test_given_spool_with_clips_when_status_then_lists_them_and_counters(tmp_path: Path) -> None:
    import numpy as np

    from humwatch_edge.encode import encode_flac
    from humwatch_edge.spool import Spool

    spool = Spool(tmp_path / "spool", max_bytes=10_000_000, max_clips=100)
    spool.open()
    clip = encode_flac(np.zeros(1600, dtype=np.float32), 16000)
    spool.add(
        clip,
        clip_id="1b4e28ba-2fa1-11d2-883f-0016d3cca427",
        captured_at="2026-11-26T14:05:00Z",
        sample_rate=16000,
        duration_s=0.1,
    )
    config = tmp_path / "edge.toml"
    config.write_text(f'[device]\nthing_name = "fan-01"\n[spool]\ndir = "{tmp_path / "spool"}"\n')
    result = _cli("--config", str(config), "status", "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["clips"] == 1 and document["bytes"] == clip.size
    assert document["entries"][0]["clip_id"] == "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
    assert document["counters"]["spooled_clips"] == 1
    text = _cli("--config", str(config), "status")
    assert "1 clips waiting" in text.stdout and "2026-11-26T14:05:00Z" in text.stdout
