"""Fuzz humwatch.audio.decode_audio: random and mutated bytes only ever end as AudioRejected.

A clip arrives from the field over an unreliable link; whatever its bytes are, decoding must
either succeed or raise the typed rejection. How fast it does so is measured in benchmarks/, not
asserted here: a wall-clock limit depends on the machine and on its load, not on the code.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from humwatch.audio import AudioLimits, DecodedAudio, decode_audio
from humwatch.errors import AudioRejected, AudioRejectReason

FUZZ = settings(
    max_examples=120,
    deadline=None,  # no wall-clock limit per example (see the module docstring)
    derandomize=True,  # reproducible in CI; a failure prints the example
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
REASONS = {reason.value for reason in AudioRejectReason}


def _encode(fmt: str, subtype: str, channels: int = 1) -> bytes:
    rng = np.random.default_rng(7)
    t = np.arange(16000 * 3) / 16000
    x = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(t.shape[0])
    data = np.stack([x] * channels, axis=1) if channels > 1 else x
    buf = io.BytesIO()
    sf.write(buf, data.astype(np.float32), 16000, format=fmt, subtype=subtype)
    return buf.getvalue()


SEEDS = {
    "wav16": _encode("WAV", "PCM_16"),
    "wavfloat": _encode("WAV", "FLOAT"),
    "wavex8": _encode("WAVEX", "PCM_16", channels=8),
    "flac": _encode("FLAC", "PCM_16"),
}


def check_decode(data: bytes, **kwargs: object) -> DecodedAudio | None:
    """Decode; return the audio or None on a typed rejection; fail on any other exception."""
    try:
        audio = decode_audio(data, **kwargs)  # type: ignore[arg-type]
    except AudioRejected as exc:
        assert exc.code in REASONS
        audio = None
    if audio is not None:
        assert audio.samples.dtype == np.float32
        assert np.isfinite(audio.samples).all()
        assert np.abs(audio.samples).max() <= 1.0
    return audio


@st.composite
def mutated(draw: st.DrawFn, seeds: dict[str, bytes]) -> bytes:
    data = bytearray(seeds[draw(st.sampled_from(sorted(seeds)))])
    # Headers matter most: half of the edits land in the first 128 bytes.
    for _ in range(draw(st.integers(1, 4))):
        in_header = draw(st.booleans())
        hi = min(len(data), 128) if in_header else len(data)
        if hi == 0:
            break
        kind = draw(st.sampled_from(["flip", "overwrite", "truncate", "insert", "delete"]))
        pos = draw(st.integers(0, hi - 1))
        if kind == "flip":
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "overwrite":
            patch = draw(st.sampled_from([b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\x7f\xff\xff\xff"]))
            data[pos : pos + len(patch)] = patch
        elif kind == "truncate":
            del data[pos:]
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        else:
            del data[pos : pos + draw(st.integers(1, 16))]
    return bytes(data)


@FUZZ
@given(data=st.binary(max_size=4096))
def test_given_random_bytes_when_decoded_then_only_typed_rejections(data: bytes) -> None:
    check_decode(data)


@FUZZ
@given(data=st.binary(max_size=512).map(lambda b: b"RIFF\x00\x10\x00\x00WAVEfmt " + b))
def test_given_random_bytes_behind_a_wav_header_when_decoded_then_only_typed_rejections(data: bytes) -> None:
    check_decode(data)


@FUZZ
@given(data=mutated(SEEDS), channel=st.sampled_from([0, 3, "mean"]))
def test_given_mutated_wav_and_flac_when_decoded_then_only_typed_rejections(
    data: bytes, channel: object
) -> None:
    check_decode(data, channel=channel, limits=AudioLimits(max_bytes=2_000_000))


@pytest.fixture(scope="module")
def real_seeds(real_data_dir: Path) -> dict[str, bytes]:
    mimii = real_data_dir / "mimii-0db" / "pump" / "id_00" / "normal" / "00000000.wav"
    dcase = real_data_dir / "dcase2020-id00" / "train" / "normal" / "normal_id_00_00000000.wav"
    seeds = {"mimii": mimii.read_bytes(), "dcase": dcase.read_bytes()}
    flac = io.BytesIO()
    samples, rate = sf.read(dcase, dtype="int16")
    sf.write(flac, samples, rate, format="FLAC", subtype="PCM_16")
    seeds["dcase_flac"] = flac.getvalue()
    return seeds


@pytest.mark.shared_data
def test_given_mutated_real_recordings_when_decoded_then_only_typed_rejections(
    real_seeds: dict[str, bytes],
) -> None:
    @settings(FUZZ, max_examples=60)
    @given(data=mutated(real_seeds))
    def run(data: bytes) -> None:
        check_decode(data, channel="mean")

    run()
