"""Alert-level simulation: the replay through the real policy, drift, pools, the whole loop."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import numpy as np

from humwatch.alerts.policy import AlertPolicy
from humwatch.research.simulation import (
    CLIP_INTERVAL,
    STREAM_START,
    DriftModel,
    NormalPool,
    SimulationPlan,
    TrainingMode,
    first_alert_delay,
    first_day_split,
    flags_from_ratios,
    recommend,
    replay,
    run_simulation,
    run_training_comparison,
)
from humwatch.research.simulation.machine import prepare_machine


def test_three_of_five_fires_on_the_third_anomalous_clip_and_respects_the_cooldown() -> None:
    # Given a 3-of-5 policy and a run of anomalous clips 5 minutes apart
    policy = AlertPolicy(k=3, n=5, cooldown=timedelta(minutes=60), evidence_threshold=0.0)
    flags = flags_from_ratios([0.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5], STREAM_START, "t")
    # When replayed through the same evaluate() the Lambda runs
    sent = replay(policy, flags)
    # Then exactly one alert, at the third anomalous clip (still in cooldown afterwards)
    assert sent == [STREAM_START + 3 * CLIP_INTERVAL]


def test_delay_counts_from_the_first_faulty_clip() -> None:
    policy = AlertPolicy(k=3, n=5, evidence_threshold=0.0)
    assert first_alert_delay(policy, [0.2] * 5, [2.0] * 6) == 10.0  # clips at +0, +5, +10 min
    assert first_alert_delay(policy, [0.2] * 5, [0.9] * 6) is None  # never over the threshold
    # With the evidence rule (gap 2.0), clips at 0.9x add log(0.9) / 2 + 0.5: the sixth reaches 2.5
    with_evidence = AlertPolicy(k=3, n=8, evidence_threshold=2.5)
    assert first_alert_delay(with_evidence, [0.2] * 5, [0.9] * 8) == 25.0


def test_alerts_before_the_onset_do_not_count_as_detections() -> None:
    # Given normal clips that (falsely) fire before the onset and a fault that never does
    policy = AlertPolicy(k=1, n=1, cooldown=timedelta(0))
    assert first_alert_delay(policy, [3.0, 3.0], [0.1, 0.1]) is None


def test_drift_stays_in_its_envelope_and_moves_slowly() -> None:
    drift = DriftModel(level_drift_db=1.5, speed_drift=0.01)
    level, speed = drift.trajectory(8640, np.random.default_rng(0))
    assert np.abs(level).max() <= 1.5 and np.abs(speed).max() <= 0.01
    assert np.abs(np.diff(level)).max() < 0.2  # dB per 5 minutes: slow
    assert level.std() > 0.2  # and it does drift


def test_pool_draws_from_the_cell_of_the_drift_state() -> None:
    drift = DriftModel(level_drift_db=1.0, speed_drift=0.01)
    pool = NormalPool(
        drift=drift, cells=2, scores=[[np.array([1.0]), np.array([2.0])], [np.array([3.0]), np.array([4.0])]]
    )
    rng = np.random.default_rng(0)
    out = pool.draw(np.array([-0.9, -0.9, 0.9, 0.9]), np.array([-0.005, 0.005, -0.005, 0.005]), rng)
    assert out.tolist() == [1.0, 2.0, 3.0, 4.0]


def _grid_row(k: int, false_per_month: float, delays: list[float | None]) -> dict[str, object]:
    """A grid row as `StreamResult.to_dict` writes it, with one fault's step-stream delays."""
    hits = sorted(d for d in delays if d is not None)
    summary = {
        "streams": len(delays),
        "detected": len(hits),
        "within_30_min": sum(1 for d in hits if d <= 30.0),
        "median_min": hits[len(hits) // 2] if hits else None,
        "max_min": hits[-1] if hits else None,
        "delays_min": delays,
    }
    return {
        "k": k,
        "n": 5,
        "target_fpr": 0.01,
        "false_alerts_per_machine_month": false_per_month,
        "step_fault_delay": {"speed": summary},
    }


def test_recommend_prefers_fast_detection_within_the_false_alert_budget() -> None:
    # Given a loud point, a quiet one that detects both streams and a quieter one that detects one
    grid = [_grid_row(1, 9.0, [0.0, 0.0]), _grid_row(2, 0.5, [5.0, 5.0]), _grid_row(3, 0.1, [10.0, None])]
    # When the default budget (1 false alert per machine-month, 30 minutes) picks one
    # Then it is the quiet point that detects the most within 30 minutes, and the rule says why
    assert recommend(grid) == {
        "k": 2,
        "n": 5,
        "evidence": 0.0,
        "target_fpr": 0.01,
        "rule": "most step faults alerted within 30 min with <= 1 false alerts per machine-month",
    }
    # And no point qualifies when all are over the budget
    assert recommend([_grid_row(1, 9.0, [0.0, 0.0])]) is None


def test_recommend_counts_detections_within_the_minutes_it_is_given() -> None:
    # Given a point that alerts two streams within 10 minutes and one that alerts three at 40
    grid = [_grid_row(2, 0.1, [10.0, 10.0, None]), _grid_row(3, 0.1, [40.0, 40.0, 40.0])]
    # When asked for the most detections within 30 minutes, and then within 60
    within_30 = recommend(grid, within_min=30.0)
    within_60 = recommend(grid, within_min=60.0)
    # Then the fast point wins at 30 minutes, the thorough one at 60, and the rule names the limit
    assert within_30 is not None and within_30["k"] == 2
    assert within_60 is not None and within_60["k"] == 3
    assert within_60["rule"].startswith("most step faults alerted within 60 min ")


def test_a_repeated_policy_is_one_grid_point() -> None:
    # Given a plan whose grid names 3/5 twice
    plan = SimulationPlan(policies=((3, 5), (3, 5), (5, 8)), fprs=(0.01,), evidences=(0.0,))
    # When its grid points are listed
    points = plan.points()
    # Then each rule appears once, in the order given (no stream is counted twice for 3/5)
    assert [p.rule for p in points] == ["3/5", "5/8"]


def test_a_ramp_reaches_full_severity_after_its_hours_and_stays_there() -> None:
    plan = SimulationPlan(ramp_hours=1.0, ramp_max_clips=15)
    severities = list(plan.ramp_severities())
    assert len(severities) == 15
    assert severities[0] == 1 / 12 and severities[11] == 1.0  # 12 clips of 5 minutes = 1 hour
    assert severities[12:] == [1.0, 1.0, 1.0]


def _tone_source(
    machine_seed: int, *, fault: str | None, severity: float, speed_offset: float, gain_db: float, seed: int
) -> np.ndarray:
    """A cheap stand-in machine: noise plus a hum; a fault adds a loud 900 Hz whine."""
    rng = np.random.default_rng([machine_seed, seed])
    t = np.arange(32000) / 16000
    x = 0.02 * rng.standard_normal(t.size) + 0.05 * np.sin(2 * np.pi * 120.0 * (1 + speed_offset) * t)
    if fault is not None:
        x = x + 0.2 * severity * np.sin(2 * np.pi * 900.0 * t)
    return (x * 10 ** (gain_db / 20)).astype(np.float32)


def test_the_whole_loop_counts_false_alerts_and_detects_an_obvious_fault(tmp_path: object) -> None:
    # Given a tiny plan over a synthetic stand-in machine
    plan = SimulationPlan(
        machines=1,
        days=2,
        train_clips=12,
        cells=2,
        per_cell=3,
        fault_streams=1,
        step_clips=6,
        ramp_max_clips=12,
        ramp_hours=1.0,
        policies=((3, 5),),
        fprs=(0.01,),
        evidences=(0.0, 2.5),
    )
    # When it runs
    report = run_simulation(plan, None, source=_tone_source)
    by_evidence = {row["evidence"]: row for row in report["grid"]}
    # Then the normal stream is quiet and every obvious step fault alerts at the third clip under
    # 3 of 5, and at the second with the evidence rule (two clips far over the threshold reach 2.5)
    for evidence, delay in ((0.0, 10.0), (2.5, 5.0)):
        row = by_evidence[evidence]
        assert row["false_alerts"] <= 1
        for summary in row["step_fault_delay"].values():
            assert summary["detected"] == 1 and summary["max_min"] == delay
    assert report["recommended"]["k"] == 3 and report["recommended"]["evidence"] == 2.5
    # And the report says the model was trained offline across the envelope (the default mode)
    assert report["plan"]["training"] == "envelope" and report["plan"]["train_clips"] == 12


def _tiny_plan(**changes: object) -> SimulationPlan:
    """One machine, one replayed day, a one-hour baseline (12 clips) in first-day mode."""
    plan = SimulationPlan(
        machines=1,
        days=1,
        train_clips=12,
        baseline_hours=1.0,
        cells=2,
        per_cell=3,
        fault_streams=1,
        step_clips=6,
        ramp_max_clips=12,
        ramp_hours=1.0,
        policies=((5, 8),),
        fprs=(0.02,),
        evidences=(2.5,),
    )
    return plan.with_grid(**changes)


class _RecordingSource:
    """The stand-in machine, remembering the (level dB, speed offset) of every clip it makes."""

    def __init__(self) -> None:
        self.states: list[tuple[float, float]] = []

    def __call__(
        self,
        machine_seed: int,
        *,
        fault: str | None,
        severity: float,
        speed_offset: float,
        gain_db: float,
        seed: int,
    ) -> np.ndarray:
        self.states.append((gain_db, speed_offset))
        return _tone_source(
            machine_seed,
            fault=fault,
            severity=severity,
            speed_offset=speed_offset,
            gain_db=gain_db,
            seed=seed,
        )


def test_a_device_commissioned_on_its_first_day_trains_on_that_days_drift_path() -> None:
    # Given a first-day plan (a 1 h baseline: 12 clips) and the drift path its generator draws
    plan = _tiny_plan(training=TrainingMode.FIRST_DAY)
    first_day, after = first_day_split(plan.drift, 12, plan.normal_slots(), np.random.default_rng(7))
    source = _RecordingSource()
    # When the machine is prepared from a generator in the same state
    machine = prepare_machine(plan, 200, source, np.random.default_rng(7), lambda _n: None)
    # Then its 12 training clips are made at the path's first 12 states, in order...
    trained_at = np.array(source.states[:12])
    assert plan.training_clips() == 12
    np.testing.assert_array_equal(trained_at[:, 0], first_day[0])
    np.testing.assert_array_equal(trained_at[:, 1], first_day[1])
    # ...a slowly moving path, not states drawn across the envelope...
    assert np.abs(np.diff(trained_at[:, 0])).max() < 0.2
    # ...and the replayed stream is the same path from the slot after the baseline on
    np.testing.assert_array_equal(machine.levels, after[0])
    np.testing.assert_array_equal(machine.speeds, after[1])
    assert len(machine.levels) == plan.normal_slots()


def test_envelope_training_draws_its_clips_across_the_whole_envelope() -> None:
    # Given the default (offline) mode
    plan = _tiny_plan(train_clips=40)
    source = _RecordingSource()
    # When the machine is prepared
    prepare_machine(plan, 200, source, np.random.default_rng(7), lambda _n: None)
    # Then consecutive training clips jump around the envelope instead of following a path
    levels = np.array(source.states[:40])[:, 0]
    assert np.abs(np.diff(levels)).max() > 1.0
    assert np.abs(levels).max() <= plan.drift.level_drift_db


def test_the_first_day_is_the_products_baseline_of_288_clips() -> None:
    # cdk.json baselineClips / baselineHours: 288 clips over 24 h
    assert SimulationPlan(training=TrainingMode.FIRST_DAY).training_clips() == 288
    assert SimulationPlan().training_clips() == SimulationPlan().train_clips


def test_both_modes_run_on_the_same_machines_and_are_named_side_by_side(tmp_path: Path) -> None:
    # Given the default policy's grid point and the stand-in machine
    plan = _tiny_plan()
    # When both training modes run
    result = run_training_comparison(plan, tmp_path, source=_tone_source)
    # Then each mode's report names its mode, and they covered the same machines
    reports = result["reports"]
    assert [reports[m]["plan"]["training"] for m in ("envelope", "first-day")] == ["envelope", "first-day"]
    assert reports["envelope"]["plan"]["machine_seeds"] == reports["first-day"]["plan"]["machine_seeds"]
    # And the side-by-side row pools each mode's step streams over the faults
    row = result["comparison"]["grid"][0]
    assert row["default_policy"]
    for mode in ("envelope", "first-day"):
        steps = reports[mode]["grid"][0]["step_fault_delay"].values()
        assert row[mode]["steps_within_30_min"] == sum(s["within_30_min"] for s in steps)
        assert row[mode]["step_streams"] == 5
    # And alerts.md/alerts.json say which mode each number comes from
    markdown = (tmp_path / "alerts.md").read_text()
    assert "commissioning (`--training first-day`)" in markdown
    assert "offline (`--training envelope`)" in markdown
    assert "| **5/8 or evidence 2.5 @ 0.02** (default" in markdown
    assert json.loads((tmp_path / "alerts.json").read_text())["comparison"]["modes"] == [
        "envelope",
        "first-day",
    ]


def test_a_single_first_day_report_names_its_mode(tmp_path: Path) -> None:
    # Given a first-day run written to a folder
    run_simulation(_tiny_plan(training=TrainingMode.FIRST_DAY), tmp_path, source=_tone_source)
    # Then alerts.json and alerts.md say the model learnt the machine's first day
    report = json.loads((tmp_path / "alerts.json").read_text())
    assert report["plan"]["training"] == "first-day" and report["plan"]["train_clips"] == 12
    assert "Training: commissioning (`--training first-day`)" in (tmp_path / "alerts.md").read_text()
