"""Build each function's settings and dependencies once per execution environment (cold start).

Handlers call these lazily on their first event; the result is cached for the warm invocations
that follow (boto3 clients, the Scorer cache, validated settings). `reset()` forgets everything:
tests and the local stack use it to simulate a new cold start.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from humwatch.config import (
    ConsoleSettings,
    DriftSettings,
    PresignSettings,
    ProcessSettings,
    TrainSettings,
    load_settings,
)
from humwatch.dal import aws

# Each function imports only what it uses (cold start): presign never loads onnxruntime.
if TYPE_CHECKING:
    from humwatch.console.views import ConsoleDeps
    from humwatch.services.drift_check import DriftDeps
    from humwatch.services.presign import PresignDeps
    from humwatch.services.process import ProcessDeps
    from humwatch.services.train import TrainDeps


@cache
def presign_deps() -> PresignDeps:
    from humwatch.dal.clip_store import ClipStore
    from humwatch.dal.device_channel import DeviceChannel
    from humwatch.dal.table_client import TableClient
    from humwatch.dal.upload_quotas import UploadQuotas
    from humwatch.services.presign import PresignDeps

    settings = load_settings(PresignSettings)
    s3 = aws.client("s3", endpoint_url=settings.endpoint_url)
    table = TableClient(settings.table, client=aws.client("dynamodb", endpoint_url=settings.endpoint_url))
    return PresignDeps(
        settings=settings,
        clips=ClipStore(settings.bucket, client=s3),
        channel=DeviceChannel(settings.iot_data_endpoint),
        quotas=UploadQuotas(table),
    )


@cache
def process_deps() -> ProcessDeps:
    from humwatch.dal.clip_store import ClipStore
    from humwatch.dal.history import HistoryTable
    from humwatch.dal.model_store import ModelStore
    from humwatch.dal.notifier import Notifier
    from humwatch.dal.train_queue import TrainQueue
    from humwatch.services.process import ProcessDeps
    from humwatch.services.scorers import ScorerCache

    settings = load_settings(ProcessSettings)
    s3 = aws.client("s3", endpoint_url=settings.endpoint_url)
    history = HistoryTable(settings.table, client=aws.client("dynamodb", endpoint_url=settings.endpoint_url))
    bundles = ModelStore(settings.bucket, client=s3)
    return ProcessDeps(
        settings=settings,
        history=history,
        clips=ClipStore(settings.bucket, client=s3),
        notifier=Notifier(client=aws.client("sns", endpoint_url=settings.endpoint_url)),
        scorers=ScorerCache(
            history.devices,
            history.models,
            bundles,
            fallback_model_id=settings.default_model_id,
            refresh_s=settings.model_refresh_s,
        ),
        train_queue=(
            TrainQueue(settings.train_queue_url, client=aws.client("sqs", endpoint_url=settings.endpoint_url))
            if settings.train_queue_url
            else None
        ),
    )


@cache
def drift_deps() -> DriftDeps:
    from humwatch.dal.history import HistoryTable
    from humwatch.dal.model_store import ModelStore
    from humwatch.dal.notifier import Notifier
    from humwatch.dal.report_store import ReportStore
    from humwatch.services.drift_check import DriftDeps

    settings = load_settings(DriftSettings)
    s3 = aws.client("s3", endpoint_url=settings.endpoint_url)
    return DriftDeps(
        settings=settings,
        history=HistoryTable(
            settings.table, client=aws.client("dynamodb", endpoint_url=settings.endpoint_url)
        ),
        reports=ReportStore(settings.bucket, client=s3),
        models=ModelStore(settings.bucket, client=s3),
        notifier=Notifier(client=aws.client("sns", endpoint_url=settings.endpoint_url)),
    )


@cache
def train_deps() -> TrainDeps:
    from humwatch.dal.clip_store import ClipStore
    from humwatch.dal.history import HistoryTable
    from humwatch.dal.model_store import ModelStore
    from humwatch.services.train import TrainDeps

    settings = load_settings(TrainSettings)
    s3 = aws.client("s3", endpoint_url=settings.endpoint_url)
    return TrainDeps(
        settings=settings,
        history=HistoryTable(
            settings.table, client=aws.client("dynamodb", endpoint_url=settings.endpoint_url)
        ),
        clips=ClipStore(settings.bucket, client=s3),
        models=ModelStore(settings.bucket, client=s3),
    )


@cache
def console_deps() -> ConsoleDeps:
    from humwatch.console.views import ConsoleDeps
    from humwatch.dal.clip_store import ClipStore
    from humwatch.dal.history import HistoryTable
    from humwatch.dal.model_store import ModelStore

    settings = load_settings(ConsoleSettings)
    s3 = aws.client("s3", endpoint_url=settings.endpoint_url)
    return ConsoleDeps(
        settings=settings,
        history=HistoryTable(
            settings.table, client=aws.client("dynamodb", endpoint_url=settings.endpoint_url)
        ),
        # Audio URLs name the bucket's regional host, which the console's CSP allows (media-src).
        clips=ClipStore(settings.bucket, client=aws.regional_s3_client(endpoint_url=settings.endpoint_url)),
        models=ModelStore(settings.bucket, client=s3),
    )


def reset() -> None:
    console_deps.cache_clear()
    presign_deps.cache_clear()
    process_deps.cache_clear()
    drift_deps.cache_clear()
    train_deps.cache_clear()
