"""Say why: which part of the model fired on a clip, where in the spectrum, in words.

A detector that can say why adds three outputs to its graph (`WHY_OUTPUTS`), one value per member:
- `member_z` [M]: the member's evidence in standard deviations above an unseen normal clip (the
  units the detector decides in: spectral-gauss's score is exp of their maximum);
- `why_index` [M] int64: where in the member's statistic the evidence is (a flat index,
  row * columns + column: band and modulation line, fine line, mel band);
- `why_value` [M]: how far that one place is from normal: the line's or band's own z-score, signed
  (a line that fell is negative), or the level change in dB for `level`.
model.json's `why` block (`WhyAxes`) turns indices into frequencies. `locate_why` picks the member
with the largest z and returns a `Why`; `describe_why` says it in words. A bundle without these
outputs or without the block (trained before they existed, or the blog autoencoder) says nothing:
`why` is None.

The shaft order (87 Hz is "4.1x shaft speed") is said where the machine's shaft speed is known:
stated by the user from the nameplate (`humwatch train --shaft-rpm`, `humwatch device learn
--shaft-rpm`) into `WhyAxes.shaft_hz`; humwatch does not estimate it from the sound (tried in
`humwatch.research.order_tracking`: it locks onto blade-pass subharmonics). The one fault hint
(`bearing_like`) is given only where the physics is unambiguous enough to say "typical of".

Imported by the Lambda runtime: numpy and pydantic only.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

WHY_OUTPUTS: tuple[str, str, str] = ("member_z", "why_index", "why_value")

WhyKind = Literal["modulation", "line", "band", "level"]
Hint = Literal["rolling-element bearing"]

# The bearing hint (`bearing_like`). An impact train ringing a structural resonance shows as a
# modulation line of a high band (bearing housings ring at kilohertz). A bearing's defect rates
# are non-integer multiples of the shaft rate (e.g. 0.4 x balls x shaft), whereas rubbing, a
# damaged blade and imbalance modulate at shaft orders, and electrical faults at multiples of the
# mains frequency. So a modulation that is within tolerance of an integer multiple of any tonal
# line of the normal machine (whose lines are shaft, blade-pass and motor orders) or of the mains
# frequency gets no hint. Where the shaft rate is known (`WhyAxes.shaft_hz`, the nameplate speed),
# an integer shaft order gets none either, and a rate above 1x shaft that is none of these is
# bearing-like even when the machine's lines are not known. Where it is not known, a rate below
# the machine's lowest line gets no hint (it may be the shaft rate itself, which the microphone
# does not hear as a line), and without the lines no hint is given at all.
HIGH_BAND_HZ = 2000.0  # band centre at or above which a modulation counts as a resonance's
MAINS_HZ: tuple[float, ...] = (50.0, 60.0)
# |f - k * line| <= this + k * the lines' own precision is "an integer multiple": the modulation
# spectrum's ~1 Hz resolution, plus 2 % for a speed that differs from training (or, for the
# shaft, from the nameplate: an induction motor's slip moves it by a few percent).
MULTIPLE_TOLERANCE_HZ = 1.0
MULTIPLE_TOLERANCE_FRACTION = 0.02


class WhyAxis(BaseModel):
    """How one member's `why_index` becomes frequencies (model.json `why.members[i]`).

    index = row * columns + column; row -> `band_hz[row]` (modulation: the band whose envelope
    moved; band: the mel band), column -> first_hz + column * step_hz (modulation: the modulation
    frequency; line: the line's frequency)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    member: str
    kind: WhyKind
    columns: int = Field(default=1, ge=1)
    band_hz: list[tuple[float, float]] | None = None
    first_hz: float | None = None
    step_hz: float | None = None


class WhyAxes(BaseModel):
    """model.json `why`: one axis per member, in the order of the graph's why outputs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    members: list[WhyAxis]
    # The normal machine's tonal lines (Hz), for the bearing hint; empty: no hint is given unless
    # the shaft speed is known.
    machine_lines_hz: list[float] = Field(default_factory=list)
    machine_line_precision_hz: float = Field(default=1.0, ge=0.0)  # how well a line's Hz is known
    # The machine's nominal shaft speed (Hz, nameplate rpm / 60) when the user stated it: the
    # modulation's or line's shaft order is said, and the bearing hint uses it. None: not known.
    shaft_hz: float | None = Field(default=None, gt=0.0)


class Why(BaseModel):
    """What made a clip stand out most; small (it is stored in every clip's history item)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    member: str
    kind: WhyKind
    z: float  # the member's evidence, standard deviations above an unseen normal clip
    deviation: float  # the place's own change: z-score of the line or band, dB for `level`
    band_hz: tuple[float, float] | None = None
    frequency_hz: float | None = None
    # frequency_hz in multiples of the stated shaft speed (modulation and line, when it is known)
    shaft_order: float | None = None
    hint: Hint | None = None

    def compact(self) -> dict[str, object]:
        """The JSON-ready dict that `humwatch score --format json` prints."""
        return self.model_dump(mode="json", exclude_none=True)


def locate_why(
    axes: WhyAxes, member_z: np.ndarray, why_index: np.ndarray, why_value: np.ndarray
) -> Why | None:
    """The member with the largest z, located on its axis; None if the outputs do not fit the axes.

    Plain Python on the few values (one per member): right after a graph run the caches are cold,
    and every numpy call or validation then costs tens of microseconds (measured: 170 us per clip
    with numpy and a validated model, against under 10 ms of graph)."""
    z = np.asarray(member_z).ravel().tolist()
    index = np.asarray(why_index).ravel().tolist()
    value = np.asarray(why_value).ravel().tolist()
    if not (len(z) == len(index) == len(value) == len(axes.members)) or not all(map(math.isfinite, z)):
        return None
    m = max(range(len(z)), key=z.__getitem__)
    axis = axes.members[m]
    row, column = divmod(int(index[m]), axis.columns)
    band = None
    if axis.band_hz is not None and 0 <= row < len(axis.band_hz):
        band = (round(axis.band_hz[row][0], 1), round(axis.band_hz[row][1], 1))
    frequency = None
    if axis.first_hz is not None and axis.step_hz is not None:
        frequency = round(axis.first_hz + column * axis.step_hz, 1)
    deviation = float(value[m]) if math.isfinite(value[m]) else 0.0
    shaft_order = None
    if axis.kind in ("modulation", "line") and frequency is not None and axes.shaft_hz:
        shaft_order = round(frequency / axes.shaft_hz, 2)
    hint: Hint | None = None
    if axis.kind == "modulation" and deviation > 0 and bearing_like(frequency, band, axes):
        hint = "rolling-element bearing"
    # Every field is already of its type (the axes were validated with model.json): no validation.
    return Why.model_construct(
        member=axis.member,
        kind=axis.kind,
        z=round(float(z[m]), 2),
        deviation=round(deviation, 2),
        band_hz=band,
        frequency_hz=frequency,
        shaft_order=shaft_order,
        hint=hint,
    )


def bearing_like(modulation_hz: float | None, band_hz: tuple[float, float] | None, axes: WhyAxes) -> bool:
    """A modulation of a high band at a rate that no known line, the shaft or the mains explains
    (see above)."""
    lines, shaft = axes.machine_lines_hz, axes.shaft_hz
    if modulation_hz is None or band_hz is None or not (lines or shaft):
        return False
    if (band_hz[0] + band_hz[1]) / 2.0 < HIGH_BAND_HZ:
        return False
    tolerance = MULTIPLE_TOLERANCE_HZ + MULTIPLE_TOLERANCE_FRACTION * modulation_hz
    # Above 1x shaft where it is known, else above the lowest line (which may be the shaft's).
    floor = shaft if shaft else min(lines) + axes.machine_line_precision_hz
    if modulation_hz < floor + tolerance:
        return False
    known = [(line, axes.machine_line_precision_hz) for line in lines] + [(hz, 0.0) for hz in MAINS_HZ]
    if shaft:
        known.append((shaft, 0.0))  # the stated speed is exact as given; its error is the 2 %
    for line, precision in known:
        k = max(1, round(modulation_hz / line))
        if abs(modulation_hz - k * line) <= tolerance + k * precision:
            return False
    return True


def describe_why(why: Why) -> str:
    """The evidence in words: 'a rhythmic pattern at 87 Hz (4.1x shaft speed) in the 2.38-2.62 kHz
    band rose 6.2 σ above normal — typical of a rolling-element bearing' (the shaft order only
    where the shaft speed is known)."""
    size = abs(why.deviation)
    if why.kind == "level":
        direction = "louder" if why.deviation >= 0 else "quieter"
        return f"the machine is {size:.1f} dB {direction} than normal"
    where = f"the {format_band(why.band_hz)} band" if why.band_hz else "the spectrum"
    if why.kind == "band":
        direction = "louder" if why.deviation >= 0 else "quieter"
        return f"{where} is {size:.1f} σ {direction} than normal"
    moved = f"rose {size:.1f} σ above normal" if why.deviation >= 0 else f"fell {size:.1f} σ below normal"
    at = f" at {format_hz(why.frequency_hz)}" if why.frequency_hz is not None else ""
    if at and why.shaft_order is not None:
        at += f" ({why.shaft_order:.1f}x shaft speed)"
    if why.kind == "line":
        return f"a tone{at} {moved}"
    if why.deviation <= 0:
        return f"no rhythmic pattern in {where} rose above normal"
    text = f"a rhythmic pattern{at} in {where} {moved}"
    return f"{text} — typical of a {why.hint}" if why.hint else text


def format_hz(hz: float) -> str:
    """87 Hz, 4.9 Hz, 2.5 kHz: three significant figures at most."""
    if hz >= 1000.0:
        return f"{_figures(hz / 1000.0)} kHz"
    return f"{_figures(hz)} Hz"


def format_band(band_hz: tuple[float, float]) -> str:
    """375–875 Hz, 2.38–2.62 kHz (one unit when both ends are over 1 kHz)."""
    lo, hi = band_hz
    if lo >= 1000.0:
        return f"{_figures(lo / 1000.0)}–{_figures(hi / 1000.0)} kHz"
    if hi < 1000.0:
        return f"{_figures(lo)}–{_figures(hi)} Hz"
    return f"{format_hz(lo)}–{format_hz(hi)}"


def _figures(value: float) -> str:
    if value >= 100.0:
        return f"{value:.0f}"
    return f"{float(f'{value:.3g}'):g}"
