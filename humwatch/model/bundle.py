"""Model bundle: `model.onnx` + `model.json`, validated on load so a bad bundle fails loudly.

Imported by the Lambda runtime: pydantic, hashlib and json only (no onnx, no scipy).

What `ModelBundle` checks, each with its own `ModelBundleError` message:
- both files present (`ModelBundleMissing`, also a FileNotFoundError) and model.json valid JSON;
- `format_version` is one this code reads;
- model.json matches the schema (feature parameters consistent: hop <= n_fft, fmax <= sr/2, ...);
- the ONNX bytes' sha256 equals `onnx_sha256`;
- `onnx_inputs` / `onnx_outputs` name what scoring feeds and reads (`waveform`; `score`, `band_means`);
- threshold positive and finite; drift statistics have one value per mel band.
The ONNX graph's actual input/output names are checked against the manifest when a `Scorer`
opens it (that needs onnxruntime, which this module does not import).
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from humwatch.errors import ModelBundleError
from humwatch.explain import WhyAxes
from humwatch.features import FeatureParams

FORMAT_VERSION = 1
ONNX_FILE = "model.onnx"
MANIFEST_FILE = "model.json"
INPUT_NAMES: list[str] = ["waveform"]
# What every scorer reads; a detector may add outputs of its own (member_scores, vector_errors).
REQUIRED_OUTPUTS: tuple[str, ...] = ("score", "band_means")


class ModelBundleMissing(ModelBundleError, FileNotFoundError):
    """The bundle directory or one of its two files does not exist."""


class GammaParams(BaseModel):
    model_config = ConfigDict(extra="allow")
    shape: float
    loc: float
    scale: float


class ThresholdInfo(BaseModel):
    """How the decision threshold was chosen (without test labels)."""

    model_config = ConfigDict(extra="allow")
    value: float
    method: str = "gamma"
    target_fpr: float = Field(0.01, gt=0.0, lt=1.0)
    observed_validation_fpr: float | None = None
    n_validation: int = Field(0, ge=0)
    gamma: GammaParams | None = None


class TrainingInfo(BaseModel):
    model_config = ConfigDict(extra="allow")
    n_clips: int = Field(0, ge=0)
    n_vectors: int = Field(0, ge=0)
    epochs: int = Field(0, ge=0)
    seed: int = 0
    dataset_fingerprint: str = ""
    train_seconds: float = 0.0
    score_samples: list[float] = Field(default_factory=list)
    band_means_mean: list[float] = Field(default_factory=list)
    band_means_std: list[float] = Field(default_factory=list)


class ModelManifest(BaseModel):
    """model.json. Extra fields are kept, so later model types can add their own."""

    model_config = ConfigDict(extra="allow", protected_namespaces=())

    format_version: int
    model_id: str = Field(min_length=1, max_length=128)
    version: str = Field(min_length=1, max_length=64)
    model_type: str = "blog-ae"  # bundles written before there was a second detector
    created_at: str
    onnx_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    onnx_inputs: list[str]
    onnx_outputs: list[str]
    features: FeatureParams
    channel: int | str = 0
    threshold: ThresholdInfo
    training: TrainingInfo = Field(default_factory=lambda: TrainingInfo.model_validate({}))
    metrics: dict[str, Any] = Field(default_factory=dict)
    # How the graph's why outputs become frequencies (humwatch.explain); None: it cannot say why.
    why: WhyAxes | None = None


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "model.json"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def parse_manifest(manifest_json: bytes | str) -> ModelManifest:
    try:
        raw = json.loads(manifest_json)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelBundleError(f"model.json is not valid JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise ModelBundleError("model.json must hold a JSON object")
    version = raw.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelBundleError(
            f"model.json format_version {version!r} is not supported (this humwatch reads {FORMAT_VERSION})"
        )
    try:
        return ModelManifest.model_validate(raw)
    except ValidationError as exc:
        raise ModelBundleError(f"model.json is invalid: {_describe(exc)}") from None


def validate_bundle(manifest: ModelManifest, onnx_bytes: bytes) -> None:
    """Raise ModelBundleError for the first way the two files disagree or make no sense."""
    actual = sha256_hex(onnx_bytes)
    if actual != manifest.onnx_sha256:
        raise ModelBundleError(
            f"model.onnx sha256 {actual[:12]}... does not match model.json onnx_sha256 "
            f"{manifest.onnx_sha256[:12]}... (corrupt or mismatched files)"
        )
    if manifest.onnx_inputs != INPUT_NAMES:
        raise ModelBundleError(f"model.json onnx_inputs {manifest.onnx_inputs} must be {INPUT_NAMES}")
    missing = [name for name in REQUIRED_OUTPUTS if name not in manifest.onnx_outputs]
    if missing:
        raise ModelBundleError(f"model.json onnx_outputs lacks {missing}")
    value = manifest.threshold.value
    if not (math.isfinite(value) and value > 0):
        raise ModelBundleError(f"threshold {value} must be a positive finite number")
    n_mels = manifest.features.n_mels
    for name in ("band_means_mean", "band_means_std"):
        stats = getattr(manifest.training, name)
        if stats and len(stats) != n_mels:
            raise ModelBundleError(f"training.{name} has {len(stats)} values, expected n_mels={n_mels}")
    channel = manifest.channel
    if not ((isinstance(channel, int) and channel >= 0) or channel == "mean"):
        raise ModelBundleError(f"channel {channel!r} must be a channel index >= 0 or 'mean'")


class ModelBundle:
    """A validated model: the ONNX bytes and the manifest that describes them."""

    def __init__(self, manifest: ModelManifest, onnx_bytes: bytes) -> None:
        validate_bundle(manifest, onnx_bytes)
        self.manifest = manifest
        self.onnx_bytes = onnx_bytes

    @classmethod
    def from_bytes(cls, onnx_bytes: bytes, manifest_json: bytes) -> ModelBundle:
        return cls(parse_manifest(manifest_json), onnx_bytes)

    @classmethod
    def load(cls, directory: str | Path) -> ModelBundle:
        folder = Path(directory)
        if not folder.is_dir():
            raise ModelBundleMissing(f"model bundle directory {folder} does not exist")
        files = {}
        for name in (ONNX_FILE, MANIFEST_FILE):
            path = folder / name
            if not path.is_file():
                raise ModelBundleMissing(f"model bundle {folder} has no {name}")
            files[name] = path.read_bytes()
        return cls.from_bytes(files[ONNX_FILE], files[MANIFEST_FILE])

    def save(self, directory: str | Path) -> Path:
        """Write both files (ONNX first: a reader that finds model.json finds its model)."""
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / ONNX_FILE).write_bytes(self.onnx_bytes)
        (folder / MANIFEST_FILE).write_text(self.manifest.model_dump_json(indent=2) + "\n")
        return folder

    @property
    def threshold(self) -> float:
        return self.manifest.threshold.value

    def __repr__(self) -> str:
        m = self.manifest
        return f"ModelBundle(model_id={m.model_id!r}, version={m.version!r}, type={m.model_type!r})"
