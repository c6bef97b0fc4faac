"""Synthetic sound for the demo, the e2e test and the benchmark: a demo model of the default
detector trained on normal fan sound (cached), and per-device folders of clips that the edge
uploader replays.

The recipe favours a clear demonstration over realism: a quiet factory (SNR 10 dB: at 6 dB the
occasional loud background event in a normal clip scores as high as the fault), short clips (the
devices run at an accelerated 2 s interval, and a clip may not outlast its interval), a strict
threshold (target FPR 0.1 %) so normal machines stay quiet (their clips score at most about 0.8x
the threshold), and a fully developed bearing fault (severity 1.0, about 1.3-3x the threshold) so
the faulty one is unmistakable.
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
from humwatch.detectors import DEFAULT_DETECTOR
from humwatch.progress import progress_bar


@dataclass(frozen=True)
class DemoRecipe:
    model_id: str = "fan-demo"
    detector: str = str(DEFAULT_DETECTOR)  # as model.json's model_type says it
    machine_type: str = "fan"
    machine_seed: int = 0
    clip_s: float = 2.0
    snr_db: float = 10.0
    train_clips: int = 200
    epochs: int | None = None  # blog-ae only (None: its default); spectral-gauss has no epochs
    target_fpr: float = 0.001
    seed: int = 7
    fault: str = "bearing"
    fault_severity: float = 1.0
    # The demo fan's nameplate speed is known (it is synthetic), so the model is told it, as a user
    # would with `humwatch train --shaft-rpm`: alerts then say shaft orders (spectral-gauss only).
    state_shaft_speed: bool = True

    def cache_key(self) -> str:
        """Changes with every recipe field (the detector included) and the humwatch version."""
        text = json.dumps({**asdict(self), "humwatch": __version__}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def training_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "seed": self.seed,
            "target_fpr": self.target_fpr,
            "model_id": self.model_id,
        }
        if self.epochs is not None:
            options["epochs"] = self.epochs  # a detector without epochs says so (DetectorOptionsError)
        if self.state_shaft_speed and self.detector == DEFAULT_DETECTOR:
            from humwatch.research.synth import MachineSpec

            machine = MachineSpec.from_seed(self.machine_type, self.machine_seed)
            options["shaft_rpm"] = machine.rotation_hz * 60.0
        return options

    def describe(self) -> str:
        """The detector as a person should read it, e.g. 'spectral-gauss, the default detector'."""
        return (
            f"{self.detector}, the default detector" if self.detector == DEFAULT_DETECTOR else self.detector
        )


def ensure_demo_model(
    cache_dir: Path,
    recipe: DemoRecipe = DemoRecipe(),
    *,
    progress: bool = False,
    on_step: Callable[[str], None] | None = None,
) -> tuple[Path, bool]:
    """The demo model's bundle directory, trained on synthetic normal sound unless already cached
    for this recipe; returns (directory, True when it came from the cache)."""
    key = recipe.cache_key()
    model_dir = cache_dir / f"model-{recipe.model_id}-{recipe.detector}-{key}"
    if _is_cached_model(model_dir, recipe):
        return model_dir, True
    shutil.rmtree(model_dir, ignore_errors=True)  # a damaged or foreign cache is rebuilt, not trusted

    from humwatch.datasets import load_labelled_clips
    from humwatch.detectors import train_bundle
    from humwatch.research.synth import write_dataset

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
    say(f"training {recipe.model_id} ({recipe.describe()}, target FPR {recipe.target_fpr:g} per clip)")
    staging = cache_dir / f"staging-{key}"
    shutil.rmtree(staging, ignore_errors=True)
    train_bundle(
        recipe.detector,
        load_labelled_clips([data_dir]),
        staging,
        progress=progress,
        **recipe.training_options(),
    )
    staging.replace(model_dir)  # a crash mid-training never leaves a half-written cached model
    shutil.rmtree(data_dir, ignore_errors=True)
    return model_dir, False


def _is_cached_model(model_dir: Path, recipe: DemoRecipe) -> bool:
    """A loadable bundle of the recipe's model id and detector type. The folder name is keyed by
    both, so a mismatch means a damaged or hand-edited cache: never reuse, say, an old blog-ae
    model as if it were the default detector."""
    from humwatch.errors import ModelBundleError
    from humwatch.model.bundle import ModelBundle

    if not (model_dir / "model.json").is_file():
        return False
    try:
        manifest = ModelBundle.load(model_dir).manifest
    except (ModelBundleError, OSError, ValueError):
        return False
    return manifest.model_id == recipe.model_id and manifest.model_type == recipe.detector


def _bar(total: int, desc: str, enabled: bool) -> Any:
    if not enabled:
        return None
    return progress_bar(desc=desc, total=total, unit="clip")


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

    from humwatch.research.synth import MachineSpec, synth_clip

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
