"""What accuracy to expect from the default detector trained on few clips (`humwatch train` says it).

The numbers are `make eval`'s few-shot results (benchmarks/results/eval/eval.json, `few_shot`):
spectral-gauss trained on the first N normal clips of each generator's four held-out machines,
scored on unseen normal clips and moderate faults (severity 0.5) in a 0 dB factory background,
pooled AUC averaged over the machines. tests/unit/test_eval_results.py fails when they differ from
the committed run, so a new `make eval` updates them here.
"""

from __future__ import annotations

from humwatch.detectors.registry import DEFAULT_DETECTOR
from humwatch.model.calibration import RECOMMENDED_TRAIN_CLIPS

FEW_CLIPS = 50  # below this many normal clips, `humwatch train` says what accuracy to expect
# training clips -> generator -> pooled AUC of the default detector (make eval)
FEW_SHOT_POOLED_AUC: dict[int, dict[str, float]] = {
    10: {"synth": 0.928, "orders": 0.999},
    30: {"synth": 0.94, "orders": 0.997},
    100: {"synth": 0.95, "orders": 0.997},
    300: {"synth": 0.95, "orders": 0.997},
}


def _aucs(n_clips: int) -> str:
    return " and ".join(f"{auc:.3f} on {g} machines" for g, auc in FEW_SHOT_POOLED_AUC[n_clips].items())


def few_clips_warning(n_clips: int, model_type: str) -> str | None:
    """The warning for a model trained on `n_clips` normal clips (None from FEW_CLIPS on)."""
    if n_clips >= FEW_CLIPS:
        return None
    sizes = sorted(FEW_SHOT_POOLED_AUC)
    measured = max((n for n in sizes if n <= n_clips), default=sizes[0])
    fewer = f"; fewer than {measured} were not measured, expect less" if n_clips < measured else ""
    other = (
        ""
        if model_type == DEFAULT_DETECTOR.value
        else f" (measured for {DEFAULT_DETECTOR.value}, not {model_type})"
    )
    return (
        f"warning: trained on only {n_clips} normal clips. With {measured} clips the default detector "
        f"reached a pooled AUC of {_aucs(measured)} in `make eval` (synthetic, moderate faults, "
        "0 dB background)"
        f"{fewer}; with {sizes[-1]} clips {_aucs(sizes[-1])}{other}. "
        f"{RECOMMENDED_TRAIN_CLIPS}+ normal clips are recommended."
    )
