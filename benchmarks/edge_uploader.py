"""The edge uploader's footprint at the default settings: resident memory and CPU of one core.

Targets (issue 5): <= 80 MB RSS and < 2 % of one core averaged over a 5-minute capture interval.

The uploader runs as a real `humwatch-edge run` process against the local stack's parts (mosquitto
with mutual TLS, the real presign logic, moto S3), replaying real 10 s recordings (the DCASE
clips in ../shared/data/real when present, else synthetic 10 s noise):

1. idle: default settings (interval 300 s, 10 s clips, telemetry every 300 s); after its first
   cycle has been uploaded, CPU time is sampled over an idle window -> idle CPU rate;
2. cycles: the same program with the interval scaled down to 1 s (still 10 s clips), so many
   capture -> FLAC -> spool -> MQTT presign -> PUT cycles run back to back -> CPU per cycle
   (idle rate subtracted);
3. CPU % over a 5-minute interval = (idle rate x 300 s + CPU per cycle) / 300 s.
Peak RSS (VmHWM) is read from /proc for both runs. Baseline in the same run: a bare Python
interpreter's RSS (ratio printed). `--full` also runs the defaults for a real 5 minutes and
measures the average directly, to check the extrapolation.

    python benchmarks/edge_uploader.py [--idle-s 30] [--cycles 15] [--full]

Prints a table and writes benchmarks/results/edge_uploader.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"
REAL_CLIPS = REPO.parent / "shared" / "data" / "real" / "dcase2020-id00" / "train" / "normal"
RSS_TARGET_MB = 80.0
CPU_TARGET_PCT = 2.0
DEFAULT_INTERVAL_S = 300.0
UPLOADED = re.compile(r"uploaded clip (\S+) ")
_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (from /proc, so it works for any child)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def _status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def _recordings(tmp: Path) -> tuple[Path, str]:
    if REAL_CLIPS.is_dir() and any(REAL_CLIPS.glob("*.wav")):
        return REAL_CLIPS, f"real DCASE 2020 clips ({REAL_CLIPS.relative_to(REPO.parent)})"
    import numpy as np
    import soundfile as sf

    folder = tmp / "recordings"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(5):
        sf.write(folder / f"noise-{i}.wav", (0.1 * rng.standard_normal(160_000)).astype(np.float32), 16000)
    return folder, "synthetic 10 s noise (real clips not found)"


def _bare_python_rss_mb() -> float:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3)"])
    try:
        time.sleep(1.0)
        return _status_kb(proc.pid, "VmHWM") / 1024
    finally:
        proc.kill()
        proc.wait()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--idle-s", type=float, default=30.0, help="idle window measured at defaults")
    parser.add_argument("--cycles", type=int, default=15, help="back-to-back cycles measured")
    parser.add_argument("--full", action="store_true", help="also run a real 5-minute interval")
    args = parser.parse_args(argv if argv is not None else [])

    sys.path.insert(0, str(REPO / "edge-uploader" / "tests"))
    from edge_harness import EdgeProcess, edge_document, running_cloud, wait_until, write_toml

    RESULTS.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="edge-bench-") as tmp_name,
        running_cloud(Path(tmp_name) / "c") as cloud,
    ):
        tmp = Path(tmp_name)
        folder, recordings = _recordings(tmp)
        device = cloud.device()

        def config(name: str, interval_s: float) -> Path:
            document = edge_document(
                tmp / f"spool-{name}",
                device,
                cloud,
                interval_s=interval_s,
                duration_s=10.0,
                source={"source": "folder", "folder": str(folder), "loop": True},
            )
            # Production values everywhere else (the test helper shortens them).
            document["mqtt"].update(
                keepalive_s=60, connect_timeout_s=15, reconnect_min_s=1, reconnect_max_s=120
            )
            document["delivery"] = {"response_timeout_s": 20, "http_timeout_s": 60}
            document["telemetry"] = {"interval_s": 300}
            return write_toml(tmp / f"{name}.toml", document)

        baseline_rss_mb = _bare_python_rss_mb()

        # 1. defaults: one cycle at start, then idle
        idle = EdgeProcess(config("idle", DEFAULT_INTERVAL_S), {})
        try:
            if not wait_until(lambda: len(idle.matches(UPLOADED)) >= 1, 60):
                raise RuntimeError("first cycle not uploaded:\n" + "".join(idle.lines[-20:]))
            time.sleep(1.0)  # let the first cycle's tail (telemetry, log flush) settle
            cpu0, t0 = _cpu_s(idle.proc.pid), time.monotonic()
            time.sleep(args.idle_s)
            idle_cpu_s, idle_wall_s = _cpu_s(idle.proc.pid) - cpu0, time.monotonic() - t0
            idle_rss_mb = _status_kb(idle.proc.pid, "VmHWM") / 1024
            idle_rss_now_mb = _status_kb(idle.proc.pid, "VmRSS") / 1024
        finally:
            idle.terminate()
        idle_rate = idle_cpu_s / idle_wall_s

        # 2. cycles back to back (interval scaled to 1 s, 10 s clips)
        busy = EdgeProcess(config("cycles", 1.0), {})
        try:
            if not wait_until(lambda: len(busy.matches(UPLOADED)) >= 2, 60):
                raise RuntimeError("cycles did not start:\n" + "".join(busy.lines[-20:]))
            start_count = len(busy.matches(UPLOADED))
            cpu0, t0 = _cpu_s(busy.proc.pid), time.monotonic()
            if not wait_until(lambda: len(busy.matches(UPLOADED)) >= start_count + args.cycles, 120):
                raise RuntimeError("cycles too slow")
            cycles = len(busy.matches(UPLOADED)) - start_count
            busy_cpu_s, busy_wall_s = _cpu_s(busy.proc.pid) - cpu0, time.monotonic() - t0
            busy_rss_mb = _status_kb(busy.proc.pid, "VmHWM") / 1024
        finally:
            busy.terminate()
        cpu_per_cycle_s = max(0.0, busy_cpu_s - idle_rate * busy_wall_s) / cycles
        cpu_pct_5min = 100 * (idle_rate * DEFAULT_INTERVAL_S + cpu_per_cycle_s) / DEFAULT_INTERVAL_S

        # 3. optional: a real 5-minute interval at the defaults
        full: dict[str, Any] | None = None
        if args.full:
            real = EdgeProcess(config("full", DEFAULT_INTERVAL_S), {})
            try:
                # from just after start-up (imports) to the same point one interval later
                wait_until(lambda: any("spool " in line for line in real.lines), 30)
                cpu0, t0 = _cpu_s(real.proc.pid), time.monotonic()
                time.sleep(DEFAULT_INTERVAL_S)
                full_cpu_s = _cpu_s(real.proc.pid) - cpu0
                full = {
                    "cpu_pct": round(100 * full_cpu_s / (time.monotonic() - t0), 3),
                    "rss_mb": round(_status_kb(real.proc.pid, "VmHWM") / 1024, 1),
                    "uploads": len(real.matches(UPLOADED)),
                }
            finally:
                real.terminate()

    rss_mb = max(idle_rss_mb, busy_rss_mb)
    result: dict[str, Any] = {
        "benchmark": "edge_uploader",
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "recordings": recordings,
        "settings": {"interval_s": DEFAULT_INTERVAL_S, "duration_s": 10.0, "telemetry_interval_s": 300},
        "baseline_bare_python_rss_mb": round(baseline_rss_mb, 1),
        "rss_peak_mb": round(rss_mb, 1),
        "rss_defaults_peak_mb": round(idle_rss_mb, 1),
        "rss_defaults_now_mb": round(idle_rss_now_mb, 1),
        "rss_ratio_vs_bare_python": round(rss_mb / baseline_rss_mb, 2),
        "rss_target_mb": RSS_TARGET_MB,
        "rss_ok": rss_mb <= RSS_TARGET_MB,
        "idle_cpu_pct": round(100 * idle_rate, 4),
        "cpu_per_cycle_s": round(cpu_per_cycle_s, 4),
        "cycles_measured": cycles,
        "cpu_pct_5min": round(cpu_pct_5min, 4),
        "cpu_target_pct": CPU_TARGET_PCT,
        "cpu_ratio_to_target": round(cpu_pct_5min / CPU_TARGET_PCT, 4),
        "cpu_ok": cpu_pct_5min < CPU_TARGET_PCT,
        "full_5min_run": full,
    }
    rows = [
        ("peak RSS (MB)", f"{rss_mb:.1f}", f"<= {RSS_TARGET_MB:.0f}", "ok" if result["rss_ok"] else "OVER"),
        (
            "bare Python RSS (MB), baseline",
            f"{baseline_rss_mb:.1f}",
            "",
            f"x{result['rss_ratio_vs_bare_python']}",
        ),
        ("idle CPU (% of one core)", f"{100 * idle_rate:.3f}", "", ""),
        ("CPU per 10 s cycle (s)", f"{cpu_per_cycle_s:.3f}", "", f"{cycles} cycles"),
        (
            "CPU over a 5-min interval (%)",
            f"{cpu_pct_5min:.3f}",
            f"< {CPU_TARGET_PCT:.0f}",
            "ok" if result["cpu_ok"] else "OVER",
        ),
    ]
    if full:
        rows.append(("measured 5-min run CPU (%)", f"{full['cpu_pct']:.3f}", f"< {CPU_TARGET_PCT:.0f}", ""))
    print(f"edge uploader at default settings ({recordings}; {result['machine']})")
    for name, value, target, note in rows:
        print(f"  {name:<34} {value:>9}  {target:<7} {note}")
    (RESULTS / "edge_uploader.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS / 'edge_uploader.json'}")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
