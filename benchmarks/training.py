"""Training time on 300 synthetic 10 s clips (target: <= 60 s on the 2-core dev machine).

Times `humwatch.detectors.train_bundle` (blog-ae) end to end: decode + features for 300 clips, 30 epochs of
the blog autoencoder on ~74k vectors (80% of 92.7k; the rest calibrates), ONNX export, and the
hold-out scoring and gamma fit. Writing the synthetic clips is not timed.
Writes benchmarks/results/training.json.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
N_CLIPS = 300
EPOCHS = 30
TARGET_S = 60.0


def main() -> dict[str, object]:
    from humwatch.datasets import load_labelled_clips
    from humwatch.detectors import DetectorType, train_bundle
    from humwatch.research.synth import write_dataset

    with tempfile.TemporaryDirectory(prefix="humwatch-bench-train-") as tmp:
        started = time.perf_counter()
        manifest = write_dataset(Path(tmp) / "data", machine_type="fan", n_clips=N_CLIPS, snr_db=0.0, seed=0)
        synth_s = time.perf_counter() - started
        clips = load_labelled_clips([manifest])
        started = time.perf_counter()
        bundle = train_bundle(
            DetectorType.BLOG_AE, clips, Path(tmp) / "model", epochs=EPOCHS, seed=0, model_id="bench-train"
        )
        total_s = time.perf_counter() - started
    training = bundle.manifest.training
    fit_s = float(getattr(training, "fit_seconds", 0.0))
    result: dict[str, object] = {
        "n_clips": N_CLIPS,
        "clip_seconds": 10.0,
        "epochs": EPOCHS,
        "n_train_vectors": training.n_vectors,
        "train_model_seconds": total_s,
        "autoencoder_fit_seconds": fit_s,
        "other_seconds": total_s - fit_s,
        "synthesis_seconds_not_timed": synth_s,
        "cpu_count": os.cpu_count(),
        "target_seconds": TARGET_S,
        "pass": total_s <= TARGET_S,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "training.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"train_model on {N_CLIPS} x 10 s clips, {EPOCHS} epochs, {training.n_vectors} training vectors")
    rest = total_s - fit_s
    print(f"  total {total_s:.1f} s (autoencoder fit {fit_s:.1f} s, other {rest:.1f} s)")
    print(f"{'PASS' if total_s <= TARGET_S else 'FAIL'}  training <= {TARGET_S:.0f} s")
    print(f"wrote {RESULTS / 'training.json'}")
    return result


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
