"""`humwatch model publish` / `model list`: bundles in S3, pointers in the registry."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from humwatch.dal.history import HistoryTable
from humwatch.dal.model_store import ModelStore
from humwatch.records import ModelPointer

MODEL_COLUMNS: tuple[str, ...] = ("model_id", "version", "sha256", "published_at", "default", "devices")


def publish_model(
    model_dir: Path,
    model_id: str,
    *,
    bucket: str,
    table: HistoryTable,
    s3_client: Any,
    make_default: bool = False,
) -> ModelPointer:
    """Validate the bundle (ModelBundle.load), upload it with its sha256, switch the pointer."""
    store = ModelStore(bucket, client=s3_client)
    return store.publish_dir(model_dir, model_id, table, make_default=make_default)


def model_rows(table: HistoryTable) -> list[dict[str, Any]]:
    """One row per published model: its current version and how many devices it scores."""
    default = table.models.default_model_id()
    devices = table.devices.all()
    mapped = Counter(d.model_id or default for d in devices)
    rows = []
    for pointer in sorted(table.models.all(), key=lambda p: p.model_id):
        rows.append(
            {
                "model_id": pointer.model_id,
                "version": pointer.version,
                "sha256": pointer.sha256[:12],
                "published_at": pointer.published_at,
                "default": pointer.model_id == default,
                "devices": mapped.get(pointer.model_id, 0),
                "sha256_full": pointer.sha256,
            }
        )
    return rows
