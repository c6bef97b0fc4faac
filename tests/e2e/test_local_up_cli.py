"""`humwatch local up` as a user runs it: a separate process, stopped with Ctrl-C (SIGINT)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from processes import processes_using

pytestmark = pytest.mark.timeout(120)


def _sigint_default() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_given_local_up_when_interrupted_then_it_stops_cleanly_and_leaves_nothing(tmp_path: Path) -> None:
    workdir = tmp_path / ".humwatch"
    state_file = workdir / "local-stack.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}  # no credentials needed
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "humwatch",
            "local",
            "up",
            "--dir",
            str(workdir),
            "--drift-every",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=tmp_path,
        # As from a terminal, where Ctrl-C is never ignored: a test run launched in the background
        # by a non-interactive shell inherits SIGINT ignored, and Python then keeps ignoring it.
        preexec_fn=_sigint_default,
    )
    try:
        deadline = time.monotonic() + 60
        while not state_file.is_file() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert state_file.is_file(), proc.stdout.read().decode() if proc.stdout else ""
        info = json.loads(state_file.read_text())
        assert info["pid"] == proc.pid and info["mqtt_port"] > 0
        broker_config = workdir / "broker" / "mosquitto.conf"
        assert len(processes_using(broker_config)) == 1

        # `humwatch local status` from another process finds the running stack.
        status = subprocess.run(
            [sys.executable, "-m", "humwatch", "local", "status", "--dir", str(workdir)],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert status.returncode == 0, status.stderr
        assert f"running (pid {proc.pid}" in status.stdout and "DLQ           0 message(s)" in status.stdout

        proc.send_signal(signal.SIGINT)
        output = proc.communicate(timeout=60)[0].decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    assert proc.returncode == 0, output
    assert "nothing left running" in output and "Traceback" not in output
    assert processes_using(broker_config) == []
    assert not state_file.exists()
