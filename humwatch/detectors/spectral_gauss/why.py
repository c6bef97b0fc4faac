"""model.json's `why` block for spectral-gauss: what each member's `why_index` means in Hz.

The graph (`ensemble.build_spectral_graph`) says which line or band moved; this turns indices into
frequencies from the front end's parameters, and lists the normal machine's tonal lines (the fine
member's mean line prominence) for the bearing hint (`humwatch.explain.bearing_like`), with the
shaft speed where the user stated it (`SpectralGaussOptions.shaft_rpm`).
"""

from __future__ import annotations

import itertools

import numpy as np

from humwatch.detectors.spectral_gauss.ensemble import FittedSpectral, Member
from humwatch.detectors.spectral_gauss.gaussian import DiagonalGaussian, prominence
from humwatch.explain import WhyAxes, WhyAxis
from humwatch.features import band_edges_hz

# A line of the normal machine stands this far above its neighbours on average over the training
# clips (a shaft or blade-pass harmonic, a motor tone); weaker peaks are the noise floor's.
MACHINE_LINE_DB = 6.0
MACHINE_LINES_MAX = 24
_FINE_PROMINENCE_WIDTH = 4  # the default fine member's (used when a member reads raw levels)


def why_axes(fitted: FittedSpectral, *, shaft_rpm: float | None = None) -> WhyAxes:
    """The block; `shaft_rpm` is the machine's nominal shaft speed as the user stated it (None:
    not known, no shaft orders are said)."""
    fp = fitted.config.frontend
    return WhyAxes(
        members=[_axis(fitted, m) for m in fitted.config.members],
        machine_lines_hz=machine_lines_hz(fitted),
        # A peak refined by a parabola is good to about a quarter of a bin (0.4-0.7 Hz on the
        # development machines' shaft lines at 3.9 Hz bins).
        machine_line_precision_hz=fitted.features.sample_rate / fp.decimate / fp.fine_n_fft / 4.0,
        shaft_hz=shaft_rpm / 60.0 if shaft_rpm is not None else None,
    )


def _axis(fitted: FittedSpectral, member: Member) -> WhyAxis:
    fp = fitted.config.frontend
    sr = fitted.features.sample_rate
    if member.kind == "frames" or member.group == "mel_mean":
        edges = band_edges_hz(fitted.features)
        return WhyAxis(member=member.name, kind="band", band_hz=list(itertools.pairwise(edges)))
    if member.group == "level":
        return WhyAxis(member=member.name, kind="level")
    if member.group == "fine":
        step = sr / fp.decimate / fp.fine_n_fft
        return WhyAxis(member=member.name, kind="line", columns=fp.fine_bins, first_hz=step, step_hz=step)
    # env_bands / env_fine: rows are bands of the short STFT (a bin's range is centred on it),
    # columns the modulation lines 1..band_env_bins of the band envelope (band_n_fft/2 hop).
    bin_hz = sr / fp.band_n_fft
    edges_bins = fp.band_edges_bins if member.group == "env_bands" else fp.fine_band_edges_bins
    step = sr / (fp.band_n_fft // 2) / fp.band_env_n_fft
    return WhyAxis(
        member=member.name,
        kind="modulation",
        columns=fp.band_env_bins,
        band_hz=[((lo - 0.5) * bin_hz, (hi - 0.5) * bin_hz) for lo, hi in itertools.pairwise(edges_bins)],
        first_hz=step,
        step_hz=step,
    )


def machine_lines_hz(fitted: FittedSpectral) -> list[float]:
    """The normal machine's strongest tonal lines (Hz, ascending), from the fine member's mean.

    Peaks of the mean line prominence at least `MACHINE_LINE_DB` high, refined by a parabola
    through the peak and its neighbours (a fraction of the 3.9 Hz bin); empty without a fine member.
    """
    member = next((m for m in fitted.config.members if m.group == "fine"), None)
    model = fitted.models.get(member.name) if member else None
    if member is None or not isinstance(model, DiagonalGaussian):
        return []
    mean = np.asarray(model.mean, dtype=np.float64)
    if not member.prominence_width:
        mean = prominence(mean, width=_FINE_PROMINENCE_WIDTH)[0]
    fp = fitted.config.frontend
    step = fitted.features.sample_rate / fp.decimate / fp.fine_n_fft
    inner = np.arange(1, mean.size - 1)
    peaks = inner[
        (mean[inner] >= MACHINE_LINE_DB) & (mean[inner] > mean[inner - 1]) & (mean[inner] >= mean[inner + 1])
    ]
    strongest = peaks[np.argsort(mean[peaks])[::-1][:MACHINE_LINES_MAX]]
    lines = []
    for i in strongest:
        left, centre, right = mean[i - 1], mean[i], mean[i + 1]
        curvature = left - 2.0 * centre + right
        offset = 0.5 * (left - right) / curvature if curvature < 0 else 0.0
        lines.append(round(float((i + 1 + offset) * step), 2))  # column i is bin i + 1
    return sorted(lines)
