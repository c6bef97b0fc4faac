"""The demo's model cache (`humwatch.local.scenario`): keyed by detector, never reusing another's model."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

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
