"""Fault injection for the fleet load test: a process_clip invocation killed in the middle of a batch.

In AWS an execution environment can die halfway through a batch (out of memory, the timeout, a
host failure). What the handler already wrote stays written; the event source mapping sees a
failed invocation, deletes nothing, and the whole batch comes back after the visibility timeout.

`KillNextBatch` wraps the local event source's invoke function and does that with a real SIGKILL.
Once `arm()`ed, the next batch of more than `after_items` records runs through the real handler in
a child process (`python -m humwatch.local.killed_invocation`), which kills itself with SIGKILL
right after it has written its `after_items`-th new clip history item (so that clip's alert-state
update never happens). The wrapper then raises `InvocationKilled`, and `SqsEventSource` deletes
nothing, as Lambda's event source mapping does. Every other batch goes to the wrapped function.
Nothing uses it unless a caller wraps an event source with it (`benchmarks/fleet_load.py` and its
test do).

With `after_bundle_upload=True` (train_model, tests/e2e/test_learning_loop.py) the child dies right
after the candidate's model files are in S3 and before its candidate item is written: the point
where a half-finished training run must leave nothing visible.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

InvokeFn = Callable[[dict[str, Any]], Any]
RESPONSE_MARK = "humwatch-killed-invocation-response: "


class InvocationKilled(Exception):
    """What Lambda reports for a killed execution environment: `Runtime exited with signal: killed`."""


@dataclass(frozen=True)
class KilledBatch:
    message_ids: tuple[str, ...]
    killed_at: float  # time.time() when the child was found dead
    after_items: int


class KillNextBatch:
    def __init__(
        self,
        invoke: InvokeFn,
        *,
        function: str = "process_clip",
        after_items: int = 2,
        timeout_s: float = 120.0,
        functions_dir: Path | None = None,
        after_bundle_upload: bool = False,
    ) -> None:
        if after_items < 1:
            raise ValueError("after_items must be >= 1")
        self._invoke = invoke
        self.function = function
        self.after_items = after_items
        self.timeout_s = timeout_s
        self.functions_dir = functions_dir
        self.after_bundle_upload = after_bundle_upload
        self.killed: list[KilledBatch] = []
        self._armed = False
        self._lock = threading.Lock()

    def arm(self) -> None:
        with self._lock:
            self._armed = True

    @property
    def armed(self) -> bool:
        return self._armed

    def __call__(self, event: dict[str, Any]) -> Any:
        records = event.get("Records") or []
        with self._lock:
            take = self._armed and (self.after_bundle_upload or len(records) > self.after_items)
            if take:
                self._armed = False
        if not take:
            return self._invoke(event)
        proc = run_in_child(
            self.function,
            event,
            kill_after_items=0 if self.after_bundle_upload else self.after_items,
            timeout_s=self.timeout_s,
            functions_dir=self.functions_dir,
        )
        if proc.returncode == -signal.SIGKILL:
            ids = tuple(str(r.get("messageId")) for r in records)
            self.killed.append(KilledBatch(ids, time.time(), self.after_items))
            raise InvocationKilled(
                f"Runtime exited with signal: killed (after {self.after_items} of {len(records)} records)"
            )
        if proc.returncode != 0:
            tail = proc.stderr.decode(errors="replace")[-500:]
            raise RuntimeError(f"{self.function} child invocation failed ({proc.returncode}): {tail}")
        # The batch held too few new clips to reach the kill point (redeliveries): its answer stands,
        # and the next batch is tried.
        self.arm()
        return child_response(proc.stdout)


def run_in_child(
    function: str,
    event: dict[str, Any],
    *,
    kill_after_items: int,
    timeout_s: float,
    functions_dir: Path | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Invoke `function` with `event` in a child process with this process's environment (the
    local stack's endpoints and the functions' settings). `kill_after_items` 0: die after the
    first model bundle upload instead."""
    command = [sys.executable, "-m", "humwatch.local.killed_invocation", function, str(kill_after_items)]
    if functions_dir is not None:
        command += ["--functions-dir", str(functions_dir)]
    return subprocess.run(
        command,
        input=json.dumps(event).encode(),
        capture_output=True,
        timeout=timeout_s,
        env=dict(os.environ),
        check=False,
    )


def child_response(stdout: bytes) -> Any:
    """The handler's answer: the child's marked line (the functions log JSON lines to stdout too)."""
    for line in reversed(stdout.decode(errors="replace").splitlines()):
        if line.startswith(RESPONSE_MARK):
            return json.loads(line[len(RESPONSE_MARK) :])
    raise RuntimeError("child invocation wrote no response")


def _die_after_clip_items(count: int) -> None:
    """SIGKILL this process right after the `count`-th new clip history item is written."""
    from humwatch.dal.clip_results import ClipResults

    original = ClipResults.put
    written = 0

    def put_then_maybe_die(self: ClipResults, record: Any) -> bool:
        nonlocal written
        stored = original(self, record)
        written += bool(stored)
        if written >= count:
            os.kill(os.getpid(), signal.SIGKILL)
        return stored

    ClipResults.put = put_then_maybe_die  # type: ignore[method-assign]


def _die_after_bundle_upload() -> None:
    """SIGKILL this process right after a model bundle's files were uploaded."""
    from humwatch.dal.model_store import ModelStore

    original = ModelStore.upload_bundle

    def upload_then_die(self: ModelStore, *args: Any, **kwargs: Any) -> str:
        original(self, *args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError("unreachable")

    ModelStore.upload_bundle = upload_then_die  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> int:
    """The child: event JSON on stdin, the handler's answer on stdout (marked), unless killed."""
    parser = argparse.ArgumentParser(prog="python -m humwatch.local.killed_invocation")
    parser.add_argument("function")
    parser.add_argument("kill_after_items", type=int)
    parser.add_argument("--functions-dir", type=Path, default=None)
    args = parser.parse_args(argv)

    from humwatch.contracts import PIPELINE
    from humwatch.local.lambda_runtime import LocalLambda

    event = json.load(sys.stdin)
    if args.kill_after_items > 0:
        _die_after_clip_items(args.kill_after_items)
    else:
        _die_after_bundle_upload()
    function = LocalLambda(
        args.function, timeout_s=PIPELINE.train_model_timeout_s, functions_dir=args.functions_dir
    )
    response = function.invoke(event)
    print(RESPONSE_MARK + json.dumps(response), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
