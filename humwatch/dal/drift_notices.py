"""When the drift check last notified about each device: one small item per device.

Item: pk `device#{thing}`, sk `drift-notices` with `drift_notice_at` and `silence_notice_at`
(docs/architecture.md, "History table"). The check reads these for a page of devices in one
BatchGetItem, writes a device's item the first time it checks it, and then only when it notifies.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from humwatch import contracts as c
from humwatch.dal.dynamo_items import timestamp_or_none
from humwatch.dal.table_client import TableClient
from humwatch.records import NoticeTimes


def notice_item(notices: NoticeTimes) -> dict[str, Any]:
    item = notices.model_dump(exclude_none=True)
    item[c.PK] = c.device_pk(notices.thing)
    item[c.SK] = c.DRIFT_NOTICES_SK
    return item


def notice_times(thing: str, item: dict[str, Any]) -> NoticeTimes:
    return NoticeTimes(
        thing=thing,
        drift_notice_at=timestamp_or_none(item.get("drift_notice_at")),
        silence_notice_at=timestamp_or_none(item.get("silence_notice_at")),
    )


class DriftNotices:
    def __init__(self, table: TableClient) -> None:
        self._table = table

    def get_many(self, things: Sequence[str]) -> dict[str, NoticeTimes]:
        """The stored notice times of these devices; a device the check never saw is absent."""
        keys = [(c.device_pk(thing), c.DRIFT_NOTICES_SK) for thing in things]
        items = self._table.batch_get(keys)
        return {
            thing: notice_times(thing, items[key])
            for thing, key in zip(things, keys, strict=True)
            if key in items
        }

    def put(self, notices: NoticeTimes) -> None:
        self._table.put(notice_item(notices))
