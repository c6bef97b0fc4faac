"""humwatch.research.order_tracking: shaft speed from a clip's own lines, angle-domain spectra.

Signals are built here from their definition (a harmonic series rendered from a wandering shaft
angle), so the true speed and order of every line are known exactly.
"""

from __future__ import annotations

import numpy as np
import pytest

from humwatch.research.order_tracking import (
    OrderParams,
    angle_resample,
    blade_count,
    clip_track,
    estimate_shaft_speed,
    fit_template,
    order_spectrum,
    sideband_levels,
    track_orders,
)

FS = 16_000
SECONDS = 10.0


def wandering_angle(f0: float, wander: float, seed: int) -> np.ndarray:
    """Shaft angle per sample for a speed f0 * (1 + wander * slow noise), noise std 1, 0.1-2 Hz."""
    rng = np.random.default_rng(seed)
    n = int(FS * SECONDS)
    knots = rng.standard_normal(int(SECONDS * 4) + 2)  # a new value every 0.25 s, smoothly joined
    slow = np.interp(np.arange(n) / FS, np.arange(knots.size) / 4.0, knots)
    slow = (slow - slow.mean()) / slow.std()
    speed = f0 * (1.0 + wander * slow)
    return 2.0 * np.pi * np.cumsum(speed) / FS


def harmonic_clip(f0: float, *, wander: float = 0.01, seed: int = 0, snr_db: float = 10.0) -> np.ndarray:
    """Harmonics 1..12 of a wandering shaft (amplitude 1/h, random phases) in white noise."""
    rng = np.random.default_rng(seed + 1000)
    angle = wandering_angle(f0, wander, seed)
    x = sum((1.0 / h) * np.sin(h * angle + rng.uniform(0, 2 * np.pi)) for h in range(1, 13))
    noise = rng.standard_normal(angle.size)
    noise *= np.sqrt(np.mean(x**2) / np.mean(noise**2)) * 10 ** (-snr_db / 20)
    return np.asarray(x + noise)


@pytest.mark.parametrize("f0", [13.3, 23.7, 41.9])
def test_a_harmonic_series_with_one_percent_wander_gives_its_speed_within_two_percent(f0: float) -> None:
    # Given a clip of a shaft at f0 whose speed wanders 1 % (std), harmonics 1-12, in noise
    x = harmonic_clip(f0, wander=0.01, seed=int(f0))
    # When its speed is estimated from the clip alone
    estimate = estimate_shaft_speed(x, FS)
    # Then it is within 2 % of f0 (not a subharmonic or a harmonic of it)
    assert estimate == pytest.approx(f0, rel=0.02)


def test_mains_hum_louder_than_the_machine_is_not_taken_for_the_shaft() -> None:
    # Given a 23.7 Hz machine under a 50 Hz hum with harmonics, each line 3x the machine's 1x
    x = harmonic_clip(23.7, seed=5)
    t = np.arange(x.size) / FS
    x = x + sum(3.0 * np.sin(2 * np.pi * 50.0 * k * t) for k in range(1, 8))
    # When its speed is estimated
    # Then the hum (50 Hz, or 25 Hz as its subharmonic) is ignored and the shaft is found
    assert estimate_shaft_speed(x, FS) == pytest.approx(23.7, rel=0.02)


def test_a_pure_order_k_tone_becomes_a_line_at_order_k_in_the_angle_domain() -> None:
    # Given a tone locked to order 7.5 of a shaft whose speed wanders 3 % (a line smeared over
    # +-3 % = +-11 Hz in an ordinary spectrum)
    params = OrderParams()
    angle = wandering_angle(20.0, 0.03, seed=3)
    x = np.sin(7.5 * angle)
    times = np.arange(x.size) / FS
    # When it is resampled at equal angle steps with the shaft's angle and its order spectrum taken
    y = angle_resample(x, times, times, angle, params.samples_per_rev)
    spectrum = order_spectrum(y, params, params.samples_per_rev, params.order_bins())
    orders = params.orders()
    # Then the spectrum peaks exactly at order 7.5, and 1 order away it is 40 dB down
    assert orders[np.argmax(spectrum)] == pytest.approx(7.5)
    peak = spectrum.max()
    assert spectrum[np.argmin(np.abs(orders - 8.5))] < peak - 40.0
    assert spectrum[np.argmin(np.abs(orders - 6.5))] < peak - 40.0


def test_a_tracked_clip_puts_each_harmonic_at_its_order_even_when_the_clip_runs_fast() -> None:
    # Given a machine template fitted on clips at 23.7 Hz, and a clip of it running 6 % fast
    template = fit_template([harmonic_clip(23.7, seed=s) for s in range(4)], FS)
    fast = harmonic_clip(23.7 * 1.06, seed=11)
    # When the clip is tracked (speed from the template, angle from its own strongest line)
    track = clip_track(fast, FS, template)
    orders_db = track_orders(track, OrderParams())
    orders = OrderParams().orders()
    # Then its speed is 6 % above the nominal, the angle track held, and harmonic 3 is a line at
    # order 3 standing well above orders 2.5 and 3.5
    assert track.speed_hz / template.nominal_hz == pytest.approx(1.06, abs=0.005)
    assert track.tracked
    at = {o: orders_db[np.argmin(np.abs(orders - o))] for o in (2.5, 3.0, 3.5)}
    assert at[3.0] > at[2.5] + 20.0
    assert at[3.0] > at[3.5] + 20.0


def test_the_blade_count_is_the_family_not_its_even_harmonics() -> None:
    # Given a mean order spectrum with lines at multiples of 7 (the odd ones a little weaker)
    params = OrderParams()
    orders = params.orders()
    spectrum = np.zeros(orders.size)
    for m, carrier in enumerate(np.arange(7.0, 40.0, 7.0), start=1):
        spectrum[np.argmin(np.abs(orders - carrier))] = 20.0 if m % 2 == 0 else 16.0
    # When the blade count is estimated
    # Then it is 7 (14 scores a little higher alone, but 7 explains it)
    assert blade_count(spectrum, params) == 7


def test_sideband_levels_are_relative_to_their_blade_pass_harmonic() -> None:
    # Given an order spectrum at -60 dB with a blade-pass line at order 6 (-20 dB) and a sideband
    # one order above it (-35 dB)
    params = OrderParams()
    orders = params.orders()
    spectrum = np.full(orders.size, -60.0)
    spectrum[np.argmin(np.abs(orders - 6.0))] = -20.0
    spectrum[np.argmin(np.abs(orders - 7.0))] = -35.0
    # When the sideband vector around the 6-blade family is taken
    levels = sideband_levels(spectrum, 6, params)[0]
    # Then around order 6 (the first block: +-2.25 orders without the carrier's +-1 bin) the
    # largest value is the sideband, 15 dB below the carrier, and the rest sit 40 dB below it
    block = levels[: 2 * (round(params.sideband_reach * params.revs_per_window) - 1)]
    assert block.max() == pytest.approx(-15.0)
    assert np.median(block) == pytest.approx(-40.0)
    # and around the other harmonics (no line there) nothing stands out
    assert levels[block.size :].max() == pytest.approx(0.0)
