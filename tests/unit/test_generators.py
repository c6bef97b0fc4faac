"""humwatch.research.generators: one interface over both synthetic generators, and its users.

Each test renders a few short clips; the generators' own physics is tested in test_synth.py and
test_orders_synth.py.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from humwatch.datasets import load_labelled_clips
from humwatch.research.generators import GENERATOR_NAMES, get_generator, machine_for_seed
from humwatch.research.orders_synth import OrdersMachine, render_clip
from humwatch.research.simulation import generator_source
from humwatch.research.synth import MANIFEST_COLUMNS, MachineSpec, SynthError, synth_clip, write_dataset

SECONDS = 1.0


def test_given_the_registry_when_listed_then_both_generators_share_machine_types_and_fault_names() -> None:
    # Given the registry
    generators = {name: get_generator(name) for name in GENERATOR_NAMES}
    # Then it holds both generators, each under its own name, with the same vocabulary
    assert set(generators) == {"synth", "orders"}
    assert {name: g.name for name, g in generators.items()} == {"synth": "synth", "orders": "orders"}
    assert generators["synth"].faults == generators["orders"].faults
    assert generators["synth"].machine_types == generators["orders"].machine_types == ("fan", "pump")


def test_given_an_unknown_generator_when_asked_then_a_synth_error_names_the_choices() -> None:
    with pytest.raises(SynthError, match=r"unknown generator 'gremlin'.*synth, orders"):
        get_generator("gremlin")


def test_given_the_synth_generator_when_rendering_then_it_is_exactly_synth_clip() -> None:
    # Given the registry's synth generator and the module itself
    generator = get_generator("synth")
    machine = generator.machine("pump", 3)
    # When both render the same clip
    via_registry = generator.clip(
        machine,
        fault="bearing",
        severity=0.7,
        snr_db=3.0,
        seed=5,
        duration_s=SECONDS,
        speed_offset=0.01,
        gain_db=-2,
    )
    direct = synth_clip(
        MachineSpec.from_seed("pump", 3),
        fault="bearing",
        severity=0.7,
        snr_db=3.0,
        seed=5,
        duration_s=SECONDS,
        speed_offset=0.01,
        gain_db=-2,
    )
    # Then the samples are the same
    assert np.array_equal(via_registry, direct)


def test_given_the_orders_generator_when_rendering_then_it_is_exactly_render_clip() -> None:
    generator = get_generator("orders")
    machine = generator.machine("fan", 7)
    via_registry = generator.clip(
        machine,
        fault="blade",
        severity=0.6,
        snr_db=6.0,
        seed=2,
        duration_s=SECONDS,
        speed_offset=-0.02,
        gain_db=1,
    )
    direct = render_clip(
        OrdersMachine.from_seed("fan", 7),
        fault="blade",
        severity=0.6,
        snr_db=6.0,
        seed=2,
        duration_s=SECONDS,
        speed_offset=-0.02,
        gain_db=1,
    )
    assert via_registry.dtype == np.float32 and via_registry.size == 16000
    assert np.array_equal(via_registry, direct)


def test_given_a_bad_orders_argument_when_rendering_then_it_is_a_synth_error_like_synths() -> None:
    orders = get_generator("orders")
    with pytest.raises(SynthError, match="unknown machine type"):
        orders.machine("compressor", 1)
    with pytest.raises(SynthError, match="fault"):
        orders.clip(
            orders.machine("fan", 1), fault="gremlins", severity=0.5, snr_db=0.0, seed=0, duration_s=SECONDS
        )


@pytest.mark.parametrize("name", GENERATOR_NAMES)
def test_given_a_seed_when_mapped_to_a_machine_then_even_seeds_are_fans_and_odd_seeds_pumps(
    name: str,
) -> None:
    generator = get_generator(name)
    assert machine_for_seed(generator, 200).machine_type == "fan"
    assert machine_for_seed(generator, 201).machine_type == "pump"


def test_given_the_orders_generator_when_simulate_alerts_draws_clips_then_they_are_its_machines() -> None:
    # Given the simulation's clip source for the orders generator
    source = generator_source("orders", snr_db=0.0)
    # When it draws a clip of machine 201 (odd: a pump)
    clip = source(201, fault="rubbing", severity=0.5, speed_offset=0.01, gain_db=0.5, seed=9)
    # Then it is that pump's 10 s clip, as the generator renders it
    expected = render_clip(
        OrdersMachine.from_seed("pump", 201),
        fault="rubbing",
        severity=0.5,
        snr_db=0.0,
        seed=9,
        speed_offset=0.01,
        gain_db=0.5,
    )
    assert np.array_equal(clip, expected)


def test_given_the_orders_generator_when_writing_a_dataset_then_the_layout_is_synths_and_rows_remake_clips(
    tmp_path: Path,
) -> None:
    # Given the one dataset writer, asked for orders clips: normals, then a fault into the same folder
    manifest = write_dataset(
        tmp_path,
        generator=get_generator("orders"),
        machine_type="pump",
        n_clips=2,
        machine_seed=905,
        seed=1,
        duration_s=SECONDS,
    )
    write_dataset(
        tmp_path,
        generator=get_generator("orders"),
        machine_type="pump",
        n_clips=1,
        fault="blade",
        severity=0.8,
        machine_seed=905,
        seed=1,
        duration_s=SECONDS,
    )
    # Then the folder has synth's layout and one manifest naming the generator on every row
    with manifest.open(newline="") as fh:
        reader = csv.DictReader(fh)
        assert tuple(reader.fieldnames or ()) == MANIFEST_COLUMNS
        rows = list(reader)
    assert [r["path"] for r in rows] == ["anomaly_blade_0000.wav", "normal_0000.wav", "normal_0001.wav"]
    assert {r["generator"] for r in rows} == {"orders"}
    # And each row re-makes its clip with the orders generator (to 16-bit precision)
    row = rows[0]
    generator = get_generator(row["generator"])
    again = generator.clip(
        generator.machine(row["machine_type"], int(row["machine_seed"])),
        fault=row["fault"],
        severity=float(row["severity"]),
        snr_db=float(row["snr_db"]),
        seed=int(row["seed"]),
        duration_s=SECONDS,
    )
    on_disk, _ = sf.read(tmp_path / row["path"], dtype="float32")
    np.testing.assert_allclose(on_disk, again, atol=1.5 / 32768)
    assert [c.label for c in load_labelled_clips([manifest])] == ["anomaly", "normal", "normal"]


def test_given_a_manifest_from_before_generators_when_extended_then_its_rows_are_read_as_synth(
    tmp_path: Path,
) -> None:
    # Given a manifest written without the generator column
    old_columns = [c for c in MANIFEST_COLUMNS if c != "generator"]
    with (tmp_path / "manifest.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=old_columns)
        writer.writeheader()
        writer.writerow(
            dict(zip(old_columns, ["old.wav", "normal", "fan", "0", "", "0", "0", "1"], strict=True))
        )
    # When the writer adds clips to that folder
    manifest = write_dataset(tmp_path, n_clips=1, duration_s=SECONDS)
    # Then the old row stays, now marked synth, beside the new one
    with manifest.open(newline="") as fh:
        rows = {r["path"]: r for r in csv.DictReader(fh)}
    assert set(rows) == {"old.wav", "normal_0000.wav"}
    assert rows["old.wav"]["generator"] == "synth" and rows["normal_0000.wav"]["generator"] == "synth"
