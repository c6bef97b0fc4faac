"""A minimal device for tests and benchmarks: request an upload over MQTT (mTLS), PUT the bytes.

It speaks exactly the device contract (`UploadRequest` on `.../upload/request`, the answer on
`.../upload/response`, an HTTP PUT with Content-MD5 and Content-Type) but does no capture or
spooling: the real device program is `humwatch_edge`. Useful to push many clips quickly (the
benchmark) or a deliberately corrupt one (the e2e test).
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from humwatch.contracts import format_timestamp, upload_request_ingest_topic, upload_response_topic
from humwatch.errors import HumwatchError


class DeviceClientError(HumwatchError):
    code = "device_client"


@dataclass(frozen=True)
class UploadResult:
    clip_id: str
    key: str
    captured_at: datetime
    status: int


class LocalDeviceClient:
    def __init__(
        self, thing: str, *, host: str, port: int, ca_file: Path, cert_file: Path, key_file: Path
    ) -> None:
        self.thing = thing
        self.host, self.port = host, port
        self._responses: dict[str, dict[str, Any]] = {}
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self._client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2, client_id=thing, protocol=mqtt.MQTTv311
        )
        self._client.tls_set(ca_certs=str(ca_file), certfile=str(cert_file), keyfile=str(key_file))
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = lambda *args: self._subscribed.set()
        self._client.on_message = self._on_message

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if not reason.is_failure:
            client.subscribe(upload_response_topic(self.thing), qos=1)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            body = json.loads(message.payload)
        except ValueError:
            return
        with self._cond:
            self._responses[str(body.get("clip_id"))] = body
            self._cond.notify_all()

    def connect(self, timeout_s: float = 10.0) -> LocalDeviceClient:
        self._client.connect(self.host, self.port, keepalive=30)
        self._client.loop_start()
        if not self._subscribed.wait(timeout_s):
            self.close()
            raise DeviceClientError(f"{self.thing}: not connected/subscribed after {timeout_s:.0f} s")
        return self

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def __enter__(self) -> LocalDeviceClient:
        return self.connect()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def request_upload(
        self,
        data: bytes,
        *,
        content_type: str = "audio/flac",
        captured_at: datetime | None = None,
        clip_id: str | None = None,
        timeout_s: float = 10.0,
    ) -> dict[str, Any]:
        """Publish an upload request and wait for the answer (a URL or an error body)."""
        clip_id = clip_id or str(uuid.uuid4())
        request = {
            "clip_id": clip_id,
            "captured_at": format_timestamp(captured_at or datetime.now(UTC)),
            "content_type": content_type,
            "size": len(data),
            "md5": base64.b64encode(hashlib.md5(data).digest()).decode(),
            "sample_rate": 16000,
            "duration_s": 10.0,
        }
        self._client.publish(upload_request_ingest_topic(self.thing), json.dumps(request), qos=1)
        with self._cond:
            if not self._cond.wait_for(lambda: clip_id in self._responses, timeout=timeout_s):
                raise DeviceClientError(
                    f"{self.thing}: no upload response for {clip_id} in {timeout_s:.0f} s"
                )
            return self._responses.pop(clip_id)

    def upload(
        self, data: bytes, *, content_type: str = "audio/flac", captured_at: datetime | None = None
    ) -> UploadResult:
        """Request a URL and PUT `data` to it (what the device does for every clip)."""
        captured_at = captured_at or datetime.now(UTC)
        answer = self.request_upload(data, content_type=content_type, captured_at=captured_at)
        if "error" in answer:
            raise DeviceClientError(f"{self.thing}: upload refused: {answer['error']}")
        request = urllib.request.Request(answer["url"], data=data, method="PUT", headers=answer["headers"])
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status = int(response.status)
        except urllib.error.HTTPError as exc:
            raise DeviceClientError(
                f"{self.thing}: PUT failed with HTTP {exc.code}: {exc.read()[:300]!r}"
            ) from exc
        return UploadResult(
            clip_id=str(answer["clip_id"]), key=str(answer["key"]), captured_at=captured_at, status=status
        )
