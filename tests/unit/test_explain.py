"""Say why: graph outputs -> the member that fired and where, and the sentence a person reads."""

from __future__ import annotations

import numpy as np
import pytest

from humwatch.explain import Why, WhyAxes, WhyAxis, bearing_like, describe_why, format_band, locate_why

MODULATION = WhyAxis(
    member="modulation_fine",
    kind="modulation",
    columns=250,
    band_hz=[(375.0 + 250.0 * b, 625.0 + 250.0 * b) for b in range(30)],
    first_hz=0.9765625,
    step_hz=0.9765625,
)
FINE = WhyAxis(member="fine", kind="line", columns=240, first_hz=3.90625, step_hz=3.90625)
FRAMES = WhyAxis(member="frames", kind="band", band_hz=[(1000.0, 1300.0), (1300.0, 1700.0)])
LEVEL = WhyAxis(member="level", kind="level")
# A fan turning at 20 Hz with 9 blades (blade pass 180 Hz): its normal tonal lines.
AXES = WhyAxes(members=[MODULATION, FINE, FRAMES, LEVEL], machine_lines_hz=[20.0, 180.0, 360.0])


def test_the_member_with_the_largest_z_is_located_on_its_axis() -> None:
    # Given outputs where modulation_fine has the largest z, at band 8 (2.375-2.625 kHz), line 88
    member_z = np.array([6.2, 1.0, 0.5, -0.3])
    index = np.array([8 * 250 + 88, 104, 1, 0])
    value = np.array([9.4, 2.0, 0.7, 0.1])
    # When located
    why = locate_why(AXES, member_z, index, value)
    # Then it names the member, its band and the modulation line's frequency (line 89 of 0.98 Hz)
    assert why is not None
    assert (why.member, why.kind, why.z, why.deviation) == ("modulation_fine", "modulation", 6.2, 9.4)
    assert why.band_hz == (2375.0, 2625.0)
    assert why.frequency_hz == pytest.approx(89 * 0.9765625, abs=0.05)


def test_a_fine_line_says_its_frequency_and_level_says_decibels() -> None:
    line = locate_why(
        AXES, np.array([0.1, 5.0, 0.2, 0.3]), np.array([0, 104, 0, 0]), np.array([0, -5.1, 0, 0])
    )
    assert line is not None and line.kind == "line" and line.band_hz is None
    assert line.frequency_hz == pytest.approx(105 * 3.90625, abs=0.05)
    assert describe_why(line) == "a tone at 410 Hz fell 5.1 σ below normal"
    level = locate_why(AXES, np.array([0.1, 0.2, 0.3, 3.0]), np.array([0, 0, 0, 0]), np.array([0, 0, 0, 3.2]))
    assert level is not None and describe_why(level) == "the machine is 3.2 dB louder than normal"


def test_outputs_that_do_not_fit_the_axes_say_nothing() -> None:
    # A bundle whose why block lists other members than its graph has (a broken bundle): no why
    assert locate_why(AXES, np.ones(3), np.zeros(3, dtype=np.int64), np.ones(3)) is None
    assert locate_why(AXES, np.array([np.nan, 1, 1, 1]), np.zeros(4, dtype=np.int64), np.ones(4)) is None


@pytest.mark.parametrize(
    ("why", "text"),
    [
        (
            Why(
                member="modulation",
                kind="modulation",
                z=6.2,
                deviation=6.2,
                band_hz=(2500.0, 2750.0),
                frequency_hz=87.0,
            ),
            "a rhythmic pattern at 87 Hz in the 2.5–2.75 kHz band rose 6.2 σ above normal",
        ),
        (
            Why(
                member="modulation",
                kind="modulation",
                z=6.2,
                deviation=6.2,
                band_hz=(2500.0, 2750.0),
                frequency_hz=87.0,
                hint="rolling-element bearing",
            ),
            "a rhythmic pattern at 87 Hz in the 2.5–2.75 kHz band rose 6.2 σ above normal"
            " — typical of a rolling-element bearing",
        ),
        (
            Why(member="fine", kind="line", z=4.0, deviation=5.1, frequency_hz=412.0),
            "a tone at 412 Hz rose 5.1 σ above normal",
        ),
        (
            Why(member="frames", kind="band", z=3.0, deviation=4.0, band_hz=(1000.0, 1300.0)),
            "the 1–1.3 kHz band is 4.0 σ louder than normal",
        ),
        (
            Why(member="frames", kind="band", z=3.0, deviation=-2.5, band_hz=(375.0, 875.0)),
            "the 375–875 Hz band is 2.5 σ quieter than normal",
        ),
        (
            Why(member="level", kind="level", z=2.0, deviation=-3.24),
            "the machine is 3.2 dB quieter than normal",
        ),
        (
            Why(
                member="modulation",
                kind="modulation",
                z=-0.5,
                deviation=0.0,
                band_hz=(875.0, 1875.0),
                frequency_hz=4.9,
            ),
            "no rhythmic pattern in the 875 Hz–1.88 kHz band rose above normal",
        ),
    ],
)
def test_each_kind_of_evidence_reads_as_a_sentence(why: Why, text: str) -> None:
    assert describe_why(why) == text


def test_bands_read_in_one_unit_when_they_can() -> None:
    assert format_band((2375.0, 2625.0)) == "2.38–2.62 kHz"
    assert format_band((47.1, 94.3)) == "47.1–94.3 Hz"
    assert format_band((875.0, 1875.0)) == "875 Hz–1.88 kHz"


@pytest.mark.parametrize(
    ("modulation_hz", "band_hz", "expected", "because"),
    [
        (71.0, (3875.0, 4875.0), True, "3.55x the 20 Hz shaft line, in a high band"),
        (60.0, (3875.0, 4875.0), False, "an integer multiple of the shaft line (3x)"),
        (61.0, (3875.0, 4875.0), False, "within tolerance of 3x the shaft line"),
        (71.0, (875.0, 1875.0), False, "a low band: not a bearing resonance"),
        (15.0, (3875.0, 4875.0), False, "below the lowest line: it may be the shaft rate itself"),
        (50.0, (3875.0, 4875.0), False, "the 50 Hz mains (2.5x the shaft line): electrical"),
    ],
)
def test_the_bearing_hint_is_given_only_where_no_known_line_explains_the_rate(
    modulation_hz: float, band_hz: tuple[float, float], expected: bool, because: str
) -> None:
    assert bearing_like(modulation_hz, band_hz, AXES) is expected, because


def test_without_the_machines_lines_no_hint_is_given() -> None:
    # A model that does not know the normal machine's lines cannot tell a bearing from a shaft order
    unknown = WhyAxes(members=[MODULATION])
    assert not bearing_like(71.0, (3875.0, 4875.0), unknown)
    why = locate_why(unknown, np.array([6.0]), np.array([13 * 250 + 71]), np.array([9.0]))
    assert why is not None and why.hint is None


def test_a_located_bearing_pattern_carries_the_hint() -> None:
    # Given modulation line 72 (70.3 Hz = 3.5x the 20 Hz shaft) in band 15 (4.125-4.375 kHz)
    why = locate_why(
        AXES, np.array([6.0, 0, 0, 0]), np.array([15 * 250 + 71, 0, 0, 0]), np.array([8.0, 0, 0, 0])
    )
    assert why is not None and why.hint == "rolling-element bearing"
    assert describe_why(why).endswith("— typical of a rolling-element bearing")


def test_the_compact_form_drops_what_is_not_known() -> None:
    why = Why(member="level", kind="level", z=2.0, deviation=3.2)
    assert why.compact() == {"member": "level", "kind": "level", "z": 2.0, "deviation": 3.2}
    assert Why.model_validate(why.compact()) == why


# The same fan with its nameplate speed stated: 1200 rpm, the 20 Hz shaft.
SHAFT = AXES.model_copy(update={"shaft_hz": 20.0})


def test_with_the_shaft_known_a_modulation_and_a_line_say_their_shaft_order() -> None:
    # Given a model whose why block knows the shaft (20 Hz) and outputs at modulation line 87
    # (85.9 Hz) of band 8 (2.375-2.625 kHz) and at fine line 105 (410 Hz)
    modulation = locate_why(
        SHAFT, np.array([6.2, 1.0, 0.5, -0.3]), np.array([8 * 250 + 87, 0, 0, 0]), np.array([9.4, 0, 0, 0])
    )
    line = locate_why(
        SHAFT, np.array([0.1, 5.0, 0.2, 0.3]), np.array([0, 104, 0, 0]), np.array([0, 5.1, 0, 0])
    )
    # Then each carries its frequency in shaft orders (2 decimals) and says it (1 decimal)
    assert modulation is not None and modulation.shaft_order == pytest.approx(85.9 / 20.0, abs=0.005)
    assert describe_why(modulation).startswith("a rhythmic pattern at 85.9 Hz (4.3x shaft speed) in the ")
    assert line is not None and line.shaft_order == pytest.approx(410.2 / 20.0, abs=0.005)
    assert describe_why(line) == "a tone at 410 Hz (20.5x shaft speed) rose 5.1 σ above normal"
    # and the compact form (score json, console, history) carries the order
    assert modulation.compact()["shaft_order"] == modulation.shaft_order
    # But a band or the level has no frequency, so no order; nor does a model without the shaft
    level = locate_why(
        SHAFT, np.array([0.1, 0.2, 0.3, 3.0]), np.zeros(4, dtype=np.int64), np.array([0, 0, 0, 3.2])
    )
    assert level is not None and level.shaft_order is None
    unknown = locate_why(
        AXES, np.array([0.1, 5.0, 0.2, 0.3]), np.array([0, 104, 0, 0]), np.array([0, 5.1, 0, 0])
    )
    assert unknown is not None and unknown.shaft_order is None and "shaft" not in describe_why(unknown)


@pytest.mark.parametrize(
    ("why", "text"),
    [
        (
            Why(member="modulation", kind="modulation", z=6.2, deviation=6.2, band_hz=(2500.0, 2750.0),
                frequency_hz=87.0, shaft_order=4.09, hint="rolling-element bearing"),
            "a rhythmic pattern at 87 Hz (4.1x shaft speed) in the 2.5–2.75 kHz band rose 6.2 σ above"
            " normal — typical of a rolling-element bearing",
        ),
        (
            Why(member="fine", kind="line", z=4.0, deviation=5.1, frequency_hz=410.0, shaft_order=16.4),
            "a tone at 410 Hz (16.4x shaft speed) rose 5.1 σ above normal",
        ),
        (
            Why(member="fine", kind="line", z=4.0, deviation=-2.0, frequency_hz=410.0, shaft_order=16.4),
            "a tone at 410 Hz (16.4x shaft speed) fell 2.0 σ below normal",
        ),
    ],
)  # fmt: skip
def test_the_shaft_order_reads_after_the_frequency(why: Why, text: str) -> None:
    assert describe_why(why) == text


@pytest.mark.parametrize(
    ("modulation_hz", "band_hz", "expected", "because"),
    [
        (71.0, (3875.0, 4875.0), True, "3.55x the 20 Hz shaft, in a high band"),
        (60.0, (3875.0, 4875.0), False, "an integer shaft order (3x)"),
        (81.5, (3875.0, 4875.0), False, "within 1 Hz + 2 % of 4x shaft (a speed 2 % off the nameplate)"),
        (71.0, (875.0, 1875.0), False, "a low band: not a bearing resonance"),
        (15.0, (3875.0, 4875.0), False, "below 1x shaft"),
        (20.8, (3875.0, 4875.0), False, "1x shaft within tolerance"),
        (150.0, (3875.0, 4875.0), False, "3x the 50 Hz mains (7.5x shaft): electrical"),
    ],
)
def test_with_the_shaft_known_only_a_non_integer_shaft_order_is_bearing_like(
    modulation_hz: float, band_hz: tuple[float, float], expected: bool, because: str
) -> None:
    # Given the stated shaft and no machine lines at all (a model whose fine member found none)
    shaft_only = WhyAxes(members=[MODULATION], shaft_hz=20.0)
    assert bearing_like(modulation_hz, band_hz, shaft_only) is expected, because


def test_the_shaft_replaces_the_lowest_line_as_the_floor_and_adds_its_orders() -> None:
    # Given a machine whose lowest tonal line is its 2x (34 Hz; the 17 Hz shaft is not heard as a line)
    lines = WhyAxes(members=[MODULATION], machine_lines_hz=[34.0, 153.0], machine_line_precision_hz=0.5)
    stated = lines.model_copy(update={"shaft_hz": 17.0})
    # A rate under the lowest line, 1.6x shaft: unknown shaft, it may be the shaft itself; known, bearing-like
    assert not bearing_like(27.2, (3875.0, 4875.0), lines)
    assert bearing_like(27.2, (3875.0, 4875.0), stated)
    # 5x shaft (85 Hz) is 2.5x the lowest line: bearing-like unless the shaft is known
    assert bearing_like(85.0, (3875.0, 4875.0), lines)
    assert not bearing_like(85.0, (3875.0, 4875.0), stated)
    # and a multiple of a known line still explains a rate (a second shaft's, a belt drive's)
    assert not bearing_like(306.0, (3875.0, 4875.0), stated.model_copy(update={"shaft_hz": 23.0}))


def test_the_shaft_speed_is_in_model_json_and_must_be_positive() -> None:
    # Given the why block of a model trained with a stated shaft speed
    raw = SHAFT.model_dump(mode="json")
    # Then it round-trips through model.json's JSON
    assert raw["shaft_hz"] == 20.0 and WhyAxes.model_validate(raw) == SHAFT
    # and a block written before the field existed loads as "not known"
    older = {k: v for k, v in raw.items() if k != "shaft_hz"}
    assert WhyAxes.model_validate(older).shaft_hz is None
    for bad in (0.0, -20.0):
        with pytest.raises(ValueError, match="shaft_hz"):
            WhyAxes.model_validate({**raw, "shaft_hz": bad})
