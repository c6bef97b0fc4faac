"""Every real recording in ../shared/data/real scores without a crash (8-channel MIMII included)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from humwatch.datasets import load_labelled_clips
from humwatch.detectors import DetectorType, train_bundle
from humwatch.errors import AudioRejected
from humwatch.scoring import Scorer, score_clip

pytestmark = pytest.mark.shared_data


@pytest.fixture(scope="module")
def scorer(real_data_dir: Path) -> Scorer:
    # A small model on the first 12 DCASE 2020 id_00 normal clips (few epochs: this checks plumbing)
    clips = [c for c in load_labelled_clips([real_data_dir / "dcase2020-id00"]) if c.label == "normal"][:12]
    return Scorer(train_bundle(DetectorType.BLOG_AE, clips, None, epochs=3, seed=0, model_id="real-smoke"))


def test_every_real_file_is_scored(scorer: Scorer, real_data_dir: Path) -> None:
    with (real_data_dir / "manifest.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 140
    failures: dict[str, str] = {}
    channels_seen = set()
    for row in rows:
        try:
            result = score_clip(scorer, real_data_dir / row["path"])
        except AudioRejected as exc:  # a typed rejection would be acceptable, a crash is not
            failures[row["path"]] = exc.code
            continue
        assert math.isfinite(result.score) and result.score > 0
        assert len(result.band_means) == 64
        channels_seen.add(row["channels"])
    # These recordings are all valid 16 kHz clips: every one must actually be scored
    assert failures == {}
    assert channels_seen == {"1", "8"}
