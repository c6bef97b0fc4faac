"""FLAC encoding and the HTTP PUT's reading of S3's answers (against a local HTTP server)."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from humwatch_edge.encode import content_md5, encode_flac
from humwatch_edge.errors import TransientDeliveryError, UrlRefused
from humwatch_edge.http_put import put_clip


def test_given_float_signal_when_encoded_then_16_bit_flac_with_matching_md5() -> None:
    signal = np.linspace(-1.5, 1.5, 16000, dtype=np.float32)  # out of range on purpose
    clip = encode_flac(signal, 16000)
    info = sf.info(io.BytesIO(clip.data))
    assert info.format == "FLAC" and info.subtype == "PCM_16" and info.samplerate == 16000
    assert clip.size == len(clip.data) and clip.md5 == content_md5(clip.data)
    decoded, _ = sf.read(io.BytesIO(clip.data), dtype="float32")
    assert decoded.max() <= 1.0 and decoded.min() >= -1.0


def test_given_int16_signal_when_encoded_then_samples_round_trip_exactly() -> None:
    signal = np.random.default_rng(3).integers(-32768, 32767, 8000, dtype=np.int16)
    decoded, _ = sf.read(io.BytesIO(encode_flac(signal, 8000).data), dtype="int16")
    np.testing.assert_array_equal(decoded, signal)


def test_given_empty_or_stereo_signal_when_encoded_then_value_error() -> None:
    with pytest.raises(ValueError):
        encode_flac(np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(ValueError):
        encode_flac(np.zeros((10, 2), dtype=np.float32), 16000)


class _Server:
    def __init__(self) -> None:
        self.status = 200
        self.body = b""
        self.received: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_PUT(self) -> None:
                data = self.rfile.read(int(self.headers["Content-Length"]))
                outer.received.append({"path": self.path, "headers": dict(self.headers), "data": data})
                self.send_response(outer.status)
                self.send_header("Content-Length", str(len(outer.body)))
                self.end_headers()
                self.wfile.write(outer.body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/bucket/clips/x.flac?X-Amz-Signature=abc"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()


@pytest.fixture()
def server() -> Iterator[_Server]:
    s = _Server()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


def test_given_2xx_when_put_then_body_and_headers_sent(server: _Server) -> None:
    assert (
        put_clip(server.url, {"Content-MD5": "bWQ1", "Content-Type": "audio/flac"}, b"abc", timeout_s=5)
        == 200
    )
    (request,) = server.received
    assert request["data"] == b"abc" and request["path"].endswith("?X-Amz-Signature=abc")
    assert request["headers"]["Content-MD5"] == "bWQ1" and request["headers"]["Content-Type"] == "audio/flac"


@pytest.mark.parametrize(
    ("status", "body", "error", "text"),
    [
        (
            403,
            b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>",
            UrlRefused,
            "Request has expired",
        ),
        (403, b"<Error><Code>SignatureDoesNotMatch</Code></Error>", UrlRefused, "SignatureDoesNotMatch"),
        (400, b"<Error><Code>BadDigest</Code></Error>", UrlRefused, "BadDigest"),
        (500, b"<Error><Code>InternalError</Code></Error>", TransientDeliveryError, "HTTP 500"),
        (503, b"<Error><Code>SlowDown</Code></Error>", TransientDeliveryError, "SlowDown"),
        (429, b"", TransientDeliveryError, "HTTP 429"),
    ],
)
def test_given_error_status_when_put_then_classified(
    server: _Server, status: int, body: bytes, error: type[Exception], text: str
) -> None:
    server.status, server.body = status, body
    with pytest.raises(error, match=text):
        put_clip(server.url, {}, b"abc", timeout_s=5)


def test_given_nothing_listening_when_put_then_transient() -> None:
    with pytest.raises(TransientDeliveryError, match="PUT failed"):
        put_clip("http://127.0.0.1:9/x", {}, b"abc", timeout_s=2)


def test_given_non_http_url_when_put_then_refused() -> None:
    with pytest.raises(UrlRefused):
        put_clip("ftp://example.com/x", {}, b"abc", timeout_s=2)
