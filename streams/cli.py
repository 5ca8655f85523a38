"""The ``brrr`` command line.

Heavy modules (torch, MNE, Kafka clients) are imported inside the commands that need them,
so ``brrr stack status`` answers at once.
"""

from __future__ import annotations

import sys

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Brain-Go-Brrr: clinical EEG through Kafka."""


@main.group()
def stack() -> None:
    """The local stack: Kafka, PostgreSQL, Redis and an S3 server on 127.0.0.1, no Docker."""


@stack.command("up")
def stack_up() -> None:
    """Install what is missing, start what is not running, wait until each service answers."""
    from connectors.settings import get_settings
    from connectors.stack import StackError, up

    try:
        up(get_settings())
    except StackError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


@stack.command("down")
def stack_down() -> None:
    """Stop the services that ``up`` started (by process id), nothing else."""
    from connectors.settings import get_settings
    from connectors.stack import down

    down(get_settings())


@stack.command("status")
def stack_status() -> None:
    """One line per service: running or not, address, version, log file."""
    from connectors.settings import get_settings
    from connectors.stack import status

    sys.exit(0 if status(get_settings()) else 3)


@main.command()
def demo() -> None:
    """Start the stack and run the main job end to end."""
    from connectors.settings import get_settings
    from connectors.stack import up

    up(get_settings())


if __name__ == "__main__":
    main()
