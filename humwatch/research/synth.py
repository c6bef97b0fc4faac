"""Seeded synthetic machine sound (fans and pumps) with five injectable faults.

Real labelled machine audio is scarce; this module makes as much as a test or a demo needs,
deterministically. It is meant to be *not trivially easy*: normal clips vary the way real ones do
(speed and level wander, random phases, a factory background with other machines, mains hum and
random impacts), and a fault at severity 0.5 in a 0 dB background is audible to a good detector
but subtle. See docs/synthetic-data.md for the model behind each part.

Three independent random streams per clip (machine, background, fault) mean a fault at severity
0 renders exactly the normal clip of the same seed, and a fault changes only what it should.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from humwatch.errors import HumwatchError

MachineType = Literal["fan", "pump"]
MACHINE_TYPES: tuple[str, ...] = ("fan", "pump")
FAULTS: tuple[str, ...] = ("bearing", "imbalance", "rubbing", "speed", "blade")
MANIFEST_COLUMNS = (
    "path",
    "label",
    "generator",
    "machine_type",
    "machine_seed",
    "fault",
    "severity",
    "snr_db",
    "seed",
)
# Manifests written before the second generator existed: every row is a `synth` clip.
_MANIFEST_COLUMNS_BEFORE_GENERATORS = tuple(c for c in MANIFEST_COLUMNS if c != "generator")

MACHINE_LEVEL_DBFS = -30.0  # RMS of the machine alone; leaves headroom for background and impacts
_PEAK_LIMIT = 0.98
_TWO_PI = 2.0 * np.pi
_TABLE_SIZE = 16384
_MACHINE_LEVEL_STD_DB = 0.5  # clip-to-clip machine level (load)
_BACKGROUND_LEVEL_STD_DB = 1.0  # clip-to-clip background level around the nominal SNR
_BLADE_KAPPA = 5.0  # sharpness of the damaged blade's once-per-revolution bump
_BLADE_BUMP_MEAN = float(np.exp(-_BLADE_KAPPA) * np.i0(_BLADE_KAPPA))  # its mean over a revolution


class SynthError(HumwatchError):
    """Invalid synthesis parameters (unknown machine type or fault, severity out of range)."""

    code = "synth"


@dataclass(frozen=True)
class Resonance:
    freq_hz: float
    bandwidth_hz: float
    gain: float  # peak linear gain added on top of 1


@dataclass(frozen=True)
class MachineSpec:
    """One machine: what makes it sound like itself. Two seeds give two different machines."""

    machine_type: str
    machine_seed: int
    rotation_hz: float  # nominal shaft speed
    n_blades: int  # fan blades or pump impeller vanes
    harmonic_amps: tuple[float, ...]  # shaft-rate harmonics 1x, 2x, ...
    blade_amps: tuple[float, ...]  # blade-pass harmonics 1, 2, ...
    motor_tones: tuple[tuple[int, float], ...]  # (order: rotor slots x shaft rate, amplitude)
    resonances: tuple[Resonance, ...]
    noise_tilt_db_per_octave: float
    noise_share: float  # share of the machine's power that is broadband noise
    flow_modulation: float  # depth of the blade-pass modulation of the broadband noise
    speed_jitter: float  # std of the slow speed wander, fraction of nominal
    amp_wander_db: float  # std of the slow level wander
    bearing_ratio: float  # outer-race defect frequency / shaft rate
    bearing_resonance_hz: float
    mains_hz: float  # the site's mains frequency (hum in the background)
    strouhal_order: float  # centre of the broadband noise hump, in multiples of the shaft rate
    strouhal_gain: float

    @classmethod
    def from_seed(cls, machine_type: str, machine_seed: int) -> MachineSpec:
        if machine_type not in MACHINE_TYPES:
            raise SynthError(f"unknown machine type {machine_type!r} (expected one of {MACHINE_TYPES})")
        rng = np.random.default_rng([int(machine_seed), MACHINE_TYPES.index(machine_type), 1729])
        if machine_type == "fan":
            rotation = rng.uniform(12.0, 25.0)
            blades = int(rng.integers(4, 10))
            n_harm, n_blade_harm = 10, 6
            tilt, noise_share, flow_mod = (
                rng.uniform(-3.5, -1.0),
                rng.uniform(0.55, 0.75),
                rng.uniform(0.1, 0.25),
            )
            res_range = (300.0, 4000.0)
        else:
            rotation = rng.uniform(24.0, 49.0)
            blades = int(rng.integers(5, 8))
            n_harm, n_blade_harm = 12, 5
            tilt, noise_share, flow_mod = (
                rng.uniform(-4.5, -2.0),
                rng.uniform(0.45, 0.7),
                rng.uniform(0.05, 0.15),
            )
            res_range = (150.0, 3000.0)
        harm = np.exp(-np.arange(n_harm) * rng.uniform(0.2, 0.45)) * rng.lognormal(0.0, 0.4, n_harm)
        blade = np.exp(-np.arange(n_blade_harm) * rng.uniform(0.3, 0.7)) * rng.lognormal(
            0.0, 0.3, n_blade_harm
        )
        blade *= rng.uniform(1.5, 3.0)  # blade/vane pass dominates the tonal sound
        motor = tuple(
            (int(rng.integers(20, 90)), float(rng.uniform(0.05, 0.25)))
            for _ in range(int(rng.integers(2, 4)))
        )
        resonances = tuple(
            Resonance(float(f), float(f * rng.uniform(0.05, 0.2)), float(rng.uniform(1.0, 6.0)))
            for f in np.sort(
                np.exp(rng.uniform(np.log(res_range[0]), np.log(res_range[1]), int(rng.integers(2, 5))))
            )
        )
        return cls(
            machine_type=machine_type,
            machine_seed=int(machine_seed),
            rotation_hz=float(rotation),
            n_blades=blades,
            harmonic_amps=tuple(float(a) for a in harm),
            blade_amps=tuple(float(a) for a in blade),
            motor_tones=motor,
            resonances=resonances,
            noise_tilt_db_per_octave=float(tilt),
            noise_share=float(noise_share),
            flow_modulation=float(flow_mod),
            speed_jitter=float(rng.uniform(0.001, 0.004)),
            amp_wander_db=float(rng.uniform(0.2, 0.6)),
            bearing_ratio=float(0.4 * rng.integers(7, 13) * rng.uniform(0.95, 1.05)),
            bearing_resonance_hz=float(rng.uniform(2200.0, 5000.0)),
            mains_hz=float(rng.choice([50.0, 60.0])),
            strouhal_order=float(blades * rng.uniform(4.0, 12.0)),
            strouhal_gain=float(rng.uniform(1.5, 4.0)),
        )

    def resonance_gain(self, freqs: np.ndarray) -> np.ndarray:
        """Linear gain of the machine's structure at each frequency (1 + Lorentzian peaks)."""
        gain = np.ones_like(freqs, dtype=np.float64)
        for res in self.resonances:
            gain += res.gain / (1.0 + ((freqs - res.freq_hz) / (res.bandwidth_hz / 2.0)) ** 2)
        return gain


@dataclass(frozen=True)
class SynthParts:
    """The three sources of a clip at output scale (their sum, as float32, is the clip)."""

    machine: np.ndarray  # the machine itself, including faults that change how it runs
    fault: np.ndarray  # sources a fault adds (bearing impacts, rubbing bursts); zeros otherwise
    background: np.ndarray  # the factory around it, mixed at snr_db against `machine`
    rotation_hz: float  # the clip's actual mean shaft speed (after speed offset and faults)


@dataclass(frozen=True)
class _FaultEffects:
    """How a fault changes the machine itself (identity at severity 0)."""

    speed_factor: float = 1.0
    harmonic_gain: tuple[float, float, float] = (1.0, 1.0, 1.0)  # 1x, 2x, 3x
    once_per_rev_am: float = 0.0
    blade_mod_depth: float = 0.0
    blade_bump_phase: float = 0.0  # shaft angle of the damaged blade
    blade_harm_gain: tuple[float, ...] = ()
    noise_gain: float = 1.0


# --- building blocks -------------------------------------------------------------------------


def _smooth_random(rng: np.random.Generator, n: int, sr: int, knot_s: float, std: float) -> np.ndarray:
    """A slow random wander: Gaussian knots every `knot_s` seconds, linearly interpolated."""
    n_knots = int(np.ceil(n / sr / knot_s)) + 2
    knots = rng.standard_normal(n_knots) * std
    return np.interp(np.arange(n) / (sr * knot_s), np.arange(n_knots), knots)


def _coloured_noise(
    rng: np.random.Generator, n: int, sr: int, shape: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """Gaussian noise with amplitude spectrum `shape(freqs)`, made directly in the frequency domain."""
    freqs = np.fft.rfftfreq(n, 1.0 / sr)
    spectrum = rng.standard_normal(2 * freqs.shape[0]).view(np.complex128) * shape(freqs)
    noise = np.fft.irfft(spectrum, n=n)
    return noise / (np.sqrt(np.mean(noise**2)) + 1e-30)


def _harmonic_series(
    phase: np.ndarray, orders: np.ndarray, amps: np.ndarray, phases: np.ndarray
) -> np.ndarray:
    """sum_k amps[k] * sin(orders[k] * phase + phases[k]) for integer orders, via a wavetable.

    Every component is locked to one shaft phase, so the sum is a periodic function of it: one
    period is built exactly with an inverse FFT and read back with linear interpolation (error
    below -80 dB for the orders used here), ~10x faster than a sin() per harmonic.
    """
    if orders.size == 0:
        return np.zeros(phase.shape[0])
    coeffs = np.zeros(_TABLE_SIZE // 2 + 1, dtype=np.complex128)
    np.add.at(coeffs, orders.astype(np.int64), amps * np.exp(1j * (phases - np.pi / 2.0)))
    table = np.fft.irfft(coeffs, n=_TABLE_SIZE) * (_TABLE_SIZE / 2.0)
    slope = np.diff(table, append=table[0])
    position = phase * (_TABLE_SIZE / _TWO_PI)
    whole = np.floor(position)
    position -= whole  # now the fraction between two table entries
    index = whole.astype(np.int64)
    index &= _TABLE_SIZE - 1  # the table size is a power of two
    out = slope[index]
    out *= position
    out += table[index]
    return out


def _lowpass_mask(freqs: np.ndarray, cutoff: float) -> np.ndarray:
    return (freqs >= 20.0) & (freqs <= cutoff)


# --- the machine -----------------------------------------------------------------------------


def _render_machine(
    spec: MachineSpec, n: int, sr: int, rng: np.random.Generator, speed_offset: float, fx: _FaultEffects
) -> tuple[np.ndarray, np.ndarray, float]:
    """The machine (unit nominal power) and its shaft phase; draws from `rng` never depend on fx."""
    clip_speed = 1.0 + rng.normal(0.0, 0.004)  # load-dependent speed differs clip to clip
    jitter = _smooth_random(rng, n, sr, 0.3, spec.speed_jitter)
    rate = spec.rotation_hz * (clip_speed + speed_offset + jitter) * fx.speed_factor
    phase = _TWO_PI * np.cumsum(rate) / sr + rng.uniform(0.0, _TWO_PI)
    mean_rate = float(rate.mean())
    nyquist_guard = 0.45 * sr

    # Shaft harmonics, shaped by the structure's resonances, with small clip-to-clip level changes.
    n_h = len(spec.harmonic_amps)
    orders = np.arange(1, n_h + 1)
    amps = np.asarray(spec.harmonic_amps) * rng.lognormal(0.0, 0.12, n_h)
    amps *= spec.resonance_gain(orders * mean_rate)
    fault_gain = np.ones(n_h)
    fault_gain[:3] = fx.harmonic_gain
    harm_phases = rng.uniform(0.0, _TWO_PI, n_h)
    # Blade/vane pass harmonics.
    n_b = len(spec.blade_amps)
    b_orders = np.arange(1, n_b + 1) * spec.n_blades
    b_amps = (
        np.asarray(spec.blade_amps)
        * rng.lognormal(0.0, 0.12, n_b)
        * spec.resonance_gain(b_orders * mean_rate)
    )
    b_fault_gain = np.asarray(fx.blade_harm_gain) if fx.blade_harm_gain else np.ones(n_b)
    b_phases = rng.uniform(0.0, _TWO_PI, n_b)
    # Motor tones (electromagnetic, rotor slot pass): high integer orders of the shaft rate.
    m_orders = np.array([order for order, _ in spec.motor_tones], dtype=np.int64)
    m_amps = np.array([amp for _, amp in spec.motor_tones]) * spec.resonance_gain(m_orders * mean_rate)
    m_phases = rng.uniform(0.0, _TWO_PI, m_orders.shape[0])

    orders = np.concatenate((orders, m_orders))
    amps = np.concatenate((amps, m_amps))
    fault_gain = np.concatenate((fault_gain, np.ones(m_orders.shape[0])))
    harm_phases = np.concatenate((harm_phases, m_phases))
    keep = orders * mean_rate < nyquist_guard
    keep_b = b_orders * mean_rate < nyquist_guard
    # Normalise with the healthy amplitudes: a fault that strengthens a harmonic adds power.
    tonal_power = (np.sum(amps[keep] ** 2) + np.sum(b_amps[keep_b] ** 2)) / 2.0
    amps = amps * fault_gain
    b_amps = b_amps * b_fault_gain
    shaft = _harmonic_series(phase, orders[keep], amps[keep], harm_phases[keep])
    blade = _harmonic_series(phase, b_orders[keep_b], b_amps[keep_b], b_phases[keep_b])
    blade_turbulence: float | np.ndarray = 1.0
    if fx.blade_mod_depth:
        # One damaged blade: its pressure pulse differs once per revolution. That puts sidebands
        # at shaft-rate spacing around every blade-pass harmonic, and the wake it sheds makes
        # the broadband noise swell once per revolution. The bump is a narrow (von Mises)
        # window around the blade's angle, centred to zero mean.
        bump = np.exp(_BLADE_KAPPA * (np.cos(phase - fx.blade_bump_phase) - 1.0)) - _BLADE_BUMP_MEAN
        blade = blade * (1.0 + fx.blade_mod_depth * bump)
        blade_turbulence = 1.0 + 0.5 * fx.blade_mod_depth * bump

    tonal = (shaft + blade) / np.sqrt(tonal_power)

    tilt = spec.noise_tilt_db_per_octave / (20.0 * np.log10(2.0))

    # Aerodynamic/hydraulic noise peaks at a Strouhal frequency that moves with speed.
    hump_hz = spec.strouhal_order * mean_rate

    def noise_shape(freqs: np.ndarray) -> np.ndarray:
        f = np.maximum(freqs, 20.0)
        hump = 1.0 + spec.strouhal_gain / (1.0 + ((freqs - hump_hz) / (0.35 * hump_hz)) ** 2)
        return (f / 1000.0) ** tilt * hump * spec.resonance_gain(freqs) * _lowpass_mask(freqs, 0.48 * sr)

    noise = _coloured_noise(rng, n, sr, noise_shape)
    flow = 1.0 + spec.flow_modulation * np.sin(spec.n_blades * phase + rng.uniform(0.0, _TWO_PI))
    noise = noise * flow / np.sqrt(1.0 + spec.flow_modulation**2 / 2.0) * fx.noise_gain * blade_turbulence

    wander = 10.0 ** (_smooth_random(rng, n, sr, 0.7, spec.amp_wander_db) / 20.0)
    # Fan law: radiated sound power grows with the 5th power of speed (amplitude ^2.5), so a
    # machine running faster is also louder; normal clip-to-clip speed changes move it ~0.1 dB.
    fan_law = (mean_rate / spec.rotation_hz) ** 2.5
    load = 10.0 ** (rng.normal(0.0, _MACHINE_LEVEL_STD_DB) / 20.0)  # load differs clip to clip
    machine = (
        (np.sqrt(1.0 - spec.noise_share) * tonal + np.sqrt(spec.noise_share) * noise)
        * wander
        * fan_law
        * load
    )
    if fx.once_per_rev_am:
        machine = machine * (1.0 + fx.once_per_rev_am * np.sin(phase))
    return machine, phase, mean_rate


# --- the factory background --------------------------------------------------------------------


def _render_background(spec: MachineSpec, n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Pink noise, other machines, mains hum and random impacts; unit power, mix varies per clip."""
    t = np.arange(n) / sr
    pink = _coloured_noise(rng, n, sr, lambda f: np.maximum(f, 30.0) ** -0.5 * (f >= 20.0))

    others = np.zeros(n)
    for _ in range(int(rng.integers(1, 4))):
        f0 = rng.uniform(8.0, 60.0)
        n_h = int(rng.integers(3, 9))
        orders = np.arange(1, n_h + 1)
        drift = _smooth_random(rng, n, sr, 1.0, 0.003)
        phase = _TWO_PI * np.cumsum(f0 * (1.0 + drift)) / sr
        amps = np.exp(-orders * rng.uniform(0.1, 0.5)) * rng.lognormal(0.0, 0.5, n_h)
        keep = orders * f0 < 0.45 * sr
        others += _harmonic_series(phase, orders[keep], amps[keep], rng.uniform(0.0, _TWO_PI, n_h)[keep])
    others /= np.sqrt(np.mean(others**2)) + 1e-30

    hum_orders = np.arange(1, 6)
    hum_amps = rng.uniform(0.2, 1.0, 5) / hum_orders
    # Mains hum repeats exactly every sr/gcd(sr, mains) samples: render that once and tile it.
    repeat = sr // np.gcd(sr, round(spec.mains_hz))
    hum_t = np.arange(repeat) / sr
    hum_phases = rng.uniform(0.0, _TWO_PI, 5)
    hum_wave = _harmonic_series(_TWO_PI * spec.mains_hz * hum_t, hum_orders, hum_amps, hum_phases)
    hum = np.tile(hum_wave, n // repeat + 1)[:n]
    hum /= np.sqrt(np.mean(hum**2))

    impacts = np.zeros(n)
    n_impacts = rng.poisson(rng.uniform(0.2, 1.2) * n / sr)
    for _ in range(int(n_impacts)):
        tau = rng.uniform(0.005, 0.08)
        length = min(n, int(6 * tau * sr))
        start = int(rng.integers(0, n))
        kt = np.arange(length) / sr
        ring = sum(
            np.sin(_TWO_PI * rng.uniform(200.0, 0.375 * sr) * kt + rng.uniform(0, _TWO_PI)) for _ in range(3)
        )
        kernel = np.exp(-kt / tau) * (ring + rng.standard_normal(length)) * rng.lognormal(0.0, 0.6)
        end = min(n, start + length)
        impacts[start:end] += kernel[: end - start]
    if rng.random() < 0.15:  # a reversing vehicle's beeper somewhere in the hall
        beep = np.sin(_TWO_PI * rng.uniform(1800.0, 3200.0) * t) * (
            np.sin(_TWO_PI * rng.uniform(0.8, 1.5) * t) > 0.3
        )
        impacts += beep * rng.uniform(0.3, 1.0)
    impacts_rms = np.sqrt(np.mean(impacts**2))

    weights = rng.dirichlet([6.0, 2.5, 0.6, 1.2])  # pink, other machines, hum, impacts
    background = np.sqrt(weights[0]) * pink + np.sqrt(weights[1]) * others + np.sqrt(weights[2]) * hum
    if impacts_rms > 0:
        background += np.sqrt(weights[3]) * impacts / impacts_rms
    level = 10.0 ** (rng.normal(0.0, _BACKGROUND_LEVEL_STD_DB) / 20.0)  # the hall is busier some days
    return background / np.sqrt(np.mean(background**2)) * level


# --- the faults --------------------------------------------------------------------------------


def _fault_effects(
    fault: str | None, severity: float, spec: MachineSpec, rng: np.random.Generator
) -> _FaultEffects:
    s = severity
    if fault == "speed":
        # A load change or a slipping belt: every shaft-locked component moves together.
        return _FaultEffects(speed_factor=1.0 + rng.choice([-1.0, 1.0]) * 0.1 * s)
    if fault == "imbalance":
        return _FaultEffects(
            harmonic_gain=(1.0 + 3.0 * s, 1.0 + 1.5 * s, 1.0 + 0.5 * s),
            once_per_rev_am=0.5 * s,
            noise_gain=1.0 + 0.05 * s,
        )
    if fault == "blade":
        n_b = len(spec.blade_amps)
        changes = 1.0 + s * rng.uniform(-0.6, 0.9, n_b)
        changes[0] = 1.0 - 0.25 * s  # the damaged blade moves less air
        return _FaultEffects(
            blade_mod_depth=1.5 * s,
            blade_bump_phase=float(rng.uniform(0.0, _TWO_PI)),
            blade_harm_gain=tuple(float(c) for c in changes),
        )
    return _FaultEffects()


def _bearing_impacts(
    spec: MachineSpec, phase: np.ndarray, severity: float, sr: int, rng: np.random.Generator
) -> np.ndarray:
    """Outer-race defect: an impact every 1/BPFO seconds ringing the bearing housing resonance."""
    n = phase.shape[0]
    cycles = phase / _TWO_PI * spec.bearing_ratio
    cycles = cycles * (1.0 + rng.normal(0.0, 0.003))  # rolling elements slip a little
    idx = np.nonzero(np.diff(np.floor(cycles)))[0] + 1
    idx = np.clip(idx + rng.integers(-2, 3, idx.shape[0]), 0, n - 1)
    if idx.size == 0 or severity <= 0:
        return np.zeros(n)
    length = int(0.012 * sr)
    kt = np.arange(length) / sr
    f_res = min(spec.bearing_resonance_hz, 0.4 * sr)  # stay below Nyquist at low sample rates
    kernel = np.exp(-kt / 0.0012) * np.sin(_TWO_PI * f_res * kt) + 0.5 * np.exp(-kt / 0.0025) * np.sin(
        _TWO_PI * f_res * 0.62 * kt
    )
    # Impact strength varies from hit to hit and with the load zone (once per revolution).
    strength = rng.lognormal(0.0, 0.35, idx.shape[0]) * (1.0 + 0.4 * np.cos(phase[idx]))
    out = np.zeros(n + length)
    positions = idx[:, None] + np.arange(length)[None, :]
    np.add.at(out, positions.ravel(), (strength[:, None] * kernel[None, :]).ravel())
    out = out[:n]
    level_db = -30.0 + 28.0 * severity  # power relative to the machine: -16 dB at 0.5
    return out / (np.sqrt(np.mean(out**2)) + 1e-30) * 10.0 ** (level_db / 20.0)


def _rubbing(
    spec: MachineSpec, phase: np.ndarray, severity: float, sr: int, rng: np.random.Generator
) -> np.ndarray:
    """A rotor touching a stator: broadband friction bursts at one shaft angle, in episodes."""
    n = phase.shape[0]
    if severity <= 0:
        return np.zeros(n)
    # Episodes of contact (thermal growth, load): on/off over ~0.2-1.5 s, busier when severe.
    duty = 0.25 + 0.6 * severity
    gate = np.zeros(n)
    pos, on = 0, rng.random() < duty
    while pos < n:
        length = int(rng.uniform(0.2, 1.5) * sr)
        if on:
            gate[pos : pos + length] = 1.0
        pos += length
        on = rng.random() < duty
    ramp = int(0.02 * sr)  # soften the on/off edges (20 ms moving average)
    summed = np.concatenate(([0.0], np.cumsum(gate)))
    gate = (summed[ramp:] - summed[:-ramp]) / ramp
    gate = np.concatenate((gate, np.zeros(n - gate.shape[0])))
    contact_angle = rng.uniform(0.0, _TWO_PI)
    width = 0.15 + 0.15 * severity  # share of the revolution in contact
    angular = np.cos(np.mod(phase - contact_angle, _TWO_PI) - np.pi)
    window = np.clip((angular - np.cos(np.pi * width)) / (1.0 - np.cos(np.pi * width)), 0.0, None)
    rub_res = rng.uniform(1200.0, 5000.0)

    def friction_shape(freqs: np.ndarray) -> np.ndarray:
        band = (freqs > 500.0) & (freqs < 0.48 * sr)
        squeal = 1.0 + 4.0 / (1.0 + ((freqs - rub_res) / 150.0) ** 2)
        return band * squeal * spec.resonance_gain(freqs)

    friction = _coloured_noise(rng, n, sr, friction_shape)
    out = friction * window * gate
    level_db = -28.0 + 26.0 * severity  # -15 dB re machine at 0.5
    return out / (np.sqrt(np.mean(out**2)) + 1e-30) * 10.0 ** (level_db / 20.0)


# --- public API --------------------------------------------------------------------------------


def _check(fault: str | None, severity: float, duration_s: float, sample_rate: int) -> None:
    if fault is not None and fault not in FAULTS:
        raise SynthError(f"unknown fault {fault!r} (expected one of {', '.join(FAULTS)})")
    if not 0.0 <= severity <= 1.0:
        raise SynthError(f"severity must be within 0..1, got {severity}")
    if duration_s <= 0 or sample_rate < 8000:
        raise SynthError("duration must be positive and the sample rate at least 8000 Hz")


def synth_parts(
    spec: MachineSpec,
    *,
    fault: str | None = None,
    severity: float = 0.5,
    snr_db: float = 0.0,
    seed: int = 0,
    duration_s: float = 10.0,
    sample_rate: int = 16000,
    speed_offset: float = 0.0,
    gain_db: float = 0.0,
) -> SynthParts:
    """The clip's sources separately (see synth_clip); tests use them to check SNR and faults."""
    _check(fault, severity, duration_s, sample_rate)
    n = round(duration_s * sample_rate)
    fault_code = 0 if fault is None else FAULTS.index(fault) + 1
    base = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(spec.machine_seed) & 0xFFFFFFFF])
    machine_ss, background_ss = base.spawn(2)
    machine_rng = np.random.default_rng(machine_ss)
    background_rng = np.random.default_rng(background_ss)
    fault_rng = np.random.default_rng(
        [int(seed) & 0xFFFFFFFF, int(spec.machine_seed) & 0xFFFFFFFF, fault_code, 7]
    )
    sev = float(severity) if fault is not None else 0.0

    fx = _fault_effects(fault, sev, spec, fault_rng)
    machine, phase, mean_rate = _render_machine(spec, n, sample_rate, machine_rng, speed_offset, fx)
    if fault == "bearing":
        added = _bearing_impacts(spec, phase, sev, sample_rate, fault_rng)
    elif fault == "rubbing":
        added = _rubbing(spec, phase, sev, sample_rate, fault_rng)
    else:
        added = np.zeros(n)
    background = _render_background(spec, n, sample_rate, background_rng)
    # The background is set against the machine's *nominal* power (1.0 by construction), not this
    # clip's: a fault that makes the machine louder makes the clip louder, as it would in a
    # factory, and the realised SNR wanders around snr_db with the machine's and hall's levels.
    background = background * 10.0 ** (-snr_db / 20.0)

    gain = 10.0 ** ((MACHINE_LEVEL_DBFS + gain_db) / 20.0)
    peak = float(np.max(np.abs(machine + added + background))) * gain
    if peak > _PEAK_LIMIT:  # only at very low SNR or high gain: scale down rather than clip
        gain *= _PEAK_LIMIT / peak
    return SynthParts(
        machine=machine * gain, fault=added * gain, background=background * gain, rotation_hz=mean_rate
    )


def synth_clip(
    spec: MachineSpec,
    *,
    fault: str | None = None,
    severity: float = 0.5,
    snr_db: float = 0.0,
    seed: int = 0,
    duration_s: float = 10.0,
    sample_rate: int = 16000,
    speed_offset: float = 0.0,
    gain_db: float = 0.0,
) -> np.ndarray:
    """One clip of `spec`'s machine in a factory, float32 in [-1, 1].

    `fault` is None (normal) or one of FAULTS, with `severity` 0..1 (0 renders the normal clip).
    `snr_db` is machine power over background power (0 dB: equally loud). `speed_offset` shifts
    the shaft speed by a fraction (normal operating-point change); `gain_db` scales the output.
    The same arguments always give the same samples.
    """
    parts = synth_parts(
        spec,
        fault=fault,
        severity=severity,
        snr_db=snr_db,
        seed=seed,
        duration_s=duration_s,
        sample_rate=sample_rate,
        speed_offset=speed_offset,
        gain_db=gain_db,
    )
    return (parts.machine + parts.fault + parts.background).astype(np.float32)


class ClipGenerator(Protocol):
    """What `write_dataset` needs of a generator: a name, machines by seed, clips.

    `humwatch.research.generators.Generator` (both generators, by name) is one; `SynthGenerator`
    below is this module's.
    """

    @property
    def name(self) -> str: ...

    def machine(self, machine_type: str, seed: int) -> Any: ...

    def clip(
        self,
        machine: Any,
        *,
        fault: str | None,
        severity: float,
        snr_db: float,
        seed: int,
        duration_s: float,
        speed_offset: float = 0.0,
        gain_db: float = 0.0,
        sample_rate: int = 16000,
    ) -> np.ndarray: ...


@dataclass(frozen=True)
class SynthGenerator:
    """This module as a generator (`humwatch.research.generators` registers it as `synth`)."""

    name: str = "synth"
    machine_types: tuple[str, ...] = MACHINE_TYPES
    faults: tuple[str, ...] = FAULTS

    def machine(self, machine_type: str, seed: int) -> MachineSpec:
        return MachineSpec.from_seed(machine_type, seed)

    def clip(
        self,
        machine: Any,
        *,
        fault: str | None,
        severity: float,
        snr_db: float,
        seed: int,
        duration_s: float,
        speed_offset: float = 0.0,
        gain_db: float = 0.0,
        sample_rate: int = 16000,
    ) -> np.ndarray:
        return synth_clip(
            machine,
            fault=fault,
            severity=severity,
            snr_db=snr_db,
            seed=seed,
            duration_s=duration_s,
            sample_rate=sample_rate,
            speed_offset=speed_offset,
            gain_db=gain_db,
        )


def clip_seed(seed: int, fault: str | None, index: int) -> int:
    """The per-clip seed write_dataset uses (stored in the manifest so a clip can be re-made)."""
    kind = 0 if fault is None else FAULTS.index(fault) + 1
    return int(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, kind, index]).generate_state(1)[0])


def _read_manifest(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            rows = list(reader)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise SynthError(f"{path} exists but is not a readable manifest ({exc})") from None
    columns = tuple(reader.fieldnames or ())
    if columns == _MANIFEST_COLUMNS_BEFORE_GENERATORS:
        return [{**row, "generator": "synth"} for row in rows]
    if columns != MANIFEST_COLUMNS:
        raise SynthError(f"{path} exists but is not a synth manifest; choose another --out folder")
    return rows


def write_dataset(
    out_dir: str | os.PathLike[str],
    *,
    machine_type: str = "fan",
    n_clips: int,
    fault: str | None = None,
    severity: float = 0.5,
    snr_db: float = 0.0,
    seed: int = 0,
    fmt: Literal["wav", "flac"] = "wav",
    machine_seed: int = 0,
    duration_s: float = 10.0,
    sample_rate: int = 16000,
    progress: Callable[[int], None] | None = None,
    generator: ClipGenerator | None = None,
) -> Path:
    """Write `n_clips` clips (normal, or of `fault`) and add them to `out_dir/manifest.csv`.

    Files are `normal_0000.wav` or `anomaly_{fault}_0000.wav`, 16-bit PCM. Calling it again for
    another fault into the same folder extends the manifest (rows for rewritten files are
    replaced). Returns the manifest path. `generator` renders the clips (default: this module;
    `humwatch.research.generators.get_generator("orders")` for the second generator): the layout
    and the manifest are the same for every generator, and each row's generator (by name),
    machine and seed re-make its clip.
    """
    import soundfile as sf

    if fmt not in ("wav", "flac"):
        raise SynthError(f"unknown format {fmt!r} (expected wav or flac)")
    if n_clips < 0:
        raise SynthError("the number of clips cannot be negative")
    source = generator if generator is not None else SynthGenerator()
    machine = source.machine(machine_type, machine_seed)
    _check(fault, severity, duration_s, sample_rate)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest = out / "manifest.csv"
    rows = {row["path"]: row for row in _read_manifest(manifest)}
    stem = "normal" if fault is None else f"anomaly_{fault}"
    for i in range(n_clips):
        this_seed = clip_seed(seed, fault, i)
        samples = source.clip(
            machine,
            fault=fault,
            severity=severity,
            snr_db=snr_db,
            seed=this_seed,
            duration_s=duration_s,
            sample_rate=sample_rate,
        )
        name = f"{stem}_{i:04d}.{fmt}"
        sf.write(out / name, samples, sample_rate, format=fmt.upper(), subtype="PCM_16")
        rows[name] = {
            "path": name,
            "label": "normal" if fault is None else "anomaly",
            "generator": source.name,
            "machine_type": machine_type,
            "machine_seed": str(machine_seed),
            "fault": fault or "",
            "severity": f"{severity if fault else 0.0:g}",
            "snr_db": f"{snr_db:g}",
            "seed": str(this_seed),
        }
        if progress is not None:
            progress(1)
    tmp = manifest.with_suffix(".csv.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(MANIFEST_COLUMNS), extrasaction="ignore")
        writer.writeheader()
        for name in sorted(rows):
            writer.writerow(rows[name])
    tmp.replace(manifest)  # readers never see a half-written manifest
    return manifest
