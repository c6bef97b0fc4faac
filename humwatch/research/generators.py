"""One interface over the synthetic machine generators, so every research tool can use either.

- `synth` (`humwatch.research.synth`): the generator the detectors were developed on.
- `orders` (`humwatch.research.orders_synth`): written independently from a physics description
  (issue 15), rendered from the shaft angle with ~1 % speed wander; a detector tuned on `synth`
  meets its faults as a new machine would.

Both make 16 kHz mono float32 clips of fans and pumps with the same five fault names. A tool asks
`get_generator(name)` for a `Generator` and never imports a generator module itself:
`humwatch evaluate-suite` (both, side by side), `humwatch simulate-alerts --generator` and
`humwatch synth --generator` (the one dataset writer, `humwatch.research.synth.write_dataset`,
takes any generator: the folder layout and manifest are the same for both).

Which machine seeds were looked at while developing detectors, and which ones `make eval` holds
out, is the eval suite's business (`humwatch.research.eval_suite.plan`), not a generator's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from humwatch.research.synth import ClipGenerator, SynthError, SynthGenerator


class Generator(ClipGenerator, Protocol):
    """A synthetic machine generator: machines by seed, clips by (fault, severity, SNR, seed).

    `name`, `machine(machine_type, seed)` (SynthError for an unknown type) and `clip(machine, *,
    fault, severity, snr_db, seed, duration_s, speed_offset=0.0, gain_db=0.0)` (one float32 clip
    in [-1, 1]; the same arguments always give the same samples) are what the dataset writer
    needs (`humwatch.research.synth.ClipGenerator`); the research tools also ask for these:
    """

    @property
    def machine_types(self) -> tuple[str, ...]: ...

    @property
    def faults(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class _OrdersGenerator:
    """`orders_synth` raises ValueError on a bad argument; here it is a SynthError like synth's."""

    name: str = "orders"

    @property
    def machine_types(self) -> tuple[str, ...]:
        from humwatch.research.orders_synth import MACHINE_TYPES

        return MACHINE_TYPES

    @property
    def faults(self) -> tuple[str, ...]:
        from humwatch.research.orders_synth import FAULTS

        return FAULTS

    def machine(self, machine_type: str, seed: int) -> Any:
        from humwatch.research.orders_synth import OrdersMachine

        try:
            return OrdersMachine.from_seed(machine_type, seed)
        except ValueError as exc:
            raise SynthError(str(exc)) from None

    def clip(
        self,
        machine: Any,
        *,
        fault: str | None,
        severity: float,
        snr_db: float,
        seed: int,
        duration_s: float,
        speed_offset: float = 0.0,
        gain_db: float = 0.0,
        sample_rate: int = 16000,
    ) -> np.ndarray:
        from humwatch.research.orders_synth import render_clip

        try:
            return render_clip(
                machine,
                fault=fault,
                severity=severity,
                snr_db=snr_db,
                seed=seed,
                duration_s=duration_s,
                sample_rate=sample_rate,
                speed_offset=speed_offset,
                gain_db=gain_db,
            )
        except ValueError as exc:
            raise SynthError(str(exc)) from None


_REGISTRY: dict[str, Callable[[], Generator]] = {"synth": SynthGenerator, "orders": _OrdersGenerator}
GENERATOR_NAMES: tuple[str, ...] = tuple(_REGISTRY)
DEFAULT_GENERATOR = "synth"


def get_generator(name: str) -> Generator:
    """The generator registered as `name` (SynthError for an unknown one)."""
    try:
        return _REGISTRY[name]()
    except KeyError:
        expected = ", ".join(GENERATOR_NAMES)
        raise SynthError(f"unknown generator {name!r} (expected one of {expected})") from None


def machine_for_seed(generator: Generator, seed: int) -> Any:
    """The machine the research tools use for `seed`: even seeds are fans, odd seeds pumps."""
    types = generator.machine_types
    return generator.machine(types[seed % len(types)], seed)
