"""The moto server that plays AWS for the local stack, run in-process on a free port."""

from __future__ import annotations

import contextlib
import logging
import urllib.request
from collections.abc import Callable
from types import TracebackType

from moto.server import ThreadedMotoServer

from humwatch.local.s3_outage import WsgiApp

# The AWS APIs the local stack uses (moto serves them all on one port; listed for the docs/status).
SERVICES: tuple[str, ...] = ("s3", "sqs", "dynamodb", "sns", "iot", "cloudwatch", "sts")

# Dummy credentials: moto accepts any, and fixed values make every boto3 client sign the same way.
DUMMY_ACCESS_KEY = "testing"
DUMMY_SECRET_KEY = "testing"


class MotoEndpoint:
    """`with MotoEndpoint() as moto: moto.url` -> `http://127.0.0.1:PORT`.

    moto keeps its state in process-wide backends: `reset()` on start gives a fresh, empty account
    even when an earlier stack ran in the same process (tests).

    `middleware` (fault injection only, e.g. `S3Outage.wrap`) wraps moto's WSGI application, so it
    sees every request before moto does.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        reset: bool = True,
        middleware: Callable[[WsgiApp], WsgiApp] | None = None,
    ) -> None:
        self._server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
        self._reset = reset
        self._middleware = middleware
        self.url = ""
        self.port = 0

    def start(self) -> MotoEndpoint:
        # werkzeug logs one line per request at INFO: thousands of lines in a demo.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server.start()
        if self._middleware is not None:
            # moto builds its application inside its server thread; werkzeug reads `server.app`
            # for each request, so wrapping it now puts the middleware in front of every request.
            wsgi_server = self._server._server
            assert wsgi_server is not None
            wsgi_server.app = self._middleware(wsgi_server.app)
        host, self.port = self._server.get_host_and_port()
        self.url = f"http://{host}:{self.port}"
        if self._reset:
            self.reset()
        return self

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()

    def stop(self) -> None:
        """Forget the account's data (moto's backends outlive the server) and stop serving."""
        if self.url:
            if self._reset:
                # Best effort: if it fails, the data goes with the process anyway.
                with contextlib.suppress(OSError):
                    self.reset()
            self._server.stop()
            self.url = ""

    def __enter__(self) -> MotoEndpoint:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
