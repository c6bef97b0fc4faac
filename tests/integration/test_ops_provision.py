"""`humwatch provision-device` against a moto server (IoT control plane + registry)."""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from ops_seed import run, stack_args

from humwatch import pki
from humwatch.dal.history import HistoryTable
from humwatch.dal.provisioning import StackResources
from humwatch.errors import AlreadyExists, NotFound
from humwatch.local_stack_file import LocalStackInfo

POLICY = "humwatch-device-policy"


def _provision(stack: StackResources, thing: str, out: Path, *extra: str) -> Result:
    return run(
        ["provision-device", thing, "--out", str(out), "--iot-policy", POLICY, *extra, *stack_args(stack)]
    )


def test_provision_creates_thing_certificate_and_a_valid_edge_config(
    aws_stack: StackResources, history: HistoryTable, iot: Any, tmp_path: Path
) -> None:
    # Given a published model
    history.models.set_pointer("fan-demo", "v1", "ab" * 32)
    out = tmp_path / "fan-04"

    # When a device is provisioned with that model
    result = _provision(aws_stack, "fan-04", out, "--model", "fan-demo", "--machine-type", "fan")

    # Then the thing has exactly one certificate, with the stack's policy attached
    assert result.exit_code == 0, result.output
    principals = iot.list_thing_principals(thingName="fan-04")["principals"]
    assert len(principals) == 1
    policies = iot.list_attached_policies(target=principals[0])["policies"]
    assert [p["policyName"] for p in policies] == [POLICY]

    # And the credentials are on disk, the key private to its owner
    key = out / "device.private.key"
    cert = out / "device.cert.pem"
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    described = iot.describe_certificate(certificateId=principals[0].rsplit("/", 1)[-1])
    assert cert.read_text().strip() == described["certificateDescription"]["certificatePem"].strip()
    assert "BEGIN CERTIFICATE" in (out / "root-ca.pem").read_text()

    # And the config is what humwatch-edge reads: its sections, the endpoint and existing files
    config = tomllib.loads((out / "config.toml").read_text())
    assert config["device"]["thing_name"] == "fan-04"
    # (moto makes up a new ATS endpoint name on every describe_endpoint call: check its form)
    assert config["mqtt"]["endpoint"].endswith("-ats.iot.us-east-1.amazonaws.com")
    assert config["mqtt"]["port"] == 8883
    for name in ("ca_file", "cert_file", "key_file"):
        assert Path(config["mqtt"][name]).is_file()
    assert config["capture"]["interval_s"] == 300.0 and config["spool"]["max_clips"] > 0

    # And the device is registered with its model
    device = history.devices.get("fan-04")
    assert device is not None and device.model_id == "fan-demo" and device.machine_type == "fan"


def test_edge_uploader_accepts_the_written_config(
    aws_stack: StackResources, history: HistoryTable, iot: Any, tmp_path: Path
) -> None:
    # The edge uploader is its own package (`make setup` installs it); its loader is the judge.
    from humwatch_edge import config as edge_config

    out = tmp_path / "fan-06"
    assert _provision(aws_stack, "fan-06", out).exit_code == 0
    config = edge_config.load_config(out / "config.toml", env={})
    assert config.thing_name == "fan-06" and config.mqtt_key_file == out.resolve() / "device.private.key"


def test_provisioning_twice_is_refused_and_creates_nothing(
    aws_stack: StackResources, history: HistoryTable, iot: Any, tmp_path: Path
) -> None:
    # Given a provisioned device
    assert _provision(aws_stack, "fan-04", tmp_path / "first").exit_code == 0
    certs_before = iot.list_certificates()["certificates"]
    first_key = (tmp_path / "first" / "device.private.key").read_text()

    # When it is provisioned again into a fresh directory
    again = _provision(aws_stack, "fan-04", tmp_path / "second")

    # Then it is refused, with no new certificate and no files written
    assert isinstance(again.exception, AlreadyExists)
    assert "thing 'fan-04' is already registered in IoT Core (with a certificate attached)" in str(
        again.exception
    )
    assert iot.list_certificates()["certificates"] == certs_before
    assert not (tmp_path / "second").exists()

    # And another device into the same directory would overwrite credentials: refused before any call
    same_dir = _provision(aws_stack, "fan-05", tmp_path / "first")
    assert isinstance(same_dir.exception, AlreadyExists)
    assert "refusing to overwrite existing device credentials" in str(same_dir.exception)
    assert (tmp_path / "first" / "device.private.key").read_text() == first_key
    assert iot.list_things()["things"] and all(
        t["thingName"] != "fan-05" for t in iot.list_things()["things"]
    )


def test_a_thing_registered_without_a_certificate_is_refused_and_left_untouched(
    aws_stack: StackResources, history: HistoryTable, iot: Any, tmp_path: Path
) -> None:
    # Given a thing of that name registered by someone else (no certificate, its own attributes)
    iot.create_thing(thingName="press-07", attributePayload={"attributes": {"owner": "line-3-plc"}})

    # When it is provisioned
    result = _provision(aws_stack, "press-07", tmp_path / "press-07", "--machine-type", "press")

    # Then it is refused with a clear error, and nothing was created, attached or registered
    assert result.exit_code != 0
    assert isinstance(result.exception, AlreadyExists)
    message = str(result.exception)
    assert "thing 'press-07' is already registered in IoT Core (without a certificate)" in message
    assert "Choose a new thing name" in message
    assert iot.list_certificates()["certificates"] == []
    assert iot.list_thing_principals(thingName="press-07")["principals"] == []
    assert iot.describe_thing(thingName="press-07")["attributes"] == {"owner": "line-3-plc"}
    assert history.devices.get("press-07") is None
    assert not (tmp_path / "press-07").exists()


def test_a_failed_provisioning_leaves_the_name_free_for_a_retry(
    aws_stack: StackResources,
    history: HistoryTable,
    iot: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a provisioning that fails after the thing and its certificate were created
    def fail_to_register(self: Any, thing: str, **kwargs: Any) -> Any:
        raise OSError("disk full while registering")

    monkeypatch.setattr("humwatch.dal.devices.DeviceRegistry.put", fail_to_register)
    failed = _provision(aws_stack, "fan-08", tmp_path / "first")
    assert isinstance(failed.exception, OSError)
    # Then the thing and the certificate are gone again
    assert iot.list_certificates()["certificates"] == []
    assert all(t["thingName"] != "fan-08" for t in iot.list_things()["things"])

    # And a retry under the same name succeeds
    monkeypatch.undo()
    assert _provision(aws_stack, "fan-08", tmp_path / "second").exit_code == 0
    assert len(iot.list_thing_principals(thingName="fan-08")["principals"]) == 1


def test_provision_refuses_unknown_model_policy_and_bad_names(
    aws_stack: StackResources, history: HistoryTable, iot: Any, tmp_path: Path
) -> None:
    unknown_model = _provision(aws_stack, "fan-04", tmp_path / "a", "--model", "nope")
    assert isinstance(unknown_model.exception, NotFound) and "model 'nope' is not published" in str(
        unknown_model.exception
    )
    unknown_policy = run(
        [
            "provision-device",
            "fan-04",
            "--out",
            str(tmp_path / "b"),
            "--iot-policy",
            "missing",
            *stack_args(aws_stack),
        ]
    )
    assert isinstance(unknown_policy.exception, NotFound) and "IoT policy 'missing' not found" in str(
        unknown_policy.exception
    )
    bad_name = _provision(aws_stack, "fan/04", tmp_path / "c")
    assert "invalid thing name 'fan/04'" in str(bad_name.exception)
    assert iot.list_certificates()["certificates"] == []


def test_local_stack_provisioning_signs_with_the_local_ca(
    aws_stack: StackResources, history: HistoryTable, iot: Any, tmp_path: Path
) -> None:
    # Given a local stack settings file naming the moto server, the broker and the local CA
    ca = pki.make_ca(tmp_path / "pki")
    assert aws_stack.endpoint_url
    settings_file = LocalStackInfo(
        pid=os.getpid(),  # this process stands in for the running local stack
        started_at="2026-11-26T14:00:00Z",
        region=aws_stack.region,
        endpoint_url=aws_stack.endpoint_url,
        table=aws_stack.table,
        bucket=aws_stack.bucket,
        iot_policy=POLICY,
        mqtt_host="127.0.0.1",
        mqtt_port=18883,
        ca_file=str(ca.cert_path),
        ca_key_file=str(ca.key_path),
        alert_topic_arn=aws_stack.alert_topic_arn,
        ops_topic_arn=aws_stack.ops_topic_arn,
        clip_queue_url=aws_stack.queue_url,
        clip_dlq_url=aws_stack.dlq_url,
        train_queue_url=aws_stack.train_queue_url,
        train_dlq_url=aws_stack.train_dlq_url,
        iot_data_http_endpoint="http://127.0.0.1:1",
        inbox_dir=str(tmp_path / "inbox"),
        devices_dir=str(tmp_path / "devices"),
    ).write(tmp_path)
    out = tmp_path / "fan-07"

    # When a device is provisioned with --local
    result = run(
        ["provision-device", "fan-07", "--local", "--out", str(out)],
        env={"HUMWATCH_LOCAL_SETTINGS": str(settings_file)},
    )

    # Then its certificate is issued by the local CA (so the local broker accepts it), matches its
    # key, is registered with IoT and attached to the thing; the config points at the local broker
    assert result.exit_code == 0, result.output
    cert = x509.load_pem_x509_certificate((out / "device.cert.pem").read_bytes())
    assert cert.issuer == ca.certificate.subject
    key = serialization.load_pem_private_key((out / "device.private.key").read_bytes(), password=None)
    assert key.public_key().public_numbers() == cert.public_key().public_numbers()  # type: ignore[union-attr]
    assert len(iot.list_thing_principals(thingName="fan-07")["principals"]) == 1
    config = tomllib.loads((out / "config.toml").read_text())
    assert (config["mqtt"]["endpoint"], config["mqtt"]["port"]) == ("127.0.0.1", 18883)
    assert Path(config["mqtt"]["ca_file"]).read_bytes() == ca.cert_path.read_bytes()
    assert history.devices.get("fan-07") is not None
