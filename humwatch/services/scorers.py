"""Which model scores a device's clips, with Scorers cached across warm invocations.

Resolution: the device's registry entry (`model_id`), else the registry's default model, else
`HUMWATCH_DEFAULT_MODEL_ID`. The model's registry pointer names the current version; a Scorer is
built once per (model_id, version) and replaced when the pointer moves (a publish needs no
redeploy). Registry reads are cached for `refresh_s` seconds so a batch of ten clips costs a few
reads, not thirty.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from humwatch.errors import ModelBundleError
from humwatch.observability import logger
from humwatch.records import DeviceInfo, ModelPointer

if TYPE_CHECKING:
    from humwatch.model.bundle import ModelBundle
    from humwatch.scoring import Scorer


class DeviceLookup(Protocol):
    def get(self, thing: str) -> DeviceInfo | None: ...


class ModelLookup(Protocol):
    def default_model_id(self) -> str | None: ...
    def pointer(self, model_id: str) -> ModelPointer | None: ...


class BundleLoader(Protocol):
    def load_bundle(
        self, model_id: str, version: str, *, expected_sha256: str | None = None
    ) -> ModelBundle: ...


@dataclass(frozen=True)
class DeviceModel:
    """The scorer for one device plus what the history item and the alert need to say."""

    scorer: Scorer
    model_id: str  # the id the model is published under (registry), not only its manifest
    version: str
    machine_type: str


class ScorerCache:
    def __init__(
        self,
        devices: DeviceLookup,
        models: ModelLookup,
        loader: BundleLoader,
        *,
        fallback_model_id: str | None = None,
        refresh_s: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._devices = devices
        self._models = models
        self._loader = loader
        self._fallback = fallback_model_id
        self._refresh_s = refresh_s
        self._now = monotonic
        self._reads: dict[tuple[str, str], tuple[float, Any]] = {}
        self._scorers: dict[str, tuple[str, Scorer]] = {}  # model_id -> (version, scorer)

    def _cached(self, kind: str, key: str, read: Callable[[], Any]) -> Any:
        hit = self._reads.get((kind, key))
        now = self._now()
        if hit is not None and now - hit[0] < self._refresh_s:
            return hit[1]
        value = read()
        self._reads[(kind, key)] = (now, value)
        return value

    def device(self, thing: str) -> DeviceInfo | None:
        return self._cached("device", thing, lambda: self._devices.get(thing))  # type: ignore[no-any-return]

    def forget_device(self, thing: str) -> None:
        self._reads.pop(("device", thing), None)

    def model_id_for(self, thing: str) -> str:
        info = self.device(thing)
        model_id = (info.model_id if info else None) or self._cached(
            "default", "", self._models.default_model_id
        )
        model_id = model_id or self._fallback
        if not model_id:
            raise ModelBundleError(
                f"no model for device {thing}: no device mapping, no default model published "
                "and HUMWATCH_DEFAULT_MODEL_ID unset (publish one with `humwatch model publish --default`)"
            )
        return str(model_id)

    def for_device(self, thing: str) -> DeviceModel:
        model_id = self.model_id_for(thing)
        pointer: ModelPointer | None = self._cached(
            "pointer", model_id, lambda: self._models.pointer(model_id)
        )
        if pointer is None:
            raise ModelBundleError(f"model {model_id} (used by {thing}) has not been published")
        current = self._scorers.get(model_id)
        if current is None or current[0] != pointer.version:
            from humwatch.scoring import Scorer

            bundle = self._loader.load_bundle(model_id, pointer.version, expected_sha256=pointer.sha256)
            current = (pointer.version, Scorer(bundle))
            self._scorers[model_id] = current
            logger.info("model loaded", extra={"model_id": model_id, "model_version": pointer.version})
        info = self.device(thing)
        return DeviceModel(
            scorer=current[1],
            model_id=model_id,
            version=pointer.version,
            machine_type=info.machine_type if info else "machine",
        )
