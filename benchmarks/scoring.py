"""Scoring speed and memory per 10 s clip: humwatch (ONNX) vs the librosa reference, same run.

Measured:
- warm: decode FLAC bytes + features + score (`humwatch.scoring.score_clip`), median and p95 over
  many clips, in this process after a warm-up; also decode alone and the ONNX graph alone.
- cold: a new Python process that imports, loads the bundle and scores its first clip; wall time
  from the parent (interpreter start included) and the child's peak RSS (ru_maxrss), median of
  several runs.
- the librosa reference path (librosa.load + melspectrogram + DCASE log + the same autoencoder
  weights in numpy), warm and cold, measured the same way in the same run; ratios reference/ours.
Targets: warm <= 5 ms and faster than the librosa reference, cold <= 0.2 s and <= 100 MB, cold
>= 5x faster than librosa.
Writes benchmarks/results/scoring.json.
"""

from __future__ import annotations

import io
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _cold_start import run_cold

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
WARM_CLIPS = 200
COLD_RUNS = 5
N_FILES = 10

# Peak RSS of the child itself: /proc VmHWM belongs to the exec'd address space, whereas
# getrusage().ru_maxrss carries the (large) parent's peak over from the fork.
PEAK_RSS = """
def peak_rss_kib():
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
"""

OURS_COLD = """
import time, sys
t0 = time.perf_counter()
from humwatch.scoring import Scorer, score_clip
t1 = time.perf_counter()
scorer = Scorer.from_dir(sys.argv[1])
t2 = time.perf_counter()
result = score_clip(scorer, open(sys.argv[2], "rb").read())
t3 = time.perf_counter()
print(result.score, t1 - t0, t2 - t1, t3 - t2, peak_rss_kib(), flush=True)
"""

LIBROSA_COLD = """
import time, sys
t0 = time.perf_counter()
import numpy as np, librosa
t1 = time.perf_counter()
w = np.load(sys.argv[1])
t2 = time.perf_counter()
y, sr = librosa.load(sys.argv[2], sr=16000, mono=True)
mel = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=1024, hop_length=512, n_mels=64, power=2.0)
logmel = 10.0 * np.log10(mel + sys.float_info.epsilon)
n = logmel.shape[1] - 4
v = np.concatenate([logmel[:, t:t + n].T for t in range(5)], axis=1)
h = (v - w["mean"]) / w["std"]
z = h
for i in range(6):
    h = h @ w[f"w{i}"] + w[f"b{i}"]
    if i < 5:
        h = np.maximum(h, 0)
score = float(np.mean((z - h) ** 2))
t3 = time.perf_counter()
print(score, t1 - t0, t2 - t1, t3 - t2, peak_rss_kib(), flush=True)
"""


def _percentiles(samples_s: list[float]) -> dict[str, float]:
    ms = np.array(samples_s) * 1000.0
    return {"median_ms": float(np.median(ms)), "p95_ms": float(np.percentile(ms, 95)), "n": int(ms.size)}


def _cold(script: str, args: list[str]) -> dict[str, float]:
    """A new process until its first clip is scored (what a Lambda cold start costs: the runtime
    keeps the process, so interpreter teardown, reported apart, is not part of it)."""
    walls, exits, rss, phases, scores = [], [], [], [], []
    for _ in range(COLD_RUNS):
        line, to_result, to_exit = run_cold(PEAK_RSS + script, args)
        walls.append(to_result)
        exits.append(to_exit)
        fields = line.split()
        scores.append(float(fields[0]))
        phases.append([float(f) for f in fields[1:4]])
        rss.append(int(fields[4]) / 1024.0)  # ru_maxrss is KiB on Linux
    med = np.median(np.array(phases), axis=0)
    return {
        "wall_s": float(statistics.median(walls)),
        "wall_s_min": float(min(walls)),
        "exit_s": float(statistics.median(exits)),
        "peak_rss_mb": float(statistics.median(rss)),
        "import_s": float(med[0]),
        "load_s": float(med[1]),
        "first_clip_s": float(med[2]),
        "score": scores[0],
        "runs": COLD_RUNS,
    }


def _make_clips(folder: Path) -> list[Path]:
    import soundfile as sf

    from humwatch.research.synth import MachineSpec, synth_clip

    spec = MachineSpec.from_seed("fan", 0)
    paths = []
    for i in range(N_FILES):
        path = folder / f"clip_{i:02d}.flac"
        sf.write(
            path, synth_clip(spec, seed=100 + i, duration_s=10.0), 16000, format="FLAC", subtype="PCM_16"
        )
        paths.append(path)
    return paths


def _train_bundle(folder: Path, clips: list[Path]) -> Path:
    from humwatch.datasets import load_labelled_clips
    from humwatch.detectors import DetectorType, train_bundle

    model_dir = folder / "model"
    train_bundle(
        DetectorType.BLOG_AE, load_labelled_clips(clips), model_dir, epochs=3, seed=0, model_id="bench"
    )
    return model_dir


def _export_weights(model_dir: Path, out: Path) -> None:
    from humwatch.detectors.blog_ae.graph import autoencoder_from_onnx

    ae = autoencoder_from_onnx((model_dir / "model.onnx").read_bytes())
    arrays = {"mean": ae.mean, "std": ae.std}
    for i, (w, b) in enumerate(zip(ae.weights, ae.biases, strict=True)):
        arrays[f"w{i}"], arrays[f"b{i}"] = w, b
    np.savez(out, **arrays)  # type: ignore[arg-type]


def _librosa_warm(path: Path, weights: dict[str, np.ndarray]) -> float:
    import librosa

    y, sr = librosa.load(path, sr=16000, mono=True)
    mel = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=1024, hop_length=512, n_mels=64, power=2.0)
    logmel = 10.0 * np.log10(mel + sys.float_info.epsilon)
    n = logmel.shape[1] - 4
    h = (np.concatenate([logmel[:, t : t + n].T for t in range(5)], axis=1) - weights["mean"]) / weights[
        "std"
    ]
    z = h
    for i in range(6):
        h = h @ weights[f"w{i}"] + weights[f"b{i}"]
        if i < 5:
            h = np.maximum(h, 0)
    return float(np.mean((z - h) ** 2))


def main() -> dict[str, object]:
    from humwatch.audio import decode_audio
    from humwatch.scoring import Scorer, score_clip

    with tempfile.TemporaryDirectory(prefix="humwatch-bench-") as tmp:
        folder = Path(tmp)
        clips = _make_clips(folder)
        model_dir = _train_bundle(folder, clips)
        weights_path = folder / "weights.npz"
        _export_weights(model_dir, weights_path)
        blobs = [p.read_bytes() for p in clips]

        scorer = Scorer.from_dir(model_dir)
        for blob in blobs:  # warm-up
            score_clip(scorer, blob)
        total, decode, onnx_only, cpu = [], [], [], []
        for i in range(WARM_CLIPS):
            blob = blobs[i % len(blobs)]
            t0 = time.perf_counter()
            audio = decode_audio(blob)
            t1 = time.perf_counter()
            scorer.score(audio)
            t2 = time.perf_counter()
            c2 = time.thread_time()
            score_clip(scorer, blob)
            t3 = time.perf_counter()
            cpu.append(time.thread_time() - c2)
            decode.append(t1 - t0)
            onnx_only.append(t2 - t1)
            total.append(t3 - t2)

        weights = dict(np.load(weights_path))
        _librosa_warm(clips[0], weights)  # warm-up (numba compilation, caches)
        ref_warm = []
        for i in range(WARM_CLIPS // 4):
            t0 = time.perf_counter()
            _librosa_warm(clips[i % len(clips)], weights)
            ref_warm.append(time.perf_counter() - t0)
        same_clip = (score_clip(scorer, blobs[0]).score, _librosa_warm(clips[0], weights))

        cold_ours = _cold(OURS_COLD, [str(model_dir), str(clips[0])])
        cold_ref = _cold(LIBROSA_COLD, [str(weights_path), str(clips[0])])

    warm = _percentiles(total)
    ref = _percentiles(ref_warm)
    result: dict[str, object] = {
        "clip": "10 s, 16 kHz mono FLAC (synthetic fan), bytes in memory",
        "machine": {
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
        },
        "warm": {
            **warm,
            "cpu": _percentiles(cpu),  # thread CPU time: what the clip costs when the machine is busy
            "decode": _percentiles(decode),
            "onnx_score": _percentiles(onnx_only),
        },
        "cold": cold_ours,
        "librosa_reference": {"warm": ref, "cold": cold_ref},
        "ratios": {
            "cold_wall_librosa_over_ours": cold_ref["wall_s"] / cold_ours["wall_s"],
            "cold_rss_librosa_over_ours": cold_ref["peak_rss_mb"] / cold_ours["peak_rss_mb"],
            "warm_median_librosa_over_ours": ref["median_ms"] / warm["median_ms"],
        },
        "same_clip_score": {"ours": same_clip[0], "librosa_reference": same_clip[1]},
        "targets": {
            "warm_median_ms": 5.0,
            "warm_speedup": 1.0,
            "cold_wall_s": 0.2,
            "cold_peak_rss_mb": 100.0,
            "cold_speedup": 5.0,
        },
    }
    checks = {
        "warm median <= 5 ms": warm["median_ms"] <= 5.0,
        "warm faster than librosa": ref["median_ms"] / warm["median_ms"] >= 1.0,
        "cold <= 0.2 s": cold_ours["wall_s"] <= 0.2,
        "cold RSS <= 100 MB": cold_ours["peak_rss_mb"] <= 100.0,
        "cold >= 5x faster than librosa": cold_ref["wall_s"] / cold_ours["wall_s"] >= 5.0,
    }
    result["checks"] = checks
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "scoring.json").write_text(json.dumps(result, indent=2) + "\n")

    rows = [
        ("warm median (ms)", warm["median_ms"], ref["median_ms"], "{:.2f}"),
        ("warm p95 (ms)", warm["p95_ms"], ref["p95_ms"], "{:.2f}"),
        ("cold, to first score (s)", cold_ours["wall_s"], cold_ref["wall_s"], "{:.3f}"),
        ("then process exit (s)", cold_ours["exit_s"], cold_ref["exit_s"], "{:.3f}"),
        ("cold peak RSS (MB)", cold_ours["peak_rss_mb"], cold_ref["peak_rss_mb"], "{:.1f}"),
        ("cold import (s)", cold_ours["import_s"], cold_ref["import_s"], "{:.3f}"),
        ("cold first clip (s)", cold_ours["first_clip_s"], cold_ref["first_clip_s"], "{:.3f}"),
    ]
    out = io.StringIO()
    out.write(f"{'per 10 s clip':<28}{'humwatch':>12}{'librosa ref':>14}{'ref/ours':>10}\n")
    for label, ours, theirs, fmt in rows:
        out.write(f"{label:<28}{fmt.format(ours):>12}{fmt.format(theirs):>14}{theirs / ours:>10.1f}\n")
    decode_ms = _percentiles(decode)["median_ms"]
    onnx_ms = _percentiles(onnx_only)["median_ms"]
    cpu_ms = _percentiles(cpu)
    out.write(f"warm median split: decode FLAC {decode_ms:.2f} ms, ONNX graph {onnx_ms:.2f} ms\n")
    out.write(
        f"warm CPU per clip (thread_time): median {cpu_ms['median_ms']:.2f}, p95 {cpu_ms['p95_ms']:.2f} ms\n"
    )
    out.write(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs\n")
    for name, ok in checks.items():
        out.write(f"{'PASS' if ok else 'FAIL'}  {name}\n")
    print(out.getvalue(), end="")
    print(f"wrote {RESULTS / 'scoring.json'}")
    return result


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
