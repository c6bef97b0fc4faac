"""humwatch.research.orders_synth: the independently written machine generator.

Each fault is checked by the physical feature it should change (envelope spectrum, order levels,
line positions, burst energy), not by comparing arrays. Machine seeds here are development
seeds: never the ones `make eval` holds out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from scipy import signal

from humwatch.research.orders_synth import (
    FAULTS,
    OrdersMachine,
    render_clip,
    render_parts,
)

FS = 16_000
FAN = OrdersMachine.from_seed("fan", 7)
PUMP = OrdersMachine.from_seed("pump", 8)
MACHINES = pytest.mark.parametrize("machine", [FAN, PUMP], ids=["fan", "pump"])


def power_spectrum(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.fft.rfftfreq(x.size, 1.0 / FS), np.abs(np.fft.rfft(x)) ** 2


def share_near(x: np.ndarray, hz: float, rel: float) -> float:
    """Share of the clip's power within +-rel of hz."""
    freqs, power = power_spectrum(x)
    return float(power[np.abs(freqs / hz - 1.0) < rel].sum() / power.sum())


def envelope_prominence(x: np.ndarray, band: tuple[float, float], hz: float) -> float:
    """Envelope-spectrum power at hz (+-2%) over the median of its +-30% neighbourhood."""
    sos = signal.butter(4, band, btype="bandpass", fs=FS, output="sos")
    envelope = np.abs(signal.hilbert(signal.sosfiltfilt(sos, x)))
    freqs, power = power_spectrum(envelope - envelope.mean())
    ratio = freqs / hz
    return float(power[np.abs(ratio - 1.0) < 0.02].mean() / np.median(power[np.abs(ratio - 1.0) < 0.3]))


def window_energies(x: np.ndarray, above_hz: float = 1000.0, window_s: float = 0.25) -> np.ndarray:
    sos = signal.butter(4, above_hz, btype="highpass", fs=FS, output="sos")
    y = signal.sosfiltfilt(sos, x)
    width = int(window_s * FS)
    return np.mean(y[: y.size // width * width].reshape(-1, width) ** 2, axis=1)


def peak_hz(x: np.ndarray, near_hz: float, rel: float = 0.2) -> float:
    """Centre of the strongest 2%-wide band near near_hz: a wandering line is smeared over several
    bins, so its summed power, not its highest bin, beats a steady mains line next to it."""
    freqs, power = power_spectrum(x)
    width = max(1, int(0.02 * near_hz / (freqs[1] - freqs[0])))
    smeared = np.convolve(power, np.ones(width), mode="same")
    mask = np.abs(freqs / near_hz - 1.0) < rel
    return float(freqs[mask][np.argmax(smeared[mask])])


def relative_speed_wander(x: np.ndarray, line_hz: float, half_band: float) -> float:
    """Std / mean of the instantaneous frequency of the line near line_hz: a band +-half_band
    (relative) around it, Hilbert phase, derivative smoothed to 5 Hz."""
    band = [line_hz * (1.0 - half_band), line_hz * (1.0 + half_band)]
    sos = signal.butter(4, band, btype="bandpass", fs=FS, output="sos")
    phase = np.unwrap(np.angle(signal.hilbert(signal.sosfiltfilt(sos, x))))
    inst_hz = np.diff(phase) * FS / (2 * np.pi)
    smooth = signal.sosfiltfilt(signal.butter(2, 5.0, fs=FS, output="sos"), inst_hz)[FS // 2 : -FS // 2]
    return float(smooth.std() / smooth.mean())


def test_given_the_same_arguments_when_rendered_twice_then_the_samples_are_identical() -> None:
    kwargs: dict[str, Any] = dict(
        fault="rubbing", severity=0.7, snr_db=3.0, seed=5, duration_s=3.0, speed_offset=0.02
    )
    first = render_clip(OrdersMachine.from_seed("fan", 7), **kwargs)
    second = render_clip(OrdersMachine.from_seed("fan", 7), **kwargs)
    other_seed = render_clip(FAN, **{**kwargs, "seed": 6})
    assert np.array_equal(first, second)
    assert not np.allclose(first, other_seed)


@pytest.mark.parametrize("fault", [None, *FAULTS])
def test_given_any_fault_and_a_loud_gain_when_rendered_then_float32_mono_within_unit_range(
    fault: str | None,
) -> None:
    for gain_db in (0.0, 30.0):
        clip = render_clip(PUMP, fault=fault, severity=1.0, seed=2, duration_s=2.0, gain_db=gain_db)
        assert clip.dtype == np.float32
        assert clip.shape == (2 * FS,)
        assert np.all(np.isfinite(clip))
        assert np.abs(clip).max() <= 1.0
    assert np.sqrt(np.mean(clip.astype(np.float64) ** 2)) > 0.01  # not silent


@pytest.mark.parametrize("fault", FAULTS)
def test_given_severity_zero_when_rendered_then_it_is_the_normal_clip(fault: str) -> None:
    normal = render_clip(FAN, seed=3, duration_s=2.0)
    assert np.array_equal(render_clip(FAN, fault=fault, severity=0.0, seed=3, duration_s=2.0), normal)
    assert not np.array_equal(render_clip(FAN, fault=fault, severity=0.5, seed=3, duration_s=2.0), normal)


@MACHINES
def test_given_a_bearing_defect_when_enveloped_in_2_to_5_khz_then_a_line_at_bpfo_appears(
    machine: OrdersMachine,
) -> None:
    bpfo_hz = machine.bpfo_order * machine.shaft_hz
    normal = envelope_prominence(render_clip(machine, seed=11), (2000.0, 5000.0), bpfo_hz)
    faulty = envelope_prominence(render_clip(machine, fault="bearing", seed=11), (2000.0, 5000.0), bpfo_hz)
    assert normal < 2.5  # no line there in a healthy machine
    assert faulty > 3.0 * normal


@MACHINES
def test_given_imbalance_when_rendered_then_the_1x_order_level_rises_strongly(machine: OrdersMachine) -> None:
    normal = share_near(render_clip(machine, seed=12), machine.shaft_hz, 0.03)
    faulty = share_near(render_clip(machine, fault="imbalance", seed=12), machine.shaft_hz, 0.03)
    assert faulty > 4.0 * normal  # > 6 dB


@MACHINES
def test_given_a_speed_fault_when_rendered_then_the_blade_pass_peak_moves_by_the_set_point_error(
    machine: OrdersMachine,
) -> None:
    normal = peak_hz(render_clip(machine, seed=13, snr_db=6.0), machine.bpf_hz)
    faulty = peak_hz(render_clip(machine, fault="speed", seed=13, snr_db=6.0), machine.bpf_hz)
    assert normal == pytest.approx(machine.bpf_hz, rel=0.015)
    assert abs(machine.speed_fault_shift) >= 0.04
    assert faulty / normal - 1.0 == pytest.approx(machine.speed_fault_shift, abs=0.02)


def test_given_a_normal_speed_offset_when_rendered_then_every_order_follows_it() -> None:
    faster = render_clip(FAN, seed=14, speed_offset=0.05)
    assert peak_hz(faster, FAN.bpf_hz) == pytest.approx(1.05 * FAN.bpf_hz, rel=0.015)


@MACHINES
def test_given_a_damaged_blade_when_rendered_then_sidebands_appear_one_order_beside_the_blade_pass(
    machine: OrdersMachine,
) -> None:
    def sidebands(x: np.ndarray) -> float:
        orders = (machine.n_blades - 1, machine.n_blades + 1)
        return sum(share_near(x, order * machine.shaft_hz, 0.02) for order in orders)

    normal = render_clip(machine, seed=15, snr_db=10.0)
    faulty = render_clip(machine, fault="blade", seed=15, snr_db=10.0)
    assert sidebands(faulty) > 2.0 * sidebands(normal)
    # Not a broadband click: the high band barely changes.
    high = window_energies(faulty, above_hz=2000.0).mean() / window_energies(normal, above_hz=2000.0).mean()
    assert high < 1.1


@MACHINES
def test_given_rubbing_when_rendered_then_the_high_band_energy_comes_and_goes(machine: OrdersMachine) -> None:
    normal = window_energies(render_clip(machine, seed=16, snr_db=20.0))
    faulty = window_energies(render_clip(machine, fault="rubbing", seed=16, snr_db=20.0))
    typical = np.median(normal)
    assert normal.max() < 1.3 * typical  # a healthy machine is steady window to window
    assert faulty.max() > 1.5 * typical  # a burst
    # Intermittent: loud in some windows only, and between bursts as quiet as when healthy.
    assert 0.0 < np.mean(faulty > 1.3 * typical) <= 0.8
    assert np.percentile(faulty, 10) < 1.2 * np.percentile(normal, 10)


@MACHINES
def test_given_a_clean_recording_when_the_blade_pass_line_is_tracked_then_speed_wanders_about_1_percent(
    machine: OrdersMachine,
) -> None:
    normal = relative_speed_wander(render_clip(machine, seed=17, snr_db=40.0), machine.bpf_hz, 0.06)
    shifted_bpf = machine.bpf_hz * (1.0 + machine.speed_fault_shift)
    faulty_clip = render_clip(machine, fault="speed", seed=17, snr_db=40.0)
    faulty = relative_speed_wander(faulty_clip, shifted_bpf, 0.1)  # wider: it wanders more
    assert 0.006 < normal < 0.016
    assert normal == pytest.approx(machine.wander, rel=0.25)
    assert faulty == pytest.approx(machine.speed_fault_wander, rel=0.25)  # 2-3%
    assert faulty > 1.5 * normal


@pytest.mark.parametrize("snr_db", [-6.0, 0.0, 12.0])
def test_given_an_snr_when_rendered_then_healthy_machine_over_background_power_is_that_snr(
    snr_db: float,
) -> None:
    parts = render_parts(PUMP, seed=18, snr_db=snr_db, duration_s=3.0)
    measured = 10 * np.log10(np.mean(parts.machine**2) / np.mean(parts.background**2))
    assert measured == pytest.approx(snr_db, abs=0.01)


def test_given_a_lower_snr_when_rendered_then_the_background_takes_a_larger_share_of_the_spectrum() -> None:
    shares = [
        share_near(render_clip(FAN, seed=19, snr_db=snr), FAN.bpf_hz, 0.03) for snr in (12.0, 0.0, -12.0)
    ]
    assert shares[0] > 1.5 * shares[1]
    assert shares[1] > 4.0 * shares[2]


def test_given_two_machine_seeds_when_rendered_then_they_differ_more_than_two_clips_of_one() -> None:
    def log_spectrum(machine: OrdersMachine, seed: int) -> np.ndarray:
        _, psd = signal.welch(render_clip(machine, seed=seed, snr_db=20.0), FS, nperseg=2048)
        return np.log10(psd + 1e-20)

    assert OrdersMachine.from_seed("fan", 7) == FAN
    other = OrdersMachine.from_seed("fan", 9)
    assert (other.shaft_hz, other.n_blades) != (FAN.shaft_hz, FAN.n_blades)
    same_machine = np.mean(np.abs(log_spectrum(FAN, 1) - log_spectrum(FAN, 2)))
    across = np.mean(np.abs(log_spectrum(FAN, 1) - log_spectrum(other, 1)))
    assert across > 3.0 * same_machine


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: OrdersMachine.from_seed("compressor", 1), "unknown machine type"),
        (lambda: render_clip(FAN, fault="squeak"), "unknown fault"),
        (lambda: render_clip(FAN, severity=1.5), "severity"),
        (lambda: render_clip(FAN, severity=float("nan")), "severity"),
        (lambda: render_clip(FAN, duration_s=0.0), "duration_s"),
        (lambda: render_clip(FAN, duration_s=-1.0), "duration_s"),
        (lambda: render_clip(FAN, seed=-1), "seed"),
        (lambda: render_clip(FAN, gain_db=float("inf")), "gain_db"),
    ],
)
def test_given_a_bad_argument_when_called_then_a_clear_value_error(
    call: Callable[[], object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        call()
