"""The local stand-in for IoT Core's rules engine and data-plane publish.

A privileged MQTT client (its own certificate from the local CA) subscribes to the rules' topic
filters, plain and Basic Ingest (`$aws/rules/<rule>/<topic>`, how devices reach them), and runs
each rule's action the way IoT Core would:

- `humwatch/+/upload/request` -> the presign Lambda, with the rule's event
  (`contracts.UPLOAD_REQUEST_RULE_SQL`: the contract's fields plus the thing name from the topic);
- `humwatch/+/telemetry` -> the DynamoDBv2 action's item (the last heartbeat of the device).

It also publishes on behalf of the iot-data API (`publish`), so the presign function's answer
reaches the device's MQTT session. Actions run on a small worker pool, never on the MQTT network
thread: an action may itself publish (and wait for the broker) without deadlocking it.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from humwatch.contracts import basic_ingest_topic, thing_from_topic
from humwatch.errors import HumwatchError

log = logging.getLogger(__name__)

ROUTER_IDENTITY = "humwatch-local-iot-core"

RuleAction = Callable[[dict[str, Any]], Any]
RuleSelect = Callable[[str, dict[str, Any]], dict[str, Any]]


class IotRulesError(HumwatchError):
    code = "iot_rules"


def select_all(topic: str, data: dict[str, Any]) -> dict[str, Any]:
    """`SELECT *, topic(2) AS thing`: the payload's fields plus the thing from the topic."""
    return {**data, "thing": thing_from_topic(topic)}


@dataclass(frozen=True)
class TopicRule:
    """The IoT rule `name`: `SELECT <select> FROM '<topic_filter>'` -> `action(event)`.

    Like IoT Core, it runs for publishes on its topic filter and for Basic Ingest publishes to
    `$aws/rules/<name>/<topic>`, and sees `<topic>` in both cases.
    """

    name: str
    topic_filter: str
    action: RuleAction
    select: RuleSelect = select_all

    @property
    def subscriptions(self) -> tuple[str, str]:
        # The Basic Ingest filter is named in full: MQTT (and mosquitto) never match a topic that
        # starts with `$` against a filter that starts with a wildcard.
        return self.topic_filter, basic_ingest_topic(self.name, self.topic_filter)

    def rule_topic(self, topic: str) -> str | None:
        """The topic the rule sees for a message published on `topic`; None if not this rule's."""
        seen = topic.removeprefix(basic_ingest_topic(self.name, ""))
        return seen if mqtt.topic_matches_sub(self.topic_filter, seen) else None


def rule_event(topic: str, payload: bytes, select: RuleSelect = select_all) -> dict[str, Any]:
    """The event a rule hands to its action.

    A payload that is not a JSON object cannot be selected from: IoT Core sends it to the rule's
    error action; here the ValueError is counted as a rule error.
    """
    data = json.loads(payload)
    if not isinstance(data, dict):
        raise ValueError("payload is not a JSON object")
    return select(topic, data)


@dataclass
class RuleStats:
    matched: int = 0
    errors: int = 0


class IotRulesEngine:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        ca_file: Path,
        cert_file: Path,
        key_file: Path,
        rules: list[TopicRule],
        workers: int = 2,
        client_id: str = ROUTER_IDENTITY,
    ) -> None:
        self.host, self.port = host, port
        self.rules = rules
        self.stats = {rule.name: RuleStats() for rule in rules}
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self._pending_subscriptions: set[int] = set()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="iot-rule")
        self._client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv311,
            clean_session=True,
        )
        self._client.tls_set(ca_certs=str(ca_file), certfile=str(cert_file), keyfile=str(key_file))
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._client.on_disconnect = self._on_disconnect
        self._started = False

    # --- MQTT callbacks (network thread) -----------------------------------------------------------
    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            log.error("IoT rules client refused by the broker: %s", reason)
            return
        self._connected.set()
        for rule in self.rules:
            for topic_filter in rule.subscriptions:
                result, mid = client.subscribe(topic_filter, qos=1)
                if result == mqtt.MQTT_ERR_SUCCESS and mid is not None:
                    self._pending_subscriptions.add(mid)

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any, props: Any) -> None:
        self._pending_subscriptions.discard(mid)
        if not self._pending_subscriptions:
            self._subscribed.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self._connected.clear()
        self._subscribed.clear()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        for rule in self.rules:
            topic = rule.rule_topic(message.topic)
            if topic is not None:
                self.stats[rule.name].matched += 1
                self._pool.submit(self._run_rule, rule, topic, bytes(message.payload))

    def _run_rule(self, rule: TopicRule, topic: str, payload: bytes) -> None:
        try:
            rule.action(rule_event(topic, payload, rule.select))
        except Exception as exc:  # IoT Core would call the rule's error action
            self.stats[rule.name].errors += 1
            log.warning("rule %s failed for %s: %s", rule.name, topic, exc)

    # --- publish (the iot-data API) ----------------------------------------------------------------
    def publish(self, topic: str, payload: bytes, qos: int) -> None:
        info = self._client.publish(topic, payload, qos=qos)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise IotRulesError(f"broker refused publish to {topic}: {mqtt.error_string(info.rc)}")
        if qos > 0:
            info.wait_for_publish(timeout=5)
            if not info.is_published():
                raise IotRulesError(f"publish to {topic} not acknowledged by the broker")

    # --- lifecycle --------------------------------------------------------------------------------
    def start(self, timeout_s: float = 10.0) -> IotRulesEngine:
        self._client.connect(self.host, self.port, keepalive=30)
        self._client.loop_start()
        self._started = True
        if not self._subscribed.wait(timeout_s):
            self.stop()
            raise IotRulesError(f"IoT rules client could not subscribe on {self.host}:{self.port}")
        return self

    def stop(self) -> None:
        """Stop taking messages, let running actions finish (they may still publish), disconnect."""
        if self._started:
            self._client.unsubscribe([f for rule in self.rules for f in rule.subscriptions])
        self._pool.shutdown(wait=True, cancel_futures=False)
        if self._started:
            self._client.disconnect()
            self._client.loop_stop()
            self._started = False
