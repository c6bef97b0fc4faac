"""How fast is humwatch.research.synth? Per 10 s clip (16 kHz), median and p95, per machine and fault.

Baselines in the same run: real time (10 s of audio), and the naive way of rendering the shaft-
locked tones (one `np.sin` per harmonic, over the same number of components) that the wavetable
in `humwatch.research.synth._harmonic_series` replaces. CPU time (time.process_time) is reported beside
wall time because the machine is shared.

    .venv/bin/python benchmarks/synth_speed.py [--repeats 15]

Writes benchmarks/results/synth_speed.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from humwatch.research.synth import FAULTS, MachineSpec, _harmonic_series, synth_clip  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


def timed(fn: Callable[[], object], repeats: int) -> dict[str, float]:
    fn()  # warm caches and imports
    wall, cpu = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    return {
        "wall_median_ms": round(1000 * float(np.median(wall)), 2),
        "wall_p95_ms": round(1000 * float(np.percentile(wall, 95)), 2),
        "cpu_median_ms": round(1000 * float(np.median(cpu)), 2),
    }


def _clip_maker(spec: MachineSpec, fault: str | None) -> Callable[[], np.ndarray]:
    seeds = iter(range(10**6))  # a new clip each call, as write_dataset does
    return lambda: synth_clip(spec, fault=fault, seed=next(seeds))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args([] if argv is None else argv)

    cases: dict[str, dict[str, float]] = {}
    for machine in ("fan", "pump"):
        spec = MachineSpec.from_seed(machine, 0)
        for fault in (None, *FAULTS):
            cases[f"{machine}/{fault or 'normal'}"] = timed(_clip_maker(spec, fault), args.repeats)

    spec = MachineSpec.from_seed("fan", 0)
    n = 160_000
    phase = np.cumsum(np.full(n, 2 * np.pi * spec.rotation_hz / 16000))
    orders = np.arange(1, len(spec.harmonic_amps) + len(spec.motor_tones) + len(spec.blade_amps) + 1)
    amps = np.ones(orders.shape[0])
    phases = np.zeros(orders.shape[0])
    wavetable = timed(lambda: _harmonic_series(phase, orders, amps, phases), args.repeats)
    naive = timed(
        lambda: sum(a * np.sin(k * phase + p) for k, a, p in zip(orders, amps, phases, strict=True)),
        args.repeats,
    )

    normal = cases["fan/normal"]["wall_median_ms"]
    result = {
        "benchmark": "synth_speed",
        "clip_seconds": 10.0,
        "sample_rate": 16000,
        "per_clip": cases,
        "fan_normal_faster_than_real_time": round(10_000 / normal, 1),
        "tones": {"components": int(orders.shape[0]), "wavetable": wavetable, "naive_sin": naive},
        "wavetable_speedup": round(naive["wall_median_ms"] / wavetable["wall_median_ms"], 1),
    }
    print(f"{'case':<16}{'median ms':>10}{'p95 ms':>9}{'cpu ms':>9}")
    for name, t in cases.items():
        print(f"{name:<16}{t['wall_median_ms']:>10.1f}{t['wall_p95_ms']:>9.1f}{t['cpu_median_ms']:>9.1f}")
    print(f"fan normal clip: {result['fan_normal_faster_than_real_time']}x faster than real time")
    print(
        f"{orders.shape[0]} shaft-locked tones: wavetable {wavetable['wall_median_ms']:.1f} ms, "
        f"np.sin per harmonic {naive['wall_median_ms']:.1f} ms ({result['wavetable_speedup']}x)"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "synth_speed.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
