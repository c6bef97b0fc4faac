"""The spectral detector's ONNX front end equals its numpy reference and humwatch.features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from humwatch.detectors.spectral_gauss.frontend import (
    GROUPS,
    FrontendParams,
    clip_statistics_numpy,
    frontend_model,
    min_samples,
)
from humwatch.features import FeatureParams, log_mel
from humwatch.model.session import create_session as session
from humwatch.research.synth import MachineSpec, synth_clip

FEATURES = FeatureParams()
FRONTEND = FrontendParams()


@pytest.fixture(scope="module")
def frontend() -> object:
    return session(frontend_model(FEATURES, FRONTEND))


def _run(sess: object, samples: np.ndarray) -> dict[str, np.ndarray]:
    names = [o.name for o in sess.get_outputs()]  # type: ignore[attr-defined]
    values = sess.run(None, {"waveform": samples.astype(np.float32)})  # type: ignore[attr-defined]
    return dict(zip(names, values, strict=True))


def test_onnx_statistics_equal_the_numpy_reference_on_a_machine_clip(frontend: object) -> None:
    # Given a synthetic fan clip
    clip = synth_clip(MachineSpec.from_seed("fan", 7), seed=1)
    # When both paths compute the clip statistics
    graph = _run(frontend, clip)
    reference = clip_statistics_numpy(clip, FEATURES, FRONTEND)
    # Then every group agrees to well under 0.01 dB (frame_m2 is in dB^2)
    for group in GROUPS:
        assert graph[group].shape == reference[group].shape, group
        tolerance = 0.05 if group == "frame_m2" else 2e-3
        assert np.max(np.abs(graph[group] - reference[group])) < tolerance, group


def test_band_means_match_the_project_log_mel(frontend: object) -> None:
    # Given a clip that is loud in every band (no bins near the log floor)
    clip = synth_clip(MachineSpec.from_seed("pump", 3), seed=2, snr_db=-6.0)
    # When the detector graph's band means are compared with humwatch.features
    band_means = _run(frontend, clip)["mel_mean"]
    expected = log_mel(clip.astype(np.float64), FEATURES).mean(axis=1)
    # Then the drift statistic is the one the rest of humwatch computes
    assert np.max(np.abs(band_means - expected)) < 1e-3


def test_a_line_in_the_fine_spectrum_lands_in_its_bin(frontend: object) -> None:
    # Given a 250 Hz tone in weak noise
    rng = np.random.default_rng(0)
    t = np.arange(160000) / 16000
    clip = 0.1 * np.sin(2 * np.pi * 250.0 * t) + 1e-3 * rng.standard_normal(t.size)
    # When the fine spectrum (bins of 16000/4/1024 Hz from bin 1) is computed
    fine = _run(frontend, clip)["fine"]
    # Then its peak is at 250 Hz within one bin
    peak_hz = (int(np.argmax(fine)) + 1) * 16000 / 4 / 1024
    assert abs(peak_hz - 250.0) < 4.0


def test_a_clip_shorter_than_the_envelope_window_still_gives_finite_statistics(frontend: object) -> None:
    # Given a clip shorter than the envelope analysis needs
    clip = np.random.default_rng(1).standard_normal(min_samples(FRONTEND) // 3) * 0.01
    # When the graph runs
    out = _run(frontend, clip)
    # Then it zero-pads instead of failing, and every statistic is finite
    assert all(np.all(np.isfinite(v)) for v in out.values())


@pytest.mark.shared_data
def test_onnx_equals_numpy_on_a_real_clip(frontend: object, real_data_dir: Path) -> None:
    import soundfile as sf

    # Given a real DCASE clip
    path = sorted((real_data_dir / "dcase2020-id00" / "train" / "normal").glob("*.wav"))[0]
    clip, _ = sf.read(path, dtype="float32")
    # Then the graph and the numpy reference agree on it too
    graph = _run(frontend, clip)
    reference = clip_statistics_numpy(clip, FEATURES, FRONTEND)
    for group in ("mel_mean", "fine", "env_bands", "level"):
        assert np.max(np.abs(graph[group] - reference[group])) < 2e-3, group


def test_an_impact_rate_in_a_narrow_band_is_a_line_in_that_band_s_modulation_spectrum(
    frontend: object,
) -> None:
    # Given noise in the 3.0-3.25 kHz band pulsing 37 times a second, in weak broadband noise
    rng = np.random.default_rng(5)
    n = 160000
    spectrum = rng.standard_normal(n // 2 + 1) + 1j * rng.standard_normal(n // 2 + 1)
    freqs = np.fft.rfftfreq(n, 1 / 16000)
    band = np.fft.irfft(spectrum * ((freqs > 3000) & (freqs < 3250)), n)
    t = np.arange(n) / 16000
    clip = band / band.std() * 0.05 * (1.0 + 0.8 * np.sin(2 * np.pi * 37.0 * t)) + 1e-3 * rng.standard_normal(
        n
    )
    # When the narrow-band modulation spectra are computed (row b = band starting at (2 + b) x 250 Hz)
    env = _run(frontend, clip)["env_fine"].reshape(len(FRONTEND.fine_band_edges_bins) - 1, -1)
    row = 12 - 2  # the 3.0-3.25 kHz band
    line = int(np.argmax(env[row])) + 1  # modulation lines start at 1 x 16000 / 32 / 512 Hz
    # Then its peak is at 37 Hz within one line, and it stands well above a band without the pulse
    assert abs(line * 16000 / 32 / 512 - 37.0) < 1.0
    assert env[row].max() > env[row + 10].max() + 12.0


@pytest.mark.parametrize(("field", "value"), [("band_env_bins", 256), ("fine_bins", 512)])
def test_frontend_parameters_refuse_lines_at_or_beyond_nyquist(field: str, value: int) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=field):
        FrontendParams(**{field: value})  # type: ignore[arg-type]
