"""`humwatch-edge check`: is this device ready to run? Each check says what to fix."""

from __future__ import annotations

import os
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt

from humwatch_edge.capture import open_source
from humwatch_edge.config import EdgeConfig
from humwatch_edge.errors import EdgeError
from humwatch_edge.spool import disk_free
from humwatch_edge.tls import client_context


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str


def _check_tls_files(config: EdgeConfig) -> tuple[CheckResult, ssl.SSLContext | None]:
    assert config.mqtt_ca_file and config.mqtt_cert_file and config.mqtt_key_file
    try:
        context = client_context(
            config.mqtt_ca_file, config.mqtt_cert_file, config.mqtt_key_file, port=config.mqtt_port
        )
    except EdgeError as exc:
        return CheckResult("certificates", False, str(exc)), None
    return (
        CheckResult("certificates", True, "CA readable; certificate and private key readable and matching"),
        context,
    )


def _check_endpoint(config: EdgeConfig, context: ssl.SSLContext) -> CheckResult:
    endpoint = f"{config.mqtt_endpoint}:{config.mqtt_port}"
    started = time.monotonic()
    try:
        with (
            socket.create_connection(
                (config.mqtt_endpoint, config.mqtt_port), timeout=config.mqtt_connect_timeout_s
            ) as raw,
            context.wrap_socket(raw, server_hostname=config.mqtt_endpoint) as tls,
        ):
            version = tls.version()
    except ssl.SSLCertVerificationError as exc:
        return CheckResult(
            "endpoint", False, f"{endpoint}: server certificate not trusted: {exc.verify_message}"
        )
    except (ssl.SSLError, OSError) as exc:
        return CheckResult("endpoint", False, f"{endpoint}: TLS handshake failed: {exc}")
    handshake_ms = (time.monotonic() - started) * 1000
    return CheckResult("endpoint", True, f"{endpoint}: TLS handshake ok ({version}, {handshake_ms:.0f} ms)")


def _check_mqtt_session(config: EdgeConfig, context: ssl.SSLContext) -> CheckResult:
    """A full MQTT CONNECT: the only way to learn that the endpoint accepts this certificate."""
    done = threading.Event()
    outcome: dict[str, Any] = {}

    def on_connect(client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        outcome["reason"] = reason
        done.set()

    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=config.thing_name, protocol=mqtt.MQTTv311
    )
    client.tls_set_context(context)
    client.connect_timeout = config.mqtt_connect_timeout_s
    client.on_connect = on_connect
    try:
        client.connect(config.mqtt_endpoint, config.mqtt_port, keepalive=30)
        deadline = time.monotonic() + config.mqtt_connect_timeout_s
        while not done.is_set() and time.monotonic() < deadline:
            if client.loop(timeout=0.2) != mqtt.MQTT_ERR_SUCCESS:
                break
    except (ssl.SSLError, OSError) as exc:
        return CheckResult("mqtt session", False, f"connect failed: {exc}")
    finally:
        client.disconnect()
    reason = outcome.get("reason")
    if reason is None:
        return CheckResult(
            "mqtt session",
            False,
            "the endpoint closed the connection before accepting the session: it refused this "
            "certificate (wrong CA, inactive/revoked certificate) or the client id",
        )
    if reason.is_failure:
        return CheckResult("mqtt session", False, f"session refused: {reason}")
    return CheckResult("mqtt session", True, f"session accepted for client id {config.thing_name}")


def _check_spool(config: EdgeConfig) -> CheckResult:
    probe = config.spool_dir / f".check-{os.getpid()}.tmp"
    try:
        config.spool_dir.mkdir(parents=True, exist_ok=True)
        with open(probe, "wb") as fh:
            fh.write(b"humwatch")
            fh.flush()
            os.fsync(fh.fileno())
        probe.unlink()
    except OSError as exc:
        return CheckResult("spool", False, f"{config.spool_dir} not writable: {exc.strerror}")
    free = disk_free(config.spool_dir)
    if free < config.spool_max_bytes:
        return CheckResult(
            "spool",
            True,
            f"{config.spool_dir} writable; WARNING only {free / 1e6:.0f} MB free, "
            f"less than spool.max_bytes ({config.spool_max_bytes / 1e6:.0f} MB)",
        )
    return CheckResult("spool", True, f"{config.spool_dir} writable, {free / 1e6:.0f} MB free")


def _check_source(config: EdgeConfig) -> CheckResult:
    try:
        open_source(config).close()
    except EdgeError as exc:
        return CheckResult("capture source", False, str(exc))
    return CheckResult("capture source", True, f"{config.capture_source} available")


def run_checks(config: EdgeConfig, *, emit: Callable[[CheckResult], None] | None = None) -> list[CheckResult]:
    results: list[CheckResult] = []

    def add(result: CheckResult) -> None:
        results.append(result)
        if emit:
            emit(result)

    add(CheckResult("config", True, f"thing {config.thing_name}, endpoint {config.mqtt_endpoint}"))
    tls_result, context = _check_tls_files(config)
    add(tls_result)
    if context is not None:
        endpoint = _check_endpoint(config, context)
        add(endpoint)
        if endpoint.ok:
            add(_check_mqtt_session(config, context))
    add(_check_spool(config))
    add(_check_source(config))
    return results
