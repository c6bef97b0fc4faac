"""Synthetic sound for the demo, the e2e test and the benchmark: a small demo model trained on
normal fan sound (cached), and per-device folders of clips that the edge uploader replays.

The recipe favours a clear demonstration over realism: a moderately quiet factory (SNR 6 dB), short
clips (the devices run at an accelerated 2 s interval, and a clip may not outlast its interval),
a strict threshold (target FPR 0.1 %) so normal machines stay quiet, and a fully developed bearing
fault (severity 1.0, about 1.5-1.9x the threshold) so the faulty one is unmistakable.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from humwatch import __version__


@dataclass(frozen=True)
class DemoRecipe:
    model_id: str = "fan-demo"
    machine_type: str = "fan"
    machine_seed: int = 0
    clip_s: float = 2.0
    snr_db: float = 6.0
    train_clips: int = 120
    epochs: int = 15
    target_fpr: float = 0.001
    seed: int = 7
    fault: str = "bearing"
    fault_severity: float = 1.0

    def cache_key(self) -> str:
        text = json.dumps({**asdict(self), "humwatch": __version__}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def ensure_demo_model(
    cache_dir: Path,
    recipe: DemoRecipe = DemoRecipe(),
    *,
    progress: bool = False,
    on_step: Callable[[str], None] | None = None,
) -> tuple[Path, bool]:
    """The demo model's bundle directory, trained on synthetic normal sound unless already cached
    for this recipe; returns (directory, True when it came from the cache)."""
    from humwatch.errors import ModelBundleError
    from humwatch.model.bundle import ModelBundle

    key = recipe.cache_key()
    model_dir = cache_dir / f"model-{recipe.model_id}-{key}"
    if (model_dir / "model.json").is_file():
        try:
            ModelBundle.load(model_dir)
            return model_dir, True
        except (ModelBundleError, OSError, ValueError):
            shutil.rmtree(model_dir, ignore_errors=True)  # a damaged cache is rebuilt, not trusted

    from humwatch.datasets import load_labelled_clips
    from humwatch.synth import write_dataset
    from humwatch.training import train_model

    data_dir = cache_dir / f"train-{key}"
    shutil.rmtree(data_dir, ignore_errors=True)
    say = on_step or (lambda line: None)
    say(f"synthesising {recipe.train_clips} normal {recipe.machine_type} clips of {recipe.clip_s:g} s")
    bar = _bar(recipe.train_clips, "synth", progress)
    write_dataset(
        data_dir,
        machine_type=recipe.machine_type,
        n_clips=recipe.train_clips,
        snr_db=recipe.snr_db,
        seed=recipe.seed,
        fmt="flac",
        machine_seed=recipe.machine_seed,
        duration_s=recipe.clip_s,
        progress=bar.update if bar else None,
    )
    if bar:
        bar.close()
    say(f"training the demo autoencoder ({recipe.epochs} epochs, target FPR {recipe.target_fpr:g})")
    staging = cache_dir / f"staging-{key}"
    shutil.rmtree(staging, ignore_errors=True)
    train_model(
        load_labelled_clips([data_dir]),
        staging,
        epochs=recipe.epochs,
        seed=recipe.seed,
        target_fpr=recipe.target_fpr,
        model_id=recipe.model_id,
        progress=progress,
    )
    staging.replace(model_dir)  # a crash mid-training never leaves a half-written cached model
    shutil.rmtree(data_dir, ignore_errors=True)
    return model_dir, False


def _bar(total: int, desc: str, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="clip", leave=False)


def write_device_clips(
    folder: Path,
    *,
    n_clips: int,
    recipe: DemoRecipe = DemoRecipe(),
    fault_from: int | None = None,
    seed: int = 0,
) -> list[Path]:
    """`clip_0000.flac`... in `folder` (the edge uploader replays them in name order): normal sound
    of the recipe's machine, with the recipe's fault from clip `fault_from` on (None: never)."""
    import soundfile as sf

    from humwatch.synth import MachineSpec, synth_clip

    folder.mkdir(parents=True, exist_ok=True)
    spec = MachineSpec.from_seed(recipe.machine_type, recipe.machine_seed)
    paths: list[Path] = []
    for i in range(n_clips):
        faulty = fault_from is not None and i >= fault_from
        samples = synth_clip(
            spec,
            fault=recipe.fault if faulty else None,
            severity=recipe.fault_severity,
            snr_db=recipe.snr_db,
            seed=1_000_003 * (seed + 1) + i,  # never a training clip's seed
            duration_s=recipe.clip_s,
        )
        path = folder / f"clip_{i:04d}.flac"
        sf.write(path, samples, 16000, format="FLAC", subtype="PCM_16")
        paths.append(path)
    return paths
