"""A second synthetic machine-sound generator, written from a physics description alone.

It exists so that a detector tuned on one rendering of a fault can be tested on a different one
(issue 15). It shares no code with `humwatch.research.synth`; only the public shape is common:
`OrdersMachine.from_seed` makes a machine, `render_clip` a 16 kHz mono float32 clip. Labelled
folders are written by the project's one dataset writer (`humwatch synth --generator orders`,
`humwatch.research.synth.write_dataset` through `humwatch.research.generators`). Research code: no
Lambda runs it.

Physics
-------
A fan or pump turns at a shaft speed f_r (fan 12-25 Hz, pump 24-50 Hz) and has N blades or vanes
(fan 4-12, pump 5-9). The speed is never constant: it wanders about 1% (a random fluctuation
band-limited to 0.1-2 Hz) around its set point. Everything periodic is rendered from the
instantaneous shaft ANGLE (the integral of the instantaneous speed), so order k is
sin(k * angle + phase): a high order wanders k times as many Hz as the shaft and smears over
several Hz, as measured orders do.

Normal sound of one machine:
- shaft orders 1x and 2x, small;
- blade-pass frequency BPF = N * f_r and its harmonics m * BPF (m up to 6), decaying, with
  per-machine amplitudes and phases;
- aerodynamic broadband noise, roughly pink, lifted by 2-5 structural resonances (300 Hz-6 kHz,
  Q 5-30) that the flow excites; pumps add hydraulic hiss above 2 kHz with a little crackle;
- the broadband noise is amplitude-modulated at the blade-pass rate (the "whoosh");
- a transfer path to the microphone: a per-machine distance sets the high-frequency roll-off
  (first order, 3-9 kHz) and the recording level; a 10 Hz low cut stands for the microphone.

Factory background, drawn per clip and added at `snr_db` (healthy machine power over background
power): pink-ish noise, mains hum (the site runs on 50 or 60 Hz, per machine seed) with
harmonics, 2-4 distant machines (steady tones with their own slow wander) and a few random
transient impacts (about 3 per 10 s, each a short decaying ring).

Faults (`severity` 0-1, 0.5 = moderate: clear to an expert, not dominant at 0 dB SNR) and what
each looks like in a spectrogram:
- bearing: an outer-race defect. Impacts at BPFO = 3.0-5.5 x f_r (non-integer, per machine),
  spacing jittered 1-2% (slip), each ringing a 2-5 kHz resonance for a few ms, impact strength
  modulated by the load zone once per revolution. Spectrogram: a faint, vertically striped
  haze at 2-5 kHz; its envelope spectrum has a line at BPFO with 1x sidebands.
- imbalance: the 1x order grows strongly, 2x a little, and the whole machine sound is
  amplitude-modulated slightly at 1x. Spectrogram: a bright line at f_r (12-50 Hz).
- rubbing: intermittent, partial-revolution contact. During 1 or more bursts of 0.2-2 s, over a
  contact arc of 30-120 degrees of each revolution (not every revolution), broadband scraping
  noise plus a comb of many high shaft harmonics. Spectrogram: broadband patches that come and
  go, finely striped at the revolution rate.
- speed: the machine runs 4-10% too fast or too slow (per machine; scales with severity) and
  wanders 2-3% instead of 1%. Spectrogram: every order and BPF line shifted and more wavy.
- blade (one damaged blade): shaft-order sidebands at (m*N +- k) x f_r, k = 1, 2, beside the
  blade-pass harmonics, mostly below 1 kHz, and a once-per-revolution pulse about 10% deep in
  the aerodynamic noise. No broadband click. Spectrogram: new thin lines flanking the BPF
  lines at one shaft order's spacing.

Each part of a clip draws from its own random stream (keyed by machine seed, clip seed and part),
so a fault never shifts the random numbers of the normal sound: severity 0 renders exactly the
normal clip, and a normal and a faulty clip with the same seed share background and flow noise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import signal

MACHINE_TYPES = ("fan", "pump")
FAULTS = ("bearing", "imbalance", "rubbing", "speed", "blade")
SAMPLE_RATE = 16_000

TWO_PI = 2.0 * math.pi
_TYPE_CODE = {"fan": 1, "pump": 2}
# Random stream ids (see the module docstring on why every part has its own).
# Machine streams (per machine seed) and clip streams (per machine and clip seed) never share a key.
_S_MACHINE, _S_DAMAGE = range(2)
_S_WANDER, _S_FLOW, _S_BACKGROUND, _S_FAULT = range(4)
_MAX_DURATION_S = 600.0
# Fault levels at severity 1, relative to the healthy machine's RMS (severity scales linearly).
_BEARING_RMS = 0.6
_IMBALANCE_1X = 1.5  # added 1x amplitude
_IMBALANCE_2X = 0.2
_IMBALANCE_AM = 0.1  # depth of the 1x modulation of the whole machine sound
_RUB_RMS = 1.6  # RMS while a rubbing burst lasts
_BLADE_SIDEBAND = (0.6, 0.3)  # k = 1, 2: sideband amplitude / blade-pass harmonic amplitude
_BLADE_PULSE = 0.2  # once-per-revolution pulse depth of the aerodynamic noise


@dataclass(frozen=True)
class Resonance:
    hz: float
    q: float
    gain: float  # peak lift over the broadband floor (linear amplitude)


@dataclass(frozen=True)
class OrdersMachine:
    """Everything that makes one physical machine unique (`from_seed` draws it)."""

    machine_type: str
    seed: int
    shaft_hz: float
    n_blades: int
    wander: float  # std of the relative speed fluctuation (about 0.01)
    shaft_orders: tuple[float, float]  # 1x, 2x amplitudes (broadband RMS = 1)
    shaft_phases: tuple[float, float]
    bpf_harmonics: tuple[float, ...]  # amplitude of m * BPF, m = 1..len
    bpf_phases: tuple[float, ...]
    pink_tilt: float  # broadband power ~ f^-tilt
    resonances: tuple[Resonance, ...]
    hiss: float  # hydraulic hiss above 2 kHz, relative to the pink floor there
    whoosh_depth: float
    whoosh_phase: float
    mic_distance_m: float
    mains_hz: float
    # Fault geometry: where this machine would fail, and how.
    bpfo_order: float
    bearing_resonance_hz: float
    bearing_decay_s: float
    bearing_jitter: float
    load_zone_angle: float
    imbalance_angle: float
    rub_angle: float
    rub_arc_rad: float
    speed_fault_shift: float  # signed relative set-point error at severity 0.5
    speed_fault_wander: float  # speed wander at severity 0.5
    damaged_blade_angle: float

    @classmethod
    def from_seed(cls, machine_type: str, seed: int) -> OrdersMachine:
        _check_machine_type(machine_type)
        rng = _machine_rng(machine_type, seed, _S_MACHINE)
        fan = machine_type == "fan"
        shaft_hz = rng.uniform(12.0, 25.0) if fan else rng.uniform(24.0, 50.0)
        n_blades = int(rng.integers(4, 13)) if fan else int(rng.integers(5, 10))
        n_harmonics = int(rng.integers(4, 7))
        first = rng.uniform(0.5, 1.3) if fan else rng.uniform(0.4, 1.0)
        decay = rng.uniform(0.35, 0.7)
        harmonics = tuple(
            float(first * decay**m * rng.uniform(0.6, 1.4)) if m else float(first) for m in range(n_harmonics)
        )
        resonances = tuple(
            sorted(
                (
                    Resonance(
                        hz=float(math.exp(rng.uniform(math.log(300.0), math.log(6000.0)))),
                        q=float(rng.uniform(5.0, 30.0)),
                        gain=float(rng.uniform(2.0, 8.0)),
                    )
                    for _ in range(int(rng.integers(2, 6)))
                ),
                key=lambda r: r.hz,
            )
        )
        bpfo = rng.uniform(3.0, 5.5)
        while abs(bpfo - round(bpfo)) < 0.2:  # a defect frequency is never a shaft order
            bpfo = rng.uniform(3.0, 5.5)
        return cls(
            machine_type=machine_type,
            seed=seed,
            shaft_hz=float(shaft_hz),
            n_blades=n_blades,
            wander=float(rng.uniform(0.008, 0.012)),
            shaft_orders=(float(rng.uniform(0.05, 0.2)), float(rng.uniform(0.02, 0.1))),
            shaft_phases=(float(rng.uniform(0, TWO_PI)), float(rng.uniform(0, TWO_PI))),
            bpf_harmonics=harmonics,
            bpf_phases=tuple(float(p) for p in rng.uniform(0, TWO_PI, n_harmonics)),
            pink_tilt=float(rng.uniform(0.8, 1.2)),
            resonances=resonances,
            hiss=float(rng.uniform(0.3, 0.8) if not fan else rng.uniform(0.03, 0.12)),
            whoosh_depth=float(rng.uniform(0.1, 0.3)),
            whoosh_phase=float(rng.uniform(0, TWO_PI)),
            mic_distance_m=float(math.exp(rng.uniform(math.log(0.3), math.log(3.0)))),
            mains_hz=float(rng.choice([50.0, 60.0])),
            bpfo_order=float(bpfo),
            bearing_resonance_hz=float(rng.uniform(2000.0, 5000.0)),
            bearing_decay_s=float(rng.uniform(0.0006, 0.002)),
            bearing_jitter=float(rng.uniform(0.01, 0.02)),
            load_zone_angle=float(rng.uniform(0, TWO_PI)),
            imbalance_angle=float(rng.uniform(0, TWO_PI)),
            rub_angle=float(rng.uniform(0, TWO_PI)),
            rub_arc_rad=float(math.radians(rng.uniform(30.0, 120.0))),
            speed_fault_shift=float(rng.choice([-1.0, 1.0]) * rng.uniform(0.04, 0.10)),
            speed_fault_wander=float(rng.uniform(0.02, 0.03)),
            damaged_blade_angle=float(rng.uniform(0, TWO_PI)),
        )

    @property
    def bpf_hz(self) -> float:
        """Nominal blade-pass frequency at the set point."""
        return self.n_blades * self.shaft_hz

    @property
    def recording_rms(self) -> float:
        """RMS of a clip at gain 0 dB: nearer microphones record louder."""
        return 0.05 / math.sqrt(self.mic_distance_m)

    @property
    def rolloff_hz(self) -> float:
        """First-order high-frequency roll-off of the transfer path (3-9 kHz)."""
        return 12_000.0 / (1.0 + self.mic_distance_m)


@dataclass(frozen=True)
class ClipParts:
    """A clip before gain and clipping: the machine (with any fault) and the background."""

    machine: np.ndarray
    background: np.ndarray
    healthy: np.ndarray  # the machine as it would sound without the fault additions


def _check_machine_type(machine_type: str) -> None:
    if machine_type not in MACHINE_TYPES:
        raise ValueError(
            f"unknown machine type {machine_type!r} (expected one of {', '.join(MACHINE_TYPES)})"
        )


def _check_seed(seed: int, what: str) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"{what} must be a non-negative integer, got {seed!r}")


def _machine_rng(machine_type: str, machine_seed: int, stream: int, part: int = 0) -> np.random.Generator:
    _check_seed(machine_seed, "machine seed")
    return np.random.default_rng([_TYPE_CODE[machine_type], int(machine_seed), 0, stream, part])


def _clip_rng(machine: OrdersMachine, clip_seed: int, stream: int, part: int = 0) -> np.random.Generator:
    return np.random.default_rng([_TYPE_CODE[machine.machine_type], machine.seed, 1, clip_seed, stream, part])


def _check_render_args(
    machine: OrdersMachine,
    fault: str | None,
    severity: float,
    snr_db: float,
    seed: int,
    duration_s: float,
    sample_rate: int,
    speed_offset: float,
) -> None:
    _check_machine_type(machine.machine_type)
    if fault is not None and fault not in FAULTS:
        raise ValueError(f"unknown fault {fault!r} (expected None or one of {', '.join(FAULTS)})")
    if not (math.isfinite(severity) and 0.0 <= severity <= 1.0):
        raise ValueError(f"severity must be in [0, 1], got {severity!r}")
    if not (math.isfinite(duration_s) and 0.0 < duration_s <= _MAX_DURATION_S):
        raise ValueError(f"duration_s must be in (0, {_MAX_DURATION_S:g}] seconds, got {duration_s!r}")
    if not isinstance(sample_rate, int) or not 8_000 <= sample_rate <= 192_000:
        raise ValueError(f"sample_rate must be an integer in [8000, 192000] Hz, got {sample_rate!r}")
    if not (math.isfinite(speed_offset) and -0.5 < speed_offset < 0.5):
        raise ValueError(f"speed_offset is a fraction of shaft speed in (-0.5, 0.5), got {speed_offset!r}")
    if not math.isfinite(snr_db):
        raise ValueError(f"snr_db must be finite, got {snr_db!r}")
    _check_seed(seed, "clip seed")
    if round(duration_s * sample_rate) < 16:
        raise ValueError(f"duration_s={duration_s} gives fewer than 16 samples at {sample_rate} Hz")


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x)))) if x.size else 0.0


def _unit(x: np.ndarray) -> np.ndarray:
    rms = _rms(x)
    return x / rms if rms > 0 else x


def _band_noise(rng: np.random.Generator, n: int, fs: float, lo: float, hi: float) -> np.ndarray:
    """Unit-std Gaussian noise band-limited to [lo, hi] Hz (zeros when no bin falls in the band)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1.0 / fs)
    spectrum[(freqs < lo) | (freqs > hi)] = 0.0
    x = np.fft.irfft(spectrum, n)
    std = float(x.std())
    return (x - x.mean()) / std if std > 0 else np.zeros(n)


def _coloured_noise(rng: np.random.Generator, n: int, gain: np.ndarray) -> np.ndarray:
    """Gaussian noise whose amplitude spectrum follows `gain` (on rfftfreq(n) bins); white noise
    of unit variance through `gain`, so two such noises keep their relative levels."""
    return np.fft.irfft(np.fft.rfft(rng.standard_normal(n)) * gain, n)


def _shaped_noise(rng: np.random.Generator, n: int, gain: np.ndarray) -> np.ndarray:
    """Unit-RMS Gaussian noise whose amplitude spectrum follows `gain`."""
    return _unit(_coloured_noise(rng, n, gain))


def _highpass_gain(freqs: np.ndarray, corner_hz: float, order: int) -> np.ndarray:
    ratio = (freqs / corner_hz) ** (2 * order)
    return np.sqrt(ratio / (1.0 + ratio))


def _resonance_gain(freqs: np.ndarray, res: Resonance) -> np.ndarray:
    f = np.maximum(freqs, 1.0)
    return 1.0 / np.sqrt(1.0 + res.q**2 * (f / res.hz - res.hz / f) ** 2)


def _pink_gain(freqs: np.ndarray, tilt: float) -> np.ndarray:
    return (np.maximum(freqs, 20.0) / 100.0) ** (-tilt / 2.0) * _highpass_gain(freqs, 20.0, 2)


def _wrap(angle: np.ndarray) -> np.ndarray:
    return (angle + math.pi) % TWO_PI - math.pi


@dataclass(frozen=True)
class _Rotation:
    angle: np.ndarray  # shaft angle in radians, per sample
    speed_hz: np.ndarray  # instantaneous shaft speed, per sample


def _rotation(
    machine: OrdersMachine,
    rng: np.random.Generator,
    n: int,
    fs: float,
    *,
    speed_offset: float,
    shift: float,
    wander: float,
) -> _Rotation:
    set_point = machine.shaft_hz * (1.0 + speed_offset + shift)
    speed = set_point * (1.0 + wander * _band_noise(rng, n, fs, 0.1, 2.0))
    start = rng.uniform(0.0, TWO_PI)
    angle = start + TWO_PI * np.concatenate(([0.0], np.cumsum(speed[:-1]))) / fs
    return _Rotation(angle=angle, speed_hz=speed)


def _order_tones(rotation: _Rotation, orders: Sequence[tuple[float, float, float]], fs: float) -> np.ndarray:
    """Sum of amp * sin(order * angle + phase); orders that would reach 0.45 fs are left out."""
    out = np.zeros_like(rotation.angle)
    top_speed = float(rotation.speed_hz.max())
    for order, amp, phase in orders:
        if amp and order * top_speed < 0.45 * fs:
            out += amp * np.sin(order * rotation.angle + phase)
    return out


def _healthy_tones(machine: OrdersMachine, rotation: _Rotation, fs: float) -> np.ndarray:
    orders = [
        (1.0, machine.shaft_orders[0], machine.shaft_phases[0]),
        (2.0, machine.shaft_orders[1], machine.shaft_phases[1]),
    ]
    orders += [
        (float(m * machine.n_blades), amp, phase)
        for m, (amp, phase) in enumerate(zip(machine.bpf_harmonics, machine.bpf_phases, strict=True), start=1)
    ]
    return _order_tones(rotation, orders, fs)


def _flow_noise(machine: OrdersMachine, rng: np.random.Generator, n: int, fs: float) -> np.ndarray:
    """Unit-RMS aerodynamic / hydraulic broadband noise, resonances included, before modulation."""
    freqs = np.fft.rfftfreq(n, 1.0 / fs)
    lift = 1.0 + sum(
        (r.gain * _resonance_gain(freqs, r) for r in machine.resonances if r.hz < 0.45 * fs), 0.0
    )
    flow = _coloured_noise(rng, n, _pink_gain(freqs, machine.pink_tilt) * lift)
    # Hiss: flat above 2 kHz, `3 * hiss` times the pink floor's level at 2 kHz.
    hiss_level = 3.0 * machine.hiss * float(_pink_gain(np.array([2000.0]), machine.pink_tilt)[0])
    hiss = _coloured_noise(rng, n, hiss_level * _highpass_gain(freqs, 2000.0, 4) * np.sqrt(lift))
    if machine.machine_type == "pump":  # cavitation: bubble collapse makes the hiss crackle
        hiss = hiss * np.clip(1.0 + 0.3 * _band_noise(rng, n, fs, 5.0, 60.0), 0.0, None)
    return _unit(flow + hiss)


def _transfer(machine: OrdersMachine, x: np.ndarray, fs: float) -> np.ndarray:
    freqs = np.fft.rfftfreq(x.size, 1.0 / fs)
    gain = _highpass_gain(freqs, 10.0, 2) / np.sqrt(1.0 + (freqs / machine.rolloff_hz) ** 2)
    return np.fft.irfft(np.fft.rfft(x) * gain, x.size)


def _background(machine: OrdersMachine, rng: np.random.Generator, n: int, fs: float) -> np.ndarray:
    """Factory background, unit RMS for its steady part, impacts on top."""
    t = np.arange(n) / fs
    freqs = np.fft.rfftfreq(n, 1.0 / fs)
    tilt = rng.uniform(0.9, 1.2)
    room = _pink_gain(freqs, tilt) / np.sqrt(1.0 + (freqs / rng.uniform(4000.0, 7000.0)) ** 2)
    steady = _shaped_noise(rng, n, room)
    # Mains hum: 2x mains (transformer magnetostriction) is usually the strongest.
    mains = machine.mains_hz + rng.normal(0.0, 0.02)
    hum_levels = [rng.uniform(0.05, 0.3), rng.uniform(0.1, 0.5)] + [
        rng.uniform(0.0, 0.2) / k for k in range(1, 7)
    ]
    for k, level in enumerate(hum_levels, start=1):
        if k * mains < 0.45 * fs:
            steady += level * np.sin(TWO_PI * k * mains * t + rng.uniform(0, TWO_PI))
    # Distant machines: their own fundamentals, harmonics and slow wander, low-passed by distance.
    for _ in range(int(rng.integers(2, 5))):
        f0 = math.exp(rng.uniform(math.log(25.0), math.log(400.0)))
        drift = 1.0 + rng.uniform(0.002, 0.01) * _band_noise(rng, n, fs, 0.05, 0.5)
        phase = rng.uniform(0, TWO_PI) + TWO_PI * f0 * np.cumsum(drift) / fs
        level = rng.uniform(0.05, 0.3)
        for k in range(1, 4):
            if k * f0 < 0.45 * fs:
                steady += level * rng.uniform(0.3, 1.0) / k * np.sin(k * phase + rng.uniform(0, TWO_PI))
    background = _unit(steady)
    # Transient impacts: a dropped part, a door, a tool. A short decaying ring at a random pitch.
    for _ in range(int(rng.poisson(0.3 * n / fs))):
        tau = rng.uniform(0.005, 0.04)
        length = min(n, int(6 * tau * fs) + 1)
        start = int(rng.integers(0, max(1, n - length)))
        centre = min(rng.uniform(300.0, 4000.0), 0.4 * fs)
        sos = signal.butter(
            2, [centre / 1.4, min(centre * 1.4, 0.45 * fs)], btype="bandpass", fs=fs, output="sos"
        )
        ring = signal.sosfilt(sos, rng.standard_normal(length)) * np.exp(-np.arange(length) / (tau * fs))
        peak = float(np.max(np.abs(ring)))
        if peak > 0:
            background[start : start + length] += rng.uniform(3.0, 10.0) * ring / peak
    return background


def _bearing(
    machine: OrdersMachine, rotation: _Rotation, rng: np.random.Generator, fs: float, level: float
) -> np.ndarray:
    n = rotation.angle.size
    pitch = TWO_PI / machine.bpfo_order  # shaft angle between two roller passes over the defect
    span = float(rotation.angle[-1] - rotation.angle[0])
    count = int(span / pitch) + 2
    # Slip: each spacing varies by 1-2%, so the impact phase random-walks as in a real bearing.
    spacing = pitch * (1.0 + machine.bearing_jitter * rng.standard_normal(count))
    impacts = rotation.angle[0] + rng.uniform(0.0, pitch) + np.cumsum(spacing) - spacing[0]
    impacts = impacts[impacts < rotation.angle[-1]]
    positions = np.rint(np.interp(impacts, rotation.angle, np.arange(n))).astype(np.int64)
    load = 0.2 + 0.8 * np.clip(np.cos(impacts - machine.load_zone_angle), 0.0, None) ** 1.5
    strengths = load * rng.lognormal(0.0, 0.2, impacts.size)
    train = np.zeros(n)
    np.add.at(train, positions, strengths)
    ring_hz = min(machine.bearing_resonance_hz, 0.4 * fs)
    k = np.arange(int(6 * machine.bearing_decay_s * fs) + 1) / fs
    kernel = np.exp(-k / machine.bearing_decay_s) * np.sin(TWO_PI * ring_hz * k)
    response = signal.fftconvolve(train, kernel)[:n]
    return level * _unit(response)


def _rubbing(
    machine: OrdersMachine,
    rotation: _Rotation,
    rng: np.random.Generator,
    damage: np.random.Generator,
    fs: float,
    severity: float,
    level: float,
) -> np.ndarray:
    n = rotation.angle.size
    duration = n / fs
    # Bursts of contact: at least one, more with severity; each 0.2-2 s with 20 ms fades.
    envelope = np.zeros(n)
    for _ in range(max(1, int(rng.poisson(duration / 10.0 * (1.0 + 3.0 * severity))))):
        length = min(n, int(rng.uniform(0.2, 2.0) * fs))
        start = int(rng.integers(0, max(1, n - length)))
        fade = min(length // 2, int(0.02 * fs))
        burst = np.ones(length)
        if fade:
            ramp = 0.5 - 0.5 * np.cos(np.linspace(0.0, math.pi, fade))
            burst[:fade], burst[-fade:] = ramp, ramp[::-1]
        envelope[start : start + length] = np.maximum(envelope[start : start + length], burst)
    # Partial revolution: contact over an arc of each revolution, and not on every revolution.
    relative = rotation.angle - machine.rub_angle
    revolution = np.floor(relative / TWO_PI).astype(np.int64)
    revolution -= revolution.min()
    within = np.mod(relative, TWO_PI) / machine.rub_arc_rad
    gate = np.where(within < 1.0, np.sqrt(np.sin(math.pi * np.clip(within, 0.0, 1.0))), 0.0)
    touches = rng.random(revolution.max() + 1) < 0.5 + 0.4 * severity
    gate *= (touches * rng.uniform(0.5, 1.0, touches.size))[revolution]
    # Scraping: a comb of many high shaft harmonics (a fixed contact profile of this machine,
    # read out by angle) plus broadband friction noise.
    table_size = 4096
    top = min(table_size // 2 - 1, int(0.45 * fs / float(rotation.speed_hz.max())))
    coefficients = np.zeros(table_size // 2 + 1, dtype=np.complex128)
    harmonics = np.arange(3, top + 1)
    coefficients[harmonics] = harmonics**-0.5 * np.exp(1j * damage.uniform(0, TWO_PI, harmonics.size))
    profile = _unit(np.fft.irfft(coefficients, table_size))
    grid = np.arange(table_size + 1) * (TWO_PI / table_size)
    comb = np.interp(np.mod(rotation.angle, TWO_PI), grid, np.append(profile, profile[0]))
    freqs = np.fft.rfftfreq(n, 1.0 / fs)
    friction = _shaped_noise(rng, n, _highpass_gain(freqs, 500.0, 2))
    rub = envelope * gate * (0.6 * comb + 0.8 * friction)
    during = rub[envelope > 0.5]
    scale = level / _rms(during) if _rms(during) > 0 else 0.0
    return rub * scale


def _blade_sidebands(
    machine: OrdersMachine, rotation: _Rotation, damage: np.random.Generator, fs: float, severity: float
) -> np.ndarray:
    orders = []
    for m, amp in enumerate(machine.bpf_harmonics, start=1):
        for k, ratio in enumerate(_BLADE_SIDEBAND, start=1):
            for sign in (-1, 1):
                order = m * machine.n_blades + sign * k
                hz = order * machine.shaft_hz
                # A damaged blade unbalances the pressure pattern mostly at low orders.
                rolloff = 1.0 / math.sqrt(1.0 + (hz / 800.0) ** 4)
                strength = severity * ratio * amp * rolloff * damage.uniform(0.7, 1.3)
                orders.append((float(order), strength, float(damage.uniform(0, TWO_PI))))
    return _order_tones(rotation, [o for o in orders if o[0] > 0], fs)


def _blade_pulse(machine: OrdersMachine, rotation: _Rotation, depth: float) -> np.ndarray:
    """1 + depth at the moment the damaged blade passes, one blade pitch wide, once per revolution."""
    width = math.pi / machine.n_blades
    return 1.0 + depth * np.exp(-0.5 * (_wrap(rotation.angle - machine.damaged_blade_angle) / width) ** 2)


def render_parts(
    machine: OrdersMachine,
    *,
    fault: str | None = None,
    severity: float = 0.5,
    snr_db: float = 0.0,
    seed: int = 0,
    duration_s: float = 10.0,
    sample_rate: int = SAMPLE_RATE,
    speed_offset: float = 0.0,
) -> ClipParts:
    """The machine and background of a clip, scaled so that healthy machine power over
    background power is `snr_db` and their sum has the machine's recording level."""
    _check_render_args(machine, fault, severity, snr_db, seed, duration_s, sample_rate, speed_offset)
    active = fault if severity > 0 else None
    fs = float(sample_rate)
    n = round(duration_s * sample_rate)
    fault_index = FAULTS.index(active) + 1 if active else 0
    fault_rng = _clip_rng(machine, seed, _S_FAULT, fault_index)
    # The same damage on every clip of a machine.
    damage_rng = _machine_rng(machine.machine_type, machine.seed, _S_DAMAGE, fault_index)

    severity_scale = severity / 0.5
    shift, wander = 0.0, machine.wander
    if active == "speed":
        shift = machine.speed_fault_shift * severity_scale
        wander = machine.wander + (machine.speed_fault_wander - machine.wander) * severity_scale
    rotation = _rotation(
        machine,
        _clip_rng(machine, seed, _S_WANDER),
        n,
        fs,
        speed_offset=speed_offset,
        shift=shift,
        wander=wander,
    )

    tones = _healthy_tones(machine, rotation, fs)
    whoosh = 1.0 + machine.whoosh_depth * np.cos(machine.n_blades * rotation.angle + machine.whoosh_phase)
    flow = _flow_noise(machine, _clip_rng(machine, seed, _S_FLOW), n, fs) * whoosh
    healthy = tones + flow
    unit = _rms(healthy)  # fault levels are relative to the healthy machine

    faulty = healthy
    if active == "bearing":
        faulty = healthy + _bearing(machine, rotation, fault_rng, fs, _BEARING_RMS * severity * unit)
    elif active == "imbalance":
        extra = _order_tones(
            rotation,
            [
                (1.0, _IMBALANCE_1X * severity * unit, machine.imbalance_angle),
                (2.0, _IMBALANCE_2X * severity * unit, 2.0 * machine.imbalance_angle),
            ],
            fs,
        )
        faulty = (healthy + extra) * (
            1.0 + _IMBALANCE_AM * severity * np.sin(rotation.angle + machine.imbalance_angle)
        )
    elif active == "rubbing":
        faulty = healthy + _rubbing(
            machine, rotation, fault_rng, damage_rng, fs, severity, _RUB_RMS * severity * unit
        )
    elif active == "blade":
        pulse = _blade_pulse(machine, rotation, _BLADE_PULSE * severity)
        faulty = tones + flow * pulse + _blade_sidebands(machine, rotation, damage_rng, fs, severity)
    # "speed" changed the rotation itself: its healthy sound is already the faulty sound.

    healthy_heard = _transfer(machine, healthy, fs)
    machine_heard = healthy_heard if faulty is healthy else _transfer(machine, faulty, fs)
    background = _background(machine, _clip_rng(machine, seed, _S_BACKGROUND), n, fs)
    power_ratio = 10.0 ** (snr_db / 10.0)
    machine_rms = machine.recording_rms * math.sqrt(power_ratio / (1.0 + power_ratio))
    background_rms = machine.recording_rms / math.sqrt(1.0 + power_ratio)
    scale = machine_rms / max(_rms(healthy_heard), 1e-12)
    return ClipParts(
        machine=machine_heard * scale,
        background=background * (background_rms / max(_rms(background), 1e-12)),
        healthy=healthy_heard * scale,
    )


def render_clip(
    machine: OrdersMachine,
    *,
    fault: str | None = None,
    severity: float = 0.5,
    snr_db: float = 0.0,
    seed: int = 0,
    duration_s: float = 10.0,
    sample_rate: int = SAMPLE_RATE,
    speed_offset: float = 0.0,
    gain_db: float = 0.0,
) -> np.ndarray:
    """One mono float32 clip in [-1, 1]; the same arguments always give the same samples.

    `severity` 0 is the normal clip; `snr_db` is healthy machine power over background power;
    `speed_offset` a normal operating-point change (fraction of shaft speed); `gain_db` the
    recorder gain on top of the machine's recording level. Raises ValueError on a bad argument.
    """
    if not math.isfinite(gain_db):
        raise ValueError(f"gain_db must be finite, got {gain_db!r}")
    parts = render_parts(
        machine,
        fault=fault,
        severity=severity,
        snr_db=snr_db,
        seed=seed,
        duration_s=duration_s,
        sample_rate=sample_rate,
        speed_offset=speed_offset,
    )
    mix = (parts.machine + parts.background) * 10.0 ** (gain_db / 20.0)
    return np.clip(mix, -1.0, 1.0).astype(np.float32)
