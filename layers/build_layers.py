"""Build the two Lambda layers with pip, for python3.12 on x86_64, without Docker.

- ``layers/build/deps/python``: the runtime dependencies (``project.dependencies`` in pyproject.toml,
  pinned to the versions installed in this environment so Lambda runs what the tests ran) plus the
  X-Ray SDK for the Powertools Tracer. Wheels only, for the Lambda platform (docs/deploy.md: onnxruntime
  ships only manylinux_2_27/2_28 wheels, and without the 2_28 platform soundfile falls back to a
  wheel with no libsndfile).
- ``layers/build/humwatch/python/humwatch``: only the ``humwatch`` modules the handlers reach
  (their import closure), so the CLI, the local stack and the training code stay out of Lambda.

Both are cached by a hash of their inputs: a second call with the same inputs does no work and
needs no network. Sources are precompiled with a Python 3.12 interpreter when one is found, with
unchecked-hash .pyc files, because Lambda's /opt is read-only and asset zips do not keep mtimes.

Usage: ``python layers/build_layers.py [--smoke]`` (prints the unzipped sizes; exits non-zero with a
one-line reason when the layers are over the size budget or pip fails).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import fcntl
import glob
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
BUILD_DIR = REPO_ROOT / "layers" / "build"
DEPS_LAYER_DIR = BUILD_DIR / "deps"
HUMWATCH_LAYER_DIR = BUILD_DIR / "humwatch"
PIP_CACHE_DIR = BUILD_DIR / "pip-cache"
FUNCTIONS_DIR = REPO_ROOT / "functions"
# Every function the stack deploys: the humwatch layer ships exactly what these import.
HANDLER_FILES = ("presign_upload", "process_clip", "drift_check", "train_model", "console_api")

# Lambda's hard limit on a function plus all its layers, unzipped (250 MiB), and our own budget,
# which keeps room for a bigger model runtime or one more dependency without surprises.
LAMBDA_UNZIPPED_LIMIT_BYTES = 262_144_000
SIZE_BUDGET_BYTES = 200_000_000

PYTHON_VERSION = "3.12"
# Bump when the way a layer is assembled changes (the cache key holds this, not this file's text).
LAYER_FORMAT = 1
PIP_PLATFORM_FLAGS = (
    "--only-binary=:all:",
    "--platform",
    "manylinux2014_x86_64",
    "--platform",
    "manylinux_2_28_x86_64",
    "--python-version",
    PYTHON_VERSION,
    "--implementation",
    "cp",
)
# aws-xray-sdk (Powertools Tracer) depends on botocore, which the Lambda runtime already carries:
# install it and wrapt without dependencies instead of shipping a second botocore.
NO_DEPS_REQUIREMENTS = ("aws-xray-sdk", "wrapt")
# Present in the Lambda python3.12 runtime; only used to simulate it in the smoke test.
RUNTIME_PROVIDED = ("boto3",)

# Not needed to run inference or the handlers; removed to keep the layer small.
PRUNE_DIR_NAMES = frozenset({"__pycache__", "tests", "test"})
PRUNE_PATHS = (
    "bin",
    "onnxruntime/transformers",
    "onnxruntime/quantization",
    "onnxruntime/tools",
    "numpy/_core/include",
    "numpy/_core/lib/libnpymath.a",
    "numpy/f2py",
    "numpy/_pyinstaller",
)
PRUNE_SUFFIXES = (".pyi", ".pyx", ".pxd", ".h", ".c")


class LayerBuildError(RuntimeError):
    """The layers could not be built or are over the size budget (message is one clear line)."""


@dataclass(frozen=True)
class LayerBuild:
    """What one call to ``build_layers`` produced (paths are the folders CDK zips as assets)."""

    deps_dir: Path
    humwatch_dir: Path
    deps_bytes: int
    humwatch_bytes: int
    requirements: tuple[str, ...]
    humwatch_modules: tuple[str, ...]
    precompiled_with: str | None
    rebuilt: tuple[str, ...]

    @property
    def total_bytes(self) -> int:
        return self.deps_bytes + self.humwatch_bytes

    def summary(self) -> str:
        mb = 1_000_000
        return (
            f"deps layer {self.deps_bytes / mb:.1f} MB, humwatch layer {self.humwatch_bytes / mb:.2f} MB, "
            f"total {self.total_bytes / mb:.1f} MB unzipped (budget {SIZE_BUDGET_BYTES / mb:.0f} MB, "
            f"Lambda limit {LAMBDA_UNZIPPED_LIMIT_BYTES / mb:.0f} MB); "
            f"pyc: {self.precompiled_with or 'not precompiled (no python3.12 found)'}"
        )


# --- inputs ---------------------------------------------------------------------------------------


def runtime_requirements(pyproject: Path = REPO_ROOT / "pyproject.toml") -> list[str]:
    """``project.dependencies`` pinned to the installed versions (the range itself if not installed)."""
    deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    return [_pin(spec) for spec in deps]


def _pin(spec: str) -> str:
    name = re.split(r"[<>=!~;\[ ]", spec, maxsplit=1)[0].strip()
    try:
        return f"{name}=={importlib.metadata.version(name)}"
    except importlib.metadata.PackageNotFoundError:
        return spec


def find_python312() -> str | None:
    """An interpreter matching the Lambda runtime, used to precompile and to smoke-test imports."""
    explicit = os.environ.get("HUMWATCH_LAYER_PYTHON")
    candidates = [explicit] if explicit else []
    on_path = shutil.which(f"python{PYTHON_VERSION}")
    if on_path:
        candidates.append(on_path)
    candidates += sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{PYTHON_VERSION}*/bin/python3")))
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and _is_python312(candidate):
            return candidate
    return None


def _is_python312(candidate: str) -> bool:
    # A pyenv shim exists on PATH even when it cannot run 3.12: ask the interpreter itself.
    try:
        proc = subprocess.run(
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0 and proc.stdout.strip() == PYTHON_VERSION


def _digest(parts: Iterable[str | bytes]) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\0")
    return h.hexdigest()


# --- the humwatch import closure ------------------------------------------------------------------


def _is_type_checking_block(node: ast.stmt) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, module: str, is_package: bool) -> Iterator[str]:
    """Absolute names of every import in ``tree`` (outside ``if TYPE_CHECKING:``)."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking_block(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".") if is_package else module.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
        stack.extend(ast.iter_child_nodes(node))


def _module_file(name: str, src_root: Path) -> Path | None:
    path = src_root.joinpath(*name.split("."))
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    return None


def humwatch_closure(entry_files: Iterable[Path], src_root: Path = REPO_ROOT) -> list[Path]:
    """Every ``humwatch`` source file the entry files reach through imports, parents included."""
    seen: dict[str, Path] = {}
    pending: list[tuple[str, Path]] = [("__entry__", f) for f in entry_files]
    while pending:
        module, file = pending.pop()
        tree = ast.parse(file.read_text(), filename=str(file))
        for name in _imports(tree, module, file.name == "__init__.py"):
            if name.split(".")[0] != "humwatch":
                continue
            parts = name.split(".")
            for i in range(1, len(parts) + 1):
                candidate = ".".join(parts[:i])
                target = _module_file(candidate, src_root)
                if target is not None and candidate not in seen:
                    seen[candidate] = target
                    pending.append((candidate, target))
    return sorted(set(seen.values()))


def handler_files(functions_dir: Path = FUNCTIONS_DIR) -> list[Path]:
    files = [functions_dir / name / "handler.py" for name in HANDLER_FILES]
    missing = [str(f.relative_to(REPO_ROOT)) for f in files if not f.is_file()]
    if missing:
        raise LayerBuildError(f"handler files missing, cannot compute the humwatch layer: {missing}")
    return files


# --- building ---------------------------------------------------------------------------------------


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def prune(site: Path) -> None:
    for rel in PRUNE_PATHS:
        target = site / rel
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    for path in sorted(site.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_dir() and path.name in PRUNE_DIR_NAMES and "dist-info" not in path.parent.name:
            shutil.rmtree(path, ignore_errors=True)
        elif path.is_file() and path.suffix in PRUNE_SUFFIXES:
            path.unlink()


def precompile(site: Path, python312: str | None) -> None:
    if python312 is None:
        return
    # unchecked-hash: the .pyc is used as is, whatever mtime the unzipped source gets in /opt.
    compile_flags = ["-q", "-j", "0", "--invalidation-mode", "unchecked-hash", "-d", "/opt/python"]
    _run([python312, "-m", "compileall", *compile_flags, str(site)], "precompiling the layer")


def _run(cmd: list[str], what: str, env: dict[str, str] | None = None) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise LayerBuildError(f"{what} failed (exit {proc.returncode}): {' | '.join(tail)}")


def _pip_install(target: Path, requirements: list[str], *, no_deps: bool) -> None:
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
           "--no-compile", "--upgrade", *PIP_PLATFORM_FLAGS, "--target", str(target),
           "--cache-dir", str(PIP_CACHE_DIR)]  # fmt: skip
    if no_deps:
        cmd.append("--no-deps")
    _run([*cmd, *requirements], f"pip install {' '.join(requirements)}")


@contextlib.contextmanager
def _build_lock() -> Iterator[None]:
    """Synth and the test fixture may build at the same time: one builder at a time."""
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    with open(BUILD_DIR / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _stamp_matches(layer_dir: Path, digest: str) -> bool:
    stamp = layer_dir / ".inputs-sha256"
    return (layer_dir / "python").is_dir() and stamp.is_file() and stamp.read_text().strip() == digest


def _replace(layer_dir: Path, staged: Path, digest: str) -> None:
    (staged / ".inputs-sha256").write_text(digest + "\n")
    # mkdtemp makes the folder 0700; Lambda's runtime user must be able to read the unzipped layer.
    staged.chmod(0o755)
    if layer_dir.exists():
        shutil.rmtree(layer_dir)
    staged.rename(layer_dir)


def _build_deps(requirements: list[str], python312: str | None) -> bool:
    extras = [_pin(name) for name in NO_DEPS_REQUIREMENTS]
    digest = _digest(
        [str(LAYER_FORMAT), *requirements, "--", *extras, *PIP_PLATFORM_FLAGS, *PRUNE_PATHS, *PRUNE_SUFFIXES,
         *sorted(PRUNE_DIR_NAMES), str(bool(python312))]
    )  # fmt: skip
    if _stamp_matches(DEPS_LAYER_DIR, digest):
        return False
    staged = Path(tempfile.mkdtemp(prefix="deps-", dir=BUILD_DIR))
    try:
        site = staged / "python"
        _pip_install(site, requirements, no_deps=False)
        _pip_install(site, extras, no_deps=True)
        prune(site)
        precompile(site, python312)
        _replace(DEPS_LAYER_DIR, staged, digest)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    return True


def _build_humwatch(sources: list[Path], python312: str | None) -> bool:
    rels = [src.relative_to(REPO_ROOT) for src in sources]
    digest = _digest(
        [str(LAYER_FORMAT), str(bool(python312))]
        + [part for rel, src in zip(rels, sources, strict=True) for part in (str(rel), src.read_bytes())]
    )
    if _stamp_matches(HUMWATCH_LAYER_DIR, digest):
        return False
    staged = Path(tempfile.mkdtemp(prefix="humwatch-", dir=BUILD_DIR))
    try:
        for rel, src in zip(rels, sources, strict=True):
            dest = staged / "python" / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest)
        precompile(staged / "python", python312)
        _replace(HUMWATCH_LAYER_DIR, staged, digest)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    return True


def build_layers(*, size_budget_bytes: int = SIZE_BUDGET_BYTES) -> LayerBuild:
    """Build (or reuse) both layers and check their unzipped size; raise ``LayerBuildError``."""
    requirements = runtime_requirements()
    sources = humwatch_closure(handler_files())
    python312 = find_python312()
    with _build_lock():
        rebuilt = []
        if _build_deps(requirements, python312):
            rebuilt.append("deps")
        if _build_humwatch(sources, python312):
            rebuilt.append("humwatch")
    build = LayerBuild(
        deps_dir=DEPS_LAYER_DIR,
        humwatch_dir=HUMWATCH_LAYER_DIR,
        deps_bytes=dir_size(DEPS_LAYER_DIR / "python"),
        humwatch_bytes=dir_size(HUMWATCH_LAYER_DIR / "python"),
        requirements=tuple(requirements),
        humwatch_modules=tuple(str(s.relative_to(REPO_ROOT)) for s in sources),
        precompiled_with=python312,
        rebuilt=tuple(rebuilt),
    )
    (BUILD_DIR / "manifest.json").write_text(
        json.dumps({**asdict(build), "total_bytes": build.total_bytes}, indent=2, default=str) + "\n"
    )
    if build.total_bytes > size_budget_bytes:
        raise LayerBuildError(
            f"layers are {build.total_bytes / 1e6:.1f} MB unzipped, over the "
            f"{size_budget_bytes / 1e6:.0f} MB budget (Lambda's limit is "
            f"{LAMBDA_UNZIPPED_LIMIT_BYTES / 1e6:.0f} MB): see {BUILD_DIR}"
        )
    return build


# --- smoke test ----------------------------------------------------------------------------------

_SMOKE_SCRIPT = """
import importlib.util, json, os, resource, sys, time
import_seconds = {}
for name, path in json.loads(sys.argv[1]).items():
    sys.path.insert(0, os.path.dirname(path))  # Lambda puts the function's folder on the path
    started = time.perf_counter()
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert callable(module.handler), name
    import_seconds[name] = round(time.perf_counter() - started, 3)  # the first pays for numpy & co
import onnxruntime, soundfile
import aws_xray_sdk.core  # the Powertools Tracer is active only when this imports
print(json.dumps({'python': sys.version.split()[0], 'libsndfile': soundfile.__libsndfile_version__,
                  'onnxruntime': onnxruntime.__version__, 'handlers': sorted(import_seconds),
                  'import_seconds': import_seconds,
                  'max_rss_mb': round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))
"""


def smoke_test(build: LayerBuild, python312: str, *, env: dict[str, str]) -> dict[str, object]:
    """Import every handler the way Lambda does (python3.12, layers on the path, boto3 from the
    'runtime'), so a module missing from a layer fails here instead of at the first cold start."""
    runtime_sim = BUILD_DIR / "runtime-sim"
    pins = [_pin(name) for name in RUNTIME_PROVIDED]
    digest = _digest(pins)
    if not _stamp_matches(runtime_sim, digest):
        with _build_lock():
            staged = Path(tempfile.mkdtemp(prefix="runtime-", dir=BUILD_DIR))
            try:
                _pip_install(staged / "python", pins, no_deps=False)
                _replace(runtime_sim, staged, digest)
            finally:
                shutil.rmtree(staged, ignore_errors=True)
    path = [build.humwatch_dir / "python", build.deps_dir / "python", runtime_sim / "python"]
    prelude = f"import sys; sys.path[:0] = {[str(p) for p in path]!r}\n"
    handlers = {f"{name}_handler": str(FUNCTIONS_DIR / name / "handler.py") for name in HANDLER_FILES}
    proc = subprocess.run(
        [python312, "-I", "-c", prelude + _SMOKE_SCRIPT, json.dumps(handlers)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tempfile.gettempdir(),
    )
    if proc.returncode != 0:
        stderr = proc.stderr.strip()[-2000:]
        raise LayerBuildError(f"handlers do not import on python{PYTHON_VERSION}: {stderr}")
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true", help="import every handler on python3.12 afterwards")
    args = parser.parse_args(argv)
    try:
        build = build_layers()
        print(build.summary())
        print(f"rebuilt: {', '.join(build.rebuilt) or 'nothing (inputs unchanged)'}")
        if args.smoke:
            python312 = find_python312()
            if python312 is None:
                raise LayerBuildError("--smoke needs a python3.12 (set HUMWATCH_LAYER_PYTHON)")
            print(f"smoke: {smoke_test(build, python312, env=smoke_env())}")
    except LayerBuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def smoke_env() -> dict[str, str]:
    """The environment a deployed function gets, with placeholder values (nothing is called)."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "HUMWATCH_BUCKET": "humwatch-clips",
        "HUMWATCH_TABLE": "humwatch-history",
        "HUMWATCH_ALERT_TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:humwatch-alerts",
        "HUMWATCH_IOT_DATA_ENDPOINT": "https://example-ats.iot.eu-west-1.amazonaws.com",
        "POWERTOOLS_SERVICE_NAME": "humwatch",
        "POWERTOOLS_METRICS_NAMESPACE": "Humwatch",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }


if __name__ == "__main__":
    sys.exit(main())
