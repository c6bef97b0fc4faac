"""Where the operator tools find the stack: flags > environment > local-stack file > CloudFormation.

Every value is resolved from the first source that has it, and CloudFormation is asked only when a
value a command needs is still missing, so `--table X --endpoint-url Y` works with no AWS account.
The local stack's file is read through its typed model (`humwatch.local_stack_file`) and the
stack's outputs by the keys the CDK app declares (`humwatch.contracts.StackOutput`): nothing is
matched by guessing. This module is pure logic: the CloudFormation lookup is passed in as a
function (the dal provides `humwatch.dal.stack_discovery.stack_outputs`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from humwatch.contracts import StackOutput
from humwatch.errors import ConfigError, HumwatchError
from humwatch.local_stack_file import ENV_LOCAL_SETTINGS, LocalStackInfo, load_running_stack

DEFAULT_STACK = "Humwatch"
ENV_STACK = "HUMWATCH_STACK"

FIELDS: tuple[str, ...] = (
    "region",
    "endpoint_url",
    "table",
    "bucket",
    "iot_policy",
    "iot_data_endpoint",
    "mqtt_port",
    "ca_file",
    "ca_key_file",
    "alert_topic_arn",
    "train_queue_url",
)

ENV_VARS: dict[str, tuple[str, ...]] = {
    "region": ("HUMWATCH_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"),
    "endpoint_url": ("HUMWATCH_ENDPOINT_URL", "AWS_ENDPOINT_URL"),
    "table": ("HUMWATCH_TABLE",),
    "bucket": ("HUMWATCH_BUCKET",),
    "iot_policy": ("HUMWATCH_IOT_POLICY",),
    # Not HUMWATCH_IOT_DATA_ENDPOINT: the functions' variable is the HTTPS iot-data endpoint.
    "iot_data_endpoint": ("HUMWATCH_MQTT_ENDPOINT",),
    "mqtt_port": ("HUMWATCH_MQTT_PORT",),
    "alert_topic_arn": ("HUMWATCH_ALERT_TOPIC_ARN",),
    "train_queue_url": ("HUMWATCH_TRAIN_QUEUE_URL",),
}

# The settings a deployed stack's outputs provide. The MQTT endpoint is not among them:
# `provision-device` asks IoT Core for the account's endpoint itself.
OUTPUT_FIELDS: dict[str, StackOutput] = {
    "table": StackOutput.TABLE,
    "bucket": StackOutput.BUCKET,
    "iot_policy": StackOutput.DEVICE_POLICY,
    "alert_topic_arn": StackOutput.ALERT_TOPIC_ARN,
    "train_queue_url": StackOutput.TRAIN_QUEUE_URL,
}


class StackSettings(BaseModel):
    """Resolved names and endpoints; `sources` says where each value came from (for `--verbose`)."""

    model_config = ConfigDict(frozen=True)

    stack: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    table: str | None = None
    bucket: str | None = None
    iot_policy: str | None = None
    iot_data_endpoint: str | None = None
    mqtt_port: int = 8883
    ca_file: str | None = None
    ca_key_file: str | None = None
    alert_topic_arn: str | None = None
    train_queue_url: str | None = None
    local: bool = False
    sources: dict[str, str] = {}

    def require(self, field: str) -> str:
        value = getattr(self, field)
        if value in (None, ""):
            raise ConfigError(_missing_message(field, self.stack))
        return str(value)


_FLAG_FOR = {"table": "--table", "bucket": "--bucket", "region": "--region", "endpoint_url": "--endpoint-url"}


def _missing_message(field: str, stack: str | None) -> str:
    how = []
    if field in _FLAG_FOR:
        how.append(f"pass {_FLAG_FOR[field]}")
    if field in ENV_VARS:
        how.append(f"set {ENV_VARS[field][0]}")
    how.append(f"use --local (or {ENV_LOCAL_SETTINGS}=path) for the local stack")
    how.append(f"or deploy the stack{f' {stack!r}' if stack else ''} (`cdk deploy`) and pass --stack NAME")
    return f"cannot resolve the {field.replace('_', ' ')}: " + ", ".join(how)


def from_outputs(outputs: Mapping[str, str]) -> dict[str, str]:
    """The settings a deployed stack's CloudFormation outputs name ({OutputKey: OutputValue})."""
    return {field: outputs[key] for field, key in OUTPUT_FIELDS.items() if outputs.get(key)}


def from_local_stack(info: LocalStackInfo) -> dict[str, Any]:
    """The settings a running local stack's `local-stack.json` gives."""
    return {
        "region": info.region,
        "endpoint_url": info.endpoint_url,
        "table": info.table,
        "bucket": info.bucket,
        "iot_policy": info.iot_policy,
        "iot_data_endpoint": info.mqtt_host,
        "mqtt_port": info.mqtt_port,
        "ca_file": info.ca_file,
        "ca_key_file": info.ca_key_file,
        "alert_topic_arn": info.alert_topic_arn,
        "train_queue_url": info.train_queue_url,
    }


StackOutputsFn = Callable[[str, str | None, str | None], Mapping[str, str]]
"""(stack_name, region, endpoint_url) -> CloudFormation outputs {OutputKey: OutputValue}."""


def resolve_settings(
    *,
    flags: Mapping[str, Any],
    env: Mapping[str, str],
    cwd: Path,
    stack_outputs: StackOutputsFn,
    required: tuple[str, ...] = ("table",),
    local: bool = False,
    stack: str | None = None,
) -> StackSettings:
    """Resolve every field from the first source that has it; ask CloudFormation only if needed."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}

    def take(found: Mapping[str, Any], source: str) -> None:
        for field, value in found.items():
            if field in FIELDS and value not in (None, "") and field not in values:
                values[field] = value
                sources[field] = source

    take({k: v for k, v in flags.items() if v is not None}, "flag")
    for field, names in ENV_VARS.items():
        for name in names:
            if env.get(name):
                take({field: env[name]}, f"env {name}")
                break

    local_path_text = env.get(ENV_LOCAL_SETTINGS)
    use_local = local or bool(local_path_text)
    if use_local:
        path, info = load_running_stack(local_path_text, cwd=cwd)
        take(from_local_stack(info), f"local {path}")

    stack_name = stack or env.get(ENV_STACK) or DEFAULT_STACK
    missing = [f for f in required if f not in values]
    if missing and not use_local:
        try:
            outputs = stack_outputs(stack_name, values.get("region"), values.get("endpoint_url"))
        except HumwatchError as exc:
            raise ConfigError(
                f"{_missing_message(missing[0], stack_name)} (CloudFormation lookup failed: {exc.message})"
            ) from exc
        take(from_outputs(outputs), f"stack {stack_name}")

    settings = StackSettings(
        stack=None if use_local else stack_name, local=use_local, sources=sources, **values
    )
    for field in required:
        settings.require(field)
    return settings
