"""Which normal clips a simulated machine's model is trained on: the two training modes.

- `envelope` (offline, the original mode): `train_clips` clips at drift states drawn uniformly
  across the whole drift envelope. Idealised: the model has heard every level and speed the
  machine will ever run at.
- `first-day` (commissioning, what a device provisioned without a model does): the clips of the
  machine's own first day, 288 clips 5 minutes apart over 24 h (cdk.json baselineClips /
  baselineHours), at the drift states the drift model generates on that day. The stream that is
  replayed starts on day 2, so the model meets whatever the slow walk does after its first day.
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np

from humwatch.research.simulation.drift import DriftModel
from humwatch.research.simulation.policy_replay import CLIP_INTERVAL

BASELINE_HOURS = 24.0  # cdk.json baselineHours (HUMWATCH_BASELINE_HOURS): a new device listens this long


def baseline_slots(hours: float = BASELINE_HOURS) -> int:
    """5-minute clips in a baseline of `hours` (288 for a day, cdk.json baselineClips)."""
    return int(hours * 3600 / CLIP_INTERVAL.total_seconds())


class TrainingMode(StrEnum):
    ENVELOPE = "envelope"
    FIRST_DAY = "first-day"

    def describe(self, train_clips: int, baseline_hours: float) -> str:
        """One sentence for the report: where this mode's training clips come from."""
        if self is TrainingMode.ENVELOPE:
            return (
                f"offline (`--training envelope`): each model trained on {train_clips} normal clips "
                "drawn across the whole drift envelope (idealised)"
            )
        return (
            "commissioning (`--training first-day`): each model trained on its machine's own "
            f"first {baseline_hours:g} h, the {train_clips} clips of day 1 of its normal stream at "
            "the drift states of that day; streams replayed from the day after"
        )


DriftPath = tuple[np.ndarray, np.ndarray]  # (level dB, speed offset) per clip


def first_day_split(
    drift: DriftModel, first_day_slots: int, normal_slots: int, rng: np.random.Generator
) -> tuple[DriftPath, DriftPath]:
    """One drift path of the first day and `normal_slots` more: (first day, the slots after it).

    One path, so the replayed stream continues where the training day left off (the walk is not
    restarted at the centre of the envelope on day 2).
    """
    levels, speeds = drift.trajectory(first_day_slots + normal_slots, rng)
    first = (levels[:first_day_slots], speeds[:first_day_slots])
    return first, (levels[first_day_slots:], speeds[first_day_slots:])
