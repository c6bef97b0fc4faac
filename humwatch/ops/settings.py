"""Where the operator tools find the stack: flags > environment > local-stack file > CloudFormation.

Every value is resolved from the first source that has it, and CloudFormation is asked only when a
value a command needs is still missing, so `--table X --endpoint-url Y` works with no AWS account.
This module is pure logic: the CloudFormation lookup is passed in as a function (the dal provides
`humwatch.dal.stack_discovery.stack_outputs`).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from humwatch.errors import ConfigError, HumwatchError

DEFAULT_STACK = "Humwatch"
ENV_STACK = "HUMWATCH_STACK"
ENV_LOCAL_SETTINGS = "HUMWATCH_LOCAL_SETTINGS"
# Where `humwatch local up` leaves its settings, relative to the working directory (first found wins).
DEFAULT_LOCAL_SETTINGS_PATHS: tuple[Path, ...] = (
    Path(".humwatch/local-stack.json"),
    Path("demo-output/local-stack.json"),
    Path("local-stack.json"),
)

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
}

# Accepted names (lower case, letters and digits only) for each value in a CloudFormation output
# or a local-stack settings file. CDK appends an 8-hex-digit hash to outputs declared inside
# constructs; that suffix is stripped before matching.
ALIASES: dict[str, tuple[str, ...]] = {
    "region": ("region", "awsregion"),
    "endpoint_url": ("endpointurl", "endpoint", "awsendpointurl", "motoendpoint", "motourl"),
    "table": ("table", "tablename", "historytable", "historytablename"),
    "bucket": ("bucket", "bucketname", "clipsbucket", "clipsbucketname"),
    "iot_policy": ("iotpolicy", "iotpolicyname", "devicepolicy", "devicepolicyname", "policyname"),
    "iot_data_endpoint": (
        "iotdataendpoint",
        "iotendpoint",
        "dataendpoint",
        "iotdataendpointhint",
        "mqttendpoint",
        "mqtthost",
    ),
    "mqtt_port": ("mqttport", "port"),
    "ca_file": ("cafile", "cacert", "cacertfile", "capath", "mqttcafile"),
    "ca_key_file": ("cakeyfile", "cakey", "cakeypath"),
    "alert_topic_arn": ("alerttopicarn", "alerttopic", "alertstopicarn"),
}

_CDK_HASH_RE = re.compile(r"[0-9A-F]{8}$")


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
    how.append("use --local (or HUMWATCH_LOCAL_SETTINGS=path) for the local stack")
    how.append(f"or deploy the stack{f' {stack!r}' if stack else ''} (`cdk deploy`) and pass --stack NAME")
    return f"cannot resolve the {field.replace('_', ' ')}: " + ", ".join(how)


def normalize_key(key: str) -> str:
    return re.sub(r"[^a-z0-9]", "", _CDK_HASH_RE.sub("", key).lower())


def match_outputs(values: Mapping[str, Any]) -> dict[str, str]:
    """Map CloudFormation output keys / settings-file keys onto StackSettings fields."""
    by_norm: dict[str, Any] = {}
    for key, value in values.items():
        by_norm.setdefault(normalize_key(str(key)), value)
        by_norm.setdefault(re.sub(r"[^a-z0-9]", "", str(key).lower()), value)
    found: dict[str, str] = {}
    for field, aliases in ALIASES.items():
        for alias in aliases:
            if alias in by_norm and by_norm[alias] not in (None, ""):
                found[field] = str(by_norm[alias])
                break
    return found


def find_local_settings_file(explicit: str | None, *, cwd: Path) -> Path:
    """The local stack's settings file: an explicit path, else the first default that exists."""
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_absolute():
            path = cwd / path
        if not path.is_file():
            raise ConfigError(
                f"local stack settings file not found: {path} (is `humwatch local up` running?)"
            )
        return path
    for candidate in DEFAULT_LOCAL_SETTINGS_PATHS:
        if (cwd / candidate).is_file():
            return cwd / candidate
    tried = ", ".join(str(p) for p in DEFAULT_LOCAL_SETTINGS_PATHS)
    raise ConfigError(
        f"no local stack settings found (tried {tried}): start it with `humwatch local up` "
        f"or set {ENV_LOCAL_SETTINGS}=path"
    )


def load_local_settings(path: Path) -> dict[str, str]:
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read local stack settings {path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"local stack settings {path} must be a JSON object")
    pid = raw.get("pid")
    if isinstance(pid, int) and not _process_alive(pid):
        raise ConfigError(
            f"the local stack that wrote {path} is not running (pid {pid}); start it with `humwatch local up`"
        )
    flat: dict[str, Any] = {}
    for key, value in raw.items():
        # Nested sections (e.g. {"names": {...}, "mqtt": {...}}) are flattened; the leaf names decide.
        if isinstance(value, dict):
            for sub_key, sub_value in value.items():
                flat.setdefault(f"{key}_{sub_key}", sub_value)
                flat.setdefault(sub_key, sub_value)
        else:
            flat[key] = value
    found = match_outputs(flat)
    # Relative file paths in the settings file are relative to the file, not to the caller's cwd.
    for field in ("ca_file", "ca_key_file"):
        if field in found and not Path(found[field]).is_absolute():
            found[field] = str((path.parent / found[field]).resolve())
    return found


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
        path = find_local_settings_file(local_path_text, cwd=cwd)
        take(load_local_settings(path), f"local {path}")

    stack_name = stack or env.get(ENV_STACK) or DEFAULT_STACK
    missing = [f for f in required if f not in values]
    if missing and not use_local:
        try:
            outputs = stack_outputs(stack_name, values.get("region"), values.get("endpoint_url"))
        except HumwatchError as exc:
            raise ConfigError(
                f"{_missing_message(missing[0], stack_name)} (CloudFormation lookup failed: {exc.message})"
            ) from exc
        take(match_outputs(outputs), f"stack {stack_name}")

    settings = StackSettings(
        stack=None if use_local else stack_name, local=use_local, sources=sources, **values
    )
    for field in required:
        settings.require(field)
    return settings
