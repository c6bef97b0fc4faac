"""`humwatch model publish` / `model list` against a moto server, with a real ONNX scoring graph."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from ops_seed import make_bundle, run, stack_args

from humwatch.dal import aws
from humwatch.dal.history import HistoryTable
from humwatch.dal.model_store import ModelStore
from humwatch.dal.provisioning import StackResources
from humwatch.errors import AlreadyExists, ModelBundleError
from humwatch.model.bundle import sha256_hex


@pytest.fixture
def s3(aws_stack: StackResources) -> Any:
    return aws.client("s3", endpoint_url=aws_stack.endpoint_url, region=aws_stack.region)


def test_publish_uploads_with_sha256_and_switches_the_pointer(
    aws_stack: StackResources, history: HistoryTable, s3: Any, tmp_path: Path
) -> None:
    # Given a valid bundle on disk
    bundle = make_bundle(tmp_path / "v1", "20261126T140000Z")

    # When it is published as the default model
    result = run(
        [
            "model",
            "publish",
            str(tmp_path / "v1"),
            "--model-id",
            "fan-demo",
            "--default",
            *stack_args(aws_stack),
        ]
    )

    # Then both files are in S3 under models/{id}/{version}/ with their sha256, the pointer names it,
    # and it is the default model
    assert result.exit_code == 0, result.output
    assert "published fan-demo@20261126T140000Z" in result.output
    head = s3.head_object(Bucket=aws_stack.bucket, Key="models/fan-demo/20261126T140000Z/model.onnx")
    assert head["Metadata"]["sha256"] == sha256_hex(bundle.onnx_bytes)
    pointer = history.models.pointer("fan-demo")
    assert pointer is not None and pointer.version == "20261126T140000Z"
    assert history.models.default_model_id() == "fan-demo"
    loaded = ModelStore(aws_stack.bucket, client=s3).load_bundle(
        "fan-demo", pointer.version, expected_sha256=pointer.sha256
    )
    assert loaded.onnx_bytes == bundle.onnx_bytes

    # And a new version switches the pointer; model list shows the current one and its devices
    make_bundle(tmp_path / "v2", "20261126T150000Z", seed=1)
    history.devices.put("fan-01", model_id="fan-demo")
    history.devices.put("fan-02")  # default model
    assert (
        run(
            ["model", "publish", str(tmp_path / "v2"), "--model-id", "fan-demo", *stack_args(aws_stack)]
        ).exit_code
        == 0
    )
    listed = json.loads(run(["model", "list", "--format", "json", *stack_args(aws_stack)]).stdout)
    assert [(m["model_id"], m["version"], m["default"], m["devices"]) for m in listed] == [
        ("fan-demo", "20261126T150000Z", True, 2)
    ]


def test_publish_refuses_a_corrupt_bundle_and_keeps_the_pointer(
    aws_stack: StackResources, history: HistoryTable, tmp_path: Path
) -> None:
    make_bundle(tmp_path / "good", "v1")
    assert (
        run(
            ["model", "publish", str(tmp_path / "good"), "--model-id", "fan-demo", *stack_args(aws_stack)]
        ).exit_code
        == 0
    )
    make_bundle(tmp_path / "bad", "v2")
    with (tmp_path / "bad" / "model.onnx").open("ab") as fh:
        fh.write(b"\0")  # bytes no longer match model.json's onnx_sha256

    result = run(
        ["model", "publish", str(tmp_path / "bad"), "--model-id", "fan-demo", *stack_args(aws_stack)]
    )

    assert isinstance(result.exception, ModelBundleError) and "does not match" in str(result.exception)
    pointer = history.models.pointer("fan-demo")
    assert pointer is not None and pointer.version == "v1"


def test_republishing_a_version_with_other_bytes_is_refused(
    aws_stack: StackResources, history: HistoryTable, tmp_path: Path
) -> None:
    make_bundle(tmp_path / "a", "v1", seed=0)
    make_bundle(tmp_path / "b", "v1", seed=1)
    assert (
        run(
            ["model", "publish", str(tmp_path / "a"), "--model-id", "fan-demo", *stack_args(aws_stack)]
        ).exit_code
        == 0
    )
    again = run(["model", "publish", str(tmp_path / "b"), "--model-id", "fan-demo", *stack_args(aws_stack)])
    assert isinstance(again.exception, AlreadyExists) and "publish it under a new version" in str(
        again.exception
    )


def test_model_list_empty(aws_stack: StackResources) -> None:
    result = run(["model", "list", *stack_args(aws_stack)])
    assert result.exit_code == 0 and result.output.strip() == "no models published"
