"""humwatch.audio: decoding, channel choice, resampling and every rejection reason."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from humwatch.audio import AudioLimits, DecodedAudio, decode_audio, resample
from humwatch.errors import AudioRejected, AudioRejectReason, Disposition, disposition


def tone(freq: float, sr: int, seconds: float, amp: float = 0.5, channels: int = 1) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    x = (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return x if channels == 1 else np.stack([x] * channels, axis=1)


def encode(x: np.ndarray, sr: int, fmt: str = "WAV", subtype: str = "PCM_16") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, sr, format=fmt, subtype=subtype)
    return buf.getvalue()


def rejected(source: bytes | Path, **kwargs: object) -> AudioRejected:
    with pytest.raises(AudioRejected) as info:
        decode_audio(source, **kwargs)  # type: ignore[arg-type]
    return info.value


def peak_frequency(x: np.ndarray, sr: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.shape[0])))
    return float(np.fft.rfftfreq(x.shape[0], 1 / sr)[spectrum.argmax()])


# --- happy paths ------------------------------------------------------------------------------


def test_given_pcm16_wav_bytes_when_decoded_then_mono_float32_at_16k() -> None:
    x = tone(440, 16000, 3.0)
    audio = decode_audio(encode(x, 16000))
    assert isinstance(audio, DecodedAudio)
    assert audio.samples.dtype == np.float32
    assert audio.sample_rate == 16000 and audio.source_sample_rate == 16000
    assert audio.source_channels == 1
    assert audio.duration_s == pytest.approx(3.0)
    np.testing.assert_allclose(audio.samples, x, atol=1.5 / 32768)


def test_given_a_path_when_decoded_then_same_as_bytes(tmp_path: Path) -> None:
    data = encode(tone(300, 16000, 2.5), 16000)
    path = tmp_path / "clip.wav"
    path.write_bytes(data)
    np.testing.assert_array_equal(decode_audio(path).samples, decode_audio(data).samples)
    np.testing.assert_array_equal(decode_audio(str(path)).samples, decode_audio(data).samples)


def test_given_flac_when_round_tripped_then_samples_survive() -> None:
    x = tone(1234, 16000, 4.0, amp=0.3)
    audio = decode_audio(encode(x, 16000, fmt="FLAC"))
    np.testing.assert_allclose(audio.samples, x, atol=1.5 / 32768)


@pytest.mark.parametrize("frames", [65535, 65536, 65537, 160000])
@pytest.mark.parametrize(("fmt", "subtype"), [("FLAC", "PCM_16"), ("WAV", "FLOAT")])
def test_given_a_mono_clip_when_decoded_then_exactly_libsndfiles_samples(
    frames: int, fmt: str, subtype: str
) -> None:
    # Given a mono clip around the old 64k-frame read block (one read now), with a -0.0 sample
    x = (np.random.default_rng(frames).normal(size=frames) * 0.1).astype(np.float32)
    x[7] = -0.0
    data = encode(x, 16000, fmt, subtype)
    expected, _ = sf.read(io.BytesIO(data), dtype="float32")
    # When decoded as channel 0 and as the mean of its one channel
    first, mean = decode_audio(data).samples, decode_audio(data, channel="mean").samples
    # Then channel 0 is libsndfile's samples bit for bit; the mean is too but for -0.0 (0 + -0.0)
    assert first.tobytes() == expected.tobytes()
    assert mean.tobytes() == (expected + np.float32(0.0)).tobytes()


@pytest.mark.parametrize(("fmt", "subtype"), [("WAV", "PCM_24"), ("WAV", "FLOAT"), ("WAVEX", "PCM_16")])
def test_given_other_wav_encodings_when_decoded_then_accepted(fmt: str, subtype: str) -> None:
    x = tone(500, 16000, 2.0)
    np.testing.assert_allclose(decode_audio(encode(x, 16000, fmt, subtype)).samples, x, atol=1e-4)


def test_given_multichannel_when_channel_chosen_or_mean_then_that_signal() -> None:
    sr = 16000
    chans = np.stack([tone(200 * (c + 1), sr, 2.0, amp=0.2) for c in range(4)], axis=1)
    data = encode(chans, sr, fmt="WAVEX")
    assert decode_audio(data).source_channels == 4
    assert peak_frequency(decode_audio(data, channel=2).samples, sr) == pytest.approx(600, abs=1)
    mixed = decode_audio(data, channel="mean").samples
    np.testing.assert_allclose(mixed, chans.mean(axis=1), atol=2e-4)


def test_given_target_none_when_decoded_then_source_rate_kept() -> None:
    audio = decode_audio(encode(tone(1000, 22050, 2.0), 22050), target_sample_rate=None)
    assert audio.sample_rate == 22050 and audio.samples.shape[0] == 44100


# --- resampling ---------------------------------------------------------------------------------


@pytest.mark.parametrize("source_rate", [44100, 48000, 22050, 8000])
def test_given_a_tone_when_resampled_to_16k_then_frequency_and_level_kept(source_rate: int) -> None:
    x = tone(1000, source_rate, 3.0, amp=0.5)
    audio = decode_audio(encode(x, source_rate, subtype="FLOAT"), target_sample_rate=16000)
    assert audio.sample_rate == 16000 and audio.source_sample_rate == source_rate
    assert audio.samples.shape[0] == 48000
    assert peak_frequency(audio.samples, 16000) == pytest.approx(1000, abs=0.5)
    inner = audio.samples[800:-800].astype(np.float64)
    assert np.sqrt(np.mean(inner**2)) * np.sqrt(2) == pytest.approx(0.5, rel=1e-3)


@pytest.mark.parametrize("source_rate", [44100, 48000])
def test_given_content_above_8k_when_downsampled_then_removed_not_aliased(source_rate: int) -> None:
    # A 10 kHz tone would alias to 6 kHz in a naive decimator; band-limiting removes it.
    high = tone(10000, source_rate, 2.0, amp=0.5)
    low = tone(1000, source_rate, 2.0, amp=0.01)
    out = resample(high + low, source_rate, 16000).astype(np.float64)
    spectrum = np.abs(np.fft.rfft(out)) / out.shape[0]
    freqs = np.fft.rfftfreq(out.shape[0], 1 / 16000)
    at_alias = spectrum[np.abs(freqs - 6000) < 50].max()
    at_kept = spectrum[np.abs(freqs - 1000) < 5].max()
    assert at_alias < at_kept * 1e-3


def test_given_same_rate_when_resampled_then_unchanged() -> None:
    x = tone(700, 16000, 1.0)
    np.testing.assert_array_equal(resample(x, 16000, 16000), x)


# --- rejections -------------------------------------------------------------------------------


def test_given_text_when_decoded_then_not_audio() -> None:
    err = rejected(b"this is not audio at all, just words" * 10)
    assert err.code == AudioRejectReason.NOT_AUDIO
    assert disposition(err) is Disposition.REJECT


def test_given_missing_file_when_decoded_then_not_audio(tmp_path: Path) -> None:
    assert rejected(tmp_path / "nope.wav").code == AudioRejectReason.NOT_AUDIO


def test_given_zero_bytes_or_zero_frames_when_decoded_then_empty() -> None:
    assert rejected(b"").code == AudioRejectReason.EMPTY
    no_frames = encode(np.zeros(0, dtype=np.float32), 16000)
    assert rejected(no_frames).code == AudioRejectReason.EMPTY


@pytest.mark.parametrize("fmt", ["WAV", "WAVEX", "FLAC"])
def test_given_a_file_cut_in_half_when_decoded_then_truncated(fmt: str) -> None:
    data = encode(tone(440, 16000, 4.0), 16000, fmt=fmt)
    err = rejected(data[: len(data) // 2])
    assert err.code == AudioRejectReason.TRUNCATED


def test_given_only_part_of_the_header_when_decoded_then_truncated() -> None:
    data = encode(tone(440, 16000, 4.0), 16000)
    assert rejected(data[:30]).code == AudioRejectReason.TRUNCATED


def test_given_durations_outside_limits_when_decoded_then_too_short_or_too_long() -> None:
    assert rejected(encode(tone(440, 16000, 1.5), 16000)).code == AudioRejectReason.TOO_SHORT
    assert rejected(encode(tone(440, 8000, 61.0), 8000)).code == AudioRejectReason.TOO_LONG
    limits = AudioLimits(min_duration_s=1.0, max_duration_s=2.0)
    assert decode_audio(encode(tone(440, 16000, 1.5), 16000), limits=limits).duration_s == 1.5
    assert rejected(encode(tone(440, 16000, 2.5), 16000), limits=limits).code == AudioRejectReason.TOO_LONG


def test_given_dcase_length_clip_when_decoded_with_defaults_then_accepted() -> None:
    assert decode_audio(encode(tone(440, 16000, 12.0), 16000)).duration_s == pytest.approx(12.0)


def test_given_oversized_input_when_decoded_then_too_large_before_decoding(tmp_path: Path) -> None:
    limits = AudioLimits(max_bytes=1000)
    # Garbage: had it been decoded it would be NOT_AUDIO; the size check must come first.
    garbage = b"\x00junk" * 400
    assert rejected(garbage, limits=limits).code == AudioRejectReason.TOO_LARGE
    path = tmp_path / "big.wav"
    path.write_bytes(garbage)
    assert rejected(path, limits=limits).code == AudioRejectReason.TOO_LARGE


def test_given_silence_or_near_silence_when_decoded_then_silent() -> None:
    assert rejected(encode(np.zeros(32000, dtype=np.float32), 16000)).code == AudioRejectReason.SILENT
    rng = np.random.default_rng(0)
    quiet = (rng.standard_normal(48000) * 10 ** (-80 / 20)).astype(np.float32)
    assert rejected(encode(quiet, 16000, subtype="FLOAT")).code == AudioRejectReason.SILENT
    audible = (rng.standard_normal(48000) * 10 ** (-60 / 20)).astype(np.float32)
    assert decode_audio(encode(audible, 16000, subtype="FLOAT")).duration_s == 3.0


def test_given_full_scale_samples_when_decoded_then_clipped_above_the_share_limit() -> None:
    x = tone(440, 16000, 3.0, amp=0.3)
    x[:480] = 1.0  # 1 % of samples at full scale: exactly at the limit, still accepted
    decode_audio(encode(x, 16000, subtype="FLOAT"))
    x[:2000] = -1.0  # ~4 %
    err = rejected(encode(x, 16000, subtype="FLOAT"))
    assert err.code == AudioRejectReason.CLIPPED
    assert (
        np.abs(
            decode_audio(
                encode(x, 16000, subtype="FLOAT"), limits=AudioLimits(max_clipped_fraction=0.1)
            ).samples
        ).max()
        <= 1.0
    )


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_given_non_finite_float_samples_when_decoded_then_not_finite(bad: float) -> None:
    x = tone(440, 16000, 3.0)
    x[1234] = bad
    assert rejected(encode(x, 16000, subtype="FLOAT")).code == AudioRejectReason.NOT_FINITE


def test_given_other_containers_or_codecs_when_decoded_then_unsupported() -> None:
    x = tone(440, 16000, 3.0)
    assert rejected(encode(x, 16000, fmt="AIFF")).code == AudioRejectReason.UNSUPPORTED
    assert rejected(encode(x, 16000, subtype="IMA_ADPCM")).code == AudioRejectReason.UNSUPPORTED


def test_given_a_missing_channel_when_decoded_then_unsupported() -> None:
    err = rejected(encode(tone(440, 16000, 3.0), 16000), channel=3)
    assert err.code == AudioRejectReason.UNSUPPORTED
    assert "channel 3" in err.message


# --- real recordings --------------------------------------------------------------------------


@pytest.mark.shared_data
def test_given_every_real_recording_when_decoded_then_accepted_with_manifest_facts(
    real_data_dir: Path,
) -> None:
    with (real_data_dir / "manifest.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 140
    for row in rows:
        audio = decode_audio(real_data_dir / row["path"])
        assert audio.source_channels == int(row["channels"]), row["path"]
        assert audio.source_sample_rate == int(row["sample_rate"]), row["path"]
        assert audio.duration_s == pytest.approx(float(row["duration_s"]), abs=0.05), row["path"]
        assert audio.samples.dtype == np.float32 and np.abs(audio.samples).max() <= 1.0


@pytest.mark.shared_data
def test_given_mimii_8_channel_wavex_when_decoded_then_channel_0_and_mean_differ(real_data_dir: Path) -> None:
    path = real_data_dir / "mimii-0db" / "fan" / "id_00" / "normal" / "00000000.wav"
    raw, _ = sf.read(path, dtype="float32", always_2d=True)
    assert raw.shape[1] == 8
    first = decode_audio(path)
    np.testing.assert_array_equal(first.samples, raw[:, 0])
    mixed = decode_audio(path, channel="mean")
    np.testing.assert_allclose(mixed.samples, raw.mean(axis=1), atol=1e-6)
    assert not np.allclose(first.samples, mixed.samples)


@pytest.mark.shared_data
def test_given_a_12_s_dcase_2023_clip_when_decoded_then_12_s(real_data_dir: Path) -> None:
    clip = sorted((real_data_dir / "dcase2023-dev" / "ToyCar").rglob("*.wav"))[0]
    assert decode_audio(clip).duration_s == pytest.approx(12.0)


@pytest.mark.shared_data
def test_given_a_real_clip_resampled_to_8k_then_band_limited_and_level_kept(real_data_dir: Path) -> None:
    clip = real_data_dir / "dcase2020-id00" / "train" / "normal" / "normal_id_00_00000000.wav"
    full = decode_audio(clip)
    half = decode_audio(clip, target_sample_rate=8000)
    assert half.samples.shape[0] == full.samples.shape[0] // 2
    spectrum = np.abs(np.fft.rfft(full.samples.astype(np.float64))) ** 2
    below_4k = spectrum[: spectrum.shape[0] // 2].sum() / spectrum.sum()
    ratio = np.mean(half.samples.astype(np.float64) ** 2) / np.mean(full.samples.astype(np.float64) ** 2)
    assert ratio == pytest.approx(below_4k, rel=0.02)
