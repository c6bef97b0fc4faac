"""A small real cloud for the uploader's tests: mosquitto with mTLS, moto S3, the real presign logic.

- `Cloud.broker`: mosquitto (humwatch.local.mqtt_broker) with certificates from humwatch.pki
  and the local stack's device ACL (humwatch.local.stack.device_acl): like the IoT policy, a
  device may publish only with Basic Ingest to the two rules, as itself.
- `Cloud.s3`: a moto server with the clips bucket.
- `PresignResponder`: an MQTT client that answers upload requests with the real
  `humwatch.services.presign.handle_upload_request` (signing with the real `ClipStore`, counting
  the per-device quota with the real `UploadQuotas` in a moto DynamoDB table; its clock and quota
  can be set by a test); the URLs it hands out point at `FaultyS3Proxy`, which forwards PUTs to
  moto unless told to fail the next few (HTTP 500, or 403 "Request has expired" as S3 says it),
  so retries can be tested.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import paho.mqtt.client as mqtt
from moto.server import ThreadedMotoServer

from humwatch import contracts as c
from humwatch.config import PresignSettings
from humwatch.dal import aws
from humwatch.dal.clip_store import ClipStore
from humwatch.dal.provisioning import create_table
from humwatch.dal.table_client import TableClient
from humwatch.dal.upload_quotas import UploadQuotas
from humwatch.envvars import temporary_environ
from humwatch.local.iot_rules import ROUTER_IDENTITY
from humwatch.local.mqtt_broker import MosquittoBroker
from humwatch.local.stack import device_acl
from humwatch.pki import CA, issue_cert, issue_server_cert, make_ca
from humwatch.services.presign import PresignDeps, handle_upload_request

log = logging.getLogger(__name__)
logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto logs every request otherwise
THING = "fan-01"
# The responder plays the local stack's rules engine, with its identity (what the ACL grants it).
RESPONDER = ROUTER_IDENTITY
TESTS_DIR = Path(__file__).resolve().parent
EXPIRED_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code>'
    b"<Message>Request has expired</Message></Error>"
)


@dataclass
class Faults:
    """What the proxy does with the next PUTs: each queued item is 'ok', '500' or 'expired'."""

    plan: queue.Queue[str] = field(default_factory=queue.Queue)
    put_attempts: list[tuple[str, str]] = field(default_factory=list)  # (path, outcome)
    delay_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, *outcomes: str) -> None:
        for outcome in outcomes:
            self.plan.put(outcome)

    def next_outcome(self) -> str:
        try:
            return self.plan.get_nowait()
        except queue.Empty:
            return "ok"


class FaultyS3Proxy:
    """HTTP proxy in front of moto: forwards PUTs (with the signed Host header) or fails them."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.faults = Faults()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_PUT(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                outcome = proxy.faults.next_outcome()
                with proxy.faults.lock:
                    proxy.faults.put_attempts.append((self.path, outcome))
                if proxy.faults.delay_s:
                    time.sleep(proxy.faults.delay_s)
                if outcome == "500":
                    self._reply(500, b"<Error><Code>InternalError</Code><Message>boom</Message></Error>")
                    return
                if outcome == "expired":
                    self._reply(403, EXPIRED_BODY)
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                headers["Host"] = f"{upstream_host}:{upstream_port}"
                conn = http.client.HTTPConnection(upstream_host, upstream_port, timeout=10)
                try:
                    conn.request("PUT", self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                    self._reply(resp.status, resp.read(), resp.getheader("ETag"))
                finally:
                    conn.close()

            def _reply(self, status: int, body: bytes, etag: str | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                if etag:
                    self.send_header("ETag", etag)
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    def start(self) -> FaultyS3Proxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class ProxiedSigner:
    """The real ClipStore signer, with the URL's host swapped for the fault proxy."""

    def __init__(self, store: ClipStore, proxy_port: int) -> None:
        self.store = store
        self.proxy_port = proxy_port

    def presign_put(self, key: str, *, content_type: str, content_md5: str, expires_in: int) -> str:
        url = self.store.presign_put(
            key, content_type=content_type, content_md5=content_md5, expires_in=expires_in
        )
        parts = urlsplit(url)
        return urlunsplit(parts._replace(netloc=f"127.0.0.1:{self.proxy_port}"))


class MqttPublisher:
    def __init__(self, client: mqtt.Client) -> None:
        self.client = client

    def publish(self, topic: str, payload: dict[str, Any], *, qos: int = 1) -> None:
        self.client.publish(topic, json.dumps(payload), qos=qos)


class PresignResponder:
    """Plays the two IoT rules: answers upload requests with the real presign logic and records
    heartbeats, both received as the rules receive them (Basic Ingest); records what it saw."""

    def __init__(self, cloud: Cloud, cert: Path, key: Path) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []  # (thing, payload) in arrival order
        self.request_times: list[float] = []  # time.monotonic() of each request's arrival
        self.telemetry: list[dict[str, Any]] = []
        self.answers: list[dict[str, Any]] = []
        self.answer_times: list[float] = []  # time.monotonic() of each answer, as answers
        self.paused = threading.Event()  # set: requests are recorded but not answered
        self._ready = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=2)
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=RESPONDER)
        self._client.tls_set(ca_certs=str(cloud.ca.cert_path), certfile=str(cert), keyfile=str(key))
        self._client.reconnect_delay_set(0.1, 0.5)  # type: ignore[arg-type]  # floats work
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = lambda *a: self._ready.set()
        self._client.on_message = self._on_message
        self._client.on_disconnect = lambda *a: self._ready.clear()
        settings = PresignSettings.model_validate(
            {
                c.ENV_BUCKET: cloud.bucket,
                c.ENV_TABLE: cloud.table,
                c.ENV_IOT_DATA_ENDPOINT: "http://127.0.0.1:1",
                # The tests capture every fraction of a second; the quota test sets its own.
                "HUMWATCH_MAX_UPLOADS_PER_HOUR": "100000",
            }
        )
        self.deps = PresignDeps(
            settings=settings,
            clips=ProxiedSigner(ClipStore(cloud.bucket, client=cloud.s3_client), cloud.proxy.port),
            channel=MqttPublisher(self._client),
            quotas=UploadQuotas(TableClient(cloud.table, client=cloud.dynamodb_client)),
        )
        self._port = cloud.broker.port

    def start(self) -> PresignResponder:
        self._client.connect_async("127.0.0.1", self._port)
        self._client.loop_start()
        if not self._ready.wait(10):
            raise RuntimeError("presign responder could not subscribe")
        return self

    def wait_ready(self, timeout: float = 10.0) -> bool:
        return self._ready.wait(timeout)

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
        self._pool.shutdown(wait=True)

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self._ready.clear()
        client.subscribe(
            [
                (c.basic_ingest_topic(c.UPLOAD_REQUEST_RULE, c.UPLOAD_REQUEST_FILTER), 1),
                (c.basic_ingest_topic(c.TELEMETRY_RULE, c.TELEMETRY_FILTER), 1),
            ]
        )

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        rule, _, topic = message.topic.removeprefix(c.BASIC_INGEST_PREFIX).partition("/")
        thing = c.thing_from_topic(topic)
        payload = json.loads(message.payload)
        if rule == c.TELEMETRY_RULE:
            self.telemetry.append(payload)
            return
        self.requests.append((thing, payload))
        self.request_times.append(time.monotonic())
        if not self.paused.is_set():
            self._pool.submit(self._answer, thing, payload)

    def _answer(self, thing: str, payload: dict[str, Any]) -> None:
        try:
            answer = handle_upload_request(thing, payload, self.deps)
            self.answer_times.append(time.monotonic())
            self.answers.append(answer)
        except Exception:  # a test helper: make a broken responder visible in the log
            log.exception("presign responder failed")


@dataclass
class DeviceFiles:
    thing: str
    cert: Path
    key: Path


class Cloud:
    """Broker + moto + proxy + responder, started together; `stop()` leaves nothing running."""

    def __init__(self, root: Path) -> None:
        self.root = root
        # moto keeps its state per process, not per server: a bucket of its own isolates each test.
        self.bucket = f"humwatch-edge-{uuid.uuid4().hex[:12]}"
        self.table = self.bucket  # the history table, for the upload quota counters
        self.ca: CA = make_ca(root / "pki" / "ca")
        server_cert, server_key = issue_server_cert(self.ca, root / "pki" / "server")
        self.broker = MosquittoBroker(
            root / "broker", ca=self.ca, server_cert=server_cert, server_key=server_key, acl=device_acl()
        )
        self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.s3_client: Any = None
        self.dynamodb_client: Any = None
        self.proxy: FaultyS3Proxy
        self.responder: PresignResponder
        self.moto_port = 0

    def device(self, thing: str = THING, *, ca: CA | None = None) -> DeviceFiles:
        cert, key = issue_cert(ca or self.ca, thing, self.root / "pki" / f"device-{thing}")
        return DeviceFiles(thing, cert, key)

    def start(self) -> Cloud:
        self.broker.start()
        self.moto.start()
        _host, self.moto_port = self.moto.get_host_and_port()
        # The production client factory (SigV4 presigning, retries, timeouts), pointed at moto.
        with _aws_env():
            self.s3_client = aws.client(
                "s3", endpoint_url=f"http://127.0.0.1:{self.moto_port}", region="us-east-1"
            )
            self.dynamodb_client = aws.client(
                "dynamodb", endpoint_url=f"http://127.0.0.1:{self.moto_port}", region="us-east-1"
            )
        self.s3_client.create_bucket(Bucket=self.bucket)
        create_table(self.dynamodb_client, self.table)
        self.proxy = FaultyS3Proxy("127.0.0.1", self.moto_port).start()
        cert, key = issue_cert(self.ca, RESPONDER, self.root / "pki" / "responder")
        self.responder = PresignResponder(self, cert, key).start()
        return self

    def stop(self) -> None:
        for step in (self.responder.stop, self.proxy.stop, self.broker.stop, self.moto.stop):
            try:
                step()
            except Exception:  # keep stopping the rest
                log.exception("cleanup step failed")

    # --- S3 helpers ------------------------------------------------------------------------------
    def objects(self) -> dict[str, bytes]:
        """Every clip object in the bucket: key -> bytes."""
        out: dict[str, bytes] = {}
        pages = self.s3_client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=c.CLIPS_PREFIX
        )
        for page in pages:
            for item in page.get("Contents", []):
                out[item["Key"]] = self.s3_client.get_object(Bucket=self.bucket, Key=item["Key"])[
                    "Body"
                ].read()
        return out

    def object_count(self) -> int:
        resp = self.s3_client.list_objects_v2(Bucket=self.bucket, Prefix=c.CLIPS_PREFIX)
        return int(resp.get("KeyCount", 0))


def _aws_env() -> AbstractContextManager[None]:
    """Dummy credentials for moto while the client is built (never real ones)."""
    return temporary_environ({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})


@contextmanager
def running_cloud(root: Path) -> Iterator[Cloud]:
    cloud = Cloud(root)
    try:
        yield cloud.start()
    finally:
        cloud.stop()


def wait_until(predicate: Callable[[], bool], timeout_s: float, interval_s: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return predicate()


def edge_document(
    spool_dir: Path,
    device: DeviceFiles,
    cloud: Cloud,
    *,
    interval_s: float = 0.3,
    duration_s: float = 0.25,
    source: dict[str, Any] | None = None,
    spool: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A TOML-shaped config document with test-sized intervals."""
    return {
        "device": {"thing_name": device.thing},
        "mqtt": {
            "endpoint": "127.0.0.1",
            "port": cloud.broker.port,
            "ca_file": str(cloud.ca.cert_path),
            "cert_file": str(device.cert),
            "key_file": str(device.key),
            "keepalive_s": 10,
            "connect_timeout_s": 3,
            "reconnect_min_s": 0.2,
            "reconnect_max_s": 1.0,
        },
        "capture": {
            "interval_s": interval_s,
            "duration_s": duration_s,
            **(source or {"source": "generator", "generator": "edge_sources:noise"}),
        },
        "spool": {"dir": str(spool_dir), **(spool or {})},
        "delivery": {
            "response_timeout_s": 1,
            "http_timeout_s": 5,
            "backoff_initial_s": 0.1,
            "backoff_max_s": 0.5,
        },
        "telemetry": {"interval_s": 1},
        "log": {"level": "INFO"},
    }


class EdgeProcess:
    """`python -m humwatch_edge run` with its log lines collected as they are written."""

    def __init__(self, config: Path, extra_env: dict[str, str]) -> None:
        env = {**os.environ, **extra_env, "PYTHONPATH": str(TESTS_DIR), "PYTHONUNBUFFERED": "1"}
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "humwatch_edge", "--config", str(config), "run"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    def matches(self, pattern: re.Pattern[str]) -> list[str]:
        return [m.group(1) for line in list(self.lines) for m in [pattern.search(line)] if m]

    def wait_for(self, pattern: re.Pattern[str], count: int, timeout_s: float) -> bool:
        return wait_until(lambda: len(self.matches(pattern)) >= count, timeout_s, interval_s=0.005)

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._reader.join(5)

    def terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(20)
        self._reader.join(5)
        return code


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def write_toml(path: Path, document: dict[str, Any]) -> Path:
    """Write a two-level config document as TOML (the tests' config files)."""
    lines: list[str] = []
    for section, body in document.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {_toml_value(value)}" for key, value in body.items()]
        lines.append("")
    path.write_text("\n".join(lines))
    return path
