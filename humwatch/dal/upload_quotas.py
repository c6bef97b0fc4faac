"""Per-device upload counters in the history table: one item per device and clock hour (UTC).

Item: pk `device#{thing}`, sk `quota#{yyyy-mm-ddThh}`, `uploads` (URLs granted that hour) and a
`ttl` an hour after the hour ends (docs/architecture.md, "History table"). `take` is one
conditional UpdateItem (ADD if under the limit): atomic however many invocations a device's
requests land on, one write per request, and no read.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from humwatch import contracts as c
from humwatch.dal.table_client import TableClient

UPLOADS_ATTRIBUTE = "uploads"
HOUR = timedelta(hours=1)
# Kept an hour past its own hour (DynamoDB deletes expired items within a few days anyway).
KEEP_AFTER_HOUR = timedelta(hours=1)


def hour_start(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


class UploadQuotas:
    def __init__(self, table: TableClient) -> None:
        self._table = table

    def take(self, thing: str, at: datetime, *, limit: int) -> int | None:
        """Count one upload of `thing` in the hour holding `at` (timezone-aware): the hour's new
        count, or None when `limit` uploads were already counted (nothing is written then)."""
        hour = hour_start(at.astimezone(UTC))
        item = self._table.update(
            c.device_pk(thing),
            c.upload_quota_sk(hour),
            UpdateExpression="ADD #uploads :one SET #ttl = if_not_exists(#ttl, :ttl)",
            ConditionExpression="attribute_not_exists(#uploads) OR #uploads < :limit",
            ExpressionAttributeNames={"#uploads": UPLOADS_ATTRIBUTE, "#ttl": c.TTL_ATTRIBUTE},
            ExpressionAttributeValues={
                ":one": {"N": "1"},
                ":limit": {"N": str(limit)},
                ":ttl": {"N": str(int((hour + HOUR + KEEP_AFTER_HOUR).timestamp()))},
            },
        )
        return None if item is None else int(item[UPLOADS_ATTRIBUTE])

    def used(self, thing: str, at: datetime) -> int:
        """Uploads counted for `thing` in the hour holding `at` (0 when none)."""
        item = self._table.get(c.device_pk(thing), c.upload_quota_sk(hour_start(at.astimezone(UTC))))
        return int(item[UPLOADS_ATTRIBUTE]) if item else 0
