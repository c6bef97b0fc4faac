"""The mutual-TLS context: the CA that signs the endpoint, and this thing's certificate and key."""

from __future__ import annotations

import ssl
from pathlib import Path

from humwatch_edge.errors import ConfigError

# AWS IoT Core accepts MQTT over TLS on 443 only with this ALPN protocol name (useful where a
# factory firewall opens nothing but HTTPS); on 8883 no ALPN is needed.
AWS_IOT_MQTT_ALPN = "x-amzn-mqtt-ca"


def _readable(path: Path, what: str) -> None:
    try:
        with open(path, "rb") as fh:
            fh.read(1)
    except FileNotFoundError as exc:
        raise ConfigError(f"{what} not found: {path}") from exc
    except OSError as exc:
        raise ConfigError(f"{what} not readable: {path}: {exc.strerror}") from exc


def client_context(ca_file: Path, cert_file: Path, key_file: Path, *, port: int) -> ssl.SSLContext:
    """Build the client context; every unusable file is reported with what to fix."""
    _readable(ca_file, "CA file (mqtt.ca_file)")
    _readable(cert_file, "certificate (mqtt.cert_file)")
    _readable(key_file, "private key (mqtt.key_file)")
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_verify_locations(cafile=str(ca_file))
    except (ssl.SSLError, ValueError) as exc:
        raise ConfigError(f"CA file {ca_file} holds no usable PEM certificate: {exc}") from exc
    try:
        context.load_cert_chain(certfile=str(cert_file), keyfile=str(key_file))
    except ssl.SSLError as exc:
        reason = getattr(exc, "reason", "") or str(exc)
        if "KEY_VALUES_MISMATCH" in str(reason).upper():
            raise ConfigError(
                f"private key {key_file} does not belong to certificate {cert_file}: "
                "copy the key that was issued with this certificate"
            ) from exc
        raise ConfigError(
            f"certificate {cert_file} or key {key_file} is not a usable PEM certificate/key: {exc}"
        ) from exc
    if port == 443:
        context.set_alpn_protocols([AWS_IOT_MQTT_ALPN])
    return context
