"""The one progress bar: tqdm on stderr when a person is watching a terminal, nothing otherwise.

A bar redraws itself with carriage returns; in a log file or a CI transcript that is hundreds of
fragments of one line, so a bar is shown only when stderr is a terminal (tqdm's `disable=None`).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any


def progress_bar(
    iterable: Iterable[Any] | None = None, *, enabled: bool = True, desc: str, total: int | None, unit: str
) -> Any:
    """A tqdm bar (a silent one when disabled or off a terminal): iterate it, or call `update(n)`."""
    from tqdm import tqdm

    return tqdm(
        iterable,
        desc=desc,
        total=total,
        unit=unit,
        leave=False,
        dynamic_ncols=True,
        file=sys.stderr,
        disable=None if enabled else True,
    )
