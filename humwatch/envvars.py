"""Set environment variables for a while and put back exactly what was there before."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager


@contextmanager
def temporary_environ(values: Mapping[str, str | None]) -> Iterator[None]:
    """Set each variable (None removes it) for the block; restore the previous values after,
    removing the ones that did not exist."""
    previous = {name: os.environ.get(name) for name in values}
    _apply(values)
    try:
        yield
    finally:
        _apply(previous)


def _apply(values: Mapping[str, str | None]) -> None:
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
