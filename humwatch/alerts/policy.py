"""When does a run of anomalous clips become an alert a person receives?

A pure function over a small per-device state, so the rule can be property-tested without I/O and
replayed from the history table. The rule:

- The window is the `n` most recent clips by capture time (not arrival time: retries and spooled
  uploads arrive out of order). A clip already in the window is a duplicate and changes nothing.
- The device is *firing* when at least `k` clips in the window are anomalous, or when the window's
  *evidence* reaches `evidence_threshold`. Evidence is a CUSUM over the window's newest clips in
  the model's own units: a clip's position is log(ratio) / normal_gap, where normal_gap is the
  log distance from the model's typical normal score to its threshold (0 at the threshold, -1 for
  a typical normal clip, whatever the model). Each clip adds its position + `evidence_allowance`,
  capped at `evidence_cap`, and the evidence is the largest such sum over the newest clips (0 if
  every such sum is negative). A clip that scores a little under the threshold still counts a
  little, so a fault that lifts every clip to just below it is heard within minutes, where k-of-n
  waits for clips to cross the line one by one; the cap keeps one freak clip from alerting
  alone. It is recomputed from the window in capture order, so out-of-order arrival changes
  nothing.
- Severity is CRITICAL when the highest ratio (score / threshold) among the clips that made the
  device fire reaches `critical_ratio`.
- An *episode* opens when the device starts firing and closes only when the window holds no
  anomalous clip at all and the evidence has fallen below half its threshold, so a machine
  flapping around the rule stays one episode instead of paging people again and again.
- Within `cooldown` of the last alert nothing is sent unless severity rises. After the cooldown an
  open, unacknowledged episode is re-sent as a reminder; an acknowledged one stays quiet until a new
  episode starts or severity rises.
- "Now" is the newest capture time seen, so a device whose clock jumps backwards cannot shorten
  the cooldown (negative elapsed time counts as "still in cooldown").
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from humwatch.alerts.evidence import DEFAULT_NORMAL_GAP, MIN_GAP


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
    # 5 of the last 8 clips, or evidence 2.5 over them, with models calibrated at a 2% per-clip
    # false-positive rate: chosen with `humwatch simulate-alerts` (three runs, 9 machines: 0.28
    # false alerts per machine-month on drifting normal streams, 152 of 180 moderate step faults
    # alerted within 30 minutes, 126 with 4-of-6 alone; docs/detectors.md). config.py and the CDK
    # settings take their defaults from here.
    k: int = 5
    n: int = 8
    cooldown: timedelta = timedelta(minutes=60)
    critical_ratio: float = 2.0
    # Evidence (CUSUM) rule; 0 turns it off. In the model's units (see the module docstring): a
    # clip at the threshold adds 0.5, one halfway (in log terms) between a typical normal clip and
    # the threshold adds nothing, a typical normal clip takes 0.5 away, and no clip adds more than
    # 1.25 (reached 0.75 normal gaps over the threshold: 4.5x it at a gap of 2), so at least two
    # clips far over the threshold, or five at it, are needed to reach 2.5.
    evidence_threshold: float = 2.5
    evidence_allowance: float = 0.5
    evidence_cap: float = 1.25

    def __post_init__(self) -> None:
        if not 1 <= self.k <= self.n:
            raise ValueError(f"alert policy needs 1 <= k <= n, got k={self.k} n={self.n}")
        if self.cooldown < timedelta(0):
            raise ValueError("alert cooldown must not be negative")
        if self.critical_ratio <= 0:
            raise ValueError("critical_ratio must be positive")
        if self.evidence_threshold < 0:
            raise ValueError("evidence_threshold must not be negative (0 turns the evidence rule off)")
        if self.evidence_cap <= 0:
            raise ValueError("evidence_cap must be positive")

    @property
    def uses_evidence(self) -> bool:
        return self.evidence_threshold > 0


@dataclass(frozen=True)
class ClipFlag:
    clip_id: str
    captured_at: datetime
    is_anomaly: bool
    ratio: float
    # log(threshold / typical normal score) of the model that scored the clip (`normal_gap`)
    normal_gap: float = DEFAULT_NORMAL_GAP


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
    clip_ids: tuple[str, ...] = field(default=())  # the clips that made it fire
    evidence: float = 0.0  # the window's evidence when it fired (see `window_evidence`)


def _ordered(flags: tuple[ClipFlag, ...]) -> tuple[ClipFlag, ...]:
    return tuple(sorted(flags, key=lambda f: (f.captured_at, f.clip_id)))


_MIN_RATIO = 1e-6  # a score of exactly 0 (silence is rejected earlier) must not become -inf


def clip_evidence(policy: AlertPolicy, flag: ClipFlag) -> float:
    """What one clip adds: log(ratio) / normal_gap + allowance, at most the cap."""
    position = math.log(max(flag.ratio, _MIN_RATIO)) / max(flag.normal_gap, MIN_GAP)
    return min(position + policy.evidence_allowance, policy.evidence_cap)


def window_evidence(policy: AlertPolicy, window: tuple[ClipFlag, ...]) -> tuple[float, tuple[ClipFlag, ...]]:
    """The largest evidence sum over the window's newest clips, and the clips of that run.

    This is a CUSUM restarted at the window's oldest clip; recomputing it from the window in
    capture order (rather than carrying a running sum) makes it independent of arrival order and
    redelivery.
    """
    window = _ordered(window)
    best, total, start = 0.0, 0.0, len(window)
    for i in range(len(window) - 1, -1, -1):
        total += clip_evidence(policy, window[i])
        if total > best:
            best, start = total, i
    return best, window[start:]


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
    evidence, run = window_evidence(policy, window) if policy.uses_evidence else (0.0, ())
    by_count = len(anomalous) >= policy.k
    by_evidence = policy.uses_evidence and evidence >= policy.evidence_threshold

    if not (by_count or by_evidence):
        # Close the episode only once the window is normal (hysteresis against flapping).
        quiet = not anomalous and (not policy.uses_evidence or evidence < policy.evidence_threshold / 2)
        return (replace(new_state, episode_open=False) if quiet else new_state), None

    # The clips that made it fire: the anomalous ones, plus the evidence run's clips that added to it.
    culprits = {f.clip_id for f in anomalous} if by_count else set()
    if by_evidence:
        culprits |= {f.clip_id for f in run if clip_evidence(policy, f) > 0}
    firing = [f for f in window if f.clip_id in culprits]
    max_ratio = max(f.ratio for f in firing)
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
        clip_ids=tuple(f.clip_id for f in firing),
        evidence=round(evidence, 3),
    )
    return replace(new_state, last_alert_at=clock, last_severity=severity), decision


def replay(policy: AlertPolicy, flags: Iterable[ClipFlag], state: AlertState | None = None) -> list[datetime]:
    """Capture times of the clips whose arrival made the policy send an alert, feeding `flags` in
    order (the simulation's streams; a candidate model's replay of a device's history)."""
    state = state or AlertState()
    sent = []
    for flag in flags:
        state, decision = evaluate(policy, state, flag)
        if decision is not None:
            sent.append(flag.captured_at)
    return sent
