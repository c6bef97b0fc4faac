"""The `humwatch` command. Each area registers its subcommands in its own module:

- `humwatch.cli.data`: synth (synthetic machine sound)
- `humwatch.cli.model`: train, evaluate, score (the model workflow)
Add a module here, never a second entry point.
"""

from __future__ import annotations

import sys

import click

from humwatch import __version__
from humwatch.errors import HumwatchError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="humwatch")
def cli() -> None:
    """humwatch: listen to industrial machines and say when one starts to sound wrong.

    Train a model on recordings of a machine running normally, score new clips with it,
    and (with a deployed or local stack) query history, manage devices and read reports.
    Run `humwatch COMMAND --help` for the details of each command.
    """


def _register() -> None:
    # Imported here so `humwatch --help` lists every command; each module only imports its
    # heavy dependencies (onnx, matplotlib, boto3) inside the command bodies.
    from humwatch.cli import data, local, model, ops, research  # noqa: F401


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
