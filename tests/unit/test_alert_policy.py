"""Alert policy: k of the last n, evidence, cooldown, escalation, acknowledgement, duplicates,
clock edges.

Property-based (hypothesis) over random clip sequences, plus a few worked scenarios.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from humwatch.alerts.evidence import DEFAULT_NORMAL_GAP, normal_gap
from humwatch.alerts.policy import (
    AlertDecision,
    AlertPolicy,
    AlertReason,
    AlertState,
    ClipFlag,
    Severity,
    acknowledge,
    evaluate,
    window_evidence,
)

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

# One clip: (anomalous?, ratio, minutes since the previous clip)
clip_steps = st.lists(
    st.tuples(st.booleans(), st.floats(0.1, 5.0), st.integers(0, 30)),
    min_size=1,
    max_size=40,
)
policies = st.builds(
    lambda n, k_frac, cooldown, critical, evidence: AlertPolicy(
        k=max(1, round(n * k_frac)),
        n=n,
        cooldown=timedelta(minutes=cooldown),
        critical_ratio=critical,
        evidence_threshold=evidence,
    ),
    st.integers(1, 7),
    st.floats(0.0, 1.0),
    st.integers(0, 120),
    st.floats(1.2, 4.0),
    st.one_of(st.just(0.0), st.floats(2.0, 10.0)),
)


def reference_evidence(policy: AlertPolicy, window: list[ClipFlag]) -> float:
    """Brute force: the best sum of capped log(ratio) / gap + allowance over the newest clips."""
    per_clip = [
        min(math.log(f.ratio) / f.normal_gap + policy.evidence_allowance, policy.evidence_cap) for f in window
    ]
    return max([0.0] + [sum(per_clip[i:]) for i in range(len(per_clip))])


def rule_holds(policy: AlertPolicy, window: list[ClipFlag]) -> bool:
    by_count = sum(f.is_anomaly for f in window) >= policy.k
    by_evidence = policy.evidence_threshold > 0 and (
        reference_evidence(policy, window) >= policy.evidence_threshold - 1e-9
    )
    return by_count or by_evidence


def make_flags(steps: list[tuple[bool, float, int]], start: datetime = T0) -> list[ClipFlag]:
    flags, t = [], start
    for i, (anomalous, ratio, gap) in enumerate(steps):
        t = t + timedelta(minutes=gap)
        # A clip is anomalous exactly when its ratio is over 1 (score > threshold).
        ratio = max(ratio, 1.01) if anomalous else min(ratio, 0.99)
        flags.append(ClipFlag(clip_id=f"clip-{i:03d}", captured_at=t, is_anomaly=anomalous, ratio=ratio))
    return flags


def run(
    policy: AlertPolicy, flags: list[ClipFlag], state: AlertState | None = None
) -> tuple[AlertState, list[tuple[ClipFlag, AlertDecision]]]:
    state = state or AlertState()
    alerts = []
    for flag in flags:
        state, decision = evaluate(policy, state, flag)
        if decision is not None:
            alerts.append((flag, decision))
    return state, alerts


def flag(i: int, minutes: float, anomalous: bool = True, ratio: float = 1.5) -> ClipFlag:
    return ClipFlag(f"c{i}", T0 + timedelta(minutes=minutes), anomalous, ratio)


# --- properties ------------------------------------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(policy=policies, steps=clip_steps)
def test_an_alert_fires_only_when_k_of_n_or_the_evidence_rule_holds(policy, steps):
    # Given any in-order clip sequence
    flags = make_flags(steps)
    # When it is folded through the policy
    _, alerts = run(policy, flags)
    # Then every alert is backed by >= k anomalous clips among the last n up to that clip, or by
    # evidence over them (recomputed here by brute force) at least the policy's threshold
    for fired_on, decision in alerts:
        upto = [f for f in flags if (f.captured_at, f.clip_id) <= (fired_on.captured_at, fired_on.clip_id)]
        window = upto[-policy.n :]
        assert rule_holds(policy, window)
        if policy.evidence_threshold == 0:
            assert decision.anomalous_count >= policy.k
        assert decision.window <= policy.n
        assert decision.clip_ids and set(decision.clip_ids) <= {f.clip_id for f in window}
        assert decision.max_ratio == max(f.ratio for f in window if f.clip_id in decision.clip_ids)
        expected = Severity.CRITICAL if decision.max_ratio >= policy.critical_ratio else Severity.WARNING
        assert decision.severity is expected


@settings(max_examples=300, deadline=None)
@given(policy=policies, steps=clip_steps)
def test_alerts_respect_the_cooldown_unless_severity_rises(policy, steps):
    _, alerts = run(policy, make_flags(steps))
    for (f1, d1), (f2, d2) in itertools.pairwise(alerts):
        assert f2.captured_at - f1.captured_at >= policy.cooldown or d2.severity.rank > d1.severity.rank


@settings(max_examples=200, deadline=None)
@given(policy=policies, steps=clip_steps)
def test_the_first_time_the_rule_holds_an_alert_fires(policy, steps):
    # Given a fresh device, when its window first holds k anomalous clips or enough evidence,
    # then that clip alerts
    flags = make_flags(steps)
    state = AlertState()
    for i, f in enumerate(flags):
        state, decision = evaluate(policy, state, f)
        window = flags[: i + 1][-policy.n :]
        if rule_holds(policy, window):
            assert decision is not None and decision.reason is AlertReason.NEW_EPISODE
            break
        assert decision is None


@settings(max_examples=200, deadline=None)
@given(policy=policies, steps=clip_steps, data=st.data())
def test_redelivered_clips_change_nothing(policy, steps, data):
    # Given a sequence where some clips are delivered again right after their first delivery
    flags = make_flags(steps)
    repeats = data.draw(st.lists(st.booleans(), min_size=len(flags), max_size=len(flags)))
    with_dupes = [x for f, again in zip(flags, repeats, strict=True) for x in ([f, f] if again else [f])]
    # Then the state and the alerts are the same as without the duplicates
    clean_state, clean_alerts = run(policy, flags)
    dup_state, dup_alerts = run(policy, with_dupes)
    assert dup_state == clean_state
    assert [(f.clip_id, d) for f, d in dup_alerts] == [(f.clip_id, d) for f, d in clean_alerts]


@settings(max_examples=200, deadline=None)
@given(policy=policies, steps=clip_steps)
def test_a_clip_older_than_a_full_window_is_ignored(policy, steps):
    flags = make_flags(steps, start=T0 + timedelta(days=1))
    state, _ = run(policy, flags)
    stale = ClipFlag("stale", T0, True, 9.0)
    if len(state.recent) == policy.n:
        assert evaluate(policy, state, stale) == (state, None)


@settings(max_examples=150, deadline=None)
@given(policy=policies, steps=clip_steps, hours=st.integers(-12, 14))
def test_time_zones_do_not_change_decisions(policy, steps, hours):
    # The same instants written with another UTC offset give the same decisions
    flags = make_flags(steps)
    tz = timezone(timedelta(hours=hours))
    shifted = [replace(f, captured_at=f.captured_at.astimezone(tz)) for f in flags]
    _, a = run(policy, flags)
    _, b = run(policy, shifted)
    assert [(f.clip_id, d) for f, d in a] == [(f.clip_id, d) for f, d in b]


@settings(max_examples=150, deadline=None)
@given(
    policy=policies.filter(lambda p: p.k <= p.n),
    count=st.integers(1, 30),
    ratio=st.floats(1.01, 1.19),
)
def test_after_an_ack_the_same_episode_never_alerts_again_at_the_same_severity(policy, count, ratio):
    # Given a device that alerted on a run of anomalous clips and was acknowledged
    flags = [flag(i, i * 10, True, ratio) for i in range(policy.k)]
    state, alerts = run(policy, flags)
    assert alerts  # (the evidence rule may fire before the k-th clip, and remind with no cooldown)
    state = acknowledge(state, flags[-1].captured_at + timedelta(minutes=1))
    # When the same episode continues (still anomalous, same severity) for hours, even past cooldown
    more = [flag(100 + i, policy.k * 10 + i * 60, True, ratio) for i in range(count)]
    _, later = run(policy, more, state)
    # Then no reminder is sent
    assert later == []


@settings(max_examples=200, deadline=None)
@given(policy=policies, steps=clip_steps)
def test_evidence_matches_the_brute_force_sum(policy, steps):
    window = tuple(make_flags(steps)[-policy.n :])
    evidence, run_clips = window_evidence(policy, window)
    assert evidence == pytest.approx(reference_evidence(policy, list(window)), abs=1e-9)
    # and the run is the newest clips of the window
    assert run_clips == window[len(window) - len(run_clips) :]


@settings(max_examples=200, deadline=None)
@given(ratio=st.floats(0.01, 1e6), n=st.integers(2, 10), k=st.integers(2, 10))
def test_one_clip_alone_never_alerts_however_loud(ratio, n, k):
    # Given the default evidence settings (cap 1.25 < threshold 2.5) and a k-of-n needing >= 2 clips
    policy = AlertPolicy(k=min(k, n), n=n)
    # When a fresh device sends a single clip, however far over the threshold
    _, decision = evaluate(policy, AlertState(), flag(0, 0, ratio > 1.0, ratio))
    # Then nothing is sent: one freak clip is not an alert
    assert decision is None


# --- scenarios -------------------------------------------------------------------------------------
# k-of-n alone (evidence off), so each scenario tests one rule; the evidence rule has its own below.
POLICY = AlertPolicy(k=3, n=5, cooldown=timedelta(minutes=60), critical_ratio=2.0, evidence_threshold=0.0)
EVIDENCE_POLICY = AlertPolicy(k=5, n=8, cooldown=timedelta(minutes=60), critical_ratio=2.0)


def test_clips_just_under_the_threshold_alert_on_evidence_where_k_of_n_stays_silent():
    # Given a machine whose every clip now scores 0.9x the threshold (none crosses it)
    near = [flag(i, 5 * i, False, 0.9) for i in range(8)]
    # When k-of-n alone judges them, nothing fires
    assert run(replace(EVIDENCE_POLICY, evidence_threshold=0.0), near)[1] == []
    # Then the evidence rule fires on the sixth: with the default gap (2.0) each adds
    # log(0.9) / 2 + 0.5 = 0.447, and 6 x 0.447 >= 2.5 > 5 x 0.447
    _, alerts = run(EVIDENCE_POLICY, near)
    assert [f.clip_id for f, _ in alerts] == ["c5"]
    decision = alerts[0][1]
    assert decision.anomalous_count == 0
    assert decision.evidence == pytest.approx(6 * (math.log(0.9) / 2 + 0.5), abs=1e-3)
    assert decision.severity is Severity.WARNING and len(decision.clip_ids) == 6


def test_two_clips_far_over_the_threshold_alert_at_once():
    # Each clip at >= e^1.5 = 4.5x the threshold adds the cap (1.25 at gap 2.0): two reach 2.5
    normal = [flag(i, 5 * i, False, 0.15) for i in range(8)]
    _, alerts = run(EVIDENCE_POLICY, [*normal, flag(8, 40, True, 6.0), flag(9, 45, True, 7.0)])
    assert [f.clip_id for f, _ in alerts] == ["c9"]
    assert alerts[0][1].severity is Severity.CRITICAL and alerts[0][1].max_ratio == 7.0


def test_typical_normal_clips_leave_no_evidence():
    # A normal clip scores ~0.15x the threshold: it takes evidence away, it never adds up
    window = tuple(flag(i, 5 * i, False, 0.15) for i in range(8))
    assert window_evidence(EVIDENCE_POLICY, window)[0] == 0.0
    # and one clip at the threshold among them leaves exactly its own allowance, 0.5
    mixed = (*window[1:], flag(8, 40, True, 1.0))
    assert window_evidence(EVIDENCE_POLICY, mixed)[0] == pytest.approx(0.5)


def test_evidence_is_measured_in_each_models_own_normal_gap():
    # Given a model whose normal clips sit at 0.7x its threshold (gap log(1/0.7) = 0.36) and one
    # whose normal clips sit at 0.14x (gap 2.0, the spectral-gauss norm)
    tight = normal_gap(1.0, 0.7)
    assert tight == pytest.approx(math.log(1 / 0.7))
    # When each sends eight clips at 0.8x its threshold
    clips = [flag(i, 5 * i, False, 0.8) for i in range(8)]
    from_tight = [replace(f, normal_gap=tight) for f in clips]
    # Then for the tight model that is ordinary sound and builds no evidence ...
    assert window_evidence(EVIDENCE_POLICY, tuple(from_tight))[0] == 0.0
    assert run(EVIDENCE_POLICY, from_tight)[1] == []
    # ... while for the other it is far above its normal and alerts
    assert len(run(EVIDENCE_POLICY, clips)[1]) == 1


def test_a_model_without_score_samples_gets_the_default_gap():
    assert normal_gap(1.0, None) == DEFAULT_NORMAL_GAP
    assert normal_gap(1.0, 1.5) > 0  # normal clips over the threshold: a floor, never negative


def test_evidence_does_not_depend_on_arrival_order():
    # Given the same eight clips delivered in capture order and shuffled
    clips = [flag(i, 5 * i, r > 1.0, r) for i, r in enumerate([0.2, 0.9, 1.2, 0.8, 1.1, 0.95, 0.3, 1.3])]
    shuffled = [clips[i] for i in (3, 0, 7, 5, 1, 6, 2, 4)]
    in_order, _ = run(EVIDENCE_POLICY, clips)
    out_of_order, _ = run(EVIDENCE_POLICY, shuffled)
    # Then the window and its evidence are the same
    assert in_order.recent == out_of_order.recent
    assert window_evidence(EVIDENCE_POLICY, in_order.recent) == window_evidence(
        EVIDENCE_POLICY, out_of_order.recent
    )


def test_an_evidence_episode_closes_once_clips_are_normal_again():
    near = [flag(i, 5 * i, False, 0.9) for i in range(6)]
    state, alerts = run(EVIDENCE_POLICY, near)
    assert len(alerts) == 1 and state.episode_open
    # one more clip near the threshold keeps the episode open (evidence still high)
    state, _ = run(EVIDENCE_POLICY, [flag(6, 30, False, 0.9)], state)
    assert state.episode_open
    # normal clips bring the evidence below half the threshold: the episode closes
    state, _ = run(EVIDENCE_POLICY, [flag(7 + i, 35 + 5 * i, False, 0.15) for i in range(3)], state)
    assert not state.episode_open


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"evidence_threshold": -1.0}, "evidence_threshold"), ({"evidence_cap": 0.0}, "evidence_cap")],
)
def test_a_bad_evidence_setting_is_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        AlertPolicy(**changes)


def test_three_of_five_anomalous_fires_a_warning_once():
    state, alerts = run(POLICY, [flag(0, 0), flag(1, 5, False, 0.5), flag(2, 10), flag(3, 15), flag(4, 20)])
    assert len(alerts) == 1
    fired_on, decision = alerts[0]
    assert fired_on.clip_id == "c3"
    assert decision.severity is Severity.WARNING and decision.anomalous_count == 3 and decision.window == 4
    assert state.episode_open


def test_rising_severity_alerts_inside_the_cooldown():
    state, alerts = run(POLICY, [flag(0, 0), flag(1, 5), flag(2, 10)])
    assert [d.severity for _, d in alerts] == [Severity.WARNING]
    state, decision = evaluate(POLICY, state, flag(3, 15, True, 2.5))
    assert decision is not None
    assert decision.severity is Severity.CRITICAL and decision.reason is AlertReason.ESCALATION
    # and the same critical level again inside the cooldown stays quiet
    _, again = evaluate(POLICY, state, flag(4, 20, True, 2.6))
    assert again is None


def test_an_unacknowledged_episode_is_reminded_after_the_cooldown():
    state, _ = run(POLICY, [flag(0, 0), flag(1, 5), flag(2, 10)])
    state, quiet = evaluate(POLICY, state, flag(3, 40))
    assert quiet is None
    _, reminder = evaluate(POLICY, state, flag(4, 71))
    assert reminder is not None and reminder.reason is AlertReason.REMINDER


def test_after_an_ack_a_higher_severity_or_a_new_episode_alerts_again():
    state, _ = run(POLICY, [flag(0, 0), flag(1, 5), flag(2, 10)])
    state = acknowledge(state, T0 + timedelta(minutes=11))
    assert state.is_acknowledged
    # same episode, same severity, long after the cooldown: quiet
    state, d = evaluate(POLICY, state, flag(3, 200))
    assert d is None
    # escalation: alerts even though acknowledged
    _, d = evaluate(POLICY, state, flag(4, 205, True, 3.0))
    assert d is not None and d.reason is AlertReason.ESCALATION
    # a new episode: five normal clips close it, then k anomalous open a new one
    normals = [flag(10 + i, 210 + i, False, 0.4) for i in range(5)]
    state, d_list = run(POLICY, normals, state)
    assert d_list == [] and not state.episode_open
    _, alerts = run(POLICY, [flag(20, 300), flag(21, 301), flag(22, 302)], state)
    assert len(alerts) == 1 and alerts[0][1].reason is AlertReason.NEW_EPISODE


def test_a_backwards_clock_cannot_shorten_the_cooldown():
    # Given an alert at 12:10 ...
    state, alerts = run(POLICY, [flag(0, 0), flag(1, 5), flag(2, 10)])
    assert len(alerts) == 1
    # ... and a new episode whose clips carry times before the alert (device clock jumped back)
    normals = [flag(10 + i, 11 + i, False, 0.4) for i in range(5)]
    state, _ = run(POLICY, normals, state)
    late = [flag(20 + i, 20 + i) for i in range(3)]
    _, again = run(POLICY, late, state)
    # Then the cooldown still holds: the policy's clock never goes backwards
    assert again == []


def test_a_late_clip_inside_the_window_counts():
    # Out-of-order delivery: the 3rd anomalous clip arrives after a newer normal one
    state, alerts = run(POLICY, [flag(0, 0), flag(1, 5), flag(3, 15, False, 0.5)])
    assert alerts == []
    _, decision = evaluate(POLICY, state, flag(2, 10))
    assert decision is not None and decision.anomalous_count == 3


@pytest.mark.parametrize(("k", "n"), [(0, 5), (6, 5), (-1, 3)])
def test_an_impossible_policy_is_refused(k, n):
    with pytest.raises(ValueError, match="k <= n"):
        AlertPolicy(k=k, n=n)


@pytest.mark.parametrize(("seconds_after", "fires"), [(3599, False), (3600, True)])
def test_the_cooldown_boundary_is_inclusive(seconds_after, fires):
    # Given an alert on the clip at minute 10
    state, _ = run(POLICY, [flag(0, 0), flag(1, 5), flag(2, 10)])
    assert state.last_alert_at == T0 + timedelta(minutes=10)
    # When the episode continues exactly at / just before the end of the cooldown
    late = ClipFlag("late", T0 + timedelta(minutes=10, seconds=seconds_after), True, 1.5)
    _, decision = evaluate(POLICY, state, late)
    # Then a reminder is sent only once the full cooldown has passed
    assert (decision is not None) is fires
