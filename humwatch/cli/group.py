"""The `humwatch` click group that every command module adds its subcommands to.

It lives apart from `humwatch/cli/__init__.py` (which imports every command module to register
them) so that the command modules import only the group, not the package that imports them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from humwatch import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="humwatch")
def cli() -> None:
    """humwatch: listen to industrial machines and say when one starts to sound wrong.

    Train a model on recordings of a machine running normally, score new clips with it,
    and (with a deployed or local stack) query history, manage devices and read reports.
    Run `humwatch COMMAND --help` for the details of each command.
    """


def shaft_rpm_option(help_text: str) -> Callable[[Any], Any]:
    """--shaft-rpm RPM (> 0): the machine's nameplate shaft speed, for commands that train a model
    (`humwatch train`, `humwatch device learn`); each says in `help_text` what it does with it."""
    return click.option(
        "--shaft-rpm", type=click.FloatRange(0.0, min_open=True), metavar="RPM", help=help_text
    )
