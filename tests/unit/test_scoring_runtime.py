"""The scoring path is what Lambda imports: it must stay light and decode with the bundle's choices."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from model_helpers import machine_clip, trained_bundle

from humwatch.audio import DecodedAudio
from humwatch.errors import AudioRejected
from humwatch.scoring import Scorer, score_clip


def test_importing_scoring_pulls_in_no_training_libraries() -> None:
    heavy = "('scipy', 'onnx', 'librosa', 'matplotlib', 'sklearn', 'torch', 'tqdm')"
    code = f"import sys, json, humwatch.scoring; print(json.dumps([m for m in {heavy} if m in sys.modules]))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def wav_bytes(samples: np.ndarray, rate: int) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def test_score_clip_decodes_bytes_resamples_and_scores() -> None:
    scorer = Scorer(trained_bundle())
    clip = machine_clip(seed=1000)
    direct = scorer.score_samples(clip)
    from_wav = score_clip(scorer, wav_bytes(clip, 16000))
    assert from_wav.score == pytest.approx(direct.score, rel=1e-3)  # 16-bit quantisation only
    # A 48 kHz recording of the same machine is resampled to the model's 16 kHz and stays normal
    upsampled = np.repeat(clip, 3)  # crude 48 kHz version: same spectrum below 8 kHz + images
    assert score_clip(scorer, wav_bytes(upsampled, 48000)).is_anomaly is False


def test_wrong_sample_rate_and_bad_bytes_are_rejected_with_a_reason() -> None:
    scorer = Scorer(trained_bundle())
    audio = DecodedAudio(
        samples=machine_clip(seed=1),
        sample_rate=8000,
        duration_s=8.0,
        source_sample_rate=8000,
        source_channels=1,
    )
    with pytest.raises(AudioRejected) as info:
        scorer.score(audio)
    assert info.value.code == "unsupported"
    with pytest.raises(AudioRejected) as info:
        score_clip(scorer, b"RIFF\x00\x00garbage")
    assert info.value.code in ("not_audio", "truncated")


def test_the_typical_normal_score_needs_enough_calibration_scores() -> None:
    from humwatch.scoring import typical_normal_score

    # The median of the bundle's normal scores, ignoring values no model can produce
    assert typical_normal_score([1.0, 2.0, 3.0, 4.0, 5.0, float("nan"), -1.0]) == 3.0
    # and no answer (so the alert policy uses its default unit) from too few of them
    assert typical_normal_score([1.0, 2.0, 3.0]) is None
    assert typical_normal_score([]) is None
