"""A real mosquitto broker with mutual TLS, started and stopped from Python.

It plays AWS IoT Core for the local stack and the tests: clients must present a certificate signed
by the local CA, and the certificate's CN becomes the MQTT username (as a thing name does in IoT
Core). The broker listens on 127.0.0.1 only, on a free port, keeps no state on disk and can be
stopped and started again on the same port (to simulate an outage).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from humwatch.errors import HumwatchError
from humwatch.pki import CA

DEFAULT_MOSQUITTO = "/usr/sbin/mosquitto"
# Where the other installers put it when their folder is not on PATH: Homebrew (Apple silicon, Intel)
# and the Windows installer.
OTHER_LOCATIONS = (
    "/opt/homebrew/sbin/mosquitto",
    "/usr/local/sbin/mosquitto",
    r"C:\Program Files\mosquitto\mosquitto.exe",
)
MOSQUITTO_ENV = "HUMWATCH_MOSQUITTO"  # override the binary's path
# The local stack has one broker, the real one (there is no built-in fallback): say how to get it.
# The Makefile prints the same three ways when it cannot install it itself.
INSTALL_HINT = (
    "Install it with `sudo apt-get install -y mosquitto` (Debian/Ubuntu), `brew install mosquitto` "
    "(macOS) or the Windows installer from https://mosquitto.org/download/"
)
_HOST = "127.0.0.1"


class BrokerError(HumwatchError):
    """The local MQTT broker cannot be started (not installed, bad config, port taken)."""

    code = "broker"


def find_mosquitto() -> str:
    """Path of the mosquitto binary, or a BrokerError that says how to install it."""
    candidates = [
        os.environ.get(MOSQUITTO_ENV),
        DEFAULT_MOSQUITTO,
        shutil.which("mosquitto"),
        *OTHER_LOCATIONS,
    ]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise BrokerError(
        f"mosquitto is not installed (the local stack's MQTT broker). {INSTALL_HINT}; "
        f"or set {MOSQUITTO_ENV} to the binary's path"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_HOST, 0))
        return int(sock.getsockname()[1])


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection((_HOST, port), timeout=0.2):
            return True
    except OSError:
        return False


class MosquittoBroker:
    """`with MosquittoBroker(workdir, ca=ca, server_cert=crt, server_key=key) as broker: broker.port`.

    `acl` (optional) is the text of a mosquitto ACL file, e.g. `pattern readwrite humwatch/%u/#` to
    confine each device to its own topics the way the IoT policy does.
    """

    def __init__(
        self,
        workdir: str | os.PathLike[str],
        *,
        ca: CA,
        server_cert: str | os.PathLike[str],
        server_key: str | os.PathLike[str],
        port: int = 0,
        acl: str | None = None,
        start_timeout_s: float = 10.0,
    ) -> None:
        self.workdir = Path(workdir)
        self.ca = ca
        self.server_cert = Path(server_cert)
        self.server_key = Path(server_key)
        self.host = _HOST
        self._requested_port = port
        self.port = port
        self.acl = acl
        self.start_timeout_s = start_timeout_s
        self.config_path = self.workdir / "mosquitto.conf"
        self.log_path = self.workdir / "mosquitto.log"
        self._proc: subprocess.Popen[bytes] | None = None

    # --- lifecycle ------------------------------------------------------------------------------
    def __enter__(self) -> MosquittoBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start the broker (again on the same port after `stop()`) and wait until it accepts."""
        if self.running:
            return
        binary = find_mosquitto()
        for path in (self.ca.cert_path, self.server_cert, self.server_key):
            if not Path(path).is_file():
                raise BrokerError(f"broker certificate file missing: {path}")
        self.workdir.mkdir(parents=True, exist_ok=True)
        # A port picked here could be taken by someone else before mosquitto binds it: retry with a
        # fresh one, unless the caller asked for a fixed port (or a restart must keep the port).
        attempts = 1 if self.port else 3
        last_error = ""
        for _ in range(attempts):
            if not self.port:
                self.port = _free_port()
            self._write_config()
            error = self._launch(binary)
            if error is None:
                return
            last_error = error
            if self._requested_port == 0 and attempts > 1:
                self.port = 0
        raise BrokerError(f"mosquitto did not start on {_HOST}:{self.port}: {last_error}")

    def stop(self) -> None:
        """Stop the broker; no process is left behind. Safe to call twice."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)

    def restart(self) -> None:
        self.stop()
        self.start()

    # --- helpers --------------------------------------------------------------------------------
    def _write_config(self) -> None:
        lines = [
            "# written by humwatch.local.mqtt_broker; regenerated on every start",
            "per_listener_settings false",
            "persistence false",
            f"log_dest file {self.log_path}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            "allow_anonymous false",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            # mosquitto drops root privileges to the `mosquitto` user by default, which then cannot
            # read keys owned by root with mode 0600 (CI runs as root). Staying root is fine for a
            # broker bound to 127.0.0.1 in a test or a demo.
            lines.append("user root")
        if self.acl is not None:
            acl_path = self.workdir / "mosquitto.acl"
            acl_path.write_text(self.acl)
            lines.append(f"acl_file {acl_path}")
        lines += [
            f"listener {self.port} {_HOST}",
            f"cafile {self.ca.cert_path}",
            f"certfile {self.server_cert}",
            f"keyfile {self.server_key}",
            "require_certificate true",
            "use_identity_as_username true",
            "tls_version tlsv1.2",
        ]
        self.config_path.write_text("\n".join(lines) + "\n")

    def _launch(self, binary: str) -> str | None:
        """Start the process; None when it accepts connections, else why it did not."""
        proc = subprocess.Popen(
            [binary, "-c", str(self.config_path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                return f"exited with {proc.returncode}: {(stderr.strip() or self._log_tail())}"
            if _accepts(self.port):
                # stderr is no longer needed; close it so the pipe can never fill and block it.
                if proc.stderr:
                    proc.stderr.close()
                self._proc = proc
                return None
            time.sleep(0.02)
        proc.kill()
        proc.wait(timeout=5)
        return f"not accepting connections after {self.start_timeout_s:.0f} s; log: {self._log_tail()}"

    def _log_tail(self, lines: int = 5) -> str:
        try:
            return " | ".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
