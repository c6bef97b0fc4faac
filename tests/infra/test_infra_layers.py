"""The real built layers: small enough for Lambda, only runtime modules, and importable on 3.12."""

from __future__ import annotations

import os
from typing import Any

import pytest
from humwatch_cdk.layers import REPO_ROOT, load_builder

builder = load_builder()


def test_layers_and_function_code_fit_well_inside_lambdas_limit(synthesized: Any) -> None:
    build = synthesized.stack.layers.build
    measured = builder.dir_size(build.deps_dir / "python") + builder.dir_size(build.humwatch_dir / "python")
    code = max(builder.dir_size(REPO_ROOT / "functions" / name) for name in builder.HANDLER_FILES)
    total = measured + code
    print(f"\nlayers: {build.summary()}; largest function code {code / 1e3:.1f} kB")
    assert total == build.total_bytes + code
    assert total < builder.SIZE_BUDGET_BYTES < builder.LAMBDA_UNZIPPED_LIMIT_BYTES


def test_dependency_layer_is_pruned_and_built_for_the_lambda_platform(synthesized: Any) -> None:
    site = synthesized.stack.layers.build.deps_dir / "python"
    assert not list(site.rglob("tests")), "test suites left in the layer"
    extensions = list(site.rglob("*.so"))
    assert extensions and all("x86_64" in p.name or "cpython" not in p.name for p in extensions)
    assert any("cpython-312" in p.name for p in extensions)
    assert (site / "_soundfile_data").is_dir(), "soundfile wheel without libsndfile"


def test_humwatch_layer_holds_only_what_the_handlers_import(synthesized: Any) -> None:
    build = synthesized.stack.layers.build
    package = build.humwatch_dir / "python" / "humwatch"
    shipped = {str(p.relative_to(package.parent)) for p in package.rglob("*.py")}
    assert shipped == set(build.humwatch_modules)
    assert "humwatch/contracts.py" in shipped
    for excluded in ("humwatch/cli/", "humwatch/local/", "humwatch/research/"):
        assert not any(m.startswith(excluded) for m in shipped), excluded


def test_size_budget_failure_is_a_clear_error(synthesized: Any) -> None:
    with pytest.raises(builder.LayerBuildError, match="over the 1 MB budget"):
        builder.build_layers(size_budget_bytes=1_000_000)


def test_handlers_import_with_the_layers_on_python312(synthesized: Any) -> None:
    python312 = builder.find_python312()
    if python312 is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have a python3.12 to smoke-test the layers (pyenv 3.12 or python3.12)")
        pytest.skip("no python3.12 interpreter here to import the layers with")
    result = builder.smoke_test(synthesized.stack.layers.build, python312, env=builder.smoke_env())
    assert result["python"].startswith("3.12")
    assert result["handlers"] == sorted(f"{name}_handler" for name in builder.HANDLER_FILES)
    assert result["libsndfile"]
