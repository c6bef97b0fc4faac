"""Capture sources: folder replay in order, generator hooks, clear errors for unusable sources."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from humwatch_edge.capture import FolderSource, GeneratorSource, MicrophoneSource
from humwatch_edge.errors import CaptureError, ConfigError


def _write(folder: Path, name: str, signal: np.ndarray, rate: int = 16000) -> None:
    sf.write(folder / name, signal, rate, subtype="PCM_16")


def test_given_folder_when_replayed_then_files_in_name_order_cut_to_duration_channel_0(
    tmp_path: Path,
) -> None:
    stereo = np.stack([np.full(32000, 0.25), np.full(32000, -0.5)], axis=1).astype(np.float32)
    _write(tmp_path, "b.wav", stereo)
    _write(tmp_path, "a.flac", np.full(8000, 0.125, dtype=np.float32))
    (tmp_path / "notes.txt").write_text("ignored")
    source = FolderSource(tmp_path, loop=True)
    first, second, third = (source.record(1.0) for _ in range(3))
    assert first.source == "a.flac" and first.duration_s == 0.5  # a shorter file is not padded
    assert second.source == "b.wav" and second.duration_s == 1.0 and second.samples.ndim == 1
    assert np.allclose(second.samples, 0.25, atol=1e-4)  # channel 0, not the mix
    assert third.source == "a.flac"  # looped
    assert first.captured_at.tzinfo is not None


def test_given_folder_without_loop_when_exhausted_then_capture_error(tmp_path: Path) -> None:
    _write(tmp_path, "a.wav", np.zeros(1600, dtype=np.float32))
    source = FolderSource(tmp_path, loop=False)
    source.record(0.1)
    with pytest.raises(CaptureError, match="no more files"):
        source.record(0.1)


def test_given_empty_or_missing_folder_when_opened_then_capture_error(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match=r"no \.wav or \.flac"):
        FolderSource(tmp_path)
    with pytest.raises(CaptureError, match="cannot list"):
        FolderSource(tmp_path / "missing")


def test_given_unreadable_audio_file_when_replayed_then_capture_error(tmp_path: Path) -> None:
    (tmp_path / "broken.wav").write_bytes(b"RIFF....not audio")
    with pytest.raises(CaptureError, match=r"cannot read broken\.wav"):
        FolderSource(tmp_path).record(1.0)


@pytest.fixture()
def hooks(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    module = types.ModuleType("edge_test_hooks")
    hooks = {
        "tone": lambda duration_s, sample_rate: np.full(int(duration_s * sample_rate), 0.1, dtype=np.float32),
        "with_rate": lambda duration_s, sample_rate: (np.zeros(800, dtype=np.int16), 8000),
        "broken": lambda duration_s, sample_rate: 1 / 0,
        "empty": lambda duration_s, sample_rate: np.zeros(0),
    }
    for name, func in hooks.items():
        setattr(module, name, func)
    monkeypatch.setitem(sys.modules, "edge_test_hooks", module)
    return module


def test_given_generator_hook_when_recording_then_its_samples_and_rate_used(hooks: types.ModuleType) -> None:
    recording = GeneratorSource("edge_test_hooks:tone", 16000).record(0.5)
    assert recording.sample_rate == 16000 and len(recording.samples) == 8000
    with_rate = GeneratorSource("edge_test_hooks:with_rate", 16000).record(0.5)
    assert with_rate.sample_rate == 8000 and with_rate.duration_s == 0.1


def test_given_failing_or_empty_hook_when_recording_then_capture_error(hooks: types.ModuleType) -> None:
    with pytest.raises(CaptureError, match="ZeroDivisionError"):
        GeneratorSource("edge_test_hooks:broken", 16000).record(1.0)
    with pytest.raises(CaptureError, match="no 1-D/2-D samples"):
        GeneratorSource("edge_test_hooks:empty", 16000).record(1.0)


def test_given_unknown_hook_when_opened_then_config_error(hooks: types.ModuleType) -> None:
    with pytest.raises(ConfigError, match="cannot import module 'no_such_module_xyz'"):
        GeneratorSource("no_such_module_xyz:f", 16000)
    with pytest.raises(ConfigError, match="has no function 'nope'"):
        GeneratorSource("edge_test_hooks:nope", 16000)


def test_given_no_sounddevice_when_microphone_opened_then_install_hint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # makes `import sounddevice` fail
    with pytest.raises(CaptureError, match=r"humwatch-edge\[mic\]"):
        MicrophoneSource(device=None, sample_rate=16000, channels=1)
