"""When does a run of anomalous clips become an alert a person receives?

A pure function over a small per-device state, so the rule can be property-tested without I/O and
replayed from the history table. The rule:

- The window is the `n` most recent clips by capture time (not arrival time: retries and spooled
  uploads arrive out of order). A clip already in the window is a duplicate and changes nothing.
- The device is *firing* when at least `k` clips in the window are anomalous. Severity is CRITICAL
  when the highest ratio (score / threshold) among those anomalous clips reaches `critical_ratio`.
- An *episode* opens when the device starts firing and closes only when the window holds no
  anomalous clip at all, so a machine flapping around k-of-n stays one episode instead of paging
  people again and again.
- Within `cooldown` of the last alert nothing is sent unless severity rises. After the cooldown an
  open, unacknowledged episode is re-sent as a reminder; an acknowledged one stays quiet until a new
  episode starts or severity rises.
- "Now" is the newest capture time seen, so a device whose clock jumps backwards cannot shorten
  the cooldown (negative elapsed time counts as "still in cooldown").
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum


class Severity(StrEnum):
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {Severity.WARNING: 1, Severity.CRITICAL: 2}


class AlertReason(StrEnum):
    NEW_EPISODE = "new_episode"
    ESCALATION = "escalation"
    REMINDER = "reminder"


@dataclass(frozen=True)
class AlertPolicy:
    # 4 of the last 6 clips, with models calibrated at a 2% per-clip false-positive rate: the
    # setting `humwatch simulate-alerts` recommends (about 0.2 false alerts per machine-month on
    # drifting normal streams, most moderate faults alerted within 30 minutes; docs/detectors.md).
    # config.py and the CDK settings take their defaults from here.
    k: int = 4
    n: int = 6
    cooldown: timedelta = timedelta(minutes=60)
    critical_ratio: float = 2.0

    def __post_init__(self) -> None:
        if not 1 <= self.k <= self.n:
            raise ValueError(f"alert policy needs 1 <= k <= n, got k={self.k} n={self.n}")
        if self.cooldown < timedelta(0):
            raise ValueError("alert cooldown must not be negative")
        if self.critical_ratio <= 0:
            raise ValueError("critical_ratio must be positive")


@dataclass(frozen=True)
class ClipFlag:
    clip_id: str
    captured_at: datetime
    is_anomaly: bool
    ratio: float


@dataclass(frozen=True)
class AlertState:
    recent: tuple[ClipFlag, ...] = ()
    last_alert_at: datetime | None = None
    last_severity: Severity | None = None
    acked_at: datetime | None = None
    episode_open: bool = False
    # Newest capture time ever seen: the policy's clock (never moves backwards).
    clock: datetime | None = None

    @property
    def is_acknowledged(self) -> bool:
        """An ack counts for the alert it followed; a later alert needs a new ack."""
        if self.acked_at is None:
            return False
        return self.last_alert_at is None or self.acked_at >= self.last_alert_at


@dataclass(frozen=True)
class AlertDecision:
    severity: Severity
    anomalous_count: int
    window: int
    max_ratio: float
    reason: AlertReason
    clip_ids: tuple[str, ...] = field(default=())  # the anomalous clips that made it fire


def _ordered(flags: tuple[ClipFlag, ...]) -> tuple[ClipFlag, ...]:
    return tuple(sorted(flags, key=lambda f: (f.captured_at, f.clip_id)))


def acknowledge(state: AlertState, at: datetime) -> AlertState:
    """The operator has seen the alert: stay quiet for the rest of this episode."""
    return replace(state, acked_at=at)


def evaluate(
    policy: AlertPolicy, state: AlertState, flag: ClipFlag
) -> tuple[AlertState, AlertDecision | None]:
    """Fold one clip into the device's state; return the new state and the alert to send, if any."""
    if any(f.clip_id == flag.clip_id for f in state.recent):
        return state, None  # redelivered clip: already counted
    window = _ordered((*state.recent, flag))[-policy.n :]
    if flag not in window:
        # Older than every clip in a full window: history, not news. It cannot change the verdict.
        return state, None
    clock = flag.captured_at if state.clock is None else max(state.clock, flag.captured_at)
    anomalous = [f for f in window if f.is_anomaly]
    new_state = replace(state, recent=window, clock=clock)

    if len(anomalous) < policy.k:
        # Close the episode only once the window is entirely normal (hysteresis against flapping).
        return (replace(new_state, episode_open=False) if not anomalous else new_state), None

    max_ratio = max(f.ratio for f in anomalous)
    severity = Severity.CRITICAL if max_ratio >= policy.critical_ratio else Severity.WARNING
    rises = state.last_severity is not None and severity.rank > state.last_severity.rank
    in_cooldown = state.last_alert_at is not None and clock - state.last_alert_at < policy.cooldown

    reason: AlertReason | None
    if not state.episode_open:
        reason = AlertReason.NEW_EPISODE if (not in_cooldown or rises) else None
    elif rises:
        reason = AlertReason.ESCALATION
    elif state.is_acknowledged or in_cooldown:
        reason = None
    else:
        reason = AlertReason.REMINDER

    new_state = replace(new_state, episode_open=True)
    if reason is None:
        return new_state, None
    decision = AlertDecision(
        severity=severity,
        anomalous_count=len(anomalous),
        window=len(window),
        max_ratio=max_ratio,
        reason=reason,
        clip_ids=tuple(f.clip_id for f in anomalous),
    )
    return replace(new_state, last_alert_at=clock, last_severity=severity), decision
