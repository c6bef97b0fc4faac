"""Where the sound comes from: a microphone, a folder of recordings replayed in order, or a hook.

Every source returns mono samples and the wall-clock time the recording started. The folder source
is what demos and tests use: real WAV/FLAC files played back as if the microphone had heard them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import soundfile as sf

from humwatch_edge.config import EdgeConfig, load_hook
from humwatch_edge.errors import CaptureError

log = logging.getLogger(__name__)
AUDIO_SUFFIXES = (".wav", ".flac")


@dataclass(frozen=True)
class Recording:
    samples: np.ndarray  # mono, float32 in [-1, 1] or int16
    sample_rate: int
    captured_at: datetime  # UTC, when the recording started
    source: str  # what produced it (file name, device), for logs only

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate


class CaptureSource(Protocol):
    def record(self, duration_s: float) -> Recording: ...

    def close(self) -> None: ...


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _mono(data: np.ndarray) -> np.ndarray:
    # Channel 0, not the mean: a multi-channel array's first microphone is what the model was
    # trained on (the cloud decodes channel 0 as well).
    return data[:, 0] if data.ndim == 2 else data


class FolderSource:
    """Replays the WAV/FLAC files of a folder in name order, `duration_s` from each file."""

    def __init__(self, folder: Path, *, loop: bool = True) -> None:
        self.folder = folder
        self.loop = loop
        self._index = 0
        files = self._files()
        if not files:
            raise CaptureError(f"capture folder {folder} has no .wav or .flac files")

    def _files(self) -> list[Path]:
        try:
            return sorted(p for p in self.folder.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES)
        except OSError as exc:
            raise CaptureError(f"cannot list capture folder {self.folder}: {exc.strerror}") from exc

    def record(self, duration_s: float) -> Recording:
        files = self._files()  # re-listed each time: files may be added while running
        if self._index >= len(files):
            if not self.loop or not files:
                raise CaptureError(f"capture folder {self.folder}: no more files to replay")
            self._index = 0
        path = files[self._index]
        self._index += 1
        captured_at = _now()
        try:
            info = sf.info(str(path))
            frames = min(info.frames, round(duration_s * info.samplerate))
            data, rate = sf.read(str(path), frames=frames, dtype="float32", always_2d=True)
        except (RuntimeError, sf.LibsndfileError, OSError) as exc:
            raise CaptureError(f"cannot read {path.name}: {exc}") from exc
        return Recording(_mono(data), int(rate), captured_at, path.name)

    def close(self) -> None:
        pass


class GeneratorSource:
    """Calls `module:function(duration_s=..., sample_rate=...)` -> samples or (samples, rate)."""

    def __init__(self, spec: str, sample_rate: int) -> None:
        self.spec = spec
        self.sample_rate = sample_rate
        self._func: Callable[..., Any] = load_hook(spec)

    def record(self, duration_s: float) -> Recording:
        captured_at = _now()
        try:
            result = self._func(duration_s=duration_s, sample_rate=self.sample_rate)
        except Exception as exc:  # a user hook can fail in any way; report it as a capture error
            raise CaptureError(f"generator {self.spec} failed: {exc!r}") from exc
        rate = self.sample_rate
        if isinstance(result, tuple):
            result, rate = result
        samples = np.asarray(result)
        if samples.ndim not in (1, 2) or samples.size == 0:
            raise CaptureError(f"generator {self.spec} returned no 1-D/2-D samples")
        return Recording(_mono(samples), int(rate), captured_at, self.spec)

    def close(self) -> None:
        pass


class MicrophoneSource:
    """Records from a sound card with sounddevice (the optional `mic` extra)."""

    def __init__(self, *, device: str | None, sample_rate: int, channels: int) -> None:
        try:
            import sounddevice
        except (ImportError, OSError) as exc:  # OSError: PortAudio library missing
            raise CaptureError(
                "microphone capture needs sounddevice and PortAudio: "
                "`pip install 'humwatch-edge[mic]'` and `apt-get install libportaudio2`"
            ) from exc
        self._sd = sounddevice
        self.device: int | str | None = int(device) if device and device.isdigit() else device
        self.sample_rate = sample_rate
        self.channels = channels
        try:
            self._sd.check_input_settings(
                device=self.device, samplerate=sample_rate, channels=channels, dtype="int16"
            )
        except Exception as exc:  # sounddevice raises PortAudioError/ValueError
            raise CaptureError(f"microphone {device or '(default)'} unusable: {exc}") from exc

    def record(self, duration_s: float) -> Recording:
        captured_at = _now()
        frames = round(duration_s * self.sample_rate)
        try:
            data = self._sd.rec(
                frames,
                samplerate=self.sample_rate,
                channels=self.channels,
                dtype="int16",
                device=self.device,
                blocking=True,
            )
        except Exception as exc:
            raise CaptureError(f"microphone recording failed: {exc}") from exc
        return Recording(_mono(np.asarray(data)), self.sample_rate, captured_at, str(self.device))

    def close(self) -> None:
        pass


def open_source(config: EdgeConfig) -> CaptureSource:
    if config.capture_source == "folder":
        assert config.capture_folder is not None  # guaranteed by config validation
        return FolderSource(config.capture_folder, loop=config.capture_loop)
    if config.capture_source == "generator":
        assert config.capture_generator is not None
        return GeneratorSource(config.capture_generator, config.capture_sample_rate)
    return MicrophoneSource(
        device=config.capture_device,
        sample_rate=config.capture_sample_rate,
        channels=config.capture_channels,
    )
