"""Alert-level simulation: weeks of 5-minute clips per machine through the real alert policy.

Per-clip AUC does not say how often a person gets paged. This replays long synthetic streams
through `humwatch.alerts.policy.evaluate` (the function the process_clip Lambda runs) and counts
false alerts per machine-month on normal streams and minutes from fault onset to the first alert,
for a grid of (k, n, evidence threshold, target FPR).

How a stream is made (and what is approximated, to stay within minutes on 2 cores):
- Each machine (of the plan's `generator`, `humwatch.research.generators`: `synth` by default,
  or the independently written `orders`; even seeds fans, odd seeds pumps) gets a detector calibrated
  out-of-fold exactly as `humwatch train` does (`machine`), trained in one of two modes
  (`training`): `envelope` (default, offline) on `train_clips` normal clips drawn across its
  normal operating range (level and speed inside the drift envelope below); `first-day`
  (commissioning, as a device provisioned without a model learns its normal) on the 288 clips of
  the first day of its own drift path, the normal stream then replayed from day 2. `compare` runs
  both on the same machines and puts them side by side.
- Normal operation drifts slowly: level (dB) and speed offset each follow a daily cycle plus a
  slow random walk (mean-reverting) bounded by `level_drift_db` / `speed_drift` (`drift`).
- Scores are real: synthetic 10 s clips scored by the trained ONNX model with onnxruntime. To
  avoid synthesising 8,640 clips per machine-month, the normal stream draws from a pool: the
  drift envelope is cut into `cells` x `cells` (level, speed) cells, `per_cell` clips are
  synthesised and scored per cell, and every 5-minute slot takes the score of a random clip of the
  cell its drift state falls in (independent draws: clips are independent given the drift state;
  the approximation is the quantised drift and the finite pool per cell).
- Fault streams are not pooled: from the onset on, every clip is synthesised with the fault at its
  current severity (a step to `severity`, or a ramp from 0 over `ramp_hours`) and scored; the
  `n` clips before the onset come from the normal pool (`streams`).
- A target FPR only moves the threshold (refitted on the same out-of-fold scores), so every grid
  point replays the same scores (`policy_replay`), and `report` sums them over machines.
"""

from humwatch.research.simulation.compare import run_training_comparison
from humwatch.research.simulation.drift import DriftModel, NormalPool, build_pool
from humwatch.research.simulation.plan import FAULT_NAMES, PolicyPoint, SimulationPlan
from humwatch.research.simulation.policy_replay import (
    CLIP_INTERVAL,
    MINUTES_PER_MONTH,
    STREAM_START,
    AlertFollower,
    first_alert_delay,
    flags_from_ratios,
    replay,
)
from humwatch.research.simulation.report import recommend, render_alerts_markdown, rule_text
from humwatch.research.simulation.run import run_simulation
from humwatch.research.simulation.sources import ClipScorer, ClipSource, generator_source
from humwatch.research.simulation.training import TrainingMode, baseline_slots, first_day_split

__all__ = [
    "CLIP_INTERVAL",
    "FAULT_NAMES",
    "MINUTES_PER_MONTH",
    "STREAM_START",
    "AlertFollower",
    "ClipScorer",
    "ClipSource",
    "DriftModel",
    "NormalPool",
    "PolicyPoint",
    "SimulationPlan",
    "TrainingMode",
    "baseline_slots",
    "build_pool",
    "first_alert_delay",
    "first_day_split",
    "flags_from_ratios",
    "generator_source",
    "recommend",
    "render_alerts_markdown",
    "replay",
    "rule_text",
    "run_simulation",
    "run_training_comparison",
]
