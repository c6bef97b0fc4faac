"""Model workflow commands: `humwatch train`, `humwatch evaluate`, `humwatch score`.

Heavy imports (onnx, scipy, matplotlib) happen inside the command bodies, so `humwatch --help`
stays fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from humwatch.cli.group import cli, shaft_rpm_option
from humwatch.detectors.registry import DEFAULT_DETECTOR, DetectorType
from humwatch.model.calibration import DEFAULT_TARGET_FPR, MAX_TARGET_FPR, RECOMMENDED_TRAIN_CLIPS

_DATA_HELP = (
    "DATA is a folder (labels from `normal`/`anomaly`/`abnormal` in file or folder names, "
    "as in the DCASE and MIMII layouts) or a manifest CSV with `path,label` columns."
)


def _given(options: dict[str, Any]) -> dict[str, Any]:
    """The type-only options the user set (an unset one keeps the detector's default)."""
    return {name: value for name, value in options.items() if value is not None}


def _channel(value: str) -> int | str:
    if value == "mean":
        return value
    try:
        channel = int(value)
    except ValueError:
        raise click.BadParameter("use a channel index (0, 1, ...) or 'mean'") from None
    if channel < 0:
        raise click.BadParameter("channel index must be >= 0")
    return channel


@cli.command(
    "train",
    epilog="""\b
Examples:
  humwatch train data/fan/train --out models/fan
  humwatch train data/manifest.csv --out models/fan --seed 1 --target-fpr 0.02
  humwatch train data/fan/train --out models/fan --shaft-rpm 1470
  humwatch train data/fan/train --out models/fan-ae --model-type blog-ae --epochs 30 --holdout 0.2
""",
)
@click.argument("data", nargs=-1, required=True)
@click.option(
    "--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Model directory to write."
)
@click.option(
    "--model-type",
    type=click.Choice([t.value for t in DetectorType]),
    default=DEFAULT_DETECTOR.value,
    show_default=True,
    help="spectral-gauss: Gaussian ensemble on clip statistics, calibrated out-of-fold on every clip; "
    "blog-ae: the AWS blog autoencoder. See docs/detectors.md.",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Seed: same data + seed = same model.")
@click.option(
    "--target-fpr",
    default=DEFAULT_TARGET_FPR,
    show_default=True,
    type=click.FloatRange(0.0, MAX_TARGET_FPR, min_open=True, max_open=True),
    help="Share of normal clips allowed over the threshold (per clip).",
)
@click.option(
    "--model-id",
    default="model",
    show_default=True,
    help="Name stored in model.json (letters, digits, -, _).",
)
@click.option(
    "--channel", default="0", show_default=True, help="Microphone of multichannel clips, or 'mean'."
)
@click.option("--epochs", type=click.IntRange(1, 1000), help="blog-ae only: training epochs (default 30).")
@click.option(
    "--holdout",
    type=click.FloatRange(0.0, 1.0, min_open=True, max_open=True),
    help="blog-ae only: share of normal clips held out to calibrate the threshold (default 0.2).",
)
@shaft_rpm_option(
    "spectral-gauss only: the machine's nominal shaft speed, from its nameplate. Lets the "
    "model's why (score, alerts, console) say shaft orders ('87 Hz (4.1x shaft speed)') and the "
    "bearing hint rule them out. Leave it out when unsure: a wrong speed gives wrong orders."
)
def train_command(
    data: tuple[str, ...],
    out_dir: str,
    model_type: str,
    seed: int,
    target_fpr: float,
    model_id: str,
    channel: str,
    epochs: int | None,
    holdout: float | None,
    shaft_rpm: float | None,
) -> None:
    """Train an anomaly model on recordings of a machine running normally.

    Only normal clips are used (anomaly clips are skipped; unlabelled clips count as normal).
    The threshold is set, without labels, for the target per-clip false-positive rate: from
    out-of-fold scores of every clip (spectral-gauss), or from a seeded hold-out (--holdout) of
    the clips while the rest trains the autoencoder for --epochs (blog-ae). An option the chosen
    type does not use is an error. Writes MODEL_DIR/model.onnx and MODEL_DIR/model.json.
    """
    from humwatch.datasets import count_labels, load_labelled_clips
    from humwatch.detectors import get_detector, train_bundle
    from humwatch.detectors.few_shot import few_clips_warning

    type_only: dict[str, Any] = {"epochs": epochs, "holdout_fraction": holdout, "shaft_rpm": shaft_rpm}
    clips = load_labelled_clips(data)
    counts = count_labels(clips)
    click.echo(
        f"data: {counts['normal']} normal, {counts['unlabelled']} unlabelled, "
        f"{counts['anomaly']} anomaly clips (anomalies are not used for training)",
        err=True,
    )
    bundle = train_bundle(
        model_type,
        clips,
        out_dir,
        seed=seed,
        target_fpr=target_fpr,
        model_id=model_id,
        channel=_channel(channel),
        progress=True,
        **_given(type_only),
    )
    m = bundle.manifest
    t = m.threshold
    training = m.training
    rejected = getattr(training, "rejected", []) or []
    click.echo(
        f"trained {m.model_type} {m.model_id} {m.version}: {training.n_clips} clips "
        f"({get_detector(m.model_type).describe(m)}), {training.train_seconds:.1f} s"
    )
    click.echo(
        f"threshold {t.value:.4f} ({t.method}, target FPR {t.target_fpr:g}, "
        f"observed on calibration clips {t.observed_validation_fpr:.3f})"
    )
    for item in rejected:
        click.echo(f"skipped {item['file']}: {item['code']}: {item['message']}", err=True)
    warning = few_clips_warning(training.n_clips, m.model_type)
    if warning:
        click.echo(warning, err=True)
    if training.n_clips < RECOMMENDED_TRAIN_CLIPS:
        click.echo(
            f"note: trained on {training.n_clips} normal clips; the alert defaults were tuned with "
            f"{RECOMMENDED_TRAIN_CLIPS} (about 17 h of 5-minute clips). With fewer, moderate faults "
            "are heard later; retrain when more normal clips are in (docs/detectors.md).",
            err=True,
        )
    click.echo(f"wrote {Path(out_dir) / 'model.onnx'} and model.json")


@cli.command(
    "evaluate",
    epilog="""\b
Examples:
  humwatch evaluate --model models/fan data/fan/test --out reports/fan
  humwatch evaluate --model models/fan data/test_manifest.csv --out reports/fan
""",
)
@click.option(
    "--model",
    "model_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="Model directory.",
)
@click.argument("data", nargs=-1, required=True)
@click.option(
    "--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Report directory to write."
)
def evaluate_command(model_dir: str, data: tuple[str, ...], out_dir: str) -> None:
    """Score labelled clips and write metrics.json, report.md and plots.

    Metrics use the anomaly as the positive class (AUC, pAUC at FPR <= 0.1, precision, recall,
    F1, accuracy, false-alarm rate at the model's threshold) and repeat them with the normal
    class as positive (the AWS blog's convention). Clips without a label are ignored; clips that
    cannot be decoded are listed in the report.

    """
    from humwatch.datasets import load_labelled_clips
    from humwatch.research.evaluation import evaluate_model
    from humwatch.scoring import Scorer

    scorer = Scorer.from_dir(model_dir)
    clips = load_labelled_clips(data)
    result = evaluate_model(scorer, clips, out_dir, progress=True)
    m = result.metrics

    def f(name: str) -> str:
        value = m[name]
        return "n/a" if value is None else f"{value:.3f}"

    click.echo(
        f"{m['n_normal']} normal, {m['n_anomaly']} anomaly clips: AUC {f('auc')}, pAUC {f('pauc')}, "
        f"precision {f('precision')}, recall {f('recall')}, false alarms {f('false_alarm_rate')}"
    )
    if result.rejected:
        click.echo(f"{len(result.rejected)} clips could not be scored (see report.md)", err=True)
    click.echo(f"wrote {Path(out_dir) / 'metrics.json'}, report.md and plots")


@cli.command(
    "score",
    epilog="""\b
Examples:
  humwatch score --model models/fan clip1.flac clip2.wav
  humwatch score --model models/fan --format json recordings/*.flac > scores.json
Exit status: 0 when every file was scored, 1 when any was rejected.
""",
)
@click.option(
    "--model",
    "model_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="Model directory.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="Output format.",
)
@click.argument("files", nargs=-1, required=True, type=click.Path())
def score_command(model_dir: str, fmt: str, files: tuple[str, ...]) -> None:
    """Score audio files (WAV/FLAC) with a model: score, threshold, ratio, anomaly or not.

    A file that cannot be scored (not audio, too short, silent, clipped, ...) gets an error entry
    with a reason code instead of stopping the run.

    """
    from humwatch.errors import AudioRejected
    from humwatch.scoring import Scorer, score_clip

    scorer = Scorer.from_dir(model_dir)
    rows: list[dict[str, object]] = []
    for name in files:
        try:
            result = score_clip(scorer, Path(name))
        except AudioRejected as exc:
            rows.append({"file": name, "error": exc.to_dict()})
            continue
        except OSError as exc:
            rows.append({"file": name, "error": {"code": "not_found", "message": exc.strerror or str(exc)}})
            continue
        rows.append(
            {
                "file": name,
                "score": result.score,
                "threshold": result.threshold,
                "ratio": result.ratio,
                "is_anomaly": result.is_anomaly,
                "why": result.why.compact() if result.why is not None else None,
            }
        )
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
    else:
        click.echo(_table(rows))
    if any("error" in row for row in rows):
        sys.exit(1)


def _table(rows: list[dict[str, object]]) -> str:
    from humwatch.explain import Why, describe_why

    width = max([len("file"), *(len(str(r["file"])) for r in rows)])
    lines = [f"{'file':<{width}}  {'score':>10}  {'threshold':>10}  {'ratio':>6}  result"]
    for r in rows:
        if "error" in r:
            err = r["error"]
            assert isinstance(err, dict)
            reason = f"rejected: {err['code']}: {err['message']}"
            lines.append(f"{r['file']!s:<{width}}  {'-':>10}  {'-':>10}  {'-':>6}  {reason}")
        else:
            verdict = "ANOMALY" if r["is_anomaly"] else "normal"
            numbers = f"{r['score']:>10.4f}  {r['threshold']:>10.4f}  {r['ratio']:>6.2f}"
            why = r.get("why")
            # What stood out most, said for normal clips too (it is what came closest to alarming).
            said = f": {describe_why(Why.model_validate(why))}" if isinstance(why, dict) else ""
            lines.append(f"{r['file']!s:<{width}}  {numbers}  {verdict}{said}")
    return "\n".join(lines)
