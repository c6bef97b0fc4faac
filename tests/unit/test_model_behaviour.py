"""Behaviour of a trained model on clips it never saw: normal under, faults over, gain-robust."""

from __future__ import annotations

import pytest
from model_helpers import machine_clip, trained_bundle

from humwatch.scoring import Scorer

NORMAL_SEEDS = [1000, 1001, 1002, 1003, 1004]
FAULT_SEEDS = [2000, 2001, 2002]


@pytest.fixture(scope="module")
def scorer() -> Scorer:
    return Scorer(trained_bundle())


def test_unseen_normal_clips_score_under_the_threshold(scorer: Scorer) -> None:
    # Given normal clips of the training machine with seeds training never used
    results = [scorer.score_samples(machine_clip(seed=s)) for s in NORMAL_SEEDS]
    # Then none is an anomaly
    assert [r.is_anomaly for r in results] == [False] * len(NORMAL_SEEDS)
    assert all(0.0 < r.ratio < 1.0 for r in results)


@pytest.mark.parametrize("fault", ["bearing", "rubbing", "imbalance"])
def test_injected_faults_score_over_the_threshold(scorer: Scorer, fault: str) -> None:
    # Given the same machine with a fault injected at full severity
    results = [scorer.score_samples(machine_clip(seed=s, fault=fault, severity=1.0)) for s in FAULT_SEEDS]
    # Then every clip is flagged
    assert all(r.is_anomaly and r.ratio > 1.0 for r in results)


@pytest.mark.parametrize("gain_db", [-1.0, 1.0])
def test_a_one_db_gain_change_does_not_flip_a_decision(scorer: Scorer, gain_db: float) -> None:
    # Given normal and faulty clips, and the same clips 1 dB louder or quieter
    cases = [(s, None) for s in NORMAL_SEEDS] + [(s, "bearing") for s in FAULT_SEEDS]
    for seed, fault in cases:
        base = scorer.score_samples(machine_clip(seed=seed, fault=fault))
        changed = scorer.score_samples(machine_clip(seed=seed, fault=fault, gain_db=gain_db))
        # Then the decision is the same and the score moves by little
        assert changed.is_anomaly == base.is_anomaly, (seed, fault)
        assert abs(changed.ratio - base.ratio) < 0.25 * base.ratio


def test_clip_score_carries_model_identity_and_drift_statistics(scorer: Scorer) -> None:
    result = scorer.score_samples(machine_clip(seed=1000))
    manifest = scorer.bundle.manifest
    assert (result.model_id, result.model_version) == (manifest.model_id, manifest.version)
    assert len(result.band_means) == manifest.features.n_mels
    assert result.threshold == manifest.threshold.value
    assert result.ratio == pytest.approx(result.score / result.threshold)
