"""Typed settings of the local stack, validated before anything starts.

The file the running stack leaves for the operator tools (`local-stack.json`) is
`humwatch.local_stack_file.LocalStackInfo`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from humwatch.contracts import PIPELINE, PipelineSettings, ResourceNames
from humwatch.errors import ConfigError
from humwatch.local_stack_file import DEFAULT_STACK_DIR

# Function settings the local stack may pass on (humwatch.config's tunables and Powertools'); the
# resource names and endpoints are the stack's to set, so a stray override cannot point a function
# at the wrong bucket or at real AWS.
TUNABLE_PREFIXES = ("HUMWATCH_", "POWERTOOLS_")
RESERVED_ENV = frozenset(
    {
        "HUMWATCH_BUCKET",
        "HUMWATCH_TABLE",
        "HUMWATCH_ALERT_TOPIC_ARN",
        "HUMWATCH_OPS_TOPIC_ARN",
        "HUMWATCH_IOT_DATA_ENDPOINT",
        "HUMWATCH_TRAIN_QUEUE_URL",
        "HUMWATCH_CONSOLE_ORIGIN",
        "HUMWATCH_CONSOLE_URL",
    }
)


class LocalStackOptions(BaseModel):
    """Everything `humwatch local up`, the demo and the e2e test can choose."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    workdir: Path = DEFAULT_STACK_DIR
    region: str = Field(default="us-east-1", pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")
    names: ResourceNames = ResourceNames()
    pipeline: PipelineSettings = PIPELINE
    # AWS: 360 s (6x the function timeout). Locally a failed record comes back within seconds.
    visibility_timeout_s: int = Field(default=30, ge=1, le=43_200)
    # AWS: 5400 s. Locally a training run (a minute or two) is retried after this, and its claim
    # lease (HUMWATCH_TRAIN_LEASE_S) is set 10 s shorter so the retry can take it over.
    train_visibility_timeout_s: int = Field(default=180, ge=20, le=43_200)
    # None = the deployed setting (PIPELINE.clip_batch_window_s).
    batch_window_s: float | None = Field(default=None, ge=0, le=300)
    # The deployed schedule is daily; locally every few minutes (0 = only when triggered).
    drift_interval_s: float = Field(default=300.0, ge=0)
    function_env: dict[str, str] = {}
    # Confine each device to its own topics, as the IoT policy does.
    device_acl: bool = True
    functions_dir: Path | None = None
    # POWERTOOLS_METRICS_DISABLED unless True (metrics are EMF lines on stdout outside Lambda).
    emit_metrics: bool = False
    log_level: str = Field(default="WARNING", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$")
    # Fault injection for the fleet load test only: `LocalStack.s3_outage` can make S3 answer 500.
    s3_fault_injection: bool = False
    # The operator console: its site and API on two 127.0.0.1 ports (humwatch.local.console_server).
    console: bool = True
    # The console's static files; None: `console/` of this checkout.
    console_dir: Path | None = None

    @field_validator("function_env")
    @classmethod
    def _only_tunables(cls, value: dict[str, str]) -> dict[str, str]:
        bad = sorted(k for k in value if k in RESERVED_ENV or not k.startswith(TUNABLE_PREFIXES))
        if bad:
            raise ValueError(
                f"not a function setting the local stack can pass on: {', '.join(bad)} "
                "(HUMWATCH_*/POWERTOOLS_* tunables only; resource names are set by the stack)"
            )
        return value

    @model_validator(mode="after")
    def _visibility_outlasts_batching(self) -> LocalStackOptions:
        # A record must stay invisible while its batch is being gathered, or it would be received
        # twice into the same batch (AWS: visibility 360 s vs a 5 s window).
        if self.visibility_timeout_s <= self.effective_batch_window_s:
            raise ValueError(
                f"visibility_timeout_s ({self.visibility_timeout_s}) must be longer than the batch "
                f"window ({self.effective_batch_window_s} s)"
            )
        return self

    @property
    def effective_batch_window_s(self) -> float:
        return self.pipeline.clip_batch_window_s if self.batch_window_s is None else self.batch_window_s

    @classmethod
    def build(cls, **values: Any) -> LocalStackOptions:
        """Validate, turning pydantic's report into one ConfigError line per bad value."""
        try:
            return cls(**values)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'options'}: {err['msg']}" for err in exc.errors()
            )
            raise ConfigError(f"invalid local stack settings: {problems}") from exc
