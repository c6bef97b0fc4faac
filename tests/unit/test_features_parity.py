"""numpy log-mel == librosa (melspectrogram + DCASE log / power_to_db) to <= 1e-3 dB."""

from __future__ import annotations

import sys
from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf

from humwatch.features import FeatureParams, feature_vectors, log_mel, mel_filterbank

TOLERANCE_DB = 1e-3
PARAMS = FeatureParams()


def librosa_log_mel(samples: np.ndarray, params: FeatureParams) -> np.ndarray:
    """The reference: the DCASE 2020 baseline's feature code (dcase) or the AWS blog's (blog)."""
    mel = librosa.feature.melspectrogram(
        y=samples.astype(np.float64),
        sr=params.sample_rate,
        n_fft=params.n_fft,
        hop_length=params.hop_length,
        n_mels=params.n_mels,
        power=params.power,
    )
    if params.log_mode == "dcase":
        return 20.0 / params.power * np.log10(mel + sys.float_info.epsilon)
    return librosa.power_to_db(mel, ref=np.max, top_db=80.0)


def assert_parity(samples: np.ndarray, params: FeatureParams = PARAMS) -> None:
    ours = log_mel(samples, params)
    ref = librosa_log_mel(samples, params)
    assert ours.shape == ref.shape
    assert np.max(np.abs(ours - ref)) <= TOLERANCE_DB


def test_filterbank_equals_librosa_slaney() -> None:
    ref = librosa.filters.mel(sr=16000, n_fft=1024, n_mels=64, dtype=np.float64)
    np.testing.assert_allclose(mel_filterbank(PARAMS), ref, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("log_mode", ["dcase", "blog"])
@pytest.mark.parametrize("n_samples", [160_000, 48_000 + 7, 2048])
def test_white_noise_matches_librosa(log_mode: str, n_samples: int) -> None:
    # Given seeded white noise of several lengths (including one that is not a hop multiple)
    samples = (np.random.default_rng(n_samples).standard_normal(n_samples) * 0.1).astype(np.float32)
    # Then both log modes equal librosa's within a thousandth of a dB
    assert_parity(samples, PARAMS.model_copy(update={"log_mode": log_mode}))


@pytest.mark.parametrize("freq_hz", [50.0, 440.0, 1000.0, 3141.5, 7900.0])
def test_pure_tones_match_librosa_even_far_below_the_peak(freq_hz: float) -> None:
    # Given a pure tone, whose Hann sidelobes reach far below the peak (the float32 trap)
    t = np.arange(160_000) / 16000.0
    samples = (0.5 * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)
    assert_parity(samples)


def test_digital_silence_inside_a_clip_matches_librosa() -> None:
    # Given a clip with a stretch of exact zeros (DCASE log hits its epsilon floor there)
    samples = (np.random.default_rng(3).standard_normal(64_000) * 0.05).astype(np.float32)
    samples[20_000:40_000] = 0.0
    assert_parity(samples)


def test_other_parameters_match_librosa() -> None:
    params = FeatureParams(sample_rate=22050, n_fft=2048, hop_length=256, n_mels=128, fmin=20.0, fmax=8000.0)
    samples = (np.random.default_rng(5).standard_normal(22050 * 2) * 0.1).astype(np.float32)
    mel = librosa.feature.melspectrogram(
        y=samples.astype(np.float64), sr=22050, n_fft=2048, hop_length=256, n_mels=128, fmin=20.0, fmax=8000.0
    )
    ref = 10.0 * np.log10(mel + sys.float_info.epsilon)
    assert np.max(np.abs(log_mel(samples, params) - ref)) <= TOLERANCE_DB


REAL_CLIPS = [
    "dcase2020-id00/train/normal/normal_id_00_00000000.wav",
    "dcase2020-id00/test/anomaly/anomaly_id_00_00000000.wav",
    "mimii-0db/fan/id_00/normal/00000000.wav",  # 8 channels: channel 0, as the blog
    "mimii-0db/valve/id_02/anomaly/00000000.wav",
    "dcase2023-dev/ToyCar/train/normal/section_00_source_train_normal_0362_car_C2_spd_31V_mic_1.wav",  # 12 s
]


@pytest.mark.shared_data
@pytest.mark.parametrize("relative", REAL_CLIPS)
def test_real_clips_match_librosa(real_data_dir: Path, relative: str) -> None:
    data, rate = sf.read(real_data_dir / relative, dtype="float32", always_2d=True)
    assert rate == 16000
    assert_parity(data[:, 0])


def test_feature_vectors_stack_consecutive_frames_like_the_dcase_baseline() -> None:
    logmel = np.random.default_rng(0).standard_normal((64, 20))
    vectors = feature_vectors(logmel, 5)
    # The DCASE 2020 baseline's loop, written out as the reference
    expected = np.zeros((16, 320))
    for t in range(5):
        expected[:, 64 * t : 64 * (t + 1)] = logmel[:, t : t + 16].T
    np.testing.assert_array_equal(vectors, expected)
    assert feature_vectors(logmel[:, :4], 5).shape == (0, 320)


def test_ten_second_clip_gives_309_vectors_of_320_dims() -> None:
    samples = np.zeros(160_000, dtype=np.float32)
    assert feature_vectors(log_mel(samples, PARAMS), PARAMS.frames).shape == (309, 320)


@pytest.mark.parametrize(
    "bad",
    [{"hop_length": 2048}, {"n_mels": 600}, {"fmax": 9000.0}, {"fmin": 8000.0}, {"log_mode": "htk"}],
)
def test_inconsistent_feature_parameters_are_rejected(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        FeatureParams(**bad)  # type: ignore[arg-type]
