"""Claims that make a training request run once (pk `device#{thing}`, sk `train#{request_id}`).

SQS delivers at least once, and a run can die halfway (timeout, out of memory). A run first
claims its request id with a lease as long as the function's timeout:
- no claim yet, or a claim whose lease ran out (its run died): this run takes it;
- a claim marked done: the request was already served, the duplicate does nothing;
- a live claim: another run is at work now, this delivery comes back later.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from humwatch import contracts as c
from humwatch.dal.table_client import TableClient


class Claim(StrEnum):
    TAKEN = "taken"
    DONE = "done"  # served already
    BUSY = "busy"  # another run holds a live lease


class TrainingRuns:
    def __init__(self, table: TableClient) -> None:
        self._table = table

    def claim(
        self, thing: str, request_id: str, *, now: datetime, lease: timedelta, ttl_days: int = 90
    ) -> Claim:
        until = int((now + lease).timestamp())
        taken = self._table.put(
            {
                c.PK: c.device_pk(thing),
                c.SK: c.training_run_sk(request_id),
                "run_status": "running",
                "lease_until": until,
                "claimed_at": now,
                c.TTL_ATTRIBUTE: int((now + timedelta(days=ttl_days)).timestamp()),
            },
            ConditionExpression="attribute_not_exists(pk) OR (run_status = :running AND lease_until < :now)",
            ExpressionAttributeValues={
                ":running": {"S": "running"},
                ":now": {"N": str(int(now.timestamp()))},
            },
        )
        if taken:
            return Claim.TAKEN
        item = self._table.get(c.device_pk(thing), c.training_run_sk(request_id)) or {}
        return Claim.DONE if item.get("run_status") == "done" else Claim.BUSY

    def finish(self, thing: str, request_id: str, *, outcome: str) -> None:
        values: dict[str, Any] = {":done": {"S": "done"}, ":outcome": {"S": outcome[:1000]}}
        self._table.update(
            c.device_pk(thing),
            c.training_run_sk(request_id),
            UpdateExpression="SET run_status = :done, outcome = :outcome",
            ExpressionAttributeValues=values,
        )
