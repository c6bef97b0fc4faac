"""Alert-level simulation: the replay through the real policy, drift, pools, the whole loop."""

from __future__ import annotations

from datetime import timedelta

import numpy as np

from humwatch.alerts.policy import AlertPolicy
from humwatch.simulation import (
    _START,
    CLIP_INTERVAL,
    DriftModel,
    NormalPool,
    SimulationPlan,
    first_alert_delay,
    flags_from_ratios,
    recommend,
    replay,
    run_simulation,
)


def test_three_of_five_fires_on_the_third_anomalous_clip_and_respects_the_cooldown() -> None:
    # Given a 3-of-5 policy and a run of anomalous clips 5 minutes apart
    policy = AlertPolicy(k=3, n=5, cooldown=timedelta(minutes=60), evidence_threshold=0.0)
    flags = flags_from_ratios([0.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5], _START, "t")
    # When replayed through the same evaluate() the Lambda runs
    sent = replay(policy, flags)
    # Then exactly one alert, at the third anomalous clip (still in cooldown afterwards)
    assert sent == [_START + 3 * CLIP_INTERVAL]


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


def test_recommend_prefers_fast_detection_within_the_false_alert_budget() -> None:
    def row(k: int, false: float, within: int, median: float) -> dict[str, object]:
        summary = {
            "streams": 2,
            "detected": 2,
            "within_30_min": within,
            "median_min": median,
            "max_min": median,
        }
        return {
            "k": k,
            "n": 5,
            "target_fpr": 0.01,
            "false_alerts_per_machine_month": false,
            "step_fault_delay": {"speed": summary},
        }

    grid = [row(1, 9.0, 2, 0.0), row(2, 0.5, 2, 5.0), row(3, 0.1, 1, 10.0)]
    assert recommend(grid) == {
        "k": 2,
        "n": 5,
        "evidence": 0.0,
        "target_fpr": 0.01,
        "rule": recommend(grid)["rule"],  # type: ignore[index]
    }
    assert recommend([row(1, 9.0, 2, 0.0)]) is None


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
