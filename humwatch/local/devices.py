"""Simulated devices for the local stack: provisioned with the operator's own provisioning code
(`humwatch provision-device`: IoT thing, certificate signed by the local CA, policy, registry
entry, edge config), then run as real `humwatch-edge` processes replaying a folder of clips."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from humwatch.errors import ConfigError
from humwatch.local.stack import LocalStack


@dataclass(frozen=True)
class ProvisionedDevice:
    thing: str
    directory: Path
    config_path: Path
    cert_file: Path
    key_file: Path
    ca_file: Path
    mqtt_host: str
    mqtt_port: int


def provision_local_device(
    stack: LocalStack,
    thing: str,
    *,
    machine_type: str = "fan",
    model_id: str | None = None,
    interval_s: float = 300.0,
    duration_s: float = 10.0,
) -> ProvisionedDevice:
    """Provision `thing` against the local stack exactly as an operator would against AWS."""
    from humwatch.dal import aws
    from humwatch.dal.history import HistoryTable
    from humwatch.dal.iot_admin import IotAdmin
    from humwatch.ops.provision import CaptureDefaults, ProvisionRequest, provision_device

    info = stack.info
    history = HistoryTable(info.table)

    def register(name: str, model: str | None, machine: str) -> None:
        history.devices.register_provisioned(name, model_id=model, machine_type=machine)

    request = ProvisionRequest(
        thing=thing,
        out_dir=Path(info.devices_dir) / thing,
        policy=info.iot_policy,
        endpoint=info.mqtt_host,
        port=info.mqtt_port,
        model_id=model_id,
        machine_type=machine_type,
        ca_file=Path(info.ca_file),
        local_ca_dir=Path(info.ca_file).parent,
        capture=CaptureDefaults(source="folder", interval_s=interval_s, duration_s=duration_s),
    )
    result = provision_device(request, IotAdmin(aws.client("iot")), register_device=register)
    assert result.ca_path is not None
    return ProvisionedDevice(
        thing=thing,
        directory=request.out_dir,
        config_path=result.config_path,
        cert_file=result.cert_path,
        key_file=result.key_path,
        ca_file=result.ca_path,
        mqtt_host=info.mqtt_host,
        mqtt_port=info.mqtt_port,
    )


def edge_uploader_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("humwatch_edge") is not None


class EdgeUploaderProcess:
    """`humwatch-edge run` for one device, replaying `folder` once (no loop), as a child process.

    Settings the provisioned config.toml does not carry (the folder, the fast demo cadence) are
    passed the supported way: `HUMWATCH_EDGE_<SECTION>_<KEY>` environment overrides.
    """

    def __init__(
        self,
        device: ProvisionedDevice,
        *,
        folder: Path,
        telemetry_interval_s: float = 300.0,
        log_level: str = "WARNING",
    ) -> None:
        if not edge_uploader_available():
            raise ConfigError(
                "the edge uploader is not installed: `pip install -e ./edge-uploader` (make demo does it)"
            )
        self.device = device
        self.log_path = device.directory / "humwatch-edge.log"
        self.env = {
            **os.environ,
            # Absolute: the device program runs in its own directory.
            "HUMWATCH_EDGE_CAPTURE_FOLDER": str(folder.resolve()),
            "HUMWATCH_EDGE_CAPTURE_LOOP": "false",
            "HUMWATCH_EDGE_TELEMETRY_INTERVAL_S": str(telemetry_interval_s),
            "HUMWATCH_EDGE_DELIVERY_RESPONSE_TIMEOUT_S": "10",
            "HUMWATCH_EDGE_DELIVERY_BACKOFF_INITIAL_S": "0.5",
            "HUMWATCH_EDGE_DELIVERY_BACKOFF_MAX_S": "5",
            "HUMWATCH_EDGE_MQTT_RECONNECT_MAX_S": "5",
            "HUMWATCH_EDGE_LOG_LEVEL": log_level,
        }
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> EdgeUploaderProcess:
        self._log = self.log_path.open("ab")
        self._proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "humwatch_edge",
                "--config",
                str(self.device.config_path.resolve()),
                "run",
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd=self.device.directory.resolve(),
        )
        return self

    def log_tail(self, lines: int = 3) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self, timeout_s: float = 15.0) -> int | None:
        """SIGTERM (the device finishes or keeps its current clip), then SIGKILL if it hangs."""
        proc, self._proc = self._proc, None
        code: int | None = None
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=timeout_s)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
            code = proc.returncode
        if self._log is not None:
            self._log.close()
            self._log = None
        return code
