"""ModelStore against a moto server: publish (files + sha256, then the pointer), load by version."""

from __future__ import annotations

from pathlib import Path

import pytest

from humwatch.dal import aws
from humwatch.dal.history import HistoryTable
from humwatch.dal.model_store import ModelStore, sha256_hex
from humwatch.dal.provisioning import StackResources
from humwatch.errors import AlreadyExists, ModelBundleError
from humwatch.model.bundle import ModelBundle


@pytest.fixture
def store(aws_stack: StackResources) -> ModelStore:
    return ModelStore(aws_stack.bucket, client=aws.client("s3", endpoint_url=aws_stack.endpoint_url))


def test_publish_uploads_with_sha256_then_switches_the_pointer(
    aws_stack: StackResources, store: ModelStore, history: HistoryTable, trained_bundle_dir: Path
):
    bundle = ModelBundle.load(trained_bundle_dir)
    pointer = store.publish_dir(trained_bundle_dir, "fan-a", history, make_default=True)
    assert pointer.version == bundle.manifest.version and pointer.sha256 == sha256_hex(bundle.onnx_bytes)
    assert history.models.pointer("fan-a") == pointer and history.models.default_model_id() == "fan-a"
    s3 = aws.client("s3", endpoint_url=aws_stack.endpoint_url)
    head = s3.head_object(Bucket=aws_stack.bucket, Key=f"models/fan-a/{pointer.version}/model.onnx")
    assert head["Metadata"]["sha256"] == pointer.sha256
    loaded = ModelStore(aws_stack.bucket, client=s3).load_bundle(
        "fan-a", pointer.version, expected_sha256=pointer.sha256
    )
    assert loaded.onnx_bytes == bundle.onnx_bytes and loaded.manifest.threshold == bundle.manifest.threshold


def test_republishing_a_version_is_idempotent_but_new_bytes_need_a_new_version(
    store: ModelStore, history: HistoryTable, trained_bundle_dir: Path
):
    bundle = ModelBundle.load(trained_bundle_dir)
    store.publish(bundle, "fan-a", history)
    store.publish(bundle, "fan-a", history)  # same bytes: fine
    tampered = ModelBundle.__new__(ModelBundle)
    tampered.manifest, tampered.onnx_bytes = bundle.manifest, bundle.onnx_bytes + b"\0"
    with pytest.raises(AlreadyExists, match="new version"):
        store.upload_bundle(tampered, "fan-a")


def test_loading_checks_the_registry_sha_and_caches_by_version(
    store: ModelStore, history: HistoryTable, trained_bundle_dir: Path, monkeypatch
):
    bundle = ModelBundle.load(trained_bundle_dir)
    pointer = store.publish(bundle, "fan-a", history)
    with pytest.raises(ModelBundleError, match="does not match"):
        store.load_bundle("fan-a", pointer.version, expected_sha256="0" * 64)
    first = store.load_bundle("fan-a", pointer.version)
    monkeypatch.setattr(store, "_get", lambda key: pytest.fail("a cached version must not be downloaded"))
    assert store.load_bundle("fan-a", pointer.version) is first
    with pytest.raises(ModelBundleError, match="missing"):
        ModelStore(store.bucket, client=store._client).load_bundle("fan-a", "no-such-version")
