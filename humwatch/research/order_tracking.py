"""Tacho-less order tracking of one clip: shaft speed from its own tonal lines, angle-domain spectra.

Research code for the issue-15 feature trials (`humwatch.research.feature_trials`); nothing here is
served. A clip of a rotating machine is turned into statistics that follow the shaft instead of
the clock:

1. Line prominence (`line_prominence`): the 0-1 kHz Welch spectrum (0.25 Hz lines) on a
   log-frequency axis (a speed change is then a shift, and 1 % wander is the same width at every
   harmonic), in dB above the +-12 % median, mains hum (50/60 Hz and harmonics) removed.
2. Shaft speed of a lone clip (`estimate_shaft_speed`): every candidate f0 in 5-60 Hz scores the
   weighted prominence at its harmonics (subharmonic summation, weight 0.84^(h-1), Hermes 1988).
3. A machine's speed reference (`fit_template`): the summed sieves of its training clips give a
   nominal speed, the mean of their prominence spectra a line template. Each clip's speed is then
   nominal x the shift (within +-14 %) that best aligns its lines with the template
   (`clip_speed`): all of the machine's lines vote together, and the machine cannot change line
   family from clip to clip (a lone clip's sieve often does). Where the shaft's own lines are weak
   (a fan at 0 dB SNR whose 1x is 5 dB above the noise) the nominal can be a blade-pass
   subharmonic; orders are then counted in that unit, consistently for every clip of the machine.
4. Instantaneous angle (`track_angle`): the template's strongest line is demodulated in the clip
   (complex baseband of a narrow band around it); its smoothed phase, divided by the line's ratio
   to the speed, is the shaft angle. A track that strays more than 10 % from the clip's speed falls
   back to a constant speed.
5. Angle-domain resampling (`angle_resample`): the low-passed waveform is interpolated at equal
   angle steps, so order k is a line at order k however the speed wandered.
6. Order spectra (`order_spectrum`): Welch over windows of `revs_per_window` revolutions, in dB,
   orders `min_order`..`max_order`; and the modulation depth of the envelopes of a few kilohertz
   bands on the same order axis (`OrderStatistics.envelope`: cyclic modulation at shaft orders,
   where a bearing's defect rate and a once-per-revolution pulse live).
7. Sidebands (`blade_count`, `sideband_levels`): the blade-pass family (the order N whose
   multiples stand out most in the training clips' mean order spectrum) and each clip's order
   spectrum within +-2.25 orders of every m*N, relative to the level at m*N.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage, signal

SHAFT_RANGE_HZ = (5.0, 60.0)
LINE_SPECTRUM_MAX_HZ = 1000.0
# Mains hum (50 or 60 Hz and harmonics) is the strongest line family in most recordings and never
# the shaft: its lines (+-0.3 %, at least +-0.6 Hz: the Welch window's main lobe) are removed.
MAINS_HZ = (50.0, 60.0)
_MAINS_TOLERANCE = 0.003
_MAINS_MIN_HALF_HZ = 0.6
_LOG_STEP = 0.001  # log-frequency grid step (0.1 %)
_WANDER = 0.01  # relative speed wander a line may smear over (the sieve's max filter half width)
# A line's prominence is measured against the median of +-12 %: wide enough that a line smeared
# by speed jitter does not lift its own floor (+-5 % halved the synthetic fans' 1x lines).
_FLOOR_HALF_WIDTH = 0.12
_SHS_DECAY = 0.84
_MAX_HARMONICS = 40
_MAX_SHIFT = 0.14  # a clip may run 14 % off the nominal (speed faults reach 10 %, plus wander)
_SUBFAMILY_SHARE = 0.75
_TRACK_SMOOTH_S = 0.2
_TRACK_TOLERANCE = 0.10
_POWER_FLOOR = 1e-20
_DB = 10.0 / np.log(10.0)


@dataclass(frozen=True)
class OrderParams:
    """What the angle-domain statistics depend on."""

    samples_per_rev: int = 128
    revs_per_window: int = 8  # order resolution 1/8
    min_order: float = 0.5
    max_order: float = 40.0
    envelope_bands_hz: tuple[tuple[float, float], ...] = ((500.0, 2000.0), (2000.0, 4000.0), (4000.0, 7000.0))
    envelope_samples_per_rev: int = 64
    envelope_max_order: float = 15.0
    sideband_reach: float = 2.25  # orders either side of a blade-pass harmonic

    def order_bins(self, max_order: float | None = None) -> np.ndarray:
        """Welch bin indices of orders min_order..max_order."""
        top = self.max_order if max_order is None else max_order
        r = self.revs_per_window
        return np.arange(round(self.min_order * r), round(top * r) + 1)

    def orders(self, max_order: float | None = None) -> np.ndarray:
        return self.order_bins(max_order) / self.revs_per_window


# --------------------------------------------------------------------------------------------
# shaft speed
# --------------------------------------------------------------------------------------------


def log_grid(max_hz: float = LINE_SPECTRUM_MAX_HZ) -> np.ndarray:
    """Frequencies SHAFT_RANGE_HZ[0] .. max_hz, 0.1 % apart."""
    return np.exp(np.arange(np.log(SHAFT_RANGE_HZ[0]), np.log(max_hz), _LOG_STEP))


def line_prominence(
    x: np.ndarray,
    sample_rate: int,
    *,
    spectrum: np.ndarray | None = None,
    max_hz: float = LINE_SPECTRUM_MAX_HZ,
) -> np.ndarray:
    """dB above the +-12 % median (>= 0) of x's spectrum on `log_grid(max_hz)`, mains hum removed.

    `spectrum`: x's rfft when the caller has it already.
    """
    seconds = x.size / sample_rate
    n_low = int(max_hz * seconds)
    full = np.fft.rfft(np.asarray(x, dtype=np.float64)) if spectrum is None else spectrum
    low = np.fft.irfft(full[: n_low + 1], n=2 * n_low) * (2 * n_low / x.size)  # x at 2 * max_hz
    nperseg = min(low.size, int(8.0 * max_hz))  # 4 s: 0.25 Hz lines
    freqs, psd = signal.welch(low, fs=2.0 * max_hz, nperseg=nperseg, noverlap=nperseg // 2)
    grid = log_grid(max_hz)
    level = _DB * np.log(np.interp(grid, freqs, psd) + _POWER_FLOOR)
    floor = ndimage.median_filter(level, size=2 * round(_FLOOR_HALF_WIDTH / _LOG_STEP) + 1, mode="nearest")
    prominence = np.maximum(level - floor, 0.0)
    for mains in MAINS_HZ:
        for line in np.arange(mains, max_hz, mains):
            half = max(_MAINS_MIN_HALF_HZ, _MAINS_TOLERANCE * line)
            prominence[(grid > line - half) & (grid < line + half)] = 0.0
    return prominence


def harmonic_sieve(prominence: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(candidate f0 in SHAFT_RANGE_HZ, subharmonic sum of each) from `line_prominence`.

    Lines are max-filtered over +-1 % first (a line smeared by wander still counts); on the log
    grid harmonic h of point i sits at i + log(h) / step, so the sum is a few shifted adds.
    """
    smeared = ndimage.maximum_filter1d(prominence, size=2 * round(_WANDER / _LOG_STEP) + 1)
    grid = np.exp(np.log(SHAFT_RANGE_HZ[0]) + _LOG_STEP * np.arange(prominence.size))
    candidates = np.nonzero(grid <= SHAFT_RANGE_HZ[1])[0]
    score = np.zeros(candidates.size)
    for h in range(1, _MAX_HARMONICS + 1):
        idx = candidates + round(np.log(h) / _LOG_STEP)
        valid = idx < grid.size
        if not valid.any():
            break
        score[valid] += _SHS_DECAY ** (h - 1) * smeared[idx[valid]]
    return grid[candidates], score


def estimate_shaft_speed(x: np.ndarray, sample_rate: int) -> float:
    """A lone clip's shaft speed in Hz: the candidate in 5-60 Hz whose harmonics hold the most
    line prominence (no machine reference: may pick a subharmonic of a strong family)."""
    f0, score = harmonic_sieve(line_prominence(x, sample_rate))
    return float(f0[np.argmax(score)])


@dataclass(frozen=True)
class MachineTemplate:
    """A machine's speed reference, fitted on its normal clips."""

    nominal_hz: float  # the unit orders are counted in (see the module docstring)
    lines: np.ndarray  # mean line prominence of the training clips on `log_grid()`
    track_ratio: float  # the strongest template line's frequency / nominal_hz (the line tracked)


def fit_template(clips: list[np.ndarray], sample_rate: int) -> MachineTemplate:
    """Nominal speed (peak of the summed sieves), line template and tracked line of a machine."""
    if not clips:
        raise ValueError("no clips to fit a speed template on")
    prominences = [line_prominence(x, sample_rate) for x in clips]
    total = None
    f0 = np.zeros(0)
    for p in prominences:
        f0, score = harmonic_sieve(p)
        total = score if total is None else total + score
    assert total is not None
    nominal = float(f0[np.argmax(total)])
    lines = np.mean(prominences, axis=0)
    grid = log_grid()
    usable = (grid >= 20.0) & (grid <= grid[-1] / (1.0 + _MAX_SHIFT))
    strongest = float(grid[usable][np.argmax(lines[usable])])
    return MachineTemplate(nominal, lines, strongest / nominal)


def clip_speed(prominence: np.ndarray, template: MachineTemplate) -> float:
    """nominal x the relative speed (within +-14 %) that best aligns the clip's lines with the template."""
    reach = round(np.log1p(_MAX_SHIFT) / _LOG_STEP)
    clip = prominence - prominence.mean()
    ref = template.lines - template.lines.mean()
    # correlation[k] = sum_i clip[i + s] * ref[i] with s = k - (len - 1).
    corr = signal.correlate(clip, ref, mode="full", method="fft")
    centre = ref.size - 1
    window = corr[centre - reach : centre + reach + 1]
    shift = int(np.argmax(window)) - reach
    return float(template.nominal_hz * np.exp(shift * _LOG_STEP))


# --------------------------------------------------------------------------------------------
# angle
# --------------------------------------------------------------------------------------------


def _baseband(
    spectrum: np.ndarray, n: int, sample_rate: float, lo_hz: float, hi_hz: float
) -> tuple[np.ndarray, float, float]:
    """(complex baseband, its sample rate, the shift in Hz): the analytic signal of the band
    lo..hi of rfft `spectrum` of an n-sample signal, shifted down to start near 0 Hz."""
    seconds = n / sample_rate
    lo = max(1, int(np.floor(lo_hz * seconds)))
    hi = min(spectrum.size - 1, int(np.ceil(hi_hz * seconds)))
    size = 1 << int(np.ceil(np.log2(max(64, 2 * (hi - lo + 1)))))
    shifted = np.zeros(size, dtype=complex)
    shifted[: hi - lo + 1] = spectrum[lo : hi + 1]
    # rfft of a real x: x = (2/n) Re sum X_k e^{...}; the analytic signal keeps 2/n of the positive side.
    z = np.fft.ifft(shifted) * (2.0 * size / n)
    return z, size / seconds, lo / seconds


def track_angle(
    spectrum: np.ndarray, n: int, sample_rate: int, speed_hz: float, line_ratio: float
) -> tuple[np.ndarray, np.ndarray]:
    """(times, shaft angle in radians) of an n-sample clip with rfft `spectrum` running at speed_hz,
    from the phase of its line at line_ratio x speed_hz; constant speed when that track strays."""
    seconds = n / sample_rate
    constant = (np.array([0.0, seconds]), np.array([0.0, 2.0 * np.pi * speed_hz * seconds]))
    centre = line_ratio * speed_hz
    # Narrow enough to keep out the neighbouring shaft orders, wide enough for 4 % wander.
    half = min(0.45 * speed_hz, max(2.0, 0.04 * centre))
    z, rate, shift = _baseband(spectrum, n, sample_rate, centre - half, centre + half)
    inst = np.diff(np.unwrap(np.angle(z))) * rate / (2.0 * np.pi) + shift  # Hz of the tracked line
    width = max(1, round(_TRACK_SMOOTH_S * rate))
    smooth = ndimage.uniform_filter1d(inst, size=width, mode="nearest") / line_ratio
    edge = width  # the FFT's wrap-around disturbs the first and last smoothing window
    if smooth.size <= 4 * edge:
        return constant
    core = smooth[edge:-edge]
    if np.any(np.abs(core / speed_hz - 1.0) > _TRACK_TOLERANCE):
        return constant
    smooth[:edge] = core[0]
    smooth[-edge:] = core[-1]
    times = np.arange(smooth.size + 1) / rate
    angle = 2.0 * np.pi * np.concatenate(([0.0], np.cumsum(smooth) / rate))
    return times, angle


def angle_resample(
    x: np.ndarray,
    times: np.ndarray,
    track_times: np.ndarray,
    track_angle_rad: np.ndarray,
    samples_per_rev: int,
) -> np.ndarray:
    """x (sampled at `times`) at equal shaft-angle steps 2*pi/samples_per_rev apart (linear interpolation)."""
    start, stop = np.interp([times[0], times[-1]], track_times, track_angle_rad)
    steps = np.arange(start, stop, 2.0 * np.pi / samples_per_rev)
    at = np.interp(steps, track_angle_rad, track_times)
    return np.asarray(np.interp(at, times, x))


def order_spectrum(y: np.ndarray, params: OrderParams, samples_per_rev: int, bins: np.ndarray) -> np.ndarray:
    """Welch power (dB) of an angle-domain signal, windows of revs_per_window revolutions."""
    nperseg = params.revs_per_window * samples_per_rev
    if y.size < nperseg:
        y = np.pad(y, (0, nperseg - y.size))
    _, psd = signal.welch(y, nperseg=nperseg, noverlap=nperseg // 2, detrend=False)
    return np.asarray(_DB * np.log(psd[bins] + _POWER_FLOOR))


# --------------------------------------------------------------------------------------------
# clip statistics
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderStatistics:
    speed_hz: float
    tracked: bool  # False: the angle track fell back to a constant speed
    orders: np.ndarray  # [len(params.orders())] dB
    envelope: np.ndarray  # [bands * len(params.orders(envelope_max_order))] modulation depth dB


def _lowpassed(spectrum: np.ndarray, n: int, sample_rate: float, cut_hz: float) -> tuple[np.ndarray, float]:
    """The signal band-limited to cut_hz, sampled at about 4 * cut_hz (FFT truncation)."""
    seconds = n / sample_rate
    keep = max(1, min(spectrum.size - 1, int(cut_hz * seconds)))
    size = 4 * keep
    out = np.fft.irfft(spectrum[: keep + 1], n=size) * (size / n)
    return out, size / seconds


@dataclass(frozen=True)
class ClipTrack:
    """One clip's spectrum and shaft angle track (what every angle-domain statistic starts from)."""

    spectrum: np.ndarray  # rfft of the clip
    n: int
    sample_rate: int
    speed_hz: float
    times: np.ndarray
    angle: np.ndarray

    @property
    def tracked(self) -> bool:
        return self.times.size > 2


def clip_track(x: np.ndarray, sample_rate: int, template: MachineTemplate) -> ClipTrack:
    """Speed (`clip_speed`) and angle (`track_angle`) of one clip of the machine of `template`."""
    x = np.asarray(x, dtype=np.float64)
    spectrum = np.fft.rfft(x)
    speed = clip_speed(line_prominence(x, sample_rate, spectrum=spectrum), template)
    times, angle = track_angle(spectrum, x.size, sample_rate, speed, template.track_ratio)
    return ClipTrack(spectrum, x.size, sample_rate, speed, times, angle)


def track_orders(track: ClipTrack, params: OrderParams) -> np.ndarray:
    """Order spectrum (dB) of the clip, orders params.orders()."""
    p = params
    cut = min(0.45 * track.sample_rate, 1.1 * p.max_order * track.speed_hz)
    low, rate = _lowpassed(track.spectrum, track.n, track.sample_rate, cut)
    y = angle_resample(low, np.arange(low.size) / rate, track.times, track.angle, p.samples_per_rev)
    return order_spectrum(y, p, p.samples_per_rev, p.order_bins())


def track_envelopes(track: ClipTrack, params: OrderParams) -> np.ndarray:
    """Modulation depth (dB) of each envelope band's squared magnitude, per envelope order bin."""
    p = params
    envelopes = []
    env_bins = p.order_bins(p.envelope_max_order)
    env_norm = p.revs_per_window * p.envelope_samples_per_rev
    for lo, hi in p.envelope_bands_hz:
        z, z_rate, _ = _baseband(
            track.spectrum, track.n, track.sample_rate, lo, min(hi, 0.5 * track.sample_rate)
        )
        env = np.abs(z) ** 2
        level = float(np.mean(env)) + _POWER_FLOOR
        env_cut = min(0.45 * z_rate, 1.2 * p.envelope_max_order * track.speed_hz)
        env_low, env_rate = _lowpassed(np.fft.rfft(env - level), env.size, z_rate, env_cut)
        e = angle_resample(
            env_low, np.arange(env_low.size) / env_rate, track.times, track.angle, p.envelope_samples_per_rev
        )
        # Depth: power relative to the band's mean power squared (as the detector's band envelopes
        # are normalised), so a louder band alone does not move it.
        depth = order_spectrum(e, p, p.envelope_samples_per_rev, env_bins) - _DB * np.log(level**2 * env_norm)
        envelopes.append(depth)
    return np.concatenate(envelopes)


def order_statistics(
    x: np.ndarray, sample_rate: int, template: MachineTemplate, params: OrderParams | None = None
) -> OrderStatistics:
    """Angle-domain statistics of one clip of the machine `template` was fitted on."""
    p = params or OrderParams()
    track = clip_track(x, sample_rate, template)
    return OrderStatistics(track.speed_hz, track.tracked, track_orders(track, p), track_envelopes(track, p))


def blade_count(
    mean_orders_db: np.ndarray, params: OrderParams | None = None, candidates: range = range(3, 21)
) -> int:
    """The order N (3-20) whose multiples stand out most above their +-1 order neighbourhood in a
    machine's mean order spectrum: its blade (vane) count, in the units the speed was tracked in."""
    p = params or OrderParams()
    orders = p.orders()
    r = p.revs_per_window
    floor = ndimage.uniform_filter1d(mean_orders_db, size=2 * r + 1, mode="nearest")
    peak = ndimage.maximum_filter1d(mean_orders_db, size=3, mode="nearest")
    prominence = peak - floor
    scores: dict[int, float] = {}
    for blades in candidates:
        multiples = np.arange(blades, p.max_order + 1e-9, blades)
        if multiples.size >= 2:
            scores[blades] = float(np.mean(prominence[np.searchsorted(orders, multiples - 1e-9)]))
    best = max(scores, key=lambda b: scores[b])
    # The even harmonics of a family are a family too (2N, 3N, ...) and often score a little higher
    # (the odd ones decay): a divisor that scores nearly as well is the blade count.
    for divisor in sorted((d for d in scores if best % d == 0 and d < best), reverse=True):
        if scores[divisor] >= _SUBFAMILY_SHARE * scores[best]:
            return divisor
    return best


def sideband_levels(orders_db: np.ndarray, blades: int, params: OrderParams | None = None) -> np.ndarray:
    """[N, carriers * bins]: the order spectrum within +-sideband_reach orders of every blade-pass
    harmonic m*blades (the carrier and its neighbour bins left out) minus the carrier's level."""
    p = params or OrderParams()
    x = np.atleast_2d(orders_db)
    r = p.revs_per_window
    first = int(p.order_bins()[0])
    reach = round(p.sideband_reach * r)
    offsets = np.r_[np.arange(-reach, -1), np.arange(2, reach + 1)]
    peak = ndimage.maximum_filter1d(x, size=3, axis=1, mode="nearest")
    blocks = []
    for carrier in np.arange(blades, p.max_order - p.sideband_reach + 1e-9, blades):
        c = round(carrier * r) - first
        blocks.append(x[:, c + offsets] - peak[:, [c]])
    if not blocks:
        raise ValueError(f"no blade-pass harmonic of {blades} has its sidebands below order {p.max_order}")
    return np.concatenate(blocks, axis=1)
