"""Which processes are alive: the e2e tests check that nothing the stack started outlives it."""

from __future__ import annotations

import os
from pathlib import Path


def alive(pid: int) -> bool:
    """Running (a child that exited but was not reaped yet is a zombie: not running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def processes_using(path: Path) -> list[int]:
    """Pids of running processes whose command line names `path` (mosquitto gets its config file)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if str(path).encode() in cmdline and alive(int(proc.name)):
            pids.append(int(proc.name))
    return pids
