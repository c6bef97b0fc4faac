"""Decode a clip (WAV or FLAC, path or bytes) into validated mono float32 samples.

Everything a device or a user can send passes through `decode_audio`. It never lets a library
exception escape: every way a clip can be bad ends as `AudioRejected` with a stable reason code
(`AudioRejectReason`), so a batch records the clip as rejected and moves on.

Order of checks, cheapest first: size (before any decoding), container header, declared length,
decoding, then content (empty, duration, NaN/inf, silence, clipping). Resampling is numpy-only
(Lambda carries no scipy): an FFT brick-wall resampler, exactly band-limited to the lower of the
two Nyquist frequencies.
"""

from __future__ import annotations

import io
import math
import os
import struct
from dataclasses import dataclass
from typing import Literal

import numpy as np
import soundfile as sf

from humwatch.errors import AudioRejected, AudioRejectReason

# Containers and sample encodings we decode. Anything else libsndfile happens to recognise
# (AIFF, AU, ADPCM-in-WAV, ...) is refused: fewer codecs reachable from untrusted bytes.
_FORMATS = {"WAV", "WAVEX", "FLAC", "RF64"}
_SUBTYPES = {"PCM_S8", "PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"}
_OTHER_AUDIO_MAGIC = {b"FORM", b"OggS", b".snd", b"caff", b"MThd", b"wvpk", b"MAC ", b"\x30\x26\xb2\x75"}
_MIN_SAMPLE_RATE = 1_000
_MAX_SAMPLE_RATE = 192_000
_MAX_CHANNELS = 32
_BLOCK_FRAMES = 65_536
_CLIP_LEVEL = 0.999
# libsndfile reports this many frames when the header does not say (e.g. streamed FLAC).
_UNKNOWN_FRAMES = 2**62


@dataclass(frozen=True)
class AudioLimits:
    """What a clip must satisfy to be scored. Defaults accept 2-60 s (12 s DCASE clips pass)."""

    min_duration_s: float = 2.0
    max_duration_s: float = 60.0
    max_bytes: int = 20_000_000
    silence_rms_dbfs: float = -70.0  # RMS below this -> SILENT
    max_clipped_fraction: float = 0.01  # share of |x| >= 0.999 samples above this -> CLIPPED


@dataclass(frozen=True)
class DecodedAudio:
    samples: np.ndarray  # float32, mono, in [-1, 1], at sample_rate
    sample_rate: int
    duration_s: float
    source_sample_rate: int
    source_channels: int


def _reject(reason: AudioRejectReason, message: str) -> AudioRejected:
    return AudioRejected(message, code=reason.value)


def _read_source(source: bytes | str | os.PathLike[str], max_bytes: int) -> bytes:
    """Return the clip's bytes, refusing an oversized one before reading it."""
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        if len(data) > max_bytes:
            raise _reject(AudioRejectReason.TOO_LARGE, f"clip is {len(data)} bytes, limit {max_bytes}")
        return data
    path = os.fspath(source)
    try:
        size = os.stat(path).st_size
        if size > max_bytes:
            raise _reject(AudioRejectReason.TOO_LARGE, f"clip is {size} bytes, limit {max_bytes}")
        with open(path, "rb") as fh:
            return fh.read(max_bytes + 1)
    except OSError as exc:
        raise _reject(AudioRejectReason.NOT_AUDIO, f"cannot read {path}: {exc.strerror or exc}") from None


def _wav_data_shortfall(data: bytes) -> int:
    """Bytes missing from a RIFF/WAVE data chunk (0 when complete or when the size is unknown).

    libsndfile silently shortens a WAV whose header promises more data than the file holds; a
    clip cut off in transit must be rejected as truncated instead of scored as a shorter clip.
    """
    if len(data) < 12 or data[8:12] != b"WAVE" or data[:4] not in (b"RIFF", b"RIFX"):
        return 0
    fmt = "<I" if data[:4] == b"RIFF" else ">I"
    pos = 12
    while pos + 8 <= len(data):
        chunk_id = data[pos : pos + 4]
        (size,) = struct.unpack(fmt, data[pos + 4 : pos + 8])
        if chunk_id == b"data":
            if size in (0, 0xFFFFFFFF):  # streaming writers leave the size open
                return 0
            return max(0, size - (len(data) - pos - 8))
        pos += 8 + size + (size & 1)
    return 0


def _riff_shortfall(data: bytes) -> int:
    """Bytes missing according to the RIFF size field (used only when the header itself fails)."""
    if len(data) < 8 or data[:4] != b"RIFF":
        return 0
    (size,) = struct.unpack("<I", data[4:8])
    return max(0, size + 8 - len(data))


def _sniff(data: bytes) -> None:
    """Only WAV and FLAC bytes reach libsndfile: it would otherwise probe every format it knows
    (MP3, Ogg, AIFF, ...) on arbitrary input, which is slower, noisier and more attack surface."""
    if (data[8:12] == b"WAVE" and data[:4] in (b"RIFF", b"RIFX", b"RF64")) or data[:4] == b"fLaC":
        return
    if len(data) < 12 and data[:4] in (b"RIFF", b"RIFX", b"RF64"):
        raise _reject(AudioRejectReason.TRUNCATED, "audio header is cut off")
    if data[:4] in _OTHER_AUDIO_MAGIC or data[:3] == b"ID3" or data[:2] in (b"\xff\xfb", b"\xff\xf3"):
        raise _reject(AudioRejectReason.UNSUPPORTED, "only WAV and FLAC clips are supported")
    raise _reject(AudioRejectReason.NOT_AUDIO, "not a WAV or FLAC file")


def _decode_channels(
    data: bytes, channel: int | Literal["mean"], limits: AudioLimits
) -> tuple[np.ndarray, int, int, float]:
    """Decode to (mono float32 signal, sample rate, channel count, clipped fraction)."""
    _sniff(data)
    try:
        snd = sf.SoundFile(io.BytesIO(data))
    except Exception as exc:  # libsndfile raises assorted types on garbage; all mean "not audio"
        if _riff_shortfall(data) > 0 or (data[:4] == b"fLaC" and len(data) < 42):
            raise _reject(AudioRejectReason.TRUNCATED, "audio header is cut off") from None
        raise _reject(AudioRejectReason.NOT_AUDIO, f"not a readable WAV/FLAC file ({exc})") from None
    with snd:
        fmt, subtype = snd.format, snd.subtype
        rate, channels, declared = int(snd.samplerate), int(snd.channels), int(snd.frames)
        if fmt not in _FORMATS:
            raise _reject(AudioRejectReason.UNSUPPORTED, f"container {fmt} is not WAV or FLAC")
        if subtype not in _SUBTYPES:
            raise _reject(AudioRejectReason.UNSUPPORTED, f"sample encoding {subtype} is not supported")
        if not _MIN_SAMPLE_RATE <= rate <= _MAX_SAMPLE_RATE:
            raise _reject(AudioRejectReason.UNSUPPORTED, f"sample rate {rate} Hz is outside 1-192 kHz")
        if not 1 <= channels <= _MAX_CHANNELS:
            raise _reject(AudioRejectReason.UNSUPPORTED, f"{channels} channels (at most {_MAX_CHANNELS})")
        if channel != "mean" and not 0 <= channel < channels:
            raise _reject(AudioRejectReason.UNSUPPORTED, f"channel {channel} requested, clip has {channels}")
        if fmt in ("WAV", "WAVEX") and (missing := _wav_data_shortfall(data)) > 0:
            raise _reject(AudioRejectReason.TRUNCATED, f"WAV data chunk is {missing} bytes short")
        known_length = 0 <= declared < _UNKNOWN_FRAMES
        if known_length and declared == 0:
            raise _reject(AudioRejectReason.EMPTY, "clip holds no samples")
        max_frames = int(limits.max_duration_s * rate)
        if known_length and declared > max_frames:
            raise _reject(
                AudioRejectReason.TOO_LONG,
                f"clip is {declared / rate:.1f} s, limit {limits.max_duration_s:g} s",
            )
        if channels == 1 and known_length:
            return _decode_mono(snd, rate, declared, channel)
        blocks, clipped, read = [], 0, 0
        try:
            while read <= max_frames:
                block = snd.read(_BLOCK_FRAMES, dtype="float32", always_2d=True)
                if block.shape[0] == 0:
                    break
                read += block.shape[0]
                used = block if channel == "mean" else block[:, channel]
                clipped += int(np.count_nonzero(np.abs(used) >= _CLIP_LEVEL))
                if channel == "mean":
                    with np.errstate(invalid="ignore", over="ignore"):  # NaN/inf: rejected below
                        blocks.append(block.mean(axis=1, dtype=np.float32))
                else:
                    blocks.append(used.copy())
                if block.shape[0] < _BLOCK_FRAMES:
                    break
        except Exception as exc:  # decoder lost sync / ran out of data after a valid header
            raise _reject(
                AudioRejectReason.TRUNCATED,
                f"audio data is cut off or corrupt after {read} of {declared} frames ({exc})",
            ) from None
    if read > max_frames:
        raise _reject(AudioRejectReason.TOO_LONG, f"clip is longer than {limits.max_duration_s:g} s")
    if known_length and read < declared:
        raise _reject(AudioRejectReason.TRUNCATED, f"only {read} of {declared} declared frames present")
    if read == 0:
        raise _reject(AudioRejectReason.EMPTY, "clip holds no samples")
    signal = np.concatenate(blocks) if len(blocks) > 1 else blocks[0]
    used_samples = read * (channels if channel == "mean" else 1)
    return signal, rate, channels, clipped / used_samples


def _decode_mono(
    snd: sf.SoundFile, rate: int, declared: int, channel: int | Literal["mean"]
) -> tuple[np.ndarray, int, int, float]:
    """`_decode_channels` for the common clip (one channel, its length in the header and within
    the limits): one read into one array instead of 64k-frame blocks, their copies and a
    concatenate. The same samples: libsndfile decodes the same frames whatever the read size and
    never returns more than the header declares."""
    try:
        signal = snd.read(declared, dtype="float32")
    except Exception as exc:  # decoder lost sync / ran out of data after a valid header
        raise _reject(
            AudioRejectReason.TRUNCATED,
            f"audio data is cut off or corrupt after {_position(snd)} of {declared} frames ({exc})",
        ) from None
    read = signal.shape[0]
    if read < declared:
        raise _reject(AudioRejectReason.TRUNCATED, f"only {read} of {declared} declared frames present")
    if channel == "mean":
        # The block path's mean over one channel is the sample itself, but for -0.0 (0 + -0.0).
        np.add(signal, np.float32(0.0), out=signal)
    # min/max cost half of |x| >= level over every sample; NaN fails both and is counted (as 0).
    peak_low, peak_high = signal.min(), signal.max()
    clipped = 0
    if not (peak_low > -_CLIP_LEVEL and peak_high < _CLIP_LEVEL):
        clipped = int(np.count_nonzero(np.abs(signal) >= _CLIP_LEVEL))
    return signal, rate, 1, clipped / read


def _position(snd: sf.SoundFile) -> int | str:
    """Frames decoded before a read failed ("?" if libsndfile cannot say)."""
    try:
        return int(snd.tell())
    except Exception:  # the decoder's state after an error is libsndfile's business
        return "?"


def resample(samples: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    """Band-limited resampling by zero-padding/truncating the spectrum (numpy only).

    Content above the lower Nyquist frequency is removed exactly (no aliasing); a tone keeps its
    frequency and level. The signal is treated as periodic, so the first and last few
    milliseconds can ring slightly: irrelevant for clip-level features.
    """
    if source_rate == target_rate:
        return samples.astype(np.float32, copy=False)
    n_in = samples.shape[0]
    n_out = max(1, round(n_in * target_rate / source_rate))
    spectrum = np.fft.rfft(samples.astype(np.float64))
    keep = min(spectrum.shape[0], n_out // 2 + 1)
    out_spec = np.zeros(n_out // 2 + 1, dtype=np.complex128)
    out_spec[:keep] = spectrum[:keep]
    # The bin at the lower Nyquist frequency is ambiguous (its phase cannot be represented by a
    # real signal of the other length): drop it rather than fold it.
    if n_out % 2 == 0 and keep == n_out // 2 + 1:
        out_spec[-1] = 0.0
    if n_in % 2 == 0 and keep == spectrum.shape[0] and n_out > n_in:
        out_spec[keep - 1] = 0.0
    out = np.fft.irfft(out_spec, n=n_out) * (n_out / n_in)
    return out.astype(np.float32)


def decode_audio(
    source: bytes | str | os.PathLike[str],
    *,
    target_sample_rate: int | None = 16000,
    channel: int | Literal["mean"] = 0,
    limits: AudioLimits = AudioLimits(),
) -> DecodedAudio:
    """Decode WAV/FLAC bytes or a file into mono float32 at `target_sample_rate` (None: keep).

    `channel` picks one microphone of a multichannel clip (0, as the AWS blog does with MIMII)
    or averages them ("mean"). Raises `AudioRejected` with an `AudioRejectReason` code for every
    bad input; never any other exception for bad bytes.
    """
    data = _read_source(source, limits.max_bytes)
    if len(data) > limits.max_bytes:
        raise _reject(AudioRejectReason.TOO_LARGE, f"clip is over {limits.max_bytes} bytes")
    if not data:
        raise _reject(AudioRejectReason.EMPTY, "clip is 0 bytes")
    signal, rate, channels, clipped_fraction = _decode_channels(data, channel, limits)

    duration = signal.shape[0] / rate
    if duration < limits.min_duration_s:
        raise _reject(
            AudioRejectReason.TOO_SHORT, f"clip is {duration:.2f} s, minimum {limits.min_duration_s:g} s"
        )
    # The mean square in float64 is finite exactly when every sample is (a float32's square is
    # below 1.2e77): one pass instead of an isfinite pass. astype + in-place square is the same
    # float64 values as np.square(signal, dtype=float64), without its slow buffered cast.
    with np.errstate(invalid="ignore"):  # a signalling NaN in a float WAV: rejected just below
        squares = signal.astype(np.float64)
        np.multiply(squares, squares, out=squares)
        mean_square = float(np.mean(squares))
    if not math.isfinite(mean_square):
        raise _reject(AudioRejectReason.NOT_FINITE, "clip contains NaN or infinite samples")
    rms = math.sqrt(mean_square)
    rms_dbfs = 20.0 * np.log10(rms) if rms > 0 else -np.inf
    if rms_dbfs < limits.silence_rms_dbfs:
        raise _reject(
            AudioRejectReason.SILENT,
            f"clip is silent (RMS {rms_dbfs:.1f} dBFS, floor {limits.silence_rms_dbfs:g} dBFS)",
        )
    if clipped_fraction > limits.max_clipped_fraction:
        raise _reject(
            AudioRejectReason.CLIPPED,
            f"{clipped_fraction:.1%} of samples at full scale (limit {limits.max_clipped_fraction:.1%})",
        )

    out_rate = rate if target_sample_rate is None else int(target_sample_rate)
    samples = resample(signal, rate, out_rate)
    np.clip(samples, -1.0, 1.0, out=samples)
    return DecodedAudio(
        samples=samples,
        sample_rate=out_rate,
        duration_s=samples.shape[0] / out_rate,
        source_sample_rate=rate,
        source_channels=channels,
    )
