"""`run_simulation`: every machine's streams replayed for every grid point, then the report."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from humwatch.research.simulation.machine import TrainedMachine, prepare_machine
from humwatch.research.simulation.plan import FAULT_NAMES, PolicyPoint, SimulationPlan
from humwatch.research.simulation.report import StreamResult, build_report, write_report
from humwatch.research.simulation.sources import ClipSource, generator_source
from humwatch.research.simulation.streams import ramp_fault_delays, replay_normal_stream, step_fault_delays

Progress = Callable[[int], None]


def _no_progress(_n: int) -> None:
    return None


def simulate_machine(
    plan: SimulationPlan,
    machine_seed: int,
    source: ClipSource,
    results: dict[PolicyPoint, StreamResult],
    tick: Progress,
) -> TrainedMachine:
    """Train one machine, replay its normal, step and ramp streams for every point into `results`."""
    # Own generator per machine (and per ramp, see `ramp_fault_delays`): how many ramp clips one
    # grid needs must not change what the next machine hears, so grids can be compared.
    rng = np.random.default_rng([plan.seed, machine_seed])
    machine = prepare_machine(plan, machine_seed, source, rng, tick)
    normal_scores = machine.pool.draw(machine.levels, machine.speeds, rng)
    for point, result in results.items():
        result.add_normal(replay_normal_stream(plan, point, machine.trained, normal_scores))
    for fault in FAULT_NAMES:
        for _ in range(plan.fault_streams):
            delays = step_fault_delays(plan, list(results), machine, fault, rng, tick)
            for point, delay in delays.items():
                results[point].add_step_delay(fault, delay)
    for fault in FAULT_NAMES:
        for point, delay in ramp_fault_delays(plan, list(results), machine, fault).items():
            results[point].add_ramp_delay(fault, delay)
    return machine.trained


def run_simulation(
    plan: SimulationPlan,
    out_dir: Path | None = None,
    progress: Callable[[str, int], Progress] | None = None,
    source: ClipSource | None = None,
) -> dict[str, Any]:
    """Simulate every machine, replay every grid point; write alerts.json/alerts.md if out_dir."""
    started = time.perf_counter()
    source = source or generator_source(plan.generator, plan.snr_db)
    results = {point: StreamResult(point=point) for point in plan.points()}
    total = plan.machines * plan.clips_per_machine()
    tick = progress("machines' clips", total) if progress else _no_progress
    machines = [simulate_machine(plan, seed, source, results, tick) for seed in plan.machine_seeds()]
    report = build_report(plan, machines, list(results.values()))
    report["seconds"] = time.perf_counter() - started
    if out_dir is not None:
        write_report(report, out_dir)
    return report
