"""The two Lambda layers, built with pip by `layers/build_layers.py` (no Docker)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILDER_PATH = REPO_ROOT / "layers" / "build_layers.py"


def load_builder() -> ModuleType:
    """`layers/build_layers.py` is a script, not a package: load it by path."""
    name = "humwatch_build_layers"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, BUILDER_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class RuntimeLayers(Construct):
    """The runtime dependency layer and the humwatch code layer.

    Building is cached by a hash of the inputs, so synth after the first build costs no pip run;
    that same hash is the asset hash, so CDK does not re-hash ~150 MB on every synth.
    """

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        builder = load_builder()
        self.build = builder.build_layers()
        runtimes = [lambda_.Runtime.PYTHON_3_12]
        architectures = [lambda_.Architecture.X86_64]
        self.deps = lambda_.LayerVersion(
            self,
            "Deps",
            code=_layer_code(self.build.deps_dir),
            description="humwatch runtime dependencies: numpy, onnxruntime, soundfile, pydantic, powertools",
            compatible_runtimes=runtimes,
            compatible_architectures=architectures,
        )
        self.humwatch = lambda_.LayerVersion(
            self,
            "Humwatch",
            code=_layer_code(self.build.humwatch_dir),
            description="humwatch library modules the handlers import",
            compatible_runtimes=runtimes,
            compatible_architectures=architectures,
        )


def _layer_code(layer_dir: Path) -> lambda_.AssetCode:
    digest = (layer_dir / ".inputs-sha256").read_text().strip()
    return lambda_.Code.from_asset(
        str(layer_dir),
        asset_hash=digest,
        asset_hash_type=cdk.AssetHashType.CUSTOM,
        exclude=[".inputs-sha256"],
    )
