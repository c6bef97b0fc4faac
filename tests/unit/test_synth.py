"""humwatch.research.synth: seeded machines, SNR, and that each fault changes what it should."""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from humwatch.audio import decode_audio
from humwatch.datasets import load_labelled_clips
from humwatch.research.synth import (
    FAULTS,
    MANIFEST_COLUMNS,
    MachineSpec,
    SynthError,
    synth_clip,
    synth_parts,
    write_dataset,
)

SR = 16000
FAN = MachineSpec.from_seed("fan", 3)
PUMP = MachineSpec.from_seed("pump", 3)


def power_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.asarray(x, dtype=np.float64) ** 2)))


def magnitude_spectrum(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float64)
    return np.fft.rfftfreq(x.shape[0], 1 / SR), np.abs(np.fft.rfft(x * np.hanning(x.shape[0])))


def peak_in(freqs: np.ndarray, mag: np.ndarray, lo: float, hi: float) -> tuple[float, float]:
    band = (freqs >= lo) & (freqs <= hi)
    i = int(np.argmax(mag[band]))
    return float(freqs[band][i]), float(mag[band][i])


def envelope_spectrum(x: np.ndarray, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
    """Spectrum of the band-passed signal's Hilbert envelope (how bearing faults are diagnosed)."""
    spec = np.fft.fft(np.asarray(x, dtype=np.float64))
    freqs = np.abs(np.fft.fftfreq(x.shape[0], 1 / SR))
    f_signed = np.fft.fftfreq(x.shape[0], 1 / SR)
    analytic = np.fft.ifft(spec * ((freqs >= lo) & (freqs <= hi) & (f_signed > 0)) * 2)
    env = np.abs(analytic)
    env -= env.mean()
    return np.fft.rfftfreq(env.shape[0], 1 / SR), np.abs(np.fft.rfft(env))


# --- machines and determinism ------------------------------------------------------------------


def test_given_a_seed_when_a_machine_is_made_then_it_is_reproducible_and_seeds_differ() -> None:
    assert MachineSpec.from_seed("fan", 3) == FAN
    other = MachineSpec.from_seed("fan", 4)
    assert other != FAN and other.rotation_hz != FAN.rotation_hz
    assert 12 <= FAN.rotation_hz <= 25 and 24 <= PUMP.rotation_hz <= 49
    with pytest.raises(SynthError, match="machine type"):
        MachineSpec.from_seed("compressor", 0)


def test_given_the_same_arguments_when_synthesised_then_identical_and_other_seeds_differ() -> None:
    a = synth_clip(FAN, fault="bearing", severity=0.5, seed=11)
    np.testing.assert_array_equal(a, synth_clip(FAN, fault="bearing", severity=0.5, seed=11))
    assert a.dtype == np.float32 and a.shape == (160000,)
    assert not np.allclose(a, synth_clip(FAN, fault="bearing", severity=0.5, seed=12))
    assert not np.allclose(a, synth_clip(MachineSpec.from_seed("fan", 4), fault="bearing", seed=11))


def test_given_normal_clips_when_compared_then_they_vary_but_less_than_machines_do() -> None:
    # Thresholds are only meaningful if normal clips differ from each other (phase, speed,
    # background), while staying recognisably the same machine.
    def band_levels(spec: MachineSpec, seed: int) -> np.ndarray:
        freqs, mag = magnitude_spectrum(synth_clip(spec, seed=seed, snr_db=6))
        edges = np.geomspace(50, 7900, 25)
        return np.array(
            [
                10 * np.log10(np.mean(mag[(freqs >= lo) & (freqs < hi)] ** 2))
                for lo, hi in itertools.pairwise(edges)
            ]
        )

    same = [band_levels(FAN, s) for s in range(4)]
    clip_to_clip = np.mean([np.abs(same[0] - other).mean() for other in same[1:]])
    machine_to_machine = np.abs(same[0] - band_levels(MachineSpec.from_seed("fan", 9), 0)).mean()
    assert 0.2 < clip_to_clip < machine_to_machine
    rotations = [synth_parts(FAN, seed=s).rotation_hz for s in range(6)]
    assert np.std(rotations) > 0 and np.ptp(rotations) / FAN.rotation_hz < 0.03


# --- SNR, level, safety ------------------------------------------------------------------------


@pytest.mark.parametrize("snr_db", [-6.0, 0.0, 10.0])
def test_given_an_snr_when_synthesised_then_machine_over_background_averages_that_snr(snr_db: float) -> None:
    # The hall's and the machine's levels vary clip to clip, so the SNR is met on average.
    clips = [synth_parts(PUMP, snr_db=snr_db, seed=s, duration_s=3) for s in range(16)]
    realised = [power_db(p.machine) - power_db(p.background) for p in clips]
    assert np.mean(realised) == pytest.approx(snr_db, abs=0.6)
    assert 0.3 < np.std(realised) < 2.5
    assert not any(p.fault.any() for p in clips)


def test_given_a_gain_when_synthesised_then_the_clip_scales_exactly() -> None:
    base = synth_clip(FAN, seed=5).astype(np.float64)
    louder = synth_clip(FAN, seed=5, gain_db=1.0).astype(np.float64)
    np.testing.assert_allclose(louder, base * 10 ** (1 / 20), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("fault", [None, *FAULTS])
def test_given_extreme_settings_when_synthesised_then_finite_and_never_clipped(fault: str | None) -> None:
    for snr_db, gain_db in [(-15.0, 0.0), (20.0, 0.0), (0.0, 20.0)]:
        x = synth_clip(PUMP, fault=fault, severity=1.0, snr_db=snr_db, gain_db=gain_db, seed=1, duration_s=3)
        assert np.isfinite(x).all()
        assert np.abs(x).max() < 0.99


def test_given_default_settings_when_decoded_then_accepted_by_the_audio_checks(tmp_path: Path) -> None:
    path = tmp_path / "clip.wav"
    sf.write(path, synth_clip(FAN, fault="rubbing", severity=1.0, seed=3), SR, subtype="PCM_16")
    assert decode_audio(path).duration_s == 10.0


def test_given_bad_parameters_when_synthesised_then_synth_error() -> None:
    with pytest.raises(SynthError, match="unknown fault"):
        synth_clip(FAN, fault="gremlins")
    with pytest.raises(SynthError, match="severity"):
        synth_clip(FAN, fault="bearing", severity=1.5)


# --- faults ------------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", FAULTS)
def test_given_severity_zero_when_a_fault_is_injected_then_the_clip_is_the_normal_one(fault: str) -> None:
    np.testing.assert_array_equal(
        synth_clip(PUMP, fault=fault, severity=0.0, seed=8), synth_clip(PUMP, seed=8)
    )


@pytest.mark.parametrize("fault", FAULTS)
def test_given_a_fault_when_injected_then_the_background_is_untouched(fault: str) -> None:
    normal = synth_parts(FAN, seed=4, snr_db=0)
    faulty = synth_parts(FAN, fault=fault, severity=0.7, seed=4, snr_db=0)
    np.testing.assert_array_equal(faulty.background, normal.background)
    assert not np.allclose(faulty.machine + faulty.fault, normal.machine + normal.fault)


def test_given_bearing_faults_when_severity_grows_then_the_envelope_peak_at_the_defect_frequency_grows() -> (
    None
):
    prominence = []
    for severity in (0.0, 0.5, 1.0):
        parts = synth_parts(FAN, fault="bearing", severity=severity, seed=6, snr_db=6)
        clip = parts.machine + parts.fault + parts.background
        bpfo = FAN.bearing_ratio * parts.rotation_hz
        f_res = FAN.bearing_resonance_hz
        freqs, env = envelope_spectrum(clip, f_res - 1000, min(f_res + 1000, 7900))
        _, at_defect = peak_in(freqs, env, bpfo * 0.97, bpfo * 1.03)
        floor = np.median(env[(freqs > 5) & (freqs < 300)])
        prominence.append(at_defect / floor)
    assert prominence[0] < 5 and 10 < prominence[1] < prominence[2]


@pytest.mark.parametrize("spec", [FAN, PUMP], ids=["fan", "pump"])
def test_given_a_speed_fault_when_injected_then_all_harmonics_move_together(spec: MachineSpec) -> None:
    normal = synth_parts(spec, seed=7)
    faulty = synth_parts(spec, fault="speed", severity=0.5, seed=7)
    shift = faulty.rotation_hz / normal.rotation_hz
    assert abs(shift - 1) == pytest.approx(0.05, abs=0.002)
    bpf = spec.n_blades * normal.rotation_hz
    f_normal, _ = peak_in(*magnitude_spectrum(normal.machine), bpf * 0.9, bpf * 1.1)
    f_faulty, _ = peak_in(*magnitude_spectrum(faulty.machine), bpf * 0.9, bpf * 1.1)
    assert f_faulty / f_normal == pytest.approx(shift, abs=0.01)


def test_given_speed_offset_when_synthesised_then_the_shaft_rate_follows() -> None:
    base = synth_parts(FAN, seed=1).rotation_hz
    assert synth_parts(FAN, seed=1, speed_offset=0.02).rotation_hz / base == pytest.approx(1.02, abs=0.002)


def test_given_imbalance_when_severity_grows_then_the_1x_component_grows() -> None:
    def one_x(severity: float) -> float:
        parts = synth_parts(PUMP, fault="imbalance", severity=severity, seed=9, snr_db=20)
        f1 = parts.rotation_hz
        return peak_in(*magnitude_spectrum(parts.machine), f1 * 0.95, f1 * 1.05)[1]

    levels = [one_x(s) for s in (0.0, 0.5, 1.0)]
    assert levels[0] * 1.5 < levels[1] < levels[2] and levels[2] > 2.5 * levels[0]


def test_given_rubbing_when_injected_then_intermittent_high_frequency_bursts_appear() -> None:
    normal = synth_parts(FAN, seed=10)
    rub = synth_parts(FAN, fault="rubbing", severity=0.8, seed=10)
    assert not normal.fault.any()
    freqs, mag = magnitude_spectrum(rub.fault)
    assert np.sum(mag[freqs > 500] ** 2) > 0.9 * np.sum(mag**2)  # broadband friction, not hum
    frame_energy = np.mean(rub.fault.reshape(-1, 800) ** 2, axis=1)  # 50 ms frames
    assert (frame_energy < 0.01 * frame_energy.max()).mean() > 0.1  # it comes and goes
    hi_normal = power_db(np.fft.irfft(np.fft.rfft(normal.machine) * (freqs > 1000)))
    hi_rub = power_db(np.fft.irfft(np.fft.rfft(rub.machine + rub.fault) * (freqs > 1000)))
    assert hi_rub > hi_normal + 1.0


@pytest.mark.parametrize("spec", [FAN, PUMP], ids=["fan", "pump"])
def test_given_blade_damage_when_injected_then_sidebands_grow_around_blade_pass(spec: MachineSpec) -> None:
    def sideband_power(severity: float) -> float:
        parts = synth_parts(spec, fault="blade", severity=severity, seed=12, snr_db=20)
        freqs, mag = magnitude_spectrum(parts.machine)
        f_r = parts.rotation_hz
        orders = [m * spec.n_blades + off for m in (1, 2, 3) for off in (-2, -1, 1, 2)]
        return sum(peak_in(freqs, mag, (k - 0.3) * f_r, (k + 0.3) * f_r)[1] ** 2 for k in orders if k > 3)

    none, half, full = (sideband_power(s) for s in (0.0, 0.5, 1.0))
    assert none * 1.2 < half < full and full > 2 * none


# --- datasets on disk --------------------------------------------------------------------------


def test_given_write_dataset_when_run_twice_then_one_manifest_lists_normals_and_anomalies(
    tmp_path: Path,
) -> None:
    manifest = write_dataset(
        tmp_path, machine_type="pump", n_clips=3, snr_db=3, seed=1, machine_seed=2, duration_s=2.5
    )
    write_dataset(
        tmp_path,
        machine_type="pump",
        n_clips=2,
        fault="bearing",
        severity=0.7,
        snr_db=3,
        seed=1,
        machine_seed=2,
        fmt="flac",
        duration_s=2.5,
    )
    with manifest.open(newline="") as fh:
        reader = csv.DictReader(fh)
        assert tuple(reader.fieldnames or ()) == MANIFEST_COLUMNS
        rows = list(reader)
    assert [r["path"] for r in rows] == [
        "anomaly_bearing_0000.flac",
        "anomaly_bearing_0001.flac",
        "normal_0000.wav",
        "normal_0001.wav",
        "normal_0002.wav",
    ]
    assert {r["label"] for r in rows[:2]} == {"anomaly"} and {r["fault"] for r in rows[:2]} == {"bearing"}
    assert rows[2]["fault"] == "" and rows[2]["severity"] == "0" and rows[2]["snr_db"] == "3"
    assert len({r["seed"] for r in rows}) == 5

    # Each row's seed re-creates its file (to 16-bit precision).
    row = rows[0]
    spec = MachineSpec.from_seed(row["machine_type"], int(row["machine_seed"]))
    again = synth_clip(spec, fault="bearing", severity=0.7, snr_db=3, seed=int(row["seed"]), duration_s=2.5)
    on_disk, rate = sf.read(tmp_path / row["path"], dtype="float32")
    assert rate == SR
    np.testing.assert_allclose(on_disk, again, atol=1.5 / 32768)

    clips = load_labelled_clips([manifest])
    assert [c.label for c in clips] == ["anomaly", "anomaly", "normal", "normal", "normal"]
    assert clips[0].fault == "bearing"
    assert [c.label for c in load_labelled_clips([tmp_path])] == [c.label for c in clips]


def test_given_bad_dataset_arguments_when_written_then_synth_error(tmp_path: Path) -> None:
    with pytest.raises(SynthError, match="format"):
        write_dataset(tmp_path, n_clips=1, fmt="mp3")  # type: ignore[arg-type]
    with pytest.raises(SynthError, match="unknown fault"):
        write_dataset(tmp_path, n_clips=1, fault="gremlins")
    assert not list(tmp_path.iterdir())
    (tmp_path / "manifest.csv").write_text("path,label\nx.wav,normal\n")
    with pytest.raises(SynthError, match="not a synth manifest"):
        write_dataset(tmp_path, n_clips=1, duration_s=2)
