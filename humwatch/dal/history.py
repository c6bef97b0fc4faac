"""The history table, one class per item type over one shared `TableClient`.

Single-table design (docs/architecture.md, "History table"): clip results, alert state, device
registry and telemetry, upload quotas, model registry and candidates, training-run claims, drift
notice times. `HistoryTable` only composes them, so a caller that needs one item type can take
just that class (as `ScorerCache` takes the device and model registries, and presign_upload the
upload quotas).
"""

from __future__ import annotations

from typing import Any

from humwatch.dal.alert_states import AlertStates
from humwatch.dal.clip_results import ClipResults
from humwatch.dal.devices import DeviceRegistry, DeviceTelemetry
from humwatch.dal.drift_notices import DriftNotices
from humwatch.dal.model_candidates import ModelCandidates
from humwatch.dal.model_registry import ModelRegistry
from humwatch.dal.table_client import TableClient
from humwatch.dal.training_runs import TrainingRuns
from humwatch.dal.upload_quotas import UploadQuotas


class HistoryTable:
    """`client` is a boto3 DynamoDB client (built when omitted); `page_size` bounds each Query page."""

    def __init__(self, table_name: str, *, client: Any | None = None, page_size: int = 100) -> None:
        self.table = TableClient(table_name, client=client, page_size=page_size)
        self.clips = ClipResults(self.table)
        self.alert_states = AlertStates(self.table)
        self.devices = DeviceRegistry(self.table)
        self.telemetry = DeviceTelemetry(self.table)
        self.models = ModelRegistry(self.table)
        self.upload_quotas = UploadQuotas(self.table)
        self.drift_notices = DriftNotices(self.table)
        self.candidates = ModelCandidates(self.table)
        self.training_runs = TrainingRuns(self.table)
