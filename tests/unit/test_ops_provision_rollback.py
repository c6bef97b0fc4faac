"""`provision-device` undoes a half-finished provisioning, and says so when it cannot."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from humwatch.dal.iot_admin import IotAdmin
from humwatch.errors import HumwatchError, NotFound
from humwatch.ops.provision import ProvisionRequest, provision_device

CERT_ARN = "arn:aws:iot:eu-west-1:123456789012:cert/abc123"


REPLIES: dict[str, Any] = {
    "create_thing": {"thingArn": "arn:aws:iot:eu-west-1:123456789012:thing/fan-04"},
    "create_keys_and_certificate": {
        "certificateArn": CERT_ARN,
        "certificateId": "abc123",
        "certificatePem": "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
        "keyPair": {"PrivateKey": "-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n"},
    },
}


def client_error(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code} from a fake"}}, operation)


class FakeIot:
    """An IoT control plane where attaching the certificate to the thing fails, and chosen
    rollback steps fail too. Records every call."""

    def __init__(self, failing_rollback: dict[str, str] | None = None) -> None:
        self.failing_rollback = failing_rollback or {}
        self.calls: list[str] = []

    def __getattr__(self, operation: str) -> Any:
        def call(**kwargs: Any) -> Any:
            self.calls.append(operation)
            if operation in self.failing_rollback:
                raise client_error(self.failing_rollback[operation], operation)
            return REPLIES.get(operation, {})

        return call

    def describe_thing(self, **kwargs: Any) -> Any:
        raise client_error("ResourceNotFoundException", "DescribeThing")

    def attach_thing_principal(self, **kwargs: Any) -> Any:
        self.calls.append("attach_thing_principal")
        raise client_error("AccessDeniedException", "AttachThingPrincipal")


def provision(iot: FakeIot, out: Path) -> None:
    request = ProvisionRequest(thing="fan-04", out_dir=out, policy="device-policy", endpoint="mqtt.example")
    provision_device(request, IotAdmin(iot), register_device=lambda *_: None, root_ca_pem=lambda: None)


def test_a_failed_provisioning_is_undone_completely(tmp_path: Path) -> None:
    # Given an account where attaching the certificate to the thing fails
    iot = FakeIot()
    # When a device is provisioned
    with pytest.raises(HumwatchError) as error:
        provision(iot, tmp_path / "fan-04")
    # Then the original error is raised unchanged, the certificate is deactivated and deleted, the
    # thing this run created is deleted (a retry would find the name taken), and no credentials are
    # left on disk
    assert "attach certificate to fan-04: AccessDeniedException" in error.value.message
    assert "undoing it also failed" not in error.value.message
    assert iot.calls[-5:] == [
        "detach_policy",
        "detach_thing_principal",
        "update_certificate",
        "delete_certificate",
        "delete_thing",
    ]
    assert list((tmp_path / "fan-04").iterdir()) == []


def test_a_rollback_that_fails_is_logged_and_told_to_the_operator(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Given an account where the certificate cannot be deactivated or deleted either
    iot = FakeIot(
        {"update_certificate": "ThrottlingException", "delete_certificate": "AccessDeniedException"}
    )
    # When provisioning fails
    with (
        caplog.at_level(logging.ERROR, logger="humwatch.dal.iot_admin"),
        pytest.raises(HumwatchError) as error,
    ):
        provision(iot, tmp_path / "fan-04")
    # Then every rollback step was still tried, each failure was logged, and the error says what is
    # left and how to remove it
    assert iot.calls[-5:] == [
        "detach_policy",
        "detach_thing_principal",
        "update_certificate",
        "delete_certificate",
        "delete_thing",
    ]
    message = error.value.message
    assert message.startswith("attach certificate to fan-04: AccessDeniedException")
    assert "deactivate: ThrottlingException" in message and "delete: AccessDeniedException" in message
    assert f"certificate {CERT_ARN} may still be active" in message
    assert "aws iot update-certificate --certificate-id abc123 --new-status INACTIVE" in message
    logged = [r.getMessage() for r in caplog.records]
    assert any("deactivate: ThrottlingException" in line and CERT_ARN in line for line in logged)
    assert any("delete: AccessDeniedException" in line for line in logged)
    assert "delete-thing" not in message  # the thing itself was deleted


def test_a_thing_that_cannot_be_deleted_is_told_to_the_operator(tmp_path: Path) -> None:
    # Given an account where the certificate rollback works but deleting the thing does not
    iot = FakeIot({"delete_thing": "InvalidRequestException"})
    with pytest.raises(HumwatchError) as error:
        provision(iot, tmp_path / "fan-04")
    # Then the error says the thing is left and how to delete it, and nothing about the certificate
    message = error.value.message
    assert "undoing it also failed (delete thing: InvalidRequestException" in message
    assert "aws iot delete-thing --thing-name fan-04" in message
    assert "may still be active" not in message


def test_a_rollback_step_with_nothing_to_undo_is_not_a_failure(tmp_path: Path) -> None:
    # Given a thing principal that was never attached (the attach is what failed)
    iot = FakeIot({"detach_thing_principal": "ResourceNotFoundException"})
    with pytest.raises(HumwatchError) as error:
        provision(iot, tmp_path / "fan-04")
    assert "undoing it also failed" not in error.value.message


def test_the_error_keeps_its_kind_when_the_rollback_fails(tmp_path: Path) -> None:
    # Given a provisioning that fails with NotFound (the policy vanished between check and attach)
    iot = FakeIot({"delete_certificate": "AccessDeniedException"})
    iot.attach_policy = _raise_not_found  # type: ignore[method-assign]
    with pytest.raises(NotFound) as error:
        provision(iot, tmp_path / "fan-04")
    assert "undoing it also failed (delete: AccessDeniedException" in error.value.message


def _raise_not_found(**kwargs: Any) -> Any:
    raise client_error("ResourceNotFoundException", "AttachPolicy")
