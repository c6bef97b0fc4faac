"""Model bundles in S3 (`models/{model_id}/{version}/model.onnx` + `model.json`).

Loading is cached by (model_id, version): a warm Lambda downloads a bundle once, and a new
version is picked up when the registry pointer names it. Publishing uploads both files with their
sha256 in the object metadata, then switches the registry pointer in one write, so a scorer sees
either the old complete bundle or the new complete bundle, never half of one.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from humwatch import contracts as c
from humwatch.dal import aws
from humwatch.errors import AlreadyExists, ModelBundleError, NotFound

if TYPE_CHECKING:
    from humwatch.dal.history import HistoryTable
    from humwatch.model.bundle import ModelBundle
    from humwatch.records import ModelPointer

ONNX_FILE = "model.onnx"
MANIFEST_FILE = "model.json"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ModelStore:
    def __init__(self, bucket: str, *, client: Any | None = None, cache_size: int = 4) -> None:
        self.bucket = bucket
        self._client = client if client is not None else aws.client("s3")
        self._cache: OrderedDict[tuple[str, str], ModelBundle] = OrderedDict()
        self._cache_size = cache_size

    def _get(self, key: str) -> tuple[bytes, dict[str, str]]:
        try:
            with aws.translate_errors():
                resp = self._client.get_object(Bucket=self.bucket, Key=key)
                return resp["Body"].read(), dict(resp.get("Metadata", {}))
        except ClientError as exc:
            if aws.is_not_found(exc):
                raise ModelBundleError(f"model file s3://{self.bucket}/{key} is missing") from exc
            raise

    def load_bundle(self, model_id: str, version: str, *, expected_sha256: str | None = None) -> ModelBundle:
        """The bundle of one published version (cached); checks the ONNX bytes' sha256."""
        cached = self._cache.get((model_id, version))
        if cached is not None:
            self._cache.move_to_end((model_id, version))
            return cached
        from humwatch.model.bundle import ModelBundle

        prefix = c.model_prefix(model_id, version)
        onnx_bytes, _ = self._get(prefix + ONNX_FILE)
        manifest_json, _ = self._get(prefix + MANIFEST_FILE)
        actual = sha256_hex(onnx_bytes)
        if expected_sha256 and actual != expected_sha256:
            raise ModelBundleError(
                f"model {model_id} {version}: model.onnx sha256 {actual[:12]} does not match the "
                f"registry ({expected_sha256[:12]})"
            )
        bundle = ModelBundle.from_bytes(onnx_bytes, manifest_json)
        self._cache[(model_id, version)] = bundle
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return bundle

    def _existing_sha(self, key: str) -> str | None:
        try:
            with aws.translate_errors():
                resp = self._client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if aws.is_not_found(exc):
                return None
            raise
        return str(resp.get("Metadata", {}).get("sha256", "")) or None

    def upload_bundle(self, bundle: ModelBundle, model_id: str, *, replace: bool = False) -> str:
        """Upload both files (sha256 in metadata); returns the ONNX sha256. Re-uploading the same
        version with the same bytes is a no-op; with different bytes it is refused, unless
        `replace` (train_model redoing a run that died before anything referred to its files)."""
        version = bundle.manifest.version
        prefix = c.model_prefix(model_id, version)
        manifest_json = bundle.manifest.model_dump_json(indent=2).encode()
        files = {
            ONNX_FILE: (bundle.onnx_bytes, "application/octet-stream"),
            MANIFEST_FILE: (manifest_json, "application/json"),
        }
        onnx_sha = sha256_hex(bundle.onnx_bytes)
        existing = self._existing_sha(prefix + ONNX_FILE)
        if existing is not None and existing != onnx_sha and not replace:
            raise AlreadyExists(
                f"model {model_id} version {version} already exists with different content; "
                "publish it under a new version"
            )
        # model.json last: a reader that finds the manifest also finds the ONNX file it describes.
        for name in (ONNX_FILE, MANIFEST_FILE):
            data, content_type = files[name]
            with aws.translate_errors():
                self._client.put_object(
                    Bucket=self.bucket,
                    Key=prefix + name,
                    Body=data,
                    ContentType=content_type,
                    Metadata={"sha256": sha256_hex(data), "model-id": model_id, "version": version},
                )
        return onnx_sha

    def put_gate_report(self, model_id: str, version: str, report_json: bytes) -> str:
        """The candidate's promotion-gate report beside its bundle; returns its key."""
        key = c.gate_report_key(model_id, version)
        with aws.translate_errors():
            self._client.put_object(
                Bucket=self.bucket, Key=key, Body=report_json, ContentType="application/json"
            )
        return key

    def get_gate_report(self, model_id: str, version: str) -> dict[str, Any] | None:
        try:
            data, _ = self._get(c.gate_report_key(model_id, version))
        except ModelBundleError:
            return None
        return dict(json.loads(data))

    def publish(
        self,
        bundle: ModelBundle,
        model_id: str,
        history: HistoryTable,
        *,
        make_default: bool = False,
    ) -> ModelPointer:
        """Upload the bundle, then switch the registry pointer to it (one atomic write)."""
        sha = self.upload_bundle(bundle, model_id)
        pointer = history.models.set_pointer(model_id, bundle.manifest.version, sha)
        if make_default:
            history.models.set_default(model_id)
        return pointer

    def publish_dir(
        self, directory: str | Path, model_id: str, history: HistoryTable, *, make_default: bool = False
    ) -> ModelPointer:
        from humwatch.model.bundle import ModelBundle

        try:
            bundle = ModelBundle.load(directory)
        except FileNotFoundError as exc:
            raise NotFound(f"no model bundle in {directory}") from exc
        return self.publish(bundle, model_id, history, make_default=make_default)
