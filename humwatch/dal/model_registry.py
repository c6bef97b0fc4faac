"""The model registry in the history table: each model's current version and the default model.

Items: pk `registry`, sk `model#{model_id}` (version, sha256, published_at) and sk
`default-model` (model_id). Switching a version is one PutItem, so a scorer sees the old or the
new version, never a mix (docs/architecture.md, "History table").
"""

from __future__ import annotations

from humwatch import contracts as c
from humwatch.dal.dynamo_items import now_seconds
from humwatch.dal.table_client import TableClient
from humwatch.errors import ConflictError, NotFound
from humwatch.records import ModelPointer

_MODEL_SK_PREFIX = "model#"


class ModelRegistry:
    def __init__(self, table: TableClient) -> None:
        self._table = table

    def default_model_id(self) -> str | None:
        item = self._table.get(c.REGISTRY_PK, c.DEFAULT_MODEL_SK)
        return str(item["model_id"]) if item else None

    def set_default(self, model_id: str) -> None:
        if self.pointer(model_id) is None:
            raise NotFound(f"model {model_id} is not published")
        self._table.put(
            {
                c.PK: c.REGISTRY_PK,
                c.SK: c.DEFAULT_MODEL_SK,
                "model_id": model_id,
                "updated_at": now_seconds(),
            }
        )

    def pointer(self, model_id: str) -> ModelPointer | None:
        item = self._table.get(c.REGISTRY_PK, c.registry_model_sk(model_id))
        return ModelPointer.model_validate(item) if item else None

    def set_pointer(
        self, model_id: str, version: str, sha256: str, *, expected_version: str | None = None
    ) -> ModelPointer:
        """Switch the model's current version in one PutItem (atomic: scorers see old or new).

        With `expected_version`, the switch only happens if the pointer still names that version.
        """
        pointer = ModelPointer(model_id=model_id, version=version, sha256=sha256, published_at=now_seconds())
        item = dict(pointer.model_dump(), pk=c.REGISTRY_PK, sk=c.registry_model_sk(model_id))
        if expected_version is None:
            self._table.put(item)
        elif not self._table.put(
            item,
            ConditionExpression="#version = :v",
            ExpressionAttributeNames={"#version": "version"},
            ExpressionAttributeValues={":v": {"S": expected_version}},
        ):
            raise ConflictError(f"model {model_id} is no longer at version {expected_version}")
        return pointer

    def all(self) -> list[ModelPointer]:
        """Every published model's pointer (a Query on the registry partition)."""
        items = self._table.query_sort_key_prefix(c.REGISTRY_PK, _MODEL_SK_PREFIX)
        return [ModelPointer.model_validate(item) for item in items]
