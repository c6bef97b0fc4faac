"""Config: TOML + HUMWATCH_EDGE_* overrides, every bad value reported with its name and variable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from humwatch_edge.config import build_config, load_config
from humwatch_edge.errors import ConfigError

VALID: dict[str, Any] = {
    "device": {"thing_name": "fan-03"},
    "mqtt": {
        "endpoint": "abc-ats.iot.eu-west-1.amazonaws.com",
        "ca_file": "/etc/humwatch-edge/ca.pem",
        "cert_file": "/etc/humwatch-edge/cert.pem",
        "key_file": "/etc/humwatch-edge/key.pem",
    },
    "capture": {"source": "folder", "folder": "/srv/recordings"},
}


def test_given_minimal_valid_file_when_built_then_defaults_apply() -> None:
    config = build_config(VALID, env={})
    assert config.thing_name == "fan-03"
    assert config.capture_interval_s == 300.0 and config.capture_duration_s == 10.0
    assert config.capture_sample_rate == 16000 and config.mqtt_port == 8883
    assert config.spool_policy == "drop-oldest" and config.telemetry_interval_s == 300.0
    assert config.mqtt_cert_file == Path("/etc/humwatch-edge/cert.pem")


def test_given_env_overrides_when_built_then_they_win_over_the_file() -> None:
    env = {
        "HUMWATCH_EDGE_CAPTURE_INTERVAL_S": "60",
        "HUMWATCH_EDGE_SPOOL_MAX_BYTES": "1_000_000",
        "HUMWATCH_EDGE_SPOOL_POLICY": "refuse-new",
        "HUMWATCH_EDGE_CAPTURE_LOOP": "no",
        "HUMWATCH_EDGE_LOG_LEVEL": "debug",
    }
    config = build_config(VALID, env=env)
    assert config.capture_interval_s == 60.0
    assert config.spool_max_bytes == 1_000_000
    assert config.spool_policy == "refuse-new"
    assert config.capture_loop is False
    assert config.log_level == "DEBUG"


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("device", "thing_name", "fan 03", "device.thing_name (HUMWATCH_EDGE_DEVICE_THING_NAME) = 'fan 03'"),
        ("mqtt", "port", 70000, "mqtt.port (HUMWATCH_EDGE_MQTT_PORT) = 70000: must be a TCP port"),
        ("mqtt", "port", "x", "mqtt.port (HUMWATCH_EDGE_MQTT_PORT) = 'x'"),
        (
            "capture",
            "interval_s",
            0,
            "capture.interval_s (HUMWATCH_EDGE_CAPTURE_INTERVAL_S) = 0: must be > 0",
        ),
        ("capture", "source", "camera", "must be one of microphone, folder, generator"),
        ("capture", "generator", "no_colon", "must look like 'package.module:function'"),
        ("capture", "loop", "maybe", "expected true or false"),
        ("spool", "policy", "drop-newest", "must be one of drop-oldest, refuse-new"),
        ("spool", "max_clips", 1.5, "expected an integer"),
        ("capture", "colour", "red", "capture.colour: unknown setting"),
    ],
)
def test_given_one_bad_value_when_built_then_error_names_it(
    section: str, key: str, value: Any, message: str
) -> None:
    document = {name: dict(body) for name, body in VALID.items()}
    document.setdefault(section, {})[key] = value
    with pytest.raises(ConfigError) as excinfo:
        build_config(document, env={})
    assert message in str(excinfo.value)


def test_given_microphone_clip_longer_than_interval_when_built_then_refused() -> None:
    document = {**VALID, "capture": {"source": "microphone", "duration_s": 400}}
    with pytest.raises(
        ConfigError, match=r"capture.duration_s = 400: must not exceed capture.interval_s = 300"
    ):
        build_config(document, env={})
    document["capture"] = {"source": "folder", "folder": "/srv", "duration_s": 400}
    assert build_config(document, env={}).capture_duration_s == 400.0


def test_given_several_problems_when_built_then_all_are_listed_at_once() -> None:
    with pytest.raises(ConfigError) as excinfo:
        build_config({"capture": {"source": "folder"}, "mystery": {}}, env={"HUMWATCH_EDGE_MQTT_PORT": "0"})
    text = str(excinfo.value)
    for expected in (
        "device.thing_name (HUMWATCH_EDGE_DEVICE_THING_NAME): required",
        "mqtt.endpoint (HUMWATCH_EDGE_MQTT_ENDPOINT): required",
        "mqtt.cert_file (HUMWATCH_EDGE_MQTT_CERT_FILE): required",
        "capture.folder (HUMWATCH_EDGE_CAPTURE_FOLDER): required when source = 'folder'",
        "[mystery]: unknown section",
        "mqtt.port (HUMWATCH_EDGE_MQTT_PORT) = '0': must be a TCP port",
    ):
        assert expected in text


def test_given_status_only_when_delivery_settings_missing_then_accepted() -> None:
    # Given a config without any [mqtt] section, read for `status` (which never connects)
    config = build_config({"device": {"thing_name": "fan-03"}}, env={}, require_delivery=False)
    # Then it loads, with the delivery settings absent (None, as an unset setting with no default
    # is everywhere) and the spool where `run` keeps it
    assert config.thing_name == "fan-03"
    assert config.mqtt_endpoint is None
    assert config.mqtt_cert_file is None and config.mqtt_key_file is None
    assert config.spool_dir == Path("/var/lib/humwatch-edge/spool")


def test_given_missing_or_broken_file_when_loaded_then_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml", env={})
    broken = tmp_path / "broken.toml"
    broken.write_text("[device\nthing_name = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(broken, env={})


def test_given_config_path_in_env_when_loaded_then_that_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "edge.toml"
    path.write_text('[device]\nthing_name = "pump-7"\n')
    config = load_config(env={"HUMWATCH_EDGE_CONFIG": str(path)}, require_delivery=False)
    assert config.thing_name == "pump-7"
