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

    @app.cli.command("create-admin")
    @click.option("--phone", required=True, help="The administrator's mobile number (the login).")
    @click.option("--password", required=True, help="At least 8 characters.")
    @click.option("--name", required=True, help="The administrator's name.")
    def create_admin(phone: str, password: str, name: str):
        """Create a global administrator, or bring an existing one up to date (safe to repeat)."""
        from core.errors import AppError
        from core.identity.services import ensure_global_admin

        try:
            member, changed = ensure_global_admin(phone, password, name)
        except AppError as error:
            raise click.ClickException(f"{error.message}: {error.errors}") from None
        click.echo(
            f"{'Created or updated' if changed else 'Already up to date'}: "
            f"global administrator {member.name} ({member.phone})."
        )
