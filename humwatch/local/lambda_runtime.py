"""Run the real Lambda handlers in-process, the way the Lambda service would call them.

Each function's `functions/<fn>/handler.py` is loaded from its file (as Lambda does with the code
asset), under a private module name, after the function's environment is in place (its
configuration is validated at cold start). A context object carries the attributes Powertools
reads. One lock per function: like one Lambda execution environment, a handler never runs two
events at once, so module-level caches (model, clients) see the same concurrency as in AWS.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from humwatch.errors import ConfigError

log = logging.getLogger(__name__)

LOCAL_ACCOUNT = "123456789012"  # moto's default account


def default_functions_dir() -> Path:
    """`functions/` beside the `humwatch` package (a source checkout or an editable install)."""
    return Path(__file__).resolve().parents[2] / "functions"


@dataclass
class LambdaContext:
    """The attributes of the Lambda context object that handlers and Powertools use."""

    function_name: str
    timeout_s: float
    memory_limit_in_mb: int = 1024
    region: str = "us-east-1"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    _deadline: float = 0.0

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_s

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{LOCAL_ACCOUNT}:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"local/[{self.function_version}]{self.aws_request_id[:8]}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass
class InvocationStats:
    invocations: int = 0
    errors: int = 0
    total_ms: float = 0.0
    cold_start_ms: float = 0.0


class LocalLambda:
    """One function: `LocalLambda("process_clip", timeout_s=60).invoke(event)`."""

    def __init__(
        self,
        name: str,
        *,
        timeout_s: float,
        memory_mb: int = 1024,
        region: str = "us-east-1",
        functions_dir: Path | None = None,
        handler_name: str = "handler",
    ) -> None:
        self.name = name
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self.region = region
        self.path = (functions_dir or default_functions_dir()) / name / "handler.py"
        self.handler_name = handler_name
        self.stats = InvocationStats()
        self._module: ModuleType | None = None
        self._handler: Callable[[Any, Any], Any] | None = None
        self._lock = threading.Lock()

    def load(self) -> None:
        """Import the handler file (a fresh module each time: a new stack is a new cold start)."""
        if not self.path.is_file():
            raise ConfigError(f"Lambda handler not found: {self.path}")
        started = time.perf_counter()
        module_name = f"humwatch_local_fn_{self.name}_{uuid.uuid4().hex[:8]}"
        spec = importlib.util.spec_from_file_location(module_name, self.path)
        if spec is None or spec.loader is None:
            raise ConfigError(f"cannot load Lambda handler {self.path}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        handler = getattr(module, self.handler_name, None)
        if not callable(handler):
            raise ConfigError(f"{self.path} has no callable {self.handler_name}(event, context)")
        self._module, self._handler = module, handler
        self.stats.cold_start_ms = (time.perf_counter() - started) * 1000

    def invoke(self, event: Any) -> Any:
        """Call the handler with `event` and a fresh context; exceptions propagate (a failed
        invocation), and the stats count them."""
        with self._lock:
            if self._handler is None:
                self.load()
            assert self._handler is not None
            context = LambdaContext(
                function_name=self.name,
                timeout_s=self.timeout_s,
                memory_limit_in_mb=self.memory_mb,
                region=self.region,
            )
            started = time.perf_counter()
            try:
                return self._handler(event, context)
            except Exception:
                self.stats.errors += 1
                raise
            finally:
                elapsed_ms = (time.perf_counter() - started) * 1000
                self.stats.invocations += 1
                self.stats.total_ms += elapsed_ms
                if elapsed_ms > self.timeout_s * 1000:
                    # In AWS the invocation would have been cut off and counted as an error.
                    log.warning(
                        "%s ran %.0f ms, over its %.0f s timeout", self.name, elapsed_ms, self.timeout_s
                    )
