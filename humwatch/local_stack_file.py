"""`local-stack.json`: where a running local stack is, in one typed model.

`humwatch local up` (and `make demo`) write it; the operator commands read it with `--local` or
`HUMWATCH_LOCAL_SETTINGS=path`. Both sides use `LocalStackInfo`, so a field renamed on one side is
a type error on the other instead of a value that silently stops resolving. The module sits below
`humwatch.local` and `humwatch.ops`, so the operator tools read the file without importing the
local stack.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from humwatch.errors import ConfigError

STATE_FILE = "local-stack.json"
FORMAT_VERSION: Final = 1
ENV_LOCAL_SETTINGS = "HUMWATCH_LOCAL_SETTINGS"
# `humwatch local up`'s default --dir (certificates, broker, inbox and this file).
DEFAULT_STACK_DIR = Path(".humwatch")
# Where the file is looked for, relative to the working directory, first found wins:
# `humwatch local up`'s default --dir, the copy `make demo` leaves next to its output, the cwd.
DEFAULT_LOCATIONS: tuple[Path, ...] = (
    DEFAULT_STACK_DIR / STATE_FILE,
    Path("demo-output") / STATE_FILE,
    Path(STATE_FILE),
)
_PATH_FIELDS = ("ca_file", "ca_key_file", "inbox_dir", "devices_dir")


class LocalStackInfo(BaseModel):
    """The contents of `local-stack.json`. File paths are absolute: the file may be read from any
    working directory (the demo copies it next to its output)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format_version: Literal[1] = FORMAT_VERSION
    pid: int
    started_at: str
    region: str
    endpoint_url: str
    table: str
    bucket: str
    iot_policy: str
    mqtt_host: str
    mqtt_port: int
    ca_file: str
    ca_key_file: str
    alert_topic_arn: str
    ops_topic_arn: str
    clip_queue_url: str
    clip_dlq_url: str
    train_queue_url: str
    train_dlq_url: str
    iot_data_http_endpoint: str
    inbox_dir: str
    devices_dir: str
    # The operator console, when the stack serves it (LocalStackOptions.console): the site, its API,
    # a bearer token per local user (an hour each, renewed while the stack runs; for scripts and
    # tests) and the users' sign-in passwords (new at every start).
    console_url: str | None = None
    console_api_url: str | None = None
    console_tokens: dict[str, str] = {}
    console_users: dict[str, str] = {}

    @field_validator(*_PATH_FIELDS)
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not Path(value).is_absolute():
            raise ValueError(f"must be an absolute path, got {value!r}")
        return value

    def write(self, directory: Path) -> Path:
        """Write `directory/local-stack.json` atomically (a reader never sees half a file)."""
        path = directory / STATE_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.model_dump(), indent=2) + "\n")
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: Path) -> LocalStackInfo:
        """Read and validate one settings file; every problem is a ConfigError naming the file."""
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise ConfigError(
                f"local stack settings file not found: {path} (is `humwatch local up` running?)"
            ) from None
        except OSError as exc:
            raise ConfigError(f"cannot read local stack settings {path}: {exc.strerror or exc}") from exc
        try:
            raw: Any = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"local stack settings {path} is not valid JSON: {exc}") from exc
        if not isinstance(raw, dict):
            raise ConfigError(f"local stack settings {path} must be a JSON object")
        version = raw.get("format_version")
        if version != FORMAT_VERSION:
            raise ConfigError(
                f"local stack settings {path} have format_version {version!r}, this humwatch reads "
                f"{FORMAT_VERSION}: restart the stack with this version (`humwatch local up`)"
            )
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'file'}: {err['msg']}" for err in exc.errors()
            )
            raise ConfigError(f"{path} is not a valid local stack settings file: {problems}") from exc

    @classmethod
    def read(cls, directory: Path) -> LocalStackInfo:
        """The file a stack started with `--dir directory` wrote."""
        path = directory / STATE_FILE
        if not path.exists():
            raise ConfigError(f"no local stack in {directory} (start one with `humwatch local up`)")
        return cls.load(path)

    def is_running(self) -> bool:
        """The process that wrote the file is alive (a stale file is left by a killed stack)."""
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def find_settings_file(explicit: str | None, *, cwd: Path) -> Path:
    """An explicit path (relative to `cwd`), else the first of DEFAULT_LOCATIONS that exists."""
    if explicit:
        path = Path(explicit).expanduser()
        return path if path.is_absolute() else cwd / path
    for candidate in DEFAULT_LOCATIONS:
        if (cwd / candidate).is_file():
            return cwd / candidate
    tried = ", ".join(str(p) for p in DEFAULT_LOCATIONS)
    raise ConfigError(
        f"no local stack settings found (tried {tried}): start it with `humwatch local up` "
        f"or set {ENV_LOCAL_SETTINGS}=path"
    )


def load_running_stack(explicit: str | None, *, cwd: Path) -> tuple[Path, LocalStackInfo]:
    """The settings of a local stack that is running now (a file left by a killed one is an error)."""
    path = find_settings_file(explicit, cwd=cwd)
    info = LocalStackInfo.load(path)
    if not info.is_running():
        raise ConfigError(
            f"the local stack that wrote {path} is not running (pid {info.pid}); "
            "start it with `humwatch local up`"
        )
    return path, info
