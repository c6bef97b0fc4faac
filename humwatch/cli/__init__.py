"""The `humwatch` command. Each area registers its subcommands in its own module:

- `humwatch.cli.data`: synth (synthetic machine sound)
- `humwatch.cli.model`: train, evaluate, score (the model workflow)
Add a module here, never a second entry point. Command modules add to the group with
`from humwatch.cli.group import cli` (not from this package, which imports them: no cycle).
"""

from __future__ import annotations

import sys

import click

from humwatch.cli.group import cli
from humwatch.errors import HumwatchError

__all__ = ["cli", "main"]


def _register() -> None:
    # Imported here so `humwatch --help` lists every command; each module only imports its
    # heavy dependencies (onnx, matplotlib, boto3) inside the command bodies.
    from humwatch.cli import cost, data, learning, local, model, ops, research  # noqa: F401


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: domain errors become one clear line and exit status 2."""
    _register()
    try:
        cli.main(args=argv, prog_name="humwatch", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except HumwatchError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(2)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
