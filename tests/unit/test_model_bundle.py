"""Bundle validation: each way model.onnx and model.json can disagree gets its own clear error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from model_helpers import trained_bundle

from humwatch.errors import ModelBundleError
from humwatch.model.bundle import ModelBundle, ModelBundleMissing
from humwatch.scoring import Scorer


@pytest.fixture()
def bundle_dir(tmp_path: Path) -> Path:
    return trained_bundle().save(tmp_path / "model")


def rewrite_manifest(directory: Path, change: Any) -> None:
    path = directory / "model.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_saved_bundle_loads_back_identically(bundle_dir: Path) -> None:
    original = trained_bundle()
    loaded = ModelBundle.load(bundle_dir)
    assert loaded.onnx_bytes == original.onnx_bytes
    assert loaded.manifest == original.manifest
    assert (
        ModelBundle.from_bytes(loaded.onnx_bytes, (bundle_dir / "model.json").read_bytes()).manifest
        == loaded.manifest
    )


def test_missing_directory_and_files_raise_bundle_missing(tmp_path: Path, bundle_dir: Path) -> None:
    with pytest.raises(ModelBundleMissing, match="does not exist"):
        ModelBundle.load(tmp_path / "nope")
    (bundle_dir / "model.onnx").unlink()
    with pytest.raises(FileNotFoundError, match=r"no model\.onnx"):  # also a ModelBundleError
        ModelBundle.load(bundle_dir)


def test_tampered_onnx_fails_the_sha256_check(bundle_dir: Path) -> None:
    path = bundle_dir / "model.onnx"
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(ModelBundleError, match="sha256"):
        ModelBundle.load(bundle_dir)


def test_manifest_that_is_not_json_is_reported(bundle_dir: Path) -> None:
    (bundle_dir / "model.json").write_text("{not json")
    with pytest.raises(ModelBundleError, match="not valid JSON"):
        ModelBundle.load(bundle_dir)


def test_unknown_format_version_is_refused(bundle_dir: Path) -> None:
    rewrite_manifest(bundle_dir, lambda d: d.update(format_version=2))
    with pytest.raises(ModelBundleError, match="format_version 2 is not supported"):
        ModelBundle.load(bundle_dir)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(onnx_inputs=["audio"]), "onnx_inputs"),
        (lambda d: d.update(onnx_outputs=["score", "vector_errors"]), "onnx_outputs lacks"),
        (lambda d: d["features"].update(hop_length=4096), "hop_length"),
        (lambda d: d["features"].update(fmax=12000.0), "fmax"),
        (lambda d: d["features"].update(n_mels=0), "n_mels"),
        (lambda d: d["threshold"].update(value=-1.0), "threshold"),
        (lambda d: d["training"].update(band_means_mean=[0.0] * 3), "band_means_mean"),
        (lambda d: d.update(channel=-1), "channel"),
        (lambda d: d.pop("threshold"), "threshold"),
    ],
)
def test_inconsistent_manifest_fields_are_each_reported(bundle_dir: Path, change: Any, message: str) -> None:
    rewrite_manifest(bundle_dir, change)
    with pytest.raises(ModelBundleError, match=message):
        ModelBundle.load(bundle_dir)


def test_graph_outputs_that_differ_from_the_manifest_are_caught_by_the_scorer() -> None:
    # Given a valid bundle whose manifest lists the outputs in another order (another model type)
    original = trained_bundle()
    manifest = original.manifest.model_copy(
        update={"model_type": "custom", "onnx_outputs": ["score", "band_means", "vector_errors"]}
    )
    bundle = ModelBundle(manifest, original.onnx_bytes)
    with pytest.raises(ModelBundleError, match="outputs"):
        Scorer(bundle)


def test_unloadable_onnx_bytes_are_a_bundle_error() -> None:
    original = trained_bundle()
    junk = b"not an onnx graph"
    from humwatch.model.bundle import sha256_hex

    manifest = original.manifest.model_copy(update={"onnx_sha256": sha256_hex(junk)})
    with pytest.raises(ModelBundleError, match="onnxruntime"):
        Scorer(ModelBundle(manifest, junk))


def test_extra_manifest_fields_survive_a_round_trip(bundle_dir: Path) -> None:
    rewrite_manifest(bundle_dir, lambda d: d.update(detector={"kind": "later"}))
    loaded = ModelBundle.load(bundle_dir)
    assert json.loads(loaded.manifest.model_dump_json())["detector"] == {"kind": "later"}
