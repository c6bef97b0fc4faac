"""Warm scoring before vs after a change, interleaved in one process (issue 15's trade-offs).

    git archive <commit before> humwatch | tar -x -C /tmp/humwatch-before
    .venv/bin/python benchmarks/_warm_ab.py /tmp/humwatch-before [repetitions]

The directory holds the `humwatch` package before the change; the working tree is after. Each
trains its own spectral-gauss and blog-ae bundle on the same 20 synthetic fan clips (so a change
to the graph builder is in its bundle), both versions are imported into this process, and:
- every one of 60 FLAC clips must score the same before and after, bit for bit (score,
  band_means, why, ratio);
- `Scorer.score_samples` alone (decoded samples) and decode + score (`score_clip` on FLAC bytes)
  are timed `repetitions` times each (default 3000), before and after alternating clip by clip
  with the order flipped every clip, so that the machine's load hits both alike.
Prints medians, the median of the paired differences and the load average. Not a `run_all.py`
benchmark (it needs the code before); the numbers it gave are in `detectors.TRADE_OFFS`.
"""

from __future__ import annotations

import importlib
import io
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CLIPS = 60
TYPES = ("spectral-gauss", "blog-ae")
TRAIN = """
import sys
from pathlib import Path
root, data, out = sys.argv[1:4]
sys.path.insert(0, root)
from humwatch.datasets import load_labelled_clips
from humwatch.detectors import DetectorType, train_bundle
clips = load_labelled_clips([Path(data)])
for t in DetectorType:
    extra = {"epochs": 3} if t.value == "blog-ae" else {}
    train_bundle(t, clips, Path(out) / t.value, seed=0, model_id=f"ab-{t.value}", **extra)
"""


def _import_tree(root: Path) -> tuple[ModuleType, ModuleType]:
    """humwatch.audio and humwatch.scoring of the tree at `root`, whatever was imported before:
    functions keep their own module globals, so two trees' versions live side by side."""
    for name in [n for n in sys.modules if n == "humwatch" or n.startswith("humwatch.")]:
        del sys.modules[name]
    sys.path.insert(0, str(root))
    try:
        audio, scoring = (importlib.import_module(f"humwatch.{m}") for m in ("audio", "scoring"))
    finally:
        sys.path.remove(str(root))
    if not str(audio.__file__).startswith(str(root)):
        raise RuntimeError(f"imported {audio.__file__}, not the tree at {root}")
    return audio, scoring


def _clips(tmp: Path) -> tuple[Path, list[bytes]]:
    import soundfile as sf

    from humwatch.research.synth import MachineSpec, synth_clip, write_dataset

    data = tmp / "data"
    write_dataset(data, machine_type="fan", machine_seed=1, n_clips=20, seed=1)
    spec = MachineSpec.from_seed("fan", 1)
    flacs = []
    for i in range(CLIPS):
        buf = io.BytesIO()
        sf.write(buf, synth_clip(spec, seed=1000 + i), 16000, format="FLAC", subtype="PCM_16")
        flacs.append(buf.getvalue())
    return data, flacs


def _why(result: Any) -> object:
    return None if result.why is None else result.why.model_dump()


def _interleaved(
    before: Callable[[Any], object], after: Callable[[Any], object], inputs: list[Any], n: int
) -> str:
    for x in inputs[:5]:
        before(x), after(x)
    times: dict[str, list[float]] = {"before": [], "after": []}
    for i in range(n):
        x = inputs[i % len(inputs)]
        order = [("before", before), ("after", after)]
        for label, f in order if i % 2 == 0 else order[::-1]:
            started = time.perf_counter()
            f(x)
            times[label].append(time.perf_counter() - started)
    diff = np.subtract(times["after"], times["before"]) * 1e3
    return (
        f"before {np.median(times['before']) * 1e3:.3f} ms, after {np.median(times['after']) * 1e3:.3f} ms, "
        f"paired difference median {np.median(diff):+.3f} ms "
        f"(quartiles {np.percentile(diff, 25):+.3f} .. {np.percentile(diff, 75):+.3f}), n={n}"
    )


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    before_root, n = Path(argv[0]).resolve(), int(argv[1]) if len(argv) > 1 else 3000
    print("load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    with tempfile.TemporaryDirectory(prefix="humwatch-ab-") as tmp_name:
        tmp = Path(tmp_name)
        data, flacs = _clips(tmp)
        for label, root in (("before", before_root), ("after", REPO)):
            subprocess.run([sys.executable, "-c", TRAIN, str(root), str(data), str(tmp / label)], check=True)
        old_audio, old_scoring = _import_tree(before_root)
        _, new_scoring = _import_tree(REPO)
        for t in TYPES:
            old, new = (
                old_scoring.Scorer.from_dir(tmp / "before" / t),
                new_scoring.Scorer.from_dir(tmp / "after" / t),
            )
            for clip in flacs:
                a, b = old_scoring.score_clip(old, clip), new_scoring.score_clip(new, clip)
                same = (a.score, a.band_means, a.ratio, _why(a)) == (b.score, b.band_means, b.ratio, _why(b))
                if not same:
                    raise AssertionError(f"{t}: a clip scores differently before and after")
            print(f"{t}: {len(flacs)} clips score bit for bit the same before and after")
            samples = [old_audio.decode_audio(clip).samples for clip in flacs]
            print(f"{t} score_samples: {_interleaved(old.score_samples, new.score_samples, samples, n)}")

            def old_clip(clip: bytes, scorer: Any = old) -> object:
                return old_scoring.score_clip(scorer, clip)

            def new_clip(clip: bytes, scorer: Any = new) -> object:
                return new_scoring.score_clip(scorer, clip)

            print(f"{t} decode+score: {_interleaved(old_clip, new_clip, flacs, n)}", flush=True)
    print("load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main(sys.argv[1:]))
