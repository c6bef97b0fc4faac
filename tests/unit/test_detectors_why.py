"""spectral-gauss says why: the member that fired and where, from the served graph itself.

A bundle trained on 30 short normal clips of one fan; unseen clips of it get a tone or an
amplitude-modulated band added, and the Scorer's `why` must point at what was added.
"""

from __future__ import annotations

import tempfile

import numpy as np
import onnx
import pytest
from model_helpers import CLIP_SECONDS, SNR_DB, machine_clip

from humwatch.datasets import load_labelled_clips
from humwatch.detectors import DetectorType, train_bundle
from humwatch.explain import WHY_OUTPUTS
from humwatch.model.bundle import ModelBundle, sha256_hex
from humwatch.research.synth import write_dataset
from humwatch.scoring import Scorer

SR = 16000
FINE_STEP_HZ = SR / 4 / 1024  # the fine spectrum's line spacing (decimated by 4, 1024 points)
MODULATION_STEP_HZ = SR / 32 / 512  # envelope at 500 frames/s, 512-point modulation spectrum


@pytest.fixture(scope="module")
def bundle() -> ModelBundle:
    with tempfile.TemporaryDirectory(prefix="humwatch-why-") as tmp:
        manifest = write_dataset(
            tmp, machine_type="fan", n_clips=30, snr_db=SNR_DB, seed=1, duration_s=CLIP_SECONDS
        )
        return train_bundle(
            DetectorType.SPECTRAL_GAUSS, load_labelled_clips([manifest]), None, seed=0, model_id="why"
        )


@pytest.fixture(scope="module")
def scorer(bundle: ModelBundle) -> Scorer:
    return Scorer(bundle)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x**2)))


def _with_tone(clip: np.ndarray, hz: float, db: float) -> np.ndarray:
    t = np.arange(clip.size) / SR
    return (clip + _rms(clip) * 10 ** (db / 20) * np.sqrt(2) * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def _with_modulated_band(
    clip: np.ndarray, centre_hz: float, rate_hz: float, db: float, seed: int
) -> np.ndarray:
    """Noise 200 Hz wide around centre_hz, fully amplitude-modulated at rate_hz (an impact train's
    envelope ringing a resonance, as a bearing defect makes it)."""
    spectrum = np.fft.rfft(np.random.default_rng(seed).normal(size=clip.size))
    spectrum[np.abs(np.fft.rfftfreq(clip.size, 1 / SR) - centre_hz) > 100.0] = 0.0
    band = np.fft.irfft(spectrum, clip.size) * (1.0 + np.sin(2 * np.pi * rate_hz * np.arange(clip.size) / SR))
    return (clip + band / _rms(band) * _rms(clip) * 10 ** (db / 20)).astype(np.float32)


def test_the_bundle_declares_the_why_outputs_and_their_axes(bundle: ModelBundle) -> None:
    manifest = bundle.manifest
    assert manifest.onnx_outputs[-3:] == list(WHY_OUTPUTS)
    assert manifest.why is not None
    assert [a.member for a in manifest.why.members] == manifest.detector["member_names"]  # type: ignore[attr-defined]
    # the normal fan's tonal lines are known (its shaft and blade-pass harmonics), for the hint
    assert len(manifest.why.machine_lines_hz) >= 2


@pytest.mark.parametrize("seed", [500, 501])
def test_an_injected_tone_is_located_within_one_line_of_its_frequency(scorer: Scorer, seed: int) -> None:
    # Given an unseen normal clip with a steady 412 Hz tone 15 dB under the clip's level
    clip = _with_tone(machine_clip(seed=seed), 412.0, -15.0)
    # When scored
    why = scorer.score_samples(clip).why
    # Then why names a line (or a modulation) at 412 Hz, within one fine line
    assert why is not None and why.kind in ("line", "modulation")
    assert why.frequency_hz is not None and abs(why.frequency_hz - 412.0) <= FINE_STEP_HZ
    assert why.deviation > 3.0


@pytest.mark.parametrize(("centre_hz", "rate_hz"), [(3000.0, 37.0), (5200.0, 81.0)])
def test_an_amplitude_modulated_band_is_located_at_its_rate_in_its_band(
    scorer: Scorer, centre_hz: float, rate_hz: float
) -> None:
    # Given an unseen normal clip with a band around centre_hz pulsing rate_hz times a second
    clip = _with_modulated_band(machine_clip(seed=510), centre_hz, rate_hz, -20.0, seed=1)
    # When scored
    result = scorer.score_samples(clip)
    # Then it alarms, and why is a modulation at the rate (within one line) of a band holding it
    why = result.why
    assert result.is_anomaly and why is not None and why.kind == "modulation"
    assert why.frequency_hz is not None and abs(why.frequency_hz - rate_hz) <= MODULATION_STEP_HZ
    assert why.band_hz is not None and why.band_hz[0] <= centre_hz <= why.band_hz[1]


def test_the_why_member_is_the_one_that_set_the_score(scorer: Scorer) -> None:
    # max-z: the score is exp of the largest member z, so the why member's z is log(score)
    for clip in (machine_clip(seed=520), machine_clip(seed=521, fault="bearing")):
        result = scorer.score_samples(clip)
        assert result.why is not None
        assert result.why.z == pytest.approx(np.log(result.score), abs=0.01)


def _without_why(bundle: ModelBundle) -> ModelBundle:
    """The same model as a bundle trained before the why outputs existed: graph outputs and
    model.json without them."""
    proto = onnx.load_from_string(bundle.onnx_bytes)
    kept = [o for o in proto.graph.output if o.name not in WHY_OUTPUTS]
    del proto.graph.output[:]
    proto.graph.output.extend(kept)
    onnx_bytes = proto.SerializeToString()
    raw = bundle.manifest.model_dump(mode="json", exclude={"why"})
    raw["onnx_outputs"] = [o.name for o in kept]
    raw["onnx_sha256"] = sha256_hex(onnx_bytes)
    return ModelBundle(type(bundle.manifest).model_validate(raw), onnx_bytes)


def test_an_old_bundle_without_why_outputs_scores_the_same_and_says_nothing(
    bundle: ModelBundle, scorer: Scorer
) -> None:
    # Given the same model without the why outputs (a bundle from before them)
    old = Scorer(_without_why(bundle))
    clips = [
        machine_clip(seed=530),
        machine_clip(seed=531, fault="bearing"),
        machine_clip(seed=532, fault="rubbing"),
        _with_tone(machine_clip(seed=533), 412.0, -15.0),
    ]
    for clip in clips:
        # When both score the clip
        new_result, old_result = scorer.score_samples(clip), old.score_samples(clip)
        # Then the scores are bit for bit the same: the added outputs change nothing upstream
        assert new_result.score == old_result.score
        assert new_result.band_means == old_result.band_means
        assert new_result.why is not None and old_result.why is None
