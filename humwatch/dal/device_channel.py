"""Messages to devices through the IoT data plane (`iot-data` Publish to an MQTT topic)."""

from __future__ import annotations

import json
from typing import Any

from humwatch.dal import aws


class DeviceChannel:
    def __init__(self, endpoint_url: str | None = None, *, client: Any | None = None) -> None:
        # iot-data needs the account's own data endpoint (HUMWATCH_IOT_DATA_ENDPOINT).
        self._client = client if client is not None else aws.client("iot-data", endpoint_url=endpoint_url)

    def publish(self, topic: str, payload: dict[str, Any], *, qos: int = 1) -> None:
        with aws.translate_errors():
            self._client.publish(topic=topic, qos=qos, payload=json.dumps(payload).encode())
