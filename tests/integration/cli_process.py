"""Run the `humwatch` command as a user would: a real process, its exit status and its output."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def humwatch(*args: str | Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run(
        [sys.executable, "-m", "humwatch", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
