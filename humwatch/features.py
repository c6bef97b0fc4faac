"""Log-mel features in numpy alone, equal to librosa's to ~1e-5 dB (float64 inside).

The Lambda runtime carries numpy and onnxruntime but not librosa (too large for a layer), so the
front end is written out here and mirrored, op for op, in the ONNX graph (`humwatch.detectors.blog_ae.graph`):
centred zero padding (librosa >= 0.10 `pad_mode="constant"`), periodic Hann window, real FFT,
power spectrum, Slaney-style mel filterbank (librosa's default, not HTK), then a log.

Two log modes:
- `dcase`: 10*log10(mel + eps) with eps = sys.float_info.epsilon, as the DCASE 2020 baseline.
  Keeps the absolute level, which is part of what "sounds normal" means for a machine.
- `blog`: librosa `power_to_db(ref=np.max, top_db=80)`, as the AWS blog did; every clip is
  referenced to its own loudest bin, so the absolute level is lost.
"""

from __future__ import annotations

import sys
from functools import lru_cache
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

DCASE_EPS = sys.float_info.epsilon  # the DCASE baseline's floor inside the log
BLOG_AMIN = 1e-10  # librosa power_to_db defaults
BLOG_TOP_DB = 80.0


class FeatureParams(BaseModel):
    """Everything that defines the features; stored in model.json so scoring cannot drift."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sample_rate: int = Field(default=16000, ge=4000, le=192000)
    n_fft: int = Field(default=1024, ge=64, le=16384)
    hop_length: int = Field(default=512, ge=1)
    n_mels: int = Field(default=64, ge=1, le=512)
    power: float = Field(default=2.0, gt=0.0, le=4.0)
    frames: int = Field(default=5, ge=1, le=64)
    log_mode: Literal["dcase", "blog"] = "dcase"
    fmin: float = Field(default=0.0, ge=0.0)
    fmax: float | None = None

    @model_validator(mode="after")
    def _consistent(self) -> FeatureParams:
        if self.hop_length > self.n_fft:
            raise ValueError(f"hop_length {self.hop_length} exceeds n_fft {self.n_fft}")
        if self.n_mels > self.n_fft // 2 + 1:
            raise ValueError(f"n_mels {self.n_mels} exceeds the {self.n_fft // 2 + 1} FFT bins")
        top = self.effective_fmax
        if top > self.sample_rate / 2 or top <= self.fmin:
            raise ValueError(f"need fmin < fmax <= sample_rate/2, got fmin={self.fmin} fmax={top}")
        return self

    @property
    def effective_fmax(self) -> float:
        return self.fmax if self.fmax is not None else self.sample_rate / 2.0

    @property
    def vector_dims(self) -> int:
        return self.n_mels * self.frames

    @property
    def min_samples(self) -> int:
        """Shortest waveform that yields at least one feature vector (centred framing)."""
        return (self.frames - 1) * self.hop_length


# --- Slaney mel scale (librosa.hz_to_mel / mel_to_hz with htk=False) ------------------------------
_F_SP = 200.0 / 3.0  # Hz per mel in the linear part
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = np.log(6.4) / 27.0


def hz_to_mel(hz: np.ndarray) -> np.ndarray:
    hz = np.asarray(hz, dtype=np.float64)
    mel = hz / _F_SP
    log_part = hz >= _MIN_LOG_HZ
    mel = np.where(log_part, _MIN_LOG_MEL + np.log(np.maximum(hz, 1e-300) / _MIN_LOG_HZ) / _LOGSTEP, mel)
    return mel


def mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    hz = _F_SP * mel
    return np.where(mel >= _MIN_LOG_MEL, _MIN_LOG_HZ * np.exp(_LOGSTEP * (mel - _MIN_LOG_MEL)), hz)


def band_edges_hz(params: FeatureParams) -> list[float]:
    """n_mels + 1 frequencies that split fmin..fmax into the mel bands, equal steps on the mel
    scale: band i reads as edges[i]..edges[i+1] Hz (its filter's centre lies inside; the
    triangles overlap their neighbours, so this is where a band is, not all it hears)."""
    low, high = hz_to_mel(np.array(params.fmin)), hz_to_mel(np.array(params.effective_fmax))
    return [float(v) for v in mel_to_hz(np.linspace(low, high, params.n_mels + 1))]


@lru_cache(maxsize=8)
def _mel_filterbank_cached(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    fft_freqs = np.fft.rfftfreq(n_fft, d=1.0 / sr)
    mel_points = mel_to_hz(np.linspace(hz_to_mel(np.array(fmin)), hz_to_mel(np.array(fmax)), n_mels + 2))
    widths = np.diff(mel_points)
    ramps = mel_points[:, None] - fft_freqs[None, :]
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    # Slaney normalisation: each triangle has unit area in Hz, so bands are comparable in level.
    weights *= (2.0 / (mel_points[2:] - mel_points[:-2]))[:, None]
    weights.setflags(write=False)
    return weights


def mel_filterbank(params: FeatureParams) -> np.ndarray:
    """[n_mels, n_fft//2 + 1] float64 Slaney filterbank (librosa.filters.mel defaults)."""
    return _mel_filterbank_cached(
        params.sample_rate, params.n_fft, params.n_mels, params.fmin, params.effective_fmax
    )


@lru_cache(maxsize=8)
def hann_window(n_fft: int) -> np.ndarray:
    """Periodic Hann (scipy get_window('hann', n, fftbins=True)), the STFT convention."""
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n_fft) / n_fft)
    window.setflags(write=False)
    return window


def power_spectrogram(samples: np.ndarray, params: FeatureParams) -> np.ndarray:
    """|STFT|**power, [n_frames, n_fft//2 + 1] float64 (frames first: what matmul wants)."""
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"expected a mono waveform (1-D), got shape {x.shape}")
    pad = params.n_fft // 2
    padded = np.pad(x, (pad, pad), mode="constant")
    frames = np.lib.stride_tricks.sliding_window_view(padded, params.n_fft)[:: params.hop_length]
    spectrum = np.fft.rfft(frames * hann_window(params.n_fft), axis=-1)
    power = spectrum.real**2 + spectrum.imag**2
    if params.power != 2.0:
        power = power ** (params.power / 2.0)
    return power


def mel_power(samples: np.ndarray, params: FeatureParams) -> np.ndarray:
    """Mel power spectrogram [n_mels, n_frames] float64 (librosa.feature.melspectrogram)."""
    return (power_spectrogram(samples, params) @ mel_filterbank(params).T).T


def log_mel(samples: np.ndarray, params: FeatureParams) -> np.ndarray:
    """Log-mel spectrogram [n_mels, n_frames] float64, in dB."""
    mel = mel_power(samples, params)
    if params.log_mode == "dcase":
        return (20.0 / params.power) * np.log10(mel + DCASE_EPS)
    db = 10.0 * np.log10(np.maximum(mel, BLOG_AMIN))
    db -= 10.0 * np.log10(max(BLOG_AMIN, float(mel.max(initial=0.0))))
    return np.maximum(db, db.max(initial=-np.inf) - BLOG_TOP_DB)


def feature_vectors(logmel: np.ndarray, frames: int) -> np.ndarray:
    """Stack `frames` consecutive frames into one vector each: [n_vectors, n_mels*frames].

    Vector t holds frames t..t+frames-1 one after the other (mel bands fastest), the layout of the
    DCASE 2020 baseline. Fewer frames than `frames` gives zero vectors.
    """
    n_mels, n_frames = logmel.shape
    n_vectors = max(0, n_frames - frames + 1)
    if n_vectors == 0:
        return np.zeros((0, n_mels * frames), dtype=logmel.dtype)
    windows = np.lib.stride_tricks.sliding_window_view(logmel.T, frames, axis=0)  # [V, n_mels, frames]
    return np.ascontiguousarray(windows.transpose(0, 2, 1)).reshape(n_vectors, n_mels * frames)


def clip_vectors(samples: np.ndarray, params: FeatureParams) -> np.ndarray:
    """Waveform -> feature vectors, the whole front end in one call."""
    return feature_vectors(log_mel(samples, params), params.frames)


def band_means(samples: np.ndarray, params: FeatureParams | None = None) -> np.ndarray:
    """Mean log-mel level of each band over a clip (dB): a learning device's baseline clips keep
    these as their statistics (a model's own graph outputs them for scored clips)."""
    return log_mel(samples, params or FeatureParams()).mean(axis=1)
