"""The whole pipeline on one machine: real edge uploaders -> mosquitto (mTLS) -> presign handler ->
S3 (moto) -> SQS -> process_clip handler -> DynamoDB history + SNS alerts, then the drift handler.

Given the demo model of the default detector (spectral-gauss, what users get) and two devices
(fan-01 normal, fan-02 with a bearing fault from its third clip) replaying six clips each through
`humwatch-edge`, plus one corrupt upload from fan-01, the test checks what an operator relies on:
every clip scored by that model, one history item per uploaded object, exactly the faulty clips
flagged, one alert for the faulty machine and none for the normal one, the corrupt clip recorded
as REJECTED, nothing dead-lettered, a drift report written, and nothing left running once the
stack stops.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from processes import alive, processes_using

from humwatch.contracts import CLIPS_PREFIX
from humwatch.dal import aws
from humwatch.dal.clip_store import ClipStore
from humwatch.dal.history import HistoryTable
from humwatch.dal.model_store import ModelStore
from humwatch.detectors import DEFAULT_DETECTOR
from humwatch.local.device_client import LocalDeviceClient
from humwatch.local.devices import EdgeUploaderProcess, ProvisionedDevice, provision_local_device
from humwatch.local.mqtt_broker import MosquittoBroker
from humwatch.local.scenario import DemoRecipe, ensure_demo_model, write_device_clips
from humwatch.local.settings import LocalStackOptions
from humwatch.local.stack import LocalStack
from humwatch.model.bundle import ModelBundle, ModelManifest
from humwatch.records import ClipRecord, ClipStatus

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

CLIPS_PER_DEVICE = 6
# fan-02: clips 2..5 carry the fault (each 1.4-2.8x the threshold): the default evidence rule
# (2.5) fires on the third or fourth of them, and the cooldown keeps it to one alert.
FAULT_FROM = 2
INTERVAL_S = 2
CORRUPT = b"fLaC" + bytes(range(256)) * 8  # FLAC magic, then garbage: not decodable audio


@dataclass
class PipelineRun:
    model: ModelManifest
    stack: LocalStack
    history: HistoryTable
    object_keys: list[str]
    records: dict[str, list[ClipRecord]]
    corrupt_key: str
    drift_result: dict[str, object]
    threads_before: set[threading.Thread]
    environment_before: dict[str, str]
    processes: list[int] = field(default_factory=list)


def _stack_environment() -> dict[str, str]:
    """The variables a stack sets for its functions (and must restore when it stops)."""
    return {k: v for k, v in os.environ.items() if k.startswith(("AWS_", "HUMWATCH_", "POWERTOOLS_"))}


def _list_clip_objects(bucket: str) -> list[str]:
    s3 = aws.client("s3")
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=CLIPS_PREFIX)
    return [obj["Key"] for page in pages for obj in page.get("Contents", [])]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PipelineRun]:
    work = tmp_path_factory.mktemp("e2e")
    recipe = DemoRecipe()
    model_dir, _ = ensure_demo_model(work / "cache", recipe)
    folders = {"fan-01": work / "clips" / "fan-01", "fan-02": work / "clips" / "fan-02"}
    write_device_clips(folders["fan-01"], n_clips=CLIPS_PER_DEVICE, recipe=recipe, seed=1)
    write_device_clips(
        folders["fan-02"], n_clips=CLIPS_PER_DEVICE, recipe=recipe, fault_from=FAULT_FROM, seed=2
    )
    threads_before = set(threading.enumerate())
    environment_before = _stack_environment()
    options = LocalStackOptions.build(
        workdir=work / "stack",
        batch_window_s=1,
        drift_interval_s=0,
        function_env={
            "HUMWATCH_CLIP_INTERVAL_S": str(INTERVAL_S),
            "HUMWATCH_DRIFT_MIN_CLIPS": "5",
            # Every anomaly counts as critical, so the first alert already has the highest severity
            # and only the cooldown can stop a second one (no escalation to muddy the check).
            "HUMWATCH_CRITICAL_RATIO": "1.001",
        },
    )
    stack = LocalStack(options).start()
    edges: list[EdgeUploaderProcess] = []
    try:
        history = HistoryTable(stack.info.table)
        ModelStore(stack.info.bucket).publish_dir(model_dir, recipe.model_id, history, make_default=True)
        devices: dict[str, ProvisionedDevice] = {
            thing: provision_local_device(
                stack, thing, model_id=recipe.model_id, interval_s=INTERVAL_S, duration_s=INTERVAL_S
            )
            for thing in folders
        }
        # A corrupt upload through the normal device path (MQTT request, presigned PUT) before the
        # device program connects with the same client id.
        dev = devices["fan-01"]
        with LocalDeviceClient(
            "fan-01",
            host=dev.mqtt_host,
            port=dev.mqtt_port,
            ca_file=dev.ca_file,
            cert_file=dev.cert_file,
            key_file=dev.key_file,
        ) as client:
            corrupt = client.upload(CORRUPT)
        edges = [
            EdgeUploaderProcess(devices[t], folder=folders[t], telemetry_interval_s=2).start()
            for t in folders
        ]
        pids = [e.pid for e in edges if e.pid is not None]

        expected = {"fan-01": CLIPS_PER_DEVICE + 1, "fan-02": CLIPS_PER_DEVICE}

        def all_recorded() -> bool:
            return all(len(list(history.clips.query(t))) >= n for t, n in expected.items())

        assert stack.wait_for(all_recorded, timeout_s=90, interval_s=0.5), (
            "not every clip reached the history"
        )
        assert stack.wait_until_drained(timeout_s=30)
        for edge in edges:
            edge.stop()
        # Alerts travel SNS -> inbox queue -> poller: wait until the inbox has read everything.
        stack.wait_for(
            lambda: bool(stack.inbox.alerts(topic_name="humwatch-alerts")) and stack.inbox.queue.depth() == 0,
            timeout_s=10,
        )
        drift_result = stack.run_drift_check()
        yield PipelineRun(
            model=ModelBundle.load(model_dir).manifest,
            stack=stack,
            history=history,
            object_keys=_list_clip_objects(stack.info.bucket),
            records={t: list(history.clips.query(t)) for t in folders},
            corrupt_key=corrupt.key,
            drift_result=drift_result,
            threads_before=threads_before,
            environment_before=environment_before,
            processes=pids,
        )
    finally:
        for edge in edges:
            edge.stop()
        stack.stop()


def test_every_clip_was_scored_by_the_published_default_detector(run: PipelineRun) -> None:
    assert run.model.model_type == DEFAULT_DETECTOR
    scored = [r for records in run.records.values() for r in records if r.status == ClipStatus.SCORED]
    assert len(scored) == 2 * CLIPS_PER_DEVICE
    assert {(r.model_id, r.model_version) for r in scored} == {(run.model.model_id, run.model.version)}


def test_every_uploaded_clip_has_exactly_one_history_item(run: PipelineRun) -> None:
    keys_in_history = [r.s3_key for records in run.records.values() for r in records]
    assert len(run.object_keys) == 2 * CLIPS_PER_DEVICE + 1
    assert sorted(keys_in_history) == sorted(run.object_keys)


def test_the_faulty_device_raised_exactly_one_alert_and_the_normal_one_none(run: PipelineRun) -> None:
    alerts = run.stack.inbox.alerts(topic_name="humwatch-alerts")
    assert [(a.device, a.severity) for a in alerts] == [("fan-02", "critical")]
    assert "fan-02" in alerts[0].subject
    # It says why in words: where in the spectrum the clip stood out, and by how much
    why = next(line for line in alerts[0].message.splitlines() if line.startswith("Why:"))
    assert " σ " in why and "normal" in why, why
    fan02 = sorted(run.records["fan-02"], key=lambda r: r.captured_at)
    assert [r.is_anomaly for r in fan02] == [i >= FAULT_FROM for i in range(CLIPS_PER_DEVICE)]
    assert not any(r.is_anomaly for r in run.records["fan-01"])


def test_the_corrupt_clip_is_rejected_with_a_reason(run: PipelineRun) -> None:
    (record,) = [r for r in run.records["fan-01"] if r.s3_key == run.corrupt_key]
    assert record.status == ClipStatus.REJECTED
    assert record.reason and record.score is None and not record.is_anomaly
    scored = [r for r in run.records["fan-01"] if r.s3_key != run.corrupt_key]
    assert all(r.status == ClipStatus.SCORED for r in scored)


def test_device_heartbeats_reach_the_table_through_the_telemetry_rule(run: PipelineRun) -> None:
    for thing in ("fan-01", "fan-02"):
        telemetry = run.history.telemetry.get(thing)
        assert telemetry is not None and telemetry.received_at is not None
        assert {"spool_clips", "dropped_clips", "version"} <= set(telemetry.payload)
        # The device's own "thing" field is replaced by the topic's (`SELECT *, topic(2) AS thing`),
        # which keys the item: it is the record's `thing`, not part of the payload.
        assert "thing" not in telemetry.payload


def test_nothing_was_dead_lettered(run: PipelineRun) -> None:
    assert run.stack.dlq.depth() == 0
    assert run.stack.event_source.stats.invocation_errors == 0


def test_a_drift_report_exists_for_each_device(run: PipelineRun) -> None:
    reports = run.drift_result["reports"]
    assert isinstance(reports, dict) and set(reports) == {"fan-01", "fan-02"}
    store = ClipStore(run.stack.info.bucket)
    for key in reports.values():
        assert store.head(str(key)).size > 0


def test_nothing_is_left_running_after_stop(run: PipelineRun) -> None:
    assert isinstance(run.stack.broker, MosquittoBroker)
    broker_config = run.stack.broker.config_path
    assert len(processes_using(broker_config)) == 1  # the check can see a running broker

    run.stack.stop()

    assert processes_using(broker_config) == []
    assert not any(alive(pid) for pid in run.processes)
    leftover = [t.name for t in set(threading.enumerate()) - run.threads_before if t.is_alive()]
    assert leftover == []
    assert not (run.stack.workdir / "local-stack.json").exists()
    assert _stack_environment() == run.environment_before  # AWS_ENDPOINT_URL & co. restored
