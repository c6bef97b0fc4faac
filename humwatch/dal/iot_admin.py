"""IoT Core control-plane calls the operator needs to provision a device (things, certificates,
policies, the data endpoint). Errors become `NotFound`, `AlreadyExists` or `TransientError`."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from humwatch.errors import AlreadyExists, HumwatchError, NotFound, TransientError

T = TypeVar("T")
log = logging.getLogger(__name__)

_TRANSIENT_CODES = {"ThrottlingException", "ServiceUnavailableException", "InternalFailureException"}


@dataclass(frozen=True)
class IssuedCertificate:
    certificate_arn: str
    certificate_id: str
    certificate_pem: str
    private_key_pem: str | None  # None when the key was made locally (registered certificate)


def certificate_id(certificate_arn: str) -> str:
    """arn:aws:iot:<region>:<account>:cert/<id> -> <id>"""
    return certificate_arn.rsplit("/", 1)[-1]


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _error_message(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Message", exc))


@contextmanager
def _mapped_errors(what: str) -> Iterator[None]:
    try:
        yield
    except ClientError as exc:
        code = _error_code(exc)
        message = _error_message(exc)
        if code == "ResourceNotFoundException":
            raise NotFound(f"{what}: {message}") from None
        if code == "ResourceAlreadyExistsException":
            raise AlreadyExists(f"{what}: {message}") from None
        if code in _TRANSIENT_CODES:
            raise TransientError(f"{what}: {message}") from None
        raise HumwatchError(f"{what}: {code or 'error'}: {message}") from None
    except NoCredentialsError:
        raise  # a set-up problem, not a transient one: the CLI explains it
    except BotoCoreError as exc:
        raise TransientError(f"{what}: {exc}") from None


class IotAdmin:
    """Thin wrapper over the `iot` client (pass one made by `humwatch.dal.aws.client("iot")`)."""

    def __init__(self, client: Any) -> None:
        self._iot = client

    def _call(self, what: str, fn: Callable[..., T], **kwargs: Any) -> T:
        with _mapped_errors(what):
            return fn(**kwargs)

    def data_endpoint(self) -> str:
        """The account's MQTT endpoint host (ATS-signed certificates)."""
        reply = self._call("describe IoT endpoint", self._iot.describe_endpoint, endpointType="iot:Data-ATS")
        return str(reply["endpointAddress"])

    def thing_exists(self, thing: str) -> bool:
        try:
            self._call(f"describe thing {thing}", self._iot.describe_thing, thingName=thing)
        except NotFound:
            return False
        return True

    def thing_principals(self, thing: str) -> list[str]:
        reply = self._call(f"list principals of {thing}", self._iot.list_thing_principals, thingName=thing)
        return list(reply.get("principals", []))

    def thing_certificates(self, thing: str) -> list[str]:
        """ARNs of the certificates attached to the thing (its other principals, if any, are not
        certificates humwatch issued)."""
        return [p for p in self.thing_principals(thing) if ":cert/" in p]

    def certificate_status(self, certificate_arn: str) -> str:
        """ACTIVE, INACTIVE, REVOKED, PENDING_TRANSFER, ... as IoT Core reports it."""
        reply = self._call(
            f"describe certificate {certificate_arn}",
            self._iot.describe_certificate,
            certificateId=certificate_id(certificate_arn),
        )
        return str(reply["certificateDescription"]["status"])

    def deactivate_certificate(self, certificate_arn: str) -> None:
        """UpdateCertificate INACTIVE: IoT Core refuses the next connection made with it (and
        closes an open one). The certificate stays attached to its thing and policy, so the record
        of who it belonged to is kept."""
        self._call(
            f"deactivate certificate {certificate_arn}",
            self._iot.update_certificate,
            certificateId=certificate_id(certificate_arn),
            newStatus="INACTIVE",
        )

    def delete_thing(self, thing: str) -> list[str]:
        """Delete a thing this run created (provisioning's rollback); [] when done or already
        gone, else what failed (logged too)."""
        try:
            self._iot.delete_thing(thingName=thing)
        except ClientError as exc:
            if _error_code(exc) == "ResourceNotFoundException":
                return []
            failure = f"delete thing: {_error_code(exc) or 'error'}: {_error_message(exc)}"
        except BotoCoreError as exc:
            failure = f"delete thing: {exc}"
        else:
            return []
        log.error("rollback of thing %s incomplete: %s", thing, failure)
        return [failure]

    def policy_exists(self, policy: str) -> bool:
        try:
            self._call(f"get policy {policy}", self._iot.get_policy, policyName=policy)
        except NotFound:
            return False
        return True

    def create_thing(self, thing: str, attributes: dict[str, str] | None = None) -> str:
        kwargs: dict[str, Any] = {"thingName": thing}
        if attributes:
            kwargs["attributePayload"] = {"attributes": attributes, "merge": True}
        reply = self._call(f"create thing {thing}", self._iot.create_thing, **kwargs)
        return str(reply["thingArn"])

    def create_keys_and_certificate(self) -> IssuedCertificate:
        """AWS makes the key pair; the private key is returned once, here, and never again."""
        reply = self._call(
            "create keys and certificate", self._iot.create_keys_and_certificate, setAsActive=True
        )
        return IssuedCertificate(
            certificate_arn=reply["certificateArn"],
            certificate_id=reply["certificateId"],
            certificate_pem=reply["certificatePem"],
            private_key_pem=reply["keyPair"]["PrivateKey"],
        )

    def register_certificate(self, certificate_pem: str) -> IssuedCertificate:
        """Register a certificate signed by our own CA (the local stack's broker trusts that CA)."""
        reply = self._call(
            "register certificate",
            self._iot.register_certificate_without_ca,
            certificatePem=certificate_pem,
            status="ACTIVE",
        )
        return IssuedCertificate(
            certificate_arn=reply["certificateArn"],
            certificate_id=reply["certificateId"],
            certificate_pem=certificate_pem,
            private_key_pem=None,
        )

    def attach_policy(self, policy: str, certificate_arn: str) -> None:
        self._call(
            f"attach policy {policy}", self._iot.attach_policy, policyName=policy, target=certificate_arn
        )

    def attach_thing_principal(self, thing: str, certificate_arn: str) -> None:
        self._call(
            f"attach certificate to {thing}",
            self._iot.attach_thing_principal,
            thingName=thing,
            principal=certificate_arn,
        )

    def deactivate_and_delete_certificate(
        self, certificate_arn: str, policy: str | None, thing: str
    ) -> list[str]:
        """Undo a half-finished provisioning so a retry starts clean: every step is tried, in
        reverse order of creation, even after one fails. Returns the steps that failed (each is
        also logged) so the caller can tell the operator what is left to remove by hand; an empty
        list means nothing is left. A step whose target is already gone counts as done."""
        cert_id = certificate_id(certificate_arn)
        steps: list[tuple[str, Callable[..., Any], dict[str, Any]]] = [
            ("detach", self._iot.detach_thing_principal, {"thingName": thing, "principal": certificate_arn}),
            ("deactivate", self._iot.update_certificate, {"certificateId": cert_id, "newStatus": "INACTIVE"}),
            ("delete", self._iot.delete_certificate, {"certificateId": cert_id, "forceDelete": True}),
        ]
        if policy:
            steps.insert(
                0,
                ("detach policy", self._iot.detach_policy, {"policyName": policy, "target": certificate_arn}),
            )
        failures: list[str] = []
        for name, fn, kwargs in steps:
            try:
                fn(**kwargs)
            except ClientError as exc:
                if _error_code(exc) == "ResourceNotFoundException":
                    continue  # never attached (the failure came first) or already removed
                failures.append(f"{name}: {_error_code(exc) or 'error'}: {_error_message(exc)}")
            except BotoCoreError as exc:
                failures.append(f"{name}: {exc}")
        for failure in failures:
            log.error("rollback of certificate %s incomplete: %s", certificate_arn, failure)
        return failures
