"""Data commands: `humwatch synth` (seeded synthetic fan/pump clips with injectable faults)."""

from __future__ import annotations

from pathlib import Path

import click

from humwatch.cli.group import cli
from humwatch.research.generators import DEFAULT_GENERATOR, GENERATOR_NAMES, get_generator
from humwatch.research.synth import FAULTS, MACHINE_TYPES


@cli.command("synth")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the clips and manifest.csv (created; an existing manifest is extended).",
)
@click.option(
    "--clips",
    "n_clips",
    required=True,
    type=click.IntRange(min=0),
    help="Normal clips to write (with --fault and no --anomalies: clips of that fault).",
)
@click.option("--machine", type=click.Choice(MACHINE_TYPES), default="fan", show_default=True)
@click.option(
    "--generator",
    type=click.Choice(GENERATOR_NAMES),
    default=DEFAULT_GENERATOR,
    show_default=True,
    help="synth: the generator the detectors were developed on; orders: the independently written "
    "one (rendered from the shaft angle, ~1 % speed wander). Same faults, same layout.",
)
@click.option(
    "--snr",
    "snr_db",
    type=float,
    default=0.0,
    show_default=True,
    help="Machine over factory background power, dB (0: equally loud).",
)
@click.option(
    "--fault",
    type=click.Choice([*FAULTS, "all"]),
    default=None,
    help="Fault to inject; 'all' writes each of the five.",
)
@click.option(
    "--severity",
    type=click.FloatRange(0.0, 1.0),
    default=0.5,
    show_default=True,
    help="Fault strength, 0 (none) to 1 (obvious).",
)
@click.option(
    "--anomalies",
    "n_anomalies",
    type=click.IntRange(min=0),
    default=None,
    help="Also write this many clips of --fault (per fault with 'all') beside the normal ones.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for the clips.")
@click.option(
    "--machine-seed",
    type=int,
    default=0,
    show_default=True,
    help="Which machine: each seed is a different fan/pump.",
)
@click.option("--format", "fmt", type=click.Choice(["wav", "flac"]), default="wav", show_default=True)
@click.option(
    "--duration",
    "duration_s",
    type=click.FloatRange(2.0, 60.0),
    default=10.0,
    show_default=True,
    help="Seconds per clip.",
)
def synth_command(
    out_dir: Path,
    n_clips: int,
    machine: str,
    generator: str,
    snr_db: float,
    fault: str | None,
    severity: float,
    n_anomalies: int | None,
    seed: int,
    machine_seed: int,
    fmt: str,
    duration_s: float,
) -> None:
    """Write seeded synthetic machine sound (16 kHz, 16-bit) and a manifest.csv.

    Each --machine-seed is a different machine (speed, blades, resonances, noise colour); each
    clip varies like real recordings do (speed and level wander, factory background at --snr).
    Faults: bearing, imbalance, rubbing, speed, blade. The same arguments always write the same
    files. The manifest (path,label,generator,machine_type,machine_seed,fault,severity,snr_db,seed)
    is a DATA source for `humwatch train` and `humwatch evaluate`.

    \b
    Examples:
      humwatch synth --out data/train --clips 300
      humwatch synth --out data/test --clips 50 --seed 1 --fault all --anomalies 20
      humwatch synth --out data/pump --clips 10 --machine pump --snr 6 --format flac
      humwatch synth --out data/orders --clips 200 --generator orders --machine-seed 900
    """
    from humwatch.progress import progress_bar
    from humwatch.research.synth import write_dataset

    if n_anomalies is not None and fault is None:
        raise click.UsageError("--anomalies needs --fault (a fault name or 'all')")
    faults = list(FAULTS) if fault == "all" else ([fault] if fault else [])
    # Without --anomalies, --fault turns the --clips into clips of that fault.
    n_normal = n_clips if (not faults or n_anomalies is not None) else 0
    n_each = (n_anomalies if n_anomalies is not None else n_clips) if faults else 0
    plan: list[tuple[str | None, int]] = [(None, n_normal)] if n_normal else []
    plan += [(name, n_each) for name in faults if n_each]
    total = sum(n for _, n in plan)
    if total == 0:
        raise click.UsageError("nothing to write: --clips (or --anomalies) must be at least 1")

    manifest = out_dir / "manifest.csv"
    with progress_bar(desc="synth", total=total, unit="clip") as bar:
        for this_fault, count in plan:
            manifest = write_dataset(
                out_dir,
                machine_type=machine,
                n_clips=count,
                fault=this_fault,
                severity=severity,
                snr_db=snr_db,
                seed=seed,
                fmt=fmt,  # type: ignore[arg-type]
                machine_seed=machine_seed,
                duration_s=duration_s,
                progress=bar.update,
                generator=get_generator(generator),
            )
    written = ", ".join(f"{n} {name or 'normal'}" for name, n in plan)
    click.echo(
        f"wrote {total} clips ({written}) of {generator} {machine} #{machine_seed} at SNR {snr_db:g} dB"
        + (f", severity {severity:g}" if faults else "")
        + f" to {out_dir}; manifest: {manifest}"
    )
