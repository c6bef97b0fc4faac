"""`humwatch device revoke THING`: cut a device off (a stolen unit, a leaked key, a retired machine).

Every certificate attached to the thing is set INACTIVE, so IoT Core refuses its next connection,
and the device's registry entry is marked revoked, so `humwatch devices` says so and the daily
drift check stops reporting it as silent. Nothing is detached or deleted: the thing, its
certificates, its policy attachment and its history stay, as the record of what the device was.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from humwatch import contracts
from humwatch.dal.devices import DeviceRegistry
from humwatch.dal.iot_admin import IotAdmin, certificate_id
from humwatch.errors import ConfigError, NotFound


@dataclass(frozen=True)
class RevokeResult:
    thing: str
    certificate_ids: tuple[str, ...]  # now INACTIVE
    revoked_at: datetime  # the first revocation's time when revoked before
    already_revoked: bool


def revoke_device(
    thing: str,
    iot: IotAdmin,
    registry: DeviceRegistry,
    *,
    now: datetime,
    reason: str | None = None,
) -> RevokeResult:
    """Deactivate the thing's certificates first (what stops the device), then mark it."""
    if not contracts.is_valid_thing_name(thing):
        raise ConfigError(f"invalid thing name {thing!r}: use 1-64 letters, digits, '-' or '_'")
    if not iot.thing_exists(thing):
        raise NotFound(
            f"thing {thing!r} is not registered in IoT Core: nothing to revoke (see `humwatch devices`)"
        )
    before = registry.get(thing)
    certificates = iot.thing_certificates(thing)
    for certificate_arn in certificates:
        iot.deactivate_certificate(certificate_arn)
    ids = tuple(certificate_id(arn) for arn in certificates)
    marked = registry.mark_revoked(thing, at=now, certificate_ids=ids, reason=reason)
    assert marked.revoked_at is not None
    return RevokeResult(
        thing=thing,
        certificate_ids=ids,
        revoked_at=marked.revoked_at,
        already_revoked=before is not None and before.revoked,
    )
