"""Clip flags through the real alert policy: a whole stream, or clip by clip from a fault's onset.

Everything here calls `humwatch.alerts.policy.evaluate`, the function the process_clip Lambda
runs, so the simulation counts the alerts the product would send.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from humwatch.alerts.evidence import DEFAULT_NORMAL_GAP
from humwatch.alerts.policy import AlertPolicy, AlertState, ClipFlag, evaluate, replay

CLIP_INTERVAL = timedelta(minutes=5)
CLIP_INTERVAL_MIN = CLIP_INTERVAL.total_seconds() / 60.0
MINUTES_PER_MONTH = 30 * 24 * 60
STREAM_START = datetime(2026, 1, 5, tzinfo=UTC)  # capture time of a stream's first clip

# `replay` lives with the policy (train_model's gate replays a device's history with it too).
__all__ = [
    "CLIP_INTERVAL",
    "MINUTES_PER_MONTH",
    "STREAM_START",
    "AlertFollower",
    "first_alert_delay",
    "flags_from_ratios",
    "replay",
]


def flags_from_ratios(
    ratios: Sequence[float], start: datetime, prefix: str, gap: float = DEFAULT_NORMAL_GAP
) -> list[ClipFlag]:
    """One flag per score/threshold ratio, 5 minutes apart from `start` (over 1.0: anomalous)."""
    return [
        ClipFlag(
            clip_id=f"{prefix}-{i}",
            captured_at=start + i * CLIP_INTERVAL,
            is_anomaly=r > 1.0,
            ratio=float(r),
            normal_gap=gap,
        )
        for i, r in enumerate(ratios)
    ]


class AlertFollower:
    """One device's stream fed clip by clip through the policy, from a fault's onset on.

    The clips before the onset set the state (an alert they cause is not a detection); `feed`
    then says whether a faulty clip alerted. Incremental, so a ramp scored one clip at a time
    costs one `evaluate` per clip and grid point instead of a replay from the start.
    """

    def __init__(
        self, policy: AlertPolicy, pre_ratios: Sequence[float], gap: float = DEFAULT_NORMAL_GAP
    ) -> None:
        self.policy = policy
        self.gap = gap
        self.state = AlertState()
        self.count = 0
        for ratio in pre_ratios:
            self._evaluate(ratio)
        self.onset = self.count

    def _evaluate(self, ratio: float) -> bool:
        flag = ClipFlag(
            clip_id=f"s-{self.count}",
            captured_at=STREAM_START + self.count * CLIP_INTERVAL,
            is_anomaly=ratio > 1.0,
            ratio=float(ratio),
            normal_gap=self.gap,
        )
        self.count += 1
        self.state, decision = evaluate(self.policy, self.state, flag)
        return decision is not None

    def feed(self, ratio: float) -> float | None:
        """Minutes from the onset to this clip if it made the policy alert, else None."""
        since_onset = self.count - self.onset
        alerted = self._evaluate(ratio)
        return since_onset * CLIP_INTERVAL_MIN if alerted else None


def first_alert_delay(
    policy: AlertPolicy,
    pre_ratios: Sequence[float],
    fault_ratios: Sequence[float],
    gap: float = DEFAULT_NORMAL_GAP,
) -> float | None:
    """Minutes from the first faulty clip to the first alert it causes (None: never alerted)."""
    follower = AlertFollower(policy, pre_ratios, gap)
    for ratio in fault_ratios:
        delay = follower.feed(ratio)
        if delay is not None:
            return delay
    return None
