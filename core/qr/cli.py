"""``flask qr …``: managing the keys that sign QR codes."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup


def init_qr_cli(app: Flask) -> None:
    """Add the ``flask qr`` command group to ``app``."""
    group = AppGroup("qr", help="QR code signing keys.")

    @group.command("rotate-key")
    def rotate_key():
        """Sign new QR codes with a new key; codes signed with older keys keep verifying."""
        from core.qr.keys import CURRENT_KEY_TTL, rotate_signing_key

        key = rotate_signing_key()
        click.echo(
            f"Signing key {key.id} now signs new codes (running workers switch within "
            f"{CURRENT_KEY_TTL:.0f} s); codes signed with older keys still verify."
        )

    app.cli.add_command(group)
