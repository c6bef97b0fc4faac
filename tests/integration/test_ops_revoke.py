"""`humwatch device revoke` against a moto server: certificates INACTIVE, nothing detached, the
registry marked, `humwatch devices` and the drift check aware of it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from ops_seed import run, seed_device, stack_args

from humwatch.dal.history import HistoryTable
from humwatch.dal.provisioning import StackResources
from humwatch.errors import NotFound

POLICY = "humwatch-device-policy"


@pytest.fixture
def provisioned(aws_stack: StackResources, iot: Any, tmp_path: Path) -> str:
    """fan-04, provisioned the way an operator does it; returns its certificate ARN."""
    out = tmp_path / "fan-04"
    result = run(
        ["provision-device", "fan-04", "--out", str(out), "--iot-policy", POLICY, *stack_args(aws_stack)]
    )
    assert result.exit_code == 0, result.output
    (certificate_arn,) = iot.list_thing_principals(thingName="fan-04")["principals"]
    return str(certificate_arn)


def _revoke(stack: StackResources, thing: str, *extra: str, input: str | None = None) -> Any:
    from click.testing import CliRunner

    import humwatch.cli.ops  # noqa: F401  (registers the commands)
    from humwatch.cli import cli

    args = ["device", "revoke", thing, *extra, *stack_args(stack)]
    return CliRunner().invoke(cli, args, input=input, env={"HUMWATCH_LOCAL_SETTINGS": None})


def _status(iot: Any, certificate_arn: str) -> str:
    described = iot.describe_certificate(certificateId=certificate_arn.rsplit("/", 1)[-1])
    return str(described["certificateDescription"]["status"])


def test_revoke_deactivates_the_certificate_keeps_its_attachments_and_marks_the_device(
    aws_stack: StackResources, history: HistoryTable, iot: Any, provisioned: str
) -> None:
    # Given a provisioned device whose certificate is active
    assert _status(iot, provisioned) == "ACTIVE"

    # When the operator revokes it
    result = _revoke(aws_stack, "fan-04", "--yes", "--reason", "key copied off the device")

    # Then its certificate is INACTIVE (IoT Core refuses it from now on)
    assert result.exit_code == 0, result.output
    assert _status(iot, provisioned) == "INACTIVE"
    cert_id = provisioned.rsplit("/", 1)[-1]
    assert f"revoked fan-04: 1 certificate(s) INACTIVE ({cert_id})" in result.output
    # And nothing was detached: the thing keeps its certificate, the certificate its policy
    assert iot.list_thing_principals(thingName="fan-04")["principals"] == [provisioned]
    assert [p["policyName"] for p in iot.list_attached_policies(target=provisioned)["policies"]] == [POLICY]
    # And the registry entry says when, which certificate and why, keeping what it said before
    device = history.devices.get("fan-04")
    assert device is not None and device.revoked and device.machine_type == "machine"
    assert device.revoked_certificates == (cert_id,)
    assert device.revoke_reason == "key copied off the device"
    assert device.revoked_at is not None and datetime.now(UTC) - device.revoked_at < timedelta(minutes=5)


def test_a_revoked_device_is_shown_as_revoked_not_silent(
    aws_stack: StackResources, history: HistoryTable, iot: Any, provisioned: str
) -> None:
    # Given a revoked device whose last clip is hours old (it would otherwise be SILENT)
    seed_device(history, "fan-04", [0.4, 0.5], start=datetime.now(UTC) - timedelta(hours=3))
    assert _revoke(aws_stack, "fan-04", "--yes").exit_code == 0

    # When the operator lists the devices
    result = run(["devices", "--format", "json", *stack_args(aws_stack)])

    # Then the line says it is revoked, and it is not counted as silent
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)
    assert row["device"] == "fan-04" and row["silent"].startswith("REVOKED ")
    assert row["revoked_at"] is not None
    table = run(["devices", *stack_args(aws_stack)])
    assert "REVOKED" in table.output and "SILENT (" not in table.output


def test_revoking_twice_keeps_the_first_time_and_an_unknown_thing_is_refused(
    aws_stack: StackResources, history: HistoryTable, iot: Any, provisioned: str
) -> None:
    assert _revoke(aws_stack, "fan-04", "--yes").exit_code == 0
    first = history.devices.get("fan-04")
    assert first is not None and first.revoked_at is not None

    again = _revoke(aws_stack, "fan-04", "--yes")
    assert again.exit_code == 0, again.output
    assert f"already marked revoked since {first.revoked_at:%Y-%m-%dT%H:%M:%SZ}" in again.output
    second = history.devices.get("fan-04")
    assert second is not None and second.revoked_at == first.revoked_at

    unknown = _revoke(aws_stack, "fan-99", "--yes")
    assert isinstance(unknown.exception, NotFound)
    assert "thing 'fan-99' is not registered in IoT Core" in str(unknown.exception)


def test_revoke_asks_first_and_a_no_changes_nothing(
    aws_stack: StackResources, history: HistoryTable, iot: Any, provisioned: str
) -> None:
    result = _revoke(aws_stack, "fan-04", input="n\n")
    assert result.exit_code != 0 and "Revoke fan-04?" in result.output
    assert _status(iot, provisioned) == "ACTIVE"
    device = history.devices.get("fan-04")
    assert device is not None and not device.revoked


def test_revoke_help_shows_an_example() -> None:
    result = run(["device", "revoke", "--help"])
    assert result.exit_code == 0
    assert 'humwatch device revoke fan-04 --reason "key copied off the device"' in result.output


def test_registering_a_revoked_device_again_keeps_the_revocation(
    aws_stack: StackResources, history: HistoryTable, iot: Any, provisioned: str
) -> None:
    # Given a revoked device
    assert _revoke(aws_stack, "fan-04", "--yes", "--reason", "stolen").exit_code == 0
    revoked = history.devices.get("fan-04")
    assert revoked is not None
    # When its registry entry is written again (a new model mapping)
    history.devices.put("fan-04", model_id="fan-demo", machine_type="fan")
    # Then the new mapping is kept and so is the revocation
    device = history.devices.get("fan-04")
    assert device is not None and device.model_id == "fan-demo"
    assert (device.revoked_at, device.revoked_certificates, device.revoke_reason) == (
        revoked.revoked_at,
        revoked.revoked_certificates,
        "stolen",
    )
