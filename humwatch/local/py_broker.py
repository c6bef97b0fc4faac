"""A small MQTT 3.1.1 broker in pure Python, with mutual TLS: the local stack's fallback when the
mosquitto binary is not installed (a fresh laptop without root), never a production broker.

What it implements is what humwatch devices and the local IoT rules use, with IoT Core's rules:
- TLS with a client certificate signed by the local CA (required); the certificate's CN is the
  client's identity (mosquitto's `use_identity_as_username`), and the optional mosquitto-style ACL
  (`user`/`topic`, `pattern read|write|readwrite` with `%u`) confines each identity's topics;
- CONNECT (clean session), PUBLISH QoS 0 and 1 (PUBACK), SUBSCRIBE/UNSUBSCRIBE with `+`/`#`
  filters (granted QoS at most 1), PINGREQ, DISCONNECT; a second connection with the same client
  id takes the session over, as in IoT Core.
Not implemented (refused or ignored): QoS 2, retained messages, persistent sessions, wills.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import ssl
import struct
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from cryptography import x509
from cryptography.x509.oid import NameOID
from paho.mqtt.client import topic_matches_sub

from humwatch.local.mqtt_broker import BrokerError
from humwatch.pki import CA

log = logging.getLogger(__name__)

_HOST = "127.0.0.1"
CONNECT, CONNACK, PUBLISH, PUBACK = 1, 2, 3, 4
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT = 8, 9, 10, 11, 12, 13, 14
_MAX_PACKET = 256 * 1024  # IoT Core's limit is 128 KB per message


class ProtocolError(Exception):
    pass


@dataclass(frozen=True)
class _AclRule:
    user: str | None  # None: a `pattern` rule (applies to everyone, %u = the identity)
    access: str  # read | write | readwrite
    topic: str

    def allows(self, identity: str, topic: str, want: str) -> bool:
        if self.user is not None and self.user != identity:
            return False
        if want not in self.access:
            return False
        pattern = self.topic.replace("%u", identity) if self.user is None else self.topic
        return topic == pattern or topic_matches_sub(pattern, topic)


def parse_acl(text: str) -> list[_AclRule]:
    """The subset of mosquitto's ACL file format the local stack writes."""
    rules: list[_AclRule] = []
    user: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        words = line.split()
        if words[0] == "user" and len(words) == 2:
            user = words[1]
        elif words[0] in ("topic", "pattern") and len(words) in (2, 3):
            access, topic = (words[1], words[2]) if len(words) == 3 else ("readwrite", words[1])
            if access not in ("read", "write", "readwrite"):
                raise BrokerError(f"ACL line {line!r}: access must be read, write or readwrite")
            rules.append(_AclRule(user if words[0] == "topic" else None, access, topic))
        else:
            raise BrokerError(f"unsupported ACL line {line!r}")
    return rules


def _encode_length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _utf8(text: str) -> bytes:
    data = text.encode()
    return struct.pack("!H", len(data)) + data


@dataclass
class _Session:
    sock: ssl.SSLSocket
    identity: str
    client_id: str = ""
    filters: dict[str, int] = field(default_factory=dict)
    next_id: int = 1
    send_lock: threading.Lock = field(default_factory=threading.Lock)
    closed: bool = False

    def send(self, packet_type: int, flags: int, body: bytes) -> None:
        data = bytes([(packet_type << 4) | flags]) + _encode_length(len(body)) + body
        with self.send_lock:
            if not self.closed:
                self.sock.sendall(data)

    def send_publish(self, topic: str, qos: int, payload: bytes) -> None:
        with self.send_lock:
            header = _utf8(topic)
            if qos:
                header += struct.pack("!H", self.next_id)
                self.next_id = self.next_id % 65535 + 1
            body = header + payload
            data = bytes([(PUBLISH << 4) | (qos << 1)]) + _encode_length(len(body)) + body
            if not self.closed:
                self.sock.sendall(data)

    def close(self) -> None:
        self.closed = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


class PythonMqttBroker:
    """Drop-in for `MosquittoBroker` in the local stack: `with PythonMqttBroker(...) as b: b.port`."""

    def __init__(
        self,
        workdir: str | os.PathLike[str],
        *,
        ca: CA,
        server_cert: str | os.PathLike[str],
        server_key: str | os.PathLike[str],
        port: int = 0,
        acl: str | None = None,
    ) -> None:
        self.workdir = Path(workdir)
        self.host = _HOST
        self.port = port
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.minimum_version = ssl.TLSVersion.TLSv1_2
        self._context.load_cert_chain(str(server_cert), str(server_key))
        self._context.load_verify_locations(cafile=str(ca.cert_path))
        self._context.verify_mode = ssl.CERT_REQUIRED
        self._acl = parse_acl(acl) if acl is not None else None
        self._sessions: dict[str, _Session] = {}  # by client id, once connected
        self._sockets: set[socket.socket] = set()  # every open connection, for stop()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    # --- lifecycle ------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._listener is not None

    def start(self) -> None:
        if self._listener is not None:
            return
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((_HOST, self.port))
        except OSError as exc:
            listener.close()
            raise BrokerError(f"built-in MQTT broker cannot listen on {_HOST}:{self.port}: {exc}") from exc
        listener.listen(64)
        listener.settimeout(0.2)
        self.port = int(listener.getsockname()[1])
        self._listener = listener
        self._stopping.clear()
        self._spawn(self._accept_loop, "mqtt-accept")

    def stop(self) -> None:
        """Close the listener and every connection, join every thread. Safe to call twice."""
        listener, self._listener = self._listener, None
        if listener is None:
            return
        self._stopping.set()
        listener.close()
        with self._lock:
            sockets = list(self._sockets)
            self._sessions.clear()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()

    def __enter__(self) -> PythonMqttBroker:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _spawn(self, target: object, name: str, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)  # type: ignore[arg-type]
        self._threads = [t for t in self._threads if t.is_alive()]
        self._threads.append(thread)
        thread.start()

    # --- connections ------------------------------------------------------------------------------
    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            listener = self._listener
            if listener is None:
                return
            try:
                raw, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._spawn(self._serve, "mqtt-client", raw)

    def _serve(self, raw: socket.socket) -> None:
        raw.settimeout(10)
        with self._lock:
            self._sockets.add(raw)
        try:
            sock = self._context.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError) as exc:  # no or untrusted client certificate
            log.info("TLS handshake refused: %s", exc)
            with self._lock:
                self._sockets.discard(raw)
            raw.close()
            return
        with self._lock:
            self._sockets.discard(raw)
            self._sockets.add(sock)
        session = _Session(sock=sock, identity=self._identity(sock))
        try:
            sock.settimeout(None)
            self._session_loop(session)
        except (ProtocolError, OSError, ssl.SSLError, struct.error) as exc:
            if not self._stopping.is_set():
                log.debug("connection of %s closed: %s", session.client_id or session.identity, exc)
        finally:
            with self._lock:
                if self._sessions.get(session.client_id) is session:
                    del self._sessions[session.client_id]
                self._sockets.discard(sock)
            session.close()

    @staticmethod
    def _identity(sock: ssl.SSLSocket) -> str:
        der = sock.getpeercert(binary_form=True)
        if not der:
            return ""
        names = x509.load_der_x509_certificate(der).subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return str(names[0].value) if names else ""

    def _read_packet(self, sock: ssl.SSLSocket) -> tuple[int, int, bytes]:
        header = self._read_exact(sock, 1)[0]
        length, multiplier = 0, 1
        for _ in range(4):
            byte = self._read_exact(sock, 1)[0]
            length += (byte & 0x7F) * multiplier
            if not byte & 0x80:
                break
            multiplier *= 128
        else:
            raise ProtocolError("malformed remaining length")
        if length > _MAX_PACKET:
            raise ProtocolError(f"packet of {length} bytes is over the limit")
        return header >> 4, header & 0x0F, self._read_exact(sock, length) if length else b""

    @staticmethod
    def _read_exact(sock: ssl.SSLSocket, n: int) -> bytes:
        chunks = bytearray()
        while len(chunks) < n:
            chunk = sock.recv(n - len(chunks))
            if not chunk:
                raise ProtocolError("connection closed")
            chunks += chunk
        return bytes(chunks)

    def _session_loop(self, session: _Session) -> None:
        kind, _, body = self._read_packet(session.sock)
        if kind != CONNECT:
            raise ProtocolError("first packet is not CONNECT")
        self._connect(session, body)
        while not self._stopping.is_set():
            kind, flags, body = self._read_packet(session.sock)
            if kind == PUBLISH:
                self._publish(session, flags, body)
            elif kind == SUBSCRIBE:
                self._subscribe(session, body)
            elif kind == UNSUBSCRIBE:
                self._unsubscribe(session, body)
            elif kind == PINGREQ:
                session.send(PINGRESP, 0, b"")
            elif kind == PUBACK:
                continue  # QoS 1 deliveries are not retried, so acknowledgements need no bookkeeping
            elif kind == DISCONNECT:
                return
            else:
                raise ProtocolError(f"unsupported packet type {kind}")

    # --- packets ----------------------------------------------------------------------------------
    def _connect(self, session: _Session, body: bytes) -> None:
        name_len = struct.unpack("!H", body[:2])[0]
        protocol, level = body[2 : 2 + name_len], body[2 + name_len]
        flags = body[3 + name_len]
        pos = 6 + name_len  # after flags and keep-alive
        if protocol != b"MQTT" or level != 4:
            session.send(CONNACK, 0, b"\x00\x01")  # unacceptable protocol version
            raise ProtocolError("only MQTT 3.1.1 is supported")
        client_len = struct.unpack("!H", body[pos : pos + 2])[0]
        session.client_id = body[pos + 2 : pos + 2 + client_len].decode()
        if not session.identity or not session.client_id:
            session.send(CONNACK, 0, b"\x00\x05")  # not authorised
            raise ProtocolError("no certificate identity or client id")
        del flags  # clean session only; will, username and password are not used (mTLS identity)
        with self._lock:
            previous = self._sessions.get(session.client_id)
            self._sessions[session.client_id] = session
        if previous is not None:  # same client id: the new connection takes over, as in IoT Core
            previous.close()
        session.send(CONNACK, 0, b"\x00\x00")

    def _allowed(self, identity: str, topic: str, want: str) -> bool:
        return self._acl is None or any(rule.allows(identity, topic, want) for rule in self._acl)

    def _publish(self, session: _Session, flags: int, body: bytes) -> None:
        qos = (flags >> 1) & 0x03
        if qos > 1:
            raise ProtocolError("QoS 2 is not supported")
        topic_len = struct.unpack("!H", body[:2])[0]
        topic = body[2 : 2 + topic_len].decode()
        pos = 2 + topic_len
        packet_id = None
        if qos:
            packet_id = struct.unpack("!H", body[pos : pos + 2])[0]
            pos += 2
        payload = body[pos:]
        if packet_id is not None:
            session.send(PUBACK, 0, struct.pack("!H", packet_id))
        if not self._allowed(session.identity, topic, "write"):
            log.info("ACL: %s may not publish to %s (dropped)", session.identity, topic)
            return
        with self._lock:
            targets = [
                (other, max(q for f, q in other.filters.items() if topic_matches_sub(f, topic)))
                for other in self._sessions.values()
                if any(topic_matches_sub(f, topic) for f in other.filters)
            ]
        for target, sub_qos in targets:
            try:
                target.send_publish(topic, min(qos, sub_qos), payload)
            except OSError:
                continue  # that subscriber is going away; its own thread cleans up

    def _subscribe(self, session: _Session, body: bytes) -> None:
        packet_id, pos, granted = body[:2], 2, bytearray()
        while pos < len(body):
            flen = struct.unpack("!H", body[pos : pos + 2])[0]
            topic_filter = body[pos + 2 : pos + 2 + flen].decode()
            requested = body[pos + 2 + flen] & 0x03
            pos += 3 + flen
            if self._allowed(session.identity, topic_filter, "read"):
                with self._lock:
                    session.filters[topic_filter] = min(requested, 1)
                granted.append(min(requested, 1))
            else:
                granted.append(0x80)
        session.send(SUBACK, 0, packet_id + bytes(granted))

    def _unsubscribe(self, session: _Session, body: bytes) -> None:
        pos = 2
        while pos < len(body):
            flen = struct.unpack("!H", body[pos : pos + 2])[0]
            with self._lock:
                session.filters.pop(body[pos + 2 : pos + 2 + flen].decode(), None)
            pos += 2 + flen
        session.send(UNSUBACK, 0, body[:2])
