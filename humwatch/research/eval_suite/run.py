"""`run_suite`: every job (synthetic machines, DCASE, MIMII), in worker processes, then the report.

Jobs are independent (each renders, trains and scores its own clips), so `plan.workers` processes
run them side by side; their progress ticks come back through a queue to the one bar.
"""

from __future__ import annotations

import json
import multiprocessing
import queue as queue_module
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

from humwatch.research.eval_suite.alerts import alert_summary
from humwatch.research.eval_suite.plan import DEFAULT_CANDIDATE, REPO_ROOT, SuitePlan
from humwatch.research.eval_suite.real import dcase_work, mimii_work, run_dcase, run_mimii
from humwatch.research.eval_suite.report import render_markdown
from humwatch.research.eval_suite.synthetic import MachineOutcome, run_machine_job, summarise_generator
from humwatch.research.eval_suite.targets import evaluate_targets
from humwatch.research.eval_suite.transfer import leave_one_generator_out

Progress = Callable[[int], None]
Job = tuple[str, Any]  # ("machine", MachineJob) | ("dcase", real_dir) | ("mimii", real_dir)


def _run_job(plan: SuitePlan, job: Job, tick: Progress) -> Any:
    kind, arg = job
    if kind == "machine":
        return run_machine_job(plan, arg, tick)
    if kind == "dcase":
        return run_dcase(plan, arg, tick)
    return run_mimii(plan, arg, tick)


def _run_job_in_worker(plan: SuitePlan, job: Job, ticks: Any) -> Any:
    return _run_job(plan, job, ticks.put)


def _drain(ticks: Any, tick: Progress) -> None:
    while True:
        try:
            tick(ticks.get_nowait())
        except queue_module.Empty:
            return


def _execute(plan: SuitePlan, jobs: list[Job], tick: Progress) -> list[Any]:
    """Each job's result, in the order of `jobs`."""
    if plan.workers <= 1 or len(jobs) <= 1:
        return [_run_job(plan, job, tick) for job in jobs]
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, ProcessPoolExecutor(plan.workers, mp_context=context) as pool:
        ticks = manager.Queue()
        futures: list[Future[Any]] = [pool.submit(_run_job_in_worker, plan, job, ticks) for job in jobs]
        pending = set(futures)
        while pending:
            _done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            _drain(ticks, tick)
        _drain(ticks, tick)
        return [f.result() for f in futures]


def _jobs(plan: SuitePlan, real_dir: Path | None) -> tuple[list[Job], int]:
    """All jobs, the longest first, and the clips they process (the progress total)."""
    machines = plan.jobs()
    jobs: list[Job] = [("machine", j) for j in machines]
    total = sum(plan.job_clips(j) for j in machines)
    if real_dir is not None and real_dir.is_dir():
        real: list[Job] = []
        for kind, work in (("dcase", dcase_work(plan, real_dir)), ("mimii", mimii_work(plan, real_dir))):
            if work:
                real.append((kind, real_dir))
                total += work
        # After the first (longest) machine job of each worker: real sets train slower per clip.
        jobs[plan.workers : plan.workers] = real
    return jobs, total


def run_suite(
    out_dir: Path,
    *,
    plan: SuitePlan,
    real_dir: Path | None,
    command: str,
    progress: Callable[[str, int], Progress] | None = None,
) -> dict[str, Any]:
    """Run everything, write `eval.json` and `eval.md` under out_dir, return the results."""
    started = time.perf_counter()
    jobs, total = _jobs(plan, real_dir)
    tick = progress("eval clips", total) if progress else (lambda _n: None)
    outputs = _execute(plan, jobs, tick)
    outcomes: list[MachineOutcome] = [
        out for (kind, _), out in zip(jobs, outputs, strict=True) if kind == "machine"
    ]
    by_kind = {kind: out for (kind, _), out in zip(jobs, outputs, strict=True) if kind != "machine"}
    generators = {g: summarise_generator(plan, g, outcomes) for g in plan.generators}
    results: dict[str, Any] = {
        "command": command,
        "plan": plan.describe(),
        "default_detector": plan.default_detector,
        "generators": generators,
        "leave_one_generator_out": leave_one_generator_out(generators, DEFAULT_CANDIDATE),
        "dcase": by_kind.get("dcase"),
        "mimii": by_kind.get("mimii"),
        "alerts": {g: alert_summary(g, REPO_ROOT, plan.alert_results.get(g, ())) for g in plan.generators},
    }
    results["targets"] = [row.as_dict() for row in evaluate_targets(results, plan.default_detector)]
    results["seconds"] = time.perf_counter() - started
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "eval.json").write_text(json.dumps(results, indent=2, default=float) + "\n")
    (out_dir / "eval.md").write_text(render_markdown(results))
    return results
