"""The detector registry: one dispatch on the type, options each type validates, and the one
trainer that writes the same model.json fields for every detector."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from humwatch.detectors import DEFAULT_DETECTOR, DetectorType, get_detector, parse_options, train_bundle
from humwatch.detectors.blog_ae import BlogAutoencoderOptions
from humwatch.detectors.spectral_gauss import SpectralGaussOptions
from humwatch.errors import DatasetError, DetectorOptionsError
from humwatch.features import FeatureParams
from humwatch.research.synth import MachineSpec, synth_clip

SECONDS = 4.0


@dataclass(frozen=True)
class Clip:
    path: Path
    label: str | None


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Clip]]:
    folder = tmp_path_factory.mktemp("registry")
    spec = MachineSpec.from_seed("fan", 0)
    out = []
    for seed in range(8):
        path = folder / f"normal_{seed}.wav"
        sf.write(path, synth_clip(spec, snr_db=10.0, seed=seed, duration_s=SECONDS), 16000)
        out.append(Clip(path, "normal"))
    (folder / "broken.wav").write_bytes(b"RIFF not really")
    out.append(Clip(folder / "broken.wav", None))
    out.append(Clip(folder / "normal_0.wav", "anomaly"))  # anomalies never train
    yield out


def test_the_default_detector_is_spectral_gauss_and_every_type_resolves() -> None:
    assert DEFAULT_DETECTOR is DetectorType.SPECTRAL_GAUSS
    assert isinstance(parse_options(DetectorType.SPECTRAL_GAUSS, {}), SpectralGaussOptions)
    assert isinstance(parse_options("blog-ae", {"epochs": 2}), BlogAutoencoderOptions)
    for kind in DetectorType:
        assert get_detector(kind).options_model is not None


def test_an_unknown_type_is_a_clear_error() -> None:
    expected = r"unknown model type .knn. \(expected one of spectral-gauss, blog-ae\)"
    with pytest.raises(DetectorOptionsError, match=expected):
        get_detector("knn")


@pytest.mark.parametrize(
    ("kind", "options", "message"),
    [
        ("spectral-gauss", {"epochs": 30}, "spectral-gauss does not use the option\\(s\\) epochs"),
        ("spectral-gauss", {"holdout_fraction": 0.2}, "does not use the option\\(s\\) holdout_fraction"),
        ("blog-ae", {"config": {}}, "blog-ae does not use the option\\(s\\) config"),
        ("blog-ae", {"epochs": 0}, "epochs: Input should be greater than or equal to 1"),
        ("blog-ae", {"target_fpr": 0.6}, "target FPR must be between 0 and 0.5"),
        ("spectral-gauss", {"model_id": "no spaces"}, "model id 'no spaces'"),
        ("spectral-gauss", {"threshold_method": "weibull"}, "threshold_method"),
        # The shaft speed only feeds spectral-gauss's why: the autoencoder cannot say why at all
        ("blog-ae", {"shaft_rpm": 1470.0}, "blog-ae does not use the option\\(s\\) shaft_rpm"),
        ("spectral-gauss", {"shaft_rpm": 0.0}, "shaft_rpm: Input should be greater than 0"),
    ],
)
def test_an_option_a_type_does_not_use_or_a_bad_value_is_an_error(
    kind: str, options: dict[str, object], message: str
) -> None:
    with pytest.raises(DetectorOptionsError, match=message):
        parse_options(kind, options)


@pytest.mark.parametrize(("kind", "options"), [("spectral-gauss", {}), ("blog-ae", {"epochs": 2})])
def test_every_detector_writes_the_same_model_json_fields(
    clips: list[Clip], kind: str, options: dict[str, object]
) -> None:
    # When each detector trains on the same clips (one broken, one anomaly among them)
    bundle = train_bundle(kind, clips, None, model_id="registry", **options)
    m = bundle.manifest
    # Then the shared trainer records the same things for both
    assert m.model_type == kind and m.model_id == "registry" and m.onnx_inputs == ["waveform"]
    assert {"score", "band_means"} <= set(m.onnx_outputs)
    assert m.training.n_clips == 8 and m.training.skipped_anomalies == 1  # type: ignore[attr-defined]
    assert [r["file"] for r in m.training.rejected] == ["broken.wav"]  # type: ignore[attr-defined]
    assert len(m.training.band_means_mean) == FeatureParams().n_mels
    assert len(m.training.score_samples) == m.threshold.n_validation > 0
    assert m.threshold.observed_validation_fpr == pytest.approx(
        float(np.mean(np.array(m.training.score_samples) > m.threshold.value))
    )
    expected_kind = "out-of-fold" if kind == "spectral-gauss" else "holdout"
    assert m.training.score_samples_kind == expected_kind  # type: ignore[attr-defined]
    assert m.threshold.validation == expected_kind  # type: ignore[attr-defined]


def test_the_fingerprint_depends_on_the_clips_not_their_order(clips: list[Clip]) -> None:
    a = train_bundle(DEFAULT_DETECTOR, clips, None).manifest.training.dataset_fingerprint
    b = train_bundle(DEFAULT_DETECTOR, list(reversed(clips)), None).manifest.training.dataset_fingerprint
    c = train_bundle(DEFAULT_DETECTOR, clips[1:], None).manifest.training.dataset_fingerprint
    assert a == b != c


def test_too_few_usable_clips_name_the_detector_and_the_first_rejection(clips: list[Clip]) -> None:
    with pytest.raises(
        DatasetError, match="spectral-gauss needs at least 5 usable normal clips, got 3 \\(1 rejected"
    ):
        train_bundle(DEFAULT_DETECTOR, [*clips[:3], clips[8]], None)
    with pytest.raises(DatasetError, match="no normal clips"):
        train_bundle(DEFAULT_DETECTOR, [clips[9]], None)
