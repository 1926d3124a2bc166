"""Platform commands: ``flask seed-demo`` runs every package's demo loader in order."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import click
from flask import Flask

#: A demo loader adds its demo data when missing and returns lines to print.
Seeder = Callable[[], Sequence[str]]


def init_cli(app: Flask, seeders: Sequence[Seeder]) -> None:
    """Add the platform's commands, with the demo loaders of every package."""

    @app.cli.command("seed-demo")
    def seed_demo():
        """Load the demo data that is missing (safe to run again) and print the logins."""
        lines: list[str] = []
        for seeder in seeders:
            lines.extend(seeder())
        if lines:
            click.echo("\n".join(lines))
        else:
            click.echo("No demo data to load.")
