"""Detector research commands: `humwatch evaluate-suite` (make eval), `humwatch simulate-alerts`
and `humwatch feature-trials`.

Heavy imports happen inside the command bodies, so `humwatch --help` stays fast.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import click

from humwatch.cli.group import cli
from humwatch.detectors.registry import DetectorType
from humwatch.progress import progress_bar
from humwatch.research.generators import DEFAULT_GENERATOR, GENERATOR_NAMES

_DEFAULT_REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"


def _progress_factory(enabled: bool) -> Callable[[str, int], Callable[[int], None]]:
    def make(desc: str, total: int) -> Callable[[int], None]:
        if not enabled:
            return lambda _n: None
        bar = progress_bar(enabled=True, desc=desc, total=total, unit="clip")

        def update(n: int) -> None:
            bar.update(n)
            if bar.n >= total:
                bar.close()

        return update

    return make


@cli.command(
    "evaluate-suite",
    epilog="""\b
Examples:
  humwatch evaluate-suite --out benchmarks/results/eval          # full run (make eval), minutes
  humwatch evaluate-suite --out /tmp/eval --quick --no-real      # seconds: smoke test
""",
)
@click.option(
    "--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Folder for eval.md/json."
)
@click.option(
    "--quick", is_flag=True, help="One machine, few clips, 3 epochs: checks the plumbing, not the numbers."
)
@click.option(
    "--real",
    "real_dir",
    type=click.Path(file_okay=False),
    default=None,
    help=f"Real recordings folder (default: {_DEFAULT_REAL} when it exists).",
)
@click.option("--no-real", is_flag=True, help="Skip the real DCASE/MIMII recordings.")
@click.option(
    "--target-fpr",
    default=0.01,
    show_default=True,
    type=click.FloatRange(0.0, 0.5, min_open=True, max_open=True),
    help="Per-clip false-positive target every model is calibrated for.",
)
@click.option(
    "--model-type",
    "model_types",
    multiple=True,
    type=click.Choice([t.value for t in DetectorType]),
    help="Model types to compare (repeatable; default: all).",
)
def evaluate_suite_command(
    out_dir: str,
    quick: bool,
    real_dir: str | None,
    no_real: bool,
    target_fpr: float,
    model_types: tuple[str, ...],
) -> None:
    """Compare the detectors on synthetic machines and the real recordings; write one table.

    Trains every model type on the same normal clips (per synthetic machine and SNR, per DCASE
    fold, per MIMII held-out id), scores unseen normal clips and faults with the serving Scorer,
    and writes OUT/eval.md (the table) and OUT/eval.json (every number). Synthetic machines use
    seeds never used during development. See docs/detectors.md for what each number means.
    """
    from dataclasses import replace

    from humwatch.research.eval_suite import SuitePlan, run_suite

    plan = SuitePlan.quick() if quick else SuitePlan()
    plan = replace(plan, target_fpr=target_fpr, model_types=tuple(model_types) or plan.model_types)
    real: Path | None = None
    if not no_real:
        real = Path(real_dir) if real_dir else _DEFAULT_REAL
        if real_dir and not real.is_dir():
            raise click.ClickException(f"real recordings folder {real} does not exist")
        if not real.is_dir():
            click.echo(f"note: {real} not found, real recordings skipped", err=True)
            real = None
    command = "humwatch " + " ".join(sys.argv[1:]) if sys.argv[1:] else "humwatch evaluate-suite"
    results = run_suite(
        Path(out_dir), plan=plan, real_dir=real, command=command, progress=_progress_factory(True)
    )
    click.echo((Path(out_dir) / "eval.md").read_text())
    click.echo(f"wrote {Path(out_dir) / 'eval.md'} and eval.json ({results['seconds']:.0f} s)")


@cli.command(
    "simulate-alerts",
    epilog="""\b
Examples:
  humwatch simulate-alerts --out benchmarks/results/alerts            # 3 machines x 60 days, ~5 min
  humwatch simulate-alerts --first-machine 203 --seed 1 --out /tmp/sim2   # other machines
  humwatch simulate-alerts --machines 1 --days 7 --quick --out /tmp/sim
  humwatch simulate-alerts --policy 3/5 --policy 4/6 --fpr 0.01 --fpr 0.02 --out /tmp/sim
  humwatch simulate-alerts --policy 5/8 --evidence 0 --evidence 2 --evidence 3 --out /tmp/sim
  humwatch simulate-alerts --training both --machines 3 --days 30 \
      --out benchmarks/results/alerts-commissioning   # first-day vs envelope side by side
  humwatch simulate-alerts --generator orders --machines 2 --days 60 \
      --out benchmarks/results/alerts-orders          # machines of the second generator
""",
)
@click.option(
    "--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Folder for alerts.md/json."
)
@click.option("--machines", type=click.IntRange(1, 20), help="Synthetic machines [default: 3; --quick: 1].")
@click.option(
    "--days", type=click.IntRange(1, 3650), help="Normal days per machine [default: 60; --quick: 7]."
)
@click.option("--snr", "snr_db", type=float, help="Background SNR in dB [default: 0].")
@click.option("--severity", type=click.FloatRange(0.0, 1.0), help="Step fault severity [default: 0.5].")
@click.option(
    "--policy",
    "policies",
    multiple=True,
    help="k/n alert rule to try (repeatable), e.g. 3/5. Default: 3/5 4/6 5/8 6/10.",
)
@click.option(
    "--evidence",
    "evidences",
    multiple=True,
    type=click.FloatRange(0.0, 100.0),
    help="Evidence threshold to combine with each k/n (repeatable; 0: k-of-n alone). Default: 0 2 2.5 3.",
)
@click.option(
    "--first-machine",
    type=click.IntRange(0, 2**31 - 1),
    help="Seed of the first synthetic machine [default: 200; never a development seed].",
)
@click.option(
    "--train-clips",
    type=click.IntRange(3, 5000),
    help="Normal clips each machine's model is trained on in envelope mode [default: 200; --quick: 10].",
)
@click.option(
    "--training",
    type=click.Choice(["envelope", "first-day", "both"]),
    default="envelope",
    show_default=True,
    help="envelope: train on clips drawn across the whole drift envelope (offline, idealised); "
    "first-day: on the machine's own first day, 288 clips, then replay from day 2 (commissioning); "
    "both: run both on the same machines and print them side by side.",
)
@click.option(
    "--fpr",
    "fprs",
    multiple=True,
    type=float,
    help="Target per-clip FPR (repeatable). Default: 0.01 0.02 0.05.",
)
@click.option(
    "--generator",
    type=click.Choice(GENERATOR_NAMES),
    default=DEFAULT_GENERATOR,
    show_default=True,
    help="Synthetic machine generator: synth (the detectors' development generator) or orders "
    "(written independently; humwatch.research.generators).",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of drift paths and clip draws.")
@click.option("--quick", is_flag=True, help="Small pools and few fault clips (plumbing check, not numbers).")
def simulate_alerts_command(
    out_dir: str,
    machines: int | None,
    days: int | None,
    snr_db: float | None,
    severity: float | None,
    policies: tuple[str, ...],
    evidences: tuple[float, ...],
    first_machine: int | None,
    train_clips: int | None,
    fprs: tuple[float, ...],
    seed: int,
    quick: bool,
    training: str,
    generator: str,
) -> None:
    """Replay weeks of 5-minute clips per machine through the real alert policy.

    Each synthetic machine (of --generator) gets a spectral-gauss model; normal streams drift
    slowly in level and speed, fault streams start a fault (a step to --severity, and a ramp from
    0 to 1 over 12 h). Every clip flag goes through humwatch.alerts.policy.evaluate, as in the
    Lambda. Reports false alerts per machine-month and minutes from fault onset to the first
    alert for each (k/n, evidence threshold, FPR). --training first-day trains each model on its
    machine's own first day (as a device that learns its normal does) instead of across the whole
    drift envelope; --training both runs both and prints them side by side.
    See docs/detectors.md for what is approximated (pooled normal scores per drift cell).
    """
    from humwatch.research.simulation import (
        SimulationPlan,
        TrainingMode,
        run_simulation,
        run_training_comparison,
    )

    plan = SimulationPlan.quick() if quick else SimulationPlan()
    grid_policies: list[tuple[int, int]] = []
    for text in policies or tuple(f"{k}/{n}" for k, n in plan.policies):
        try:
            k_text, n_text = text.split("/")
            k, n = int(k_text), int(n_text)
        except ValueError:
            raise click.BadParameter(f"{text!r} is not k/n (e.g. 3/5)", param_hint="--policy") from None
        if not 1 <= k <= n <= 100:
            raise click.BadParameter(f"{text!r} needs 1 <= k <= n <= 100", param_hint="--policy")
        grid_policies.append((k, n))
    if training == TrainingMode.FIRST_DAY and train_clips is not None:
        raise click.BadParameter(
            "first-day training uses the first day's 288 clips; --train-clips is for envelope",
            param_hint="--train-clips",
        )
    for f in fprs:
        if not 0.0 < f < 0.5:
            raise click.BadParameter(f"{f} must be within (0, 0.5)", param_hint="--fpr")
    given = {
        "machines": machines,
        "days": days,
        "snr_db": snr_db,
        "severity": severity,
        "train_clips": train_clips,
        "first_machine_seed": first_machine,
    }
    plan = plan.with_grid(
        **{k: v for k, v in given.items() if v is not None},
        policies=tuple(grid_policies),
        fprs=tuple(fprs) or plan.fprs,
        evidences=tuple(evidences) or plan.evidences,
        seed=seed,
        generator=generator,
    )
    if training == "both":
        results = run_training_comparison(plan, Path(out_dir), progress=_progress_factory(True))
    else:
        plan = plan.with_grid(training=TrainingMode(training))
        results = run_simulation(plan, Path(out_dir), progress=_progress_factory(True))
    click.echo((Path(out_dir) / "alerts.md").read_text())
    click.echo(f"wrote {Path(out_dir) / 'alerts.md'} and alerts.json ({results['seconds']:.0f} s)")


@cli.command(
    "feature-trials",
    epilog="""\b
Examples:
  humwatch feature-trials --out benchmarks/results/feature_trials    # full run, ~15 min
  humwatch feature-trials --out /tmp/trials --quick --no-real        # plumbing check, ~1 min
""",
)
@click.option(
    "--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Folder for trials.md/json."
)
@click.option("--quick", is_flag=True, help="One machine per generator, few clips: plumbing, not numbers.")
@click.option(
    "--real",
    "real_dir",
    type=click.Path(file_okay=False),
    default=None,
    help=f"Real recordings folder (default: {_DEFAULT_REAL} when it exists).",
)
@click.option("--no-real", is_flag=True, help="Skip the real DCASE/MIMII recordings.")
@click.option(
    "--cache",
    "cache_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder for per-machine clip statistics (default: humwatch-feature-trials in the temp dir).",
)
def feature_trials_command(
    out_dir: str, quick: bool, real_dir: str | None, no_real: bool, cache_dir: str | None
) -> None:
    """Try issue 15's candidate features against the default detector, on development machines.

    Order tracking (order spectrum, blade-pass sidebands), a cyclic-modulation member, kNN on
    clip vectors and Ledoit-Wolf shrinkage, each added to spectral-gauss's ensemble and combined
    as the detector combines its members; both generators' development seeds, 200 and 30
    training clips, severity 0.5 and 0.25, and the real sets as make eval runs them. Writes
    OUT/trials.md and OUT/trials.json. See humwatch.research.feature_trials.
    """
    from humwatch.research.feature_trials import TrialPlan, run_trials

    real: Path | None = None
    if not no_real:
        real = Path(real_dir) if real_dir else _DEFAULT_REAL
        if real_dir and not real.is_dir():
            raise click.ClickException(f"real recordings folder {real} does not exist")
        if not real.is_dir():
            click.echo(f"note: {real} not found, real recordings skipped", err=True)
            real = None
    command = "humwatch " + " ".join(sys.argv[1:]) if sys.argv[1:] else "humwatch feature-trials"
    results = run_trials(
        Path(out_dir),
        plan=TrialPlan.quick() if quick else TrialPlan(),
        real_dir=real,
        command=command,
        cache_dir=Path(cache_dir) if cache_dir else None,
        progress=_progress_factory(True),
    )
    click.echo((Path(out_dir) / "trials.md").read_text())
    click.echo(f"wrote {Path(out_dir) / 'trials.md'} and trials.json ({results['seconds']:.0f} s)")
