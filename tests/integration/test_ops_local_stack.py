"""The operator commands against the real local stack (`humwatch local up`): publish a model,
provision a device, upload clips through MQTT with the provisioned certificate, then query."""

from __future__ import annotations

import io
import json
import time
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import soundfile as sf
from ops_seed import make_bundle, reset_moto_data, run

from humwatch.local.device_client import LocalDeviceClient
from humwatch.local.settings import LocalStackOptions
from humwatch.local.stack import LocalStack
from humwatch.research.synth import MachineSpec, synth_clip


@pytest.fixture
def local_stack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, moto_endpoint: str
) -> Iterator[dict[str, str]]:
    """A running local stack; yields the environment that points the CLI at its settings file.

    moto keeps its data per process, shared by every moto server in it: the stack's resources are
    wiped afterwards (through the session server) so later tests start from an empty account.
    """
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    stack = LocalStack(
        LocalStackOptions.build(workdir=tmp_path / ".humwatch", drift_interval_s=0, batch_window_s=0.2)
    )
    stack.start()
    try:
        yield {"HUMWATCH_LOCAL_SETTINGS": str(tmp_path / ".humwatch" / "local-stack.json")}
        assert stack.wait_until_drained(30)
    finally:
        stack.stop()
        reset_moto_data(moto_endpoint)


def _flac(seed: int) -> bytes:
    audio = synth_clip(MachineSpec.from_seed("fan", 1), seed=seed, duration_s=3.0)
    buf = io.BytesIO()
    sf.write(buf, audio, 16000, format="FLAC", subtype="PCM_16")
    return buf.getvalue()


def test_publish_provision_upload_and_query_through_the_local_stack(
    local_stack: dict[str, str], tmp_path: Path
) -> None:
    env = local_stack

    # Given a published default model and a device provisioned with --local
    make_bundle(tmp_path / "model", "v1")
    published = run(
        ["model", "publish", str(tmp_path / "model"), "--model-id", "fan-demo", "--default", "--local"],
        env=env,
        isolate=False,
    )
    assert published.exit_code == 0, published.output
    provisioned = run(
        [
            "provision-device",
            "fan-01",
            "--local",
            "--model",
            "fan-demo",
            "--machine-type",
            "fan",
            "--out",
            str(tmp_path / "fan-01"),
        ],
        env=env,
        isolate=False,
    )
    assert provisioned.exit_code == 0, provisioned.output
    mqtt = tomllib.loads((tmp_path / "fan-01" / "config.toml").read_text())["mqtt"]

    # When the device uploads three clips over mTLS with the certificate it was given
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
    with LocalDeviceClient(
        "fan-01",
        host=mqtt["endpoint"],
        port=mqtt["port"],
        ca_file=Path(mqtt["ca_file"]),
        cert_file=Path(mqtt["cert_file"]),
        key_file=Path(mqtt["key_file"]),
    ).connect() as device:
        uploads = [device.upload(_flac(i), captured_at=start + timedelta(minutes=i)) for i in range(3)]
    assert all(200 <= u.status < 300 for u in uploads)

    # Then history shows each clip scored by the published model, newest first
    def rows() -> list[dict[str, object]]:
        return list(
            json.loads(run(["history", "--local", "--format", "json"], env=env, isolate=False).stdout)
        )

    deadline = time.monotonic() + 30
    while len(rows()) < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    history = rows()
    assert [r["clip_id"] for r in history] == [u.clip_id for u in reversed(uploads)]
    assert {r["status"] for r in history} == {"SCORED"} and {r["model"] for r in history} == {"fan-demo@v1"}

    # And the operator can label a clip, see the device, and render the report
    labelled = run(
        ["label", "fan-01", uploads[0].clip_id, "--as", "normal", "--local"], env=env, isolate=False
    )
    assert labelled.exit_code == 0, labelled.output
    assert (
        json.loads(
            run(["history", "--local", "-d", "fan-01", "--format", "json"], env=env, isolate=False).stdout
        )[-1]["label"]
        == "normal"
    )
    devices = json.loads(run(["devices", "--local", "--format", "json"], env=env, isolate=False).stdout)
    assert [(d["device"], d["model"], d["last_clip_at"][:16]) for d in devices] == [
        ("fan-01", "fan-demo@v1", (start + timedelta(minutes=2)).isoformat()[:16])
    ]
    report = run(
        ["report", "--local", "--since", "1h", "--out", str(tmp_path / "report.html")], env=env, isolate=False
    )
    assert report.exit_code == 0 and 'data-device="fan-01"' in (tmp_path / "report.html").read_text()
