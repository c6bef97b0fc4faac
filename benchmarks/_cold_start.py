"""Cold start as the benchmarks measure it: a new Python process, with the environment every
deployed function has (`humwatch.contracts.FUNCTION_RUNTIME_ENV`), timed from the parent until the
child prints its result line. A Lambda keeps its process after the first invocation, so the
interpreter's teardown (40-50 ms with onnxruntime loaded) is timed apart, not counted."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from humwatch.contracts import FUNCTION_RUNTIME_ENV

REPO = Path(__file__).resolve().parents[1]


def run_cold(script: str, args: list[str]) -> tuple[str, float, float]:
    """(the child's first stdout line, seconds to it, seconds from it to the child's exit)."""
    env = {**os.environ, **FUNCTION_RUNTIME_ENV, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-c", script, *args], stdout=subprocess.PIPE, text=True, env=env
    )
    assert child.stdout is not None
    line = child.stdout.readline()
    to_result = time.perf_counter() - started
    if child.wait() != 0 or not line:
        raise RuntimeError(f"cold-start child failed (exit {child.returncode})")
    return line, to_result, time.perf_counter() - started - to_result
