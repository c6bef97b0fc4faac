"""`make bench`: run every benchmarks/*.py that defines main(), in name order (but the long ones in
`SEPARATE`, which run only when named).

Adding a benchmark is adding a file with a `main() -> dict` that prints its table and writes
`benchmarks/results/<name>.json`; nothing to register here. `python benchmarks/run_all.py scoring`
runs only the named ones.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Run only when named (`run_all.py fleet_load`) or by their own target: they take many minutes.
SEPARATE = {"fleet_load": "make bench-fleet"}


def discover() -> list[Path]:
    found = []
    for path in sorted(HERE.glob("*.py")):
        if path.name == Path(__file__).name or path.name.startswith("_"):
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        if any(isinstance(node, ast.FunctionDef) and node.name == "main" for node in tree.body):
            found.append(path)
    return found


def run(path: Path) -> None:
    """Each benchmark gets a fresh interpreter: cold-start numbers stay honest, and in-process
    servers (moto keeps its state in module globals) cannot leak from one benchmark into the next."""
    code = (
        "import importlib.util, sys;"
        f"spec = importlib.util.spec_from_file_location('benchmarks.{path.stem}', {str(path)!r});"
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module); module.main()"
    )
    # The numbers are the output: keep the functions' JSON logs and metric lines out of it.
    env = {"POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_DISABLED": "true", **os.environ}
    subprocess.run([sys.executable, "-c", code], cwd=HERE.parent, check=True, env=env)


def main(argv: list[str]) -> int:
    wanted = set(argv)
    paths = [p for p in discover() if p.stem in wanted or (not wanted and p.stem not in SEPARATE)]
    if wanted - {p.stem for p in paths}:
        print(f"unknown benchmark(s): {sorted(wanted - {p.stem for p in paths})}", file=sys.stderr)
        return 2
    failed = []
    for path in paths:
        print(f"\n=== {path.stem} ===", flush=True)
        started = time.perf_counter()
        try:
            run(path)
        except Exception as exc:  # one broken benchmark must not hide the others' numbers
            print(f"{path.stem} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            failed.append(path.stem)
        print(f"({path.stem}: {time.perf_counter() - started:.1f} s)", flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    sys.exit(main(sys.argv[1:]))
