"""A local stand-in for the IoT data-plane HTTPS API: `POST /topics/{topic}` -> the MQTT broker.

In AWS, the presign function answers a device through the iot-data `Publish` API and IoT Core
delivers the message to the device's MQTT session. moto has no broker behind that API, so the
local stack serves it here: boto3's `iot-data` client (pointed at this server by
`HUMWATCH_IOT_DATA_ENDPOINT`) sends the same signed request, and the payload is published on the
local mosquitto with the requested QoS. Only `Publish` is implemented (the one call humwatch makes).
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.parse
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

log = logging.getLogger(__name__)

PublishFn = Callable[[str, bytes, int], None]
"""(topic, payload, qos) -> None; raises when the message cannot be handed to the broker."""

_MAX_PAYLOAD = 128 * 1024  # IoT Core's message size limit


class _PublishHandler(BaseHTTPRequestHandler):
    server: _ShimServer

    def log_message(self, format: str, *args: object) -> None:
        log.debug("iot-data shim: " + format, *args)

    def _reply(self, status: HTTPStatus, body: dict[str, str]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        if not url.path.startswith("/topics/"):
            self._reply(HTTPStatus.NOT_FOUND, {"message": f"unsupported path {url.path}"})
            return
        topic = urllib.parse.unquote(url.path[len("/topics/") :])
        query = urllib.parse.parse_qs(url.query)
        try:
            qos = int(query.get("qos", ["0"])[0])
        except ValueError:
            qos = -1
        length = int(self.headers.get("Content-Length") or 0)
        if not topic or qos not in (0, 1) or length > _MAX_PAYLOAD:
            self._reply(HTTPStatus.BAD_REQUEST, {"message": "invalid topic, qos or payload size"})
            return
        payload = self.rfile.read(length) if length else b""
        try:
            self.server.publish(topic, payload, qos)
        except Exception as exc:  # the broker is down: IoT Core answers 503 and boto3 retries
            log.warning("iot-data shim could not publish to %s: %s", topic, exc)
            self._reply(HTTPStatus.SERVICE_UNAVAILABLE, {"message": f"publish failed: {exc}"})
            return
        self.server.published += 1
        self._reply(HTTPStatus.OK, {})


class _ShimServer(ThreadingHTTPServer):
    # server_close() joins the request threads (HTTP/1.0: one request per connection, so they end
    # promptly): stopping the stack leaves no thread behind.
    daemon_threads = False
    block_on_close = True

    def __init__(self, address: tuple[str, int], publish: PublishFn) -> None:
        super().__init__(address, _PublishHandler)
        self.publish = publish
        self.published = 0


class IotDataEndpoint:
    """`with IotDataEndpoint(publish) as shim: shim.url` (use as HUMWATCH_IOT_DATA_ENDPOINT)."""

    def __init__(self, publish: PublishFn, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = _ShimServer((host, port), publish)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            name="iot-data-shim",
            kwargs={"poll_interval": 0.2},
            daemon=True,
        )
        self.url = f"http://{host}:{self._server.server_address[1]}"

    @property
    def published(self) -> int:
        return self._server.published

    def start(self) -> IotDataEndpoint:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()

    def __enter__(self) -> IotDataEndpoint:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
