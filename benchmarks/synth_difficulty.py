"""How hard is the synthetic data? Per-fault AUC of the blog autoencoder at one SNR/severity.

Trains the blog's autoencoder (humwatch.model.autoencoder) on normal clips of one synthetic
machine, scores held-out normal clips and clips of each fault, and reports the ROC AUC per fault
and pooled (anomaly = positive). Beside it, in the same run, a PCA reconstruction baseline
(8 components, the linear version of the same bottleneck) shows the AE is not beaten by a
trivial model, and a "level only" baseline (clip RMS) shows the faults are not just louder.

    .venv/bin/python benchmarks/synth_difficulty.py [--machine fan] [--machine-seed 0]
        [--train 60] [--test 30] [--severity 0.5] [--snr 0] [--epochs 20]

Writes benchmarks/results/synth_difficulty.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from humwatch.detectors.blog_ae.autoencoder import train_autoencoder  # noqa: E402
from humwatch.features import FeatureParams, clip_vectors  # noqa: E402
from humwatch.research.synth import FAULTS, MachineSpec, synth_clip  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


def auc(negatives: list[float], positives: list[float]) -> float:
    """Probability that a random anomaly scores above a random normal clip (ties count half)."""
    neg = np.asarray(negatives)[None, :]
    pos = np.asarray(positives)[:, None]
    return float(np.mean((pos > neg) + 0.5 * (pos == neg)))


def run(
    machine: str, machine_seed: int, n_train: int, n_test: int, severity: float, snr_db: float, epochs: int
) -> dict:
    params = FeatureParams()
    spec = MachineSpec.from_seed(machine, machine_seed)
    started = time.perf_counter()

    def clips(fault: str | None, n: int, first_seed: int) -> list[np.ndarray]:
        return [
            synth_clip(spec, fault=fault, severity=severity, snr_db=snr_db, seed=first_seed + i)
            for i in range(n)
        ]

    train = np.concatenate([clip_vectors(x, params) for x in clips(None, n_train, 0)])
    model = train_autoencoder(train.astype(np.float32), epochs=epochs, seed=0)
    mean, std = train.mean(axis=0), train.std(axis=0) + 1e-3
    _, _, vt = np.linalg.svd((train[::3] - mean) / std, full_matrices=False)
    basis = vt[:8].T

    def scores(samples: np.ndarray) -> tuple[float, float, float]:
        vectors = clip_vectors(samples, params)
        z = (vectors - mean) / std
        pca = float(np.mean((z - z @ basis @ basis.T) ** 2))
        return model.score(vectors), pca, float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))

    normal = [scores(x) for x in clips(None, n_test, 100_000)]
    per_fault: dict[str, dict[str, float]] = {}
    pooled: list[tuple[float, float, float]] = []
    for i, fault in enumerate(FAULTS):
        anomalous = [scores(x) for x in clips(fault, n_test, 200_000 + 1000 * i)]
        pooled += anomalous
        per_fault[fault] = {
            name: round(auc([s[k] for s in normal], [s[k] for s in anomalous]), 3)
            for k, name in enumerate(("autoencoder", "pca", "level"))
        }
    pooled_auc = {
        name: round(auc([s[k] for s in normal], [s[k] for s in pooled]), 3)
        for k, name in enumerate(("autoencoder", "pca", "level"))
    }
    return {
        "machine": machine,
        "machine_seed": machine_seed,
        "severity": severity,
        "snr_db": snr_db,
        "n_train_clips": n_train,
        "n_test_clips_per_class": n_test,
        "epochs": epochs,
        "auc_per_fault": per_fault,
        "auc_pooled": pooled_auc,
        "seconds": round(time.perf_counter() - started, 1),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machine", choices=["fan", "pump", "both"], default="both")
    parser.add_argument("--machine-seed", type=int, default=0)
    parser.add_argument("--train", type=int, default=60)
    parser.add_argument("--test", type=int, default=30)
    parser.add_argument("--severity", type=float, default=0.5)
    parser.add_argument("--snr", type=float, default=0.0)
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args([] if argv is None else argv)
    machines = ["fan", "pump"] if args.machine == "both" else [args.machine]
    runs = [
        run(m, args.machine_seed, args.train, args.test, args.severity, args.snr, args.epochs)
        for m in machines
    ]
    print(
        f"AUC at SNR {args.snr:g} dB, severity {args.severity:g} (anomaly = positive; AE / PCA / level-only)"
    )
    print(f"{'machine':<10}" + "".join(f"{f:>20}" for f in (*FAULTS, "pooled")))
    for r in runs:
        cells = [r["auc_per_fault"][f] for f in FAULTS] + [r["auc_pooled"]]
        row = "".join(f"{c['autoencoder']:>8.3f}/{c['pca']:.2f}/{c['level']:.2f}" for c in cells)
        print(f"{r['machine'] + ' #' + str(r['machine_seed']):<10}{row}")
    result = {"benchmark": "synth_difficulty", "runs": runs}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "synth_difficulty.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
