"""Configuration: one TOML file plus `HUMWATCH_EDGE_<SECTION>_<KEY>` environment overrides.

Every value is converted and validated at start-up; all problems are reported at once, each with
the setting's TOML name, its environment variable and what is wrong, so a device never starts
half-configured and nobody has to fix a file one error at a time.

Example (`/etc/humwatch-edge/config.toml`):

    [device]
    thing_name = "fan-03"
    [mqtt]
    endpoint = "abc123-ats.iot.eu-west-1.amazonaws.com"
    ca_file = "/etc/humwatch-edge/AmazonRootCA1.pem"
    cert_file = "/etc/humwatch-edge/fan-03.cert.pem"
    key_file = "/etc/humwatch-edge/fan-03.private.key"
    [capture]
    source = "microphone"
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from humwatch_edge.contract import THING_NAME_RE
from humwatch_edge.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on the device's older Python
    import tomli as tomllib

ENV_PREFIX = "HUMWATCH_EDGE_"
CONFIG_PATH_ENV = "HUMWATCH_EDGE_CONFIG"
DEFAULT_CONFIG_PATH = "/etc/humwatch-edge/config.toml"
SOURCES = ("microphone", "folder", "generator")
POLICIES = ("drop-oldest", "refuse-new")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


@dataclass(frozen=True)
class EdgeConfig:
    """Every setting, flat; the TOML section is the prefix before the first underscore group."""

    # [device]
    thing_name: str
    # [mqtt]
    mqtt_endpoint: str
    mqtt_port: int
    mqtt_ca_file: Path | None
    mqtt_cert_file: Path | None
    mqtt_key_file: Path | None
    mqtt_keepalive_s: int
    mqtt_connect_timeout_s: float
    mqtt_reconnect_min_s: float
    mqtt_reconnect_max_s: float
    # [capture]
    capture_source: str
    capture_interval_s: float
    capture_duration_s: float
    capture_sample_rate: int
    capture_channels: int
    capture_device: str | None
    capture_folder: Path | None
    capture_loop: bool
    capture_generator: str | None
    # [spool]
    spool_dir: Path
    spool_max_bytes: int
    spool_max_clips: int
    spool_policy: str
    # [delivery]
    delivery_response_timeout_s: float
    delivery_http_timeout_s: float
    delivery_backoff_initial_s: float
    delivery_backoff_max_s: float
    # [telemetry]
    telemetry_interval_s: float
    # [log]
    log_level: str


@dataclass(frozen=True)
class _Setting:
    section: str
    key: str
    kind: Callable[[Any], Any]
    default: Any
    check: Callable[[Any], str | None] | None = None

    @property
    def field(self) -> str:
        return "thing_name" if self.section == "device" else f"{self.section}_{self.key}"

    @property
    def env(self) -> str:
        return f"{ENV_PREFIX}{self.section.upper()}_{self.key.upper()}"

    @property
    def dotted(self) -> str:
        return f"{self.section}.{self.key}"


def _positive(value: float) -> str | None:
    return None if value > 0 else "must be > 0"


def _at_least(minimum: float) -> Callable[[float], str | None]:
    return lambda value: None if value >= minimum else f"must be >= {minimum:g}"


def _one_of(choices: tuple[str, ...]) -> Callable[[str], str | None]:
    return lambda value: None if value in choices else f"must be one of {', '.join(choices)}"


def _thing(value: str) -> str | None:
    if THING_NAME_RE.match(value):
        return None
    return "must be 1-64 characters of letters, digits, '-' or '_' (it is the MQTT client id and key part)"


def _port(value: int) -> str | None:
    return None if 0 < value < 65536 else "must be a TCP port (1-65535)"


def _hook(value: str | None) -> str | None:
    if value is None:
        return None
    module, sep, func = value.partition(":")
    return None if sep and module and func else "must look like 'package.module:function'"


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("expected an integer")
    if isinstance(value, float) and not value.is_integer():
        raise ValueError("expected an integer")
    return int(str(value).replace("_", "")) if isinstance(value, str) else int(value)


def _to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("expected a number")
    return float(value)


def _to_str(value: Any) -> str:
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise ValueError("expected a string")
    return str(value).strip()


def _optional(kind: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if value is None or (isinstance(value, str) and value.strip() == ""):
            return None
        return kind(value)

    return convert


def _to_path(value: Any) -> Path:
    return Path(_to_str(value)).expanduser()


_SETTINGS: tuple[_Setting, ...] = (
    _Setting("device", "thing_name", _to_str, None, _thing),
    _Setting("mqtt", "endpoint", _to_str, None),
    _Setting("mqtt", "port", _to_int, 8883, _port),
    _Setting("mqtt", "ca_file", _optional(_to_path), None),
    _Setting("mqtt", "cert_file", _optional(_to_path), None),
    _Setting("mqtt", "key_file", _optional(_to_path), None),
    _Setting("mqtt", "keepalive_s", _to_int, 60, _at_least(5)),
    _Setting("mqtt", "connect_timeout_s", _to_float, 15.0, _positive),
    _Setting("mqtt", "reconnect_min_s", _to_float, 1.0, _positive),
    _Setting("mqtt", "reconnect_max_s", _to_float, 120.0, _positive),
    _Setting("capture", "source", _to_str, "microphone", _one_of(SOURCES)),
    _Setting("capture", "interval_s", _to_float, 300.0, _positive),
    _Setting("capture", "duration_s", _to_float, 10.0, _positive),
    _Setting("capture", "sample_rate", _to_int, 16000, _at_least(1000)),
    _Setting("capture", "channels", _to_int, 1, _at_least(1)),
    _Setting("capture", "device", _optional(_to_str), None),
    _Setting("capture", "folder", _optional(_to_path), None),
    _Setting("capture", "loop", _to_bool, True),
    _Setting("capture", "generator", _optional(_to_str), None, _hook),
    _Setting("spool", "dir", _to_path, Path("/var/lib/humwatch-edge/spool")),
    _Setting("spool", "max_bytes", _to_int, 500_000_000, _positive),
    _Setting("spool", "max_clips", _to_int, 10_000, _positive),
    _Setting("spool", "policy", _to_str, "drop-oldest", _one_of(POLICIES)),
    _Setting("delivery", "response_timeout_s", _to_float, 20.0, _positive),
    _Setting("delivery", "http_timeout_s", _to_float, 60.0, _positive),
    _Setting("delivery", "backoff_initial_s", _to_float, 2.0, _positive),
    _Setting("delivery", "backoff_max_s", _to_float, 300.0, _positive),
    # One heartbeat per clip interval: silence is judged on clips (the cloud's silentAfterIntervals
    # x clip interval, 15 minutes by default), so a heartbeat every 5 minutes still tells a live
    # uploader from a dead one in time, at a fifth of the IoT messages, rule runs and table writes.
    _Setting("telemetry", "interval_s", _to_float, 300.0, _positive),
    _Setting("log", "level", lambda v: _to_str(v).upper(), "INFO", _one_of(LOG_LEVELS)),
)
_SECTIONS = {s.section for s in _SETTINGS}


def _problem(setting: _Setting, raw: Any, why: str) -> str:
    return f"{setting.dotted} ({setting.env}) = {raw!r}: {why}"


def read_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {path}") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc


def build_config(
    document: Mapping[str, Any],
    env: Mapping[str, str] | None = None,
    *,
    require_delivery: bool = True,
) -> EdgeConfig:
    """TOML document + environment -> validated EdgeConfig, or ConfigError listing every problem.

    `require_delivery=False` (for `status`) skips the settings only delivery needs.
    """
    env = os.environ if env is None else env
    problems: list[str] = []
    for section, body in document.items():
        if section not in _SECTIONS:
            problems.append(f"[{section}]: unknown section (known: {', '.join(sorted(_SECTIONS))})")
        elif not isinstance(body, Mapping):
            problems.append(f"[{section}]: must be a table")
        else:
            known = {s.key for s in _SETTINGS if s.section == section}
            problems += [f"{section}.{key}: unknown setting" for key in body if key not in known]

    values: dict[str, Any] = {}
    for setting in _SETTINGS:
        table = document.get(setting.section)
        raw: Any = table.get(setting.key) if isinstance(table, Mapping) else None
        if setting.env in env:
            raw = env[setting.env]
        if raw is None:
            values[setting.field] = setting.default
            continue
        try:
            value = setting.kind(raw)
        except (TypeError, ValueError) as exc:
            problems.append(_problem(setting, raw, str(exc) or "invalid value"))
            continue
        why = setting.check(value) if setting.check else None
        if why:
            problems.append(_problem(setting, raw, why))
            continue
        values[setting.field] = value

    _cross_checks(values, problems, require_delivery=require_delivery)
    if problems:
        raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(problems))
    names = {f.name for f in fields(EdgeConfig)}
    return EdgeConfig(**{k: v for k, v in values.items() if k in names})


def _cross_checks(values: dict[str, Any], problems: list[str], *, require_delivery: bool) -> None:
    def missing(field: str) -> bool:
        return field in values and values[field] in (None, "")

    setting = {s.field: s for s in _SETTINGS}
    required = ["thing_name"]
    if require_delivery:
        required += ["mqtt_endpoint", "mqtt_ca_file", "mqtt_cert_file", "mqtt_key_file"]
    for field in required:
        if missing(field):
            s = setting[field]
            problems.append(f"{s.dotted} ({s.env}): required")
    source = values.get("capture_source")
    if source == "folder" and missing("capture_folder"):
        problems.append(f"capture.folder ({setting['capture_folder'].env}): required when source = 'folder'")
    if source == "generator" and missing("capture_generator"):
        problems.append(
            f"capture.generator ({setting['capture_generator'].env}): required when source = 'generator'"
        )
    # A microphone records in real time: a clip longer than the interval could never keep up.
    # Folder and generator sources produce a clip at once (benchmarks use that to run fast).
    interval, duration = values.get("capture_interval_s"), values.get("capture_duration_s")
    real_time = source == "microphone"
    if real_time and isinstance(interval, float) and isinstance(duration, float) and duration > interval:
        problems.append(
            f"capture.duration_s = {duration:g}: must not exceed capture.interval_s = {interval:g} "
            "for the microphone"
        )
    lo, hi = values.get("mqtt_reconnect_min_s"), values.get("mqtt_reconnect_max_s")
    if isinstance(lo, float) and isinstance(hi, float) and lo > hi:
        problems.append(f"mqtt.reconnect_min_s = {lo:g}: must not exceed mqtt.reconnect_max_s = {hi:g}")
    lo, hi = values.get("delivery_backoff_initial_s"), values.get("delivery_backoff_max_s")
    if isinstance(lo, float) and isinstance(hi, float) and lo > hi:
        problems.append(
            f"delivery.backoff_initial_s = {lo:g}: must not exceed delivery.backoff_max_s = {hi:g}"
        )


def load_config(
    path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    *,
    require_delivery: bool = True,
) -> EdgeConfig:
    """Read the TOML file (path, else $HUMWATCH_EDGE_CONFIG, else the default path) and validate.

    A missing file is fine when no path was given explicitly and the environment carries the
    settings (containers, tests); an explicitly named file must exist.
    """
    env = os.environ if env is None else env
    explicit = path is not None or CONFIG_PATH_ENV in env
    chosen = Path(path) if path is not None else Path(env.get(CONFIG_PATH_ENV, DEFAULT_CONFIG_PATH))
    document: dict[str, Any] = {}
    if explicit or chosen.exists():
        document = read_toml(chosen)
    return build_config(document, env, require_delivery=require_delivery)


def load_hook(spec: str) -> Callable[..., Any]:
    """'package.module:function' -> the function (for the generator capture source)."""
    module_name, _, func_name = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"capture.generator: cannot import module {module_name!r}: {exc}") from exc
    func = getattr(module, func_name, None)
    if not callable(func):
        raise ConfigError(f"capture.generator: {module_name!r} has no function {func_name!r}")
    return func  # type: ignore[no-any-return]
