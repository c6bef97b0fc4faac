"""The MQTT connection to IoT Core: mutual TLS, its own reconnect loop, request/response by clip id.

paho-mqtt drives the protocol; this module owns the connection loop instead of paho's built-in
reconnect so every failed attempt is logged with a reason a person can act on (wrong certificate,
unreachable endpoint, refused session) and retried only after a jittered, growing delay.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt

from humwatch_edge.backoff import Backoff
from humwatch_edge.config import EdgeConfig
from humwatch_edge.contract import (
    UploadGrant,
    UploadRefusal,
    parse_upload_response,
    telemetry_ingest_topic,
    upload_request_ingest_topic,
    upload_response_topic,
)
from humwatch_edge.errors import TransientDeliveryError
from humwatch_edge.tls import client_context

log = logging.getLogger(__name__)
# Upload answers are received at QoS 0. The session is clean, so a QoS 1 answer that missed a
# dropped connection would not be redelivered either: both end in the request timing out and being
# asked again. What QoS 1 would add is the device's PUBACK, which AWS IoT Core bills as one more
# message per clip (a quarter of the clip's messaging bill; docs/deploy.md, "What it costs").
RESPONSE_QOS = 0
# A session that dies sooner than this after it was established counts as a failed attempt, so a
# broker that accepts and then drops us (e.g. a policy that forbids our subscription) is not
# retried in a tight loop.
STABLE_SESSION_S = 30.0


def _ignore_socket_event(client: mqtt.Client, userdata: Any, sock: Any) -> None:
    pass


@dataclass
class _Pending:
    event: threading.Event
    response: UploadGrant | UploadRefusal | None = None
    lost: str | None = None


class MqttLink:
    def __init__(
        self,
        config: EdgeConfig,
        *,
        on_ready: Callable[[], None] | None = None,
        on_tick: Callable[[], None] | None = None,
        context: ssl.SSLContext | None = None,
    ) -> None:
        assert config.mqtt_ca_file and config.mqtt_cert_file and config.mqtt_key_file
        self.config = config
        self.thing = config.thing_name
        self._context = context or client_context(
            config.mqtt_ca_file, config.mqtt_cert_file, config.mqtt_key_file, port=config.mqtt_port
        )
        self._on_ready = on_ready
        self._on_tick = on_tick
        self._backoff = Backoff(config.mqtt_reconnect_min_s, config.mqtt_reconnect_max_s)
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._connack = threading.Event()
        self._connack_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_paho_error: str | None = None
        self.connect_attempts = 0
        self.last_error: str | None = None
        self.connected_since: float | None = None
        self._client = self._new_client()

    # --- public API ---------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="mqtt-link", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def wait_ready(self, timeout: float) -> bool:
        return self._ready.wait(timeout)

    def request_upload(self, payload: bytes, clip_id: str, timeout_s: float) -> UploadGrant | UploadRefusal:
        """Publish an upload request and wait for the response carrying the same clip_id."""
        if not self._ready.is_set():
            raise TransientDeliveryError("not connected to the MQTT endpoint")
        pending = _Pending(threading.Event())
        with self._lock:
            self._pending[clip_id] = pending
        try:
            info = self._client.publish(upload_request_ingest_topic(self.thing), payload, qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                raise TransientDeliveryError(f"publish failed: {mqtt.error_string(info.rc)}")
            if not pending.event.wait(timeout_s):
                raise TransientDeliveryError(f"no upload response within {timeout_s:g} s")
        finally:
            with self._lock:
                self._pending.pop(clip_id, None)
        if pending.response is None:
            raise TransientDeliveryError(pending.lost or "connection lost while waiting for a response")
        return pending.response

    def publish_telemetry(self, payload: bytes) -> bool:
        if not self._ready.is_set():
            return False
        info = self._client.publish(telemetry_ingest_topic(self.thing), payload, qos=1)
        return info.rc == mqtt.MQTT_ERR_SUCCESS

    # --- paho plumbing ------------------------------------------------------------------------
    def _new_client(self) -> mqtt.Client:
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=self.thing,
            protocol=mqtt.MQTTv311,
            clean_session=True,
        )
        client.tls_set_context(self._context)
        client.connect_timeout = self.config.mqtt_connect_timeout_s
        client.on_connect = self._handle_connect
        client.on_subscribe = self._handle_subscribe
        client.on_log = self._handle_log
        # Only the link's thread may touch the TLS socket: OpenSSL connections are not safe for a
        # read in one thread and a write in another. With a write-registration callback set, paho
        # queues packets published from other threads and wakes `loop()` to send them, instead of
        # writing from the publishing thread.
        client.on_socket_register_write = _ignore_socket_event
        client.message_callback_add(upload_response_topic(self.thing), self._handle_message)
        return client

    def _handle_log(self, client: mqtt.Client, userdata: Any, level: int, text: str) -> None:
        if level in (mqtt.MQTT_LOG_ERR, mqtt.MQTT_LOG_WARNING):
            self._last_paho_error = text

    def _handle_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if reason.is_failure:
            self._connack_error = f"endpoint refused the MQTT session: {reason}"
        else:
            self._connack_error = None
            client.subscribe(upload_response_topic(self.thing), qos=RESPONSE_QOS)
        self._connack.set()

    def _handle_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any, props: Any
    ) -> None:
        if any(getattr(r, "is_failure", False) for r in reasons):
            self._fail(f"subscription to {upload_response_topic(self.thing)} refused (check the IoT policy)")
            return
        self._ready.set()
        log.info("connected to %s:%d as %s", self.config.mqtt_endpoint, self.config.mqtt_port, self.thing)
        if self.last_error:
            self.last_error = None
        if self._on_ready:
            self._on_ready()

    def _handle_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if message.topic != upload_response_topic(self.thing):
            return
        try:
            response = parse_upload_response(bytes(message.payload))
        except ValueError as exc:
            log.warning("ignored malformed upload response: %s", exc)
            return
        with self._lock:
            pending = self._pending.get(response.clip_id or "")
        if pending is None:
            log.debug("response for clip %s that nobody waits for (late or duplicate)", response.clip_id)
            return
        pending.response = response
        pending.event.set()

    def _fail(self, message: str) -> None:
        self.last_error = message
        log.error("%s", message)

    def _lose_pending(self, why: str) -> None:
        with self._lock:
            for pending in self._pending.values():
                pending.lost = why
                pending.event.set()

    # --- the connection loop ------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            established = self._connect_once()
            if established:
                self._serve()
            if self._stop.is_set():
                break
            delay = self._backoff.next_delay()
            log.info("reconnecting to the MQTT endpoint in %.1f s", delay)
            self._stop.wait(delay)
        with contextlib.suppress(Exception):  # best effort on the way out
            self._client.disconnect()

    def _connect_once(self) -> bool:
        """One attempt: TCP + TLS + CONNECT/CONNACK + SUBSCRIBE. True when ready."""
        self.connect_attempts += 1
        self._connack.clear()
        self._ready.clear()
        self._last_paho_error = None
        endpoint = f"{self.config.mqtt_endpoint}:{self.config.mqtt_port}"
        try:
            self._client.connect(
                self.config.mqtt_endpoint, self.config.mqtt_port, keepalive=self.config.mqtt_keepalive_s
            )
        except ssl.SSLCertVerificationError as exc:
            self._fail(
                f"TLS: cannot verify the endpoint {endpoint} with mqtt.ca_file ({exc.verify_message}); "
                "is ca_file the CA that signed the endpoint and is the endpoint name right?"
            )
            return False
        except ssl.SSLError as exc:
            self._fail(
                f"TLS handshake with {endpoint} failed ({exc.reason or exc}): most likely the endpoint "
                "refused this thing's certificate; check that mqtt.cert_file is the certificate "
                "registered (and active) for this thing"
            )
            return False
        except OSError as exc:
            self._fail(f"cannot reach the MQTT endpoint {endpoint}: {exc.strerror or exc}")
            return False
        deadline = time.monotonic() + self.config.mqtt_connect_timeout_s
        while not self._ready.is_set() and not self._stop.is_set():
            rc = self._client.loop(timeout=0.2)
            if rc != mqtt.MQTT_ERR_SUCCESS:
                detail = self._last_paho_error or mqtt.error_string(rc)
                self._fail(
                    f"the endpoint {endpoint} closed the connection during the MQTT handshake ({detail}): "
                    "its TLS layer most likely refused this thing's certificate (wrong CA, revoked or "
                    "inactive certificate) or the client id is not allowed by the policy"
                )
                return False
            if self._connack.is_set() and self._connack_error:
                self._fail(self._connack_error)
                self._client.disconnect()
                return False
            if time.monotonic() > deadline:
                self._fail(f"no MQTT session with {endpoint} within {self.config.mqtt_connect_timeout_s:g} s")
                self._client.disconnect()
                return False
        return self._ready.is_set()

    def _serve(self) -> None:
        """Run the protocol until the connection drops or we are told to stop."""
        self.connected_since = time.monotonic()
        while not self._stop.is_set():
            rc = self._client.loop(timeout=0.5)
            if rc != mqtt.MQTT_ERR_SUCCESS:
                detail = self._last_paho_error or mqtt.error_string(rc)
                self._ready.clear()
                self._fail(f"MQTT connection lost: {detail}")
                break
            if self._on_tick:
                self._on_tick()
        self._ready.clear()
        self._lose_pending("connection lost while waiting for the upload response")
        if self.connected_since is not None and time.monotonic() - self.connected_since >= STABLE_SESSION_S:
            self._backoff.reset()
        self.connected_since = None
