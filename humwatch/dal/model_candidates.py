"""Models trained for one device by train_model, waiting for (or past) promotion.

Items: pk `registry`, sk `candidate#{thing}#{version}` (`ModelCandidate`). One Query on the
registry partition lists every device's candidates, or one device's (never a Scan). A candidate
item is written only after its bundle and gate report are complete in S3 (docs/learning.md).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from humwatch import contracts as c
from humwatch.dal.table_client import TableClient
from humwatch.errors import NotFound
from humwatch.records import CandidateStatus, ModelCandidate


def _item(candidate: ModelCandidate) -> dict[str, Any]:
    return dict(
        candidate.model_dump(mode="python", exclude_none=True),
        pk=c.REGISTRY_PK,
        sk=c.candidate_sk(candidate.thing, candidate.version),
    )


class ModelCandidates:
    def __init__(self, table: TableClient) -> None:
        self._table = table

    def put(self, candidate: ModelCandidate) -> None:
        self._table.put(_item(candidate))

    def get(self, thing: str, version: str) -> ModelCandidate | None:
        item = self._table.get(c.REGISTRY_PK, c.candidate_sk(thing, version))
        return ModelCandidate.model_validate(item) if item else None

    def list(self, thing: str | None = None) -> list[ModelCandidate]:
        """Oldest first (versions are UTC timestamps)."""
        prefix = c.CANDIDATE_SK_PREFIX + (f"{thing}#" if thing else "")
        return [
            ModelCandidate.model_validate(i) for i in self._table.query_sort_key_prefix(c.REGISTRY_PK, prefix)
        ]

    def set_status(
        self, thing: str, version: str, status: CandidateStatus, *, at: datetime | None = None
    ) -> ModelCandidate:
        values: dict[str, Any] = {":status": {"S": status.value}}
        expression = "SET #status = :status"
        if at is not None:
            values[":at"] = {"S": c.format_timestamp(at)}
            expression += ", promoted_at = :at"
        updated = self._table.update(
            c.REGISTRY_PK,
            c.candidate_sk(thing, version),
            UpdateExpression=expression,
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=values,
        )
        if updated is None:
            raise NotFound(f"no candidate {version} for device {thing}")
        return ModelCandidate.model_validate(updated)
