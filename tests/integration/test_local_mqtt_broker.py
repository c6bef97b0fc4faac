"""The local PKI and mosquitto broker: mutual TLS really enforced, restart keeps the port."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from humwatch.local.mqtt_broker import BrokerError, MosquittoBroker
from humwatch.pki import CA, issue_cert, issue_server_cert, load_ca, make_ca


@pytest.fixture()
def ca(tmp_path: Path) -> CA:
    return make_ca(tmp_path / "ca")


@pytest.fixture()
def broker(tmp_path: Path, ca: CA) -> Iterator[MosquittoBroker]:
    server_cert, server_key = issue_server_cert(ca, tmp_path / "server")
    with MosquittoBroker(tmp_path / "broker", ca=ca, server_cert=server_cert, server_key=server_key) as b:
        yield b


def _connect(broker: MosquittoBroker, ca_path: Path, cert: Path | None, key: Path | None) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="fan-01")
    client.tls_set(
        ca_certs=str(ca_path), certfile=str(cert) if cert else None, keyfile=str(key) if key else None
    )
    return client


def _round_trip(client: mqtt.Client, port: int, topic: str, wait_s: float = 5.0) -> bool:
    received = threading.Event()
    client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
    client.on_subscribe = lambda c, u, mid, rcs, p: c.publish(topic, b"ping", qos=1)
    client.on_message = lambda c, u, m: received.set() if m.payload == b"ping" else None
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        return received.wait(wait_s)
    finally:
        client.disconnect()
        client.loop_stop()


def test_given_device_cert_when_publishing_then_round_trip_works(
    tmp_path: Path, ca: CA, broker: MosquittoBroker
) -> None:
    cert, key = issue_cert(ca, "fan-01", tmp_path / "dev")
    assert (key.stat().st_mode & 0o777) == 0o600
    subject = x509.load_pem_x509_certificate(cert.read_bytes()).subject
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "fan-01"
    assert _round_trip(_connect(broker, ca.cert_path, cert, key), broker.port, "humwatch/fan-01/x")


def test_given_no_client_cert_when_connecting_then_broker_refuses(broker: MosquittoBroker, ca: CA) -> None:
    client = _connect(broker, ca.cert_path, None, None)
    try:
        ok = _round_trip(client, broker.port, "humwatch/fan-01/x", wait_s=1.5)
    except (OSError, ssl.SSLError):
        ok = False
    assert not ok


def test_given_cert_from_another_ca_when_connecting_then_broker_refuses(
    tmp_path: Path, broker: MosquittoBroker, ca: CA
) -> None:
    rogue = make_ca(tmp_path / "rogue", common_name="rogue")
    cert, key = issue_cert(rogue, "fan-01", tmp_path / "rogue-dev")
    try:
        ok = _round_trip(
            _connect(broker, ca.cert_path, cert, key), broker.port, "humwatch/fan-01/x", wait_s=1.5
        )
    except (OSError, ssl.SSLError):
        ok = False
    assert not ok


def test_given_stopped_broker_when_started_again_then_same_port_accepts(
    tmp_path: Path, ca: CA, broker: MosquittoBroker
) -> None:
    port = broker.port
    broker.stop()
    assert not broker.running
    broker.start()
    assert broker.port == port
    cert, key = issue_cert(load_ca(tmp_path / "ca"), "fan-02", tmp_path / "dev")
    assert _round_trip(_connect(broker, ca.cert_path, cert, key), broker.port, "humwatch/fan-02/x")


@pytest.fixture()
def no_mosquitto(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine where mosquitto is nowhere to be found."""
    monkeypatch.setenv("HUMWATCH_MOSQUITTO", str(tmp_path / "nope"))
    monkeypatch.setattr("humwatch.local.mqtt_broker.DEFAULT_MOSQUITTO", str(tmp_path / "nope"))
    monkeypatch.setattr("humwatch.local.mqtt_broker.OTHER_LOCATIONS", ())
    monkeypatch.setattr("humwatch.local.mqtt_broker.shutil.which", lambda _name: None)


@pytest.mark.usefixtures("no_mosquitto")
def test_given_missing_binary_when_starting_then_clear_error(tmp_path: Path, ca: CA) -> None:
    server_cert, server_key = issue_server_cert(ca, tmp_path / "server")
    with pytest.raises(BrokerError) as error:
        MosquittoBroker(tmp_path / "b", ca=ca, server_cert=server_cert, server_key=server_key).start()
    # The message names the three ways to install it (there is no built-in fallback broker)
    for way in ("apt-get install -y mosquitto", "brew install mosquitto", "https://mosquitto.org/download/"):
        assert way in error.value.message


@pytest.mark.usefixtures("no_mosquitto")
def test_given_missing_binary_the_demo_stops_before_training_a_model(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from humwatch.demo import main as demo_main

    # When the demo starts on a machine without mosquitto
    workdir = tmp_path / "demo-output"
    result = CliRunner().invoke(demo_main, ["--workdir", str(workdir)])

    # Then it stops at once with the install hint, and has written nothing (no model trained)
    assert result.exit_code == 2, result.output
    assert "mosquitto is not installed" in result.output and "brew install mosquitto" in result.output
    assert not workdir.exists()
