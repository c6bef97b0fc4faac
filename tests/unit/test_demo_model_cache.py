"""The demo's model cache (`humwatch.local.scenario`): keyed by detector, never reusing another's model."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from humwatch.datasets import load_labelled_clips
from humwatch.detectors import DEFAULT_DETECTOR, train_bundle
from humwatch.local.scenario import DemoRecipe, ensure_demo_model
from humwatch.model.bundle import ModelBundle
from humwatch.research.synth import write_dataset

SMALL = DemoRecipe(train_clips=6, clip_s=2.0)  # enough for spectral-gauss (5 clips), about 1 s


def test_given_recipes_that_differ_only_in_detector_then_their_cache_keys_differ() -> None:
    assert SMALL.detector == DEFAULT_DETECTOR
    assert SMALL.cache_key() != replace(SMALL, detector="blog-ae").cache_key()


def test_given_a_blog_ae_model_where_the_default_one_is_cached_then_it_is_retrained(tmp_path: Path) -> None:
    # Given a first run that trained and cached the default detector's model
    model_dir, cached = ensure_demo_model(tmp_path / "cache", SMALL)
    assert not cached and ModelBundle.load(model_dir).manifest.model_type == DEFAULT_DETECTOR
    assert ensure_demo_model(tmp_path / "cache", SMALL) == (model_dir, True)
    # and a blog-ae bundle of the same model id put in its place (an older demo's kind of model)
    clips = load_labelled_clips([write_dataset(tmp_path / "clips", n_clips=6, duration_s=2.0, seed=3)])
    shutil.rmtree(model_dir)
    train_bundle("blog-ae", clips, model_dir, epochs=1, model_id=SMALL.model_id)
    # When the demo asks for its model again
    again, cached = ensure_demo_model(tmp_path / "cache", SMALL)
    # Then the blog-ae bundle is not taken for the default detector: it is retrained
    assert again == model_dir and not cached
    assert ModelBundle.load(again).manifest.model_type == DEFAULT_DETECTOR


def test_the_demo_model_is_told_its_fan_s_nameplate_speed_and_blog_ae_is_not(tmp_path: Path) -> None:
    # Given the demo recipe, whose synthetic fan's shaft speed is known
    from humwatch.research.synth import MachineSpec

    shaft_hz = MachineSpec.from_seed(SMALL.machine_type, SMALL.machine_seed).rotation_hz
    # When its model is trained
    model_dir, _ = ensure_demo_model(tmp_path / "cache", SMALL)
    # Then model.json carries that speed, so alerts say shaft orders
    why = ModelBundle.load(model_dir).manifest.why
    assert why is not None and why.shaft_hz == pytest.approx(shaft_hz)
    # and a blog-ae recipe (no why to say it in) is not given the option it would refuse
    assert "shaft_rpm" not in replace(SMALL, detector="blog-ae").training_options()
    assert "shaft_rpm" not in replace(SMALL, state_shaft_speed=False).training_options()
