"""Commands of the rewards package: ``flask vouchers expire``, ``flask vouchers remind``."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from rewards.vouchers import expire_vouchers, remind_expiring_vouchers


def init_rewards_cli(app: Flask) -> None:
    """Add ``flask vouchers …``."""
    group = AppGroup("vouchers", help="Look after vouchers.")

    @group.command("expire")
    def expire():
        """Expire every voucher past its expiry, giving its points and stock back."""
        count = expire_vouchers()
        click.echo(f"{count} voucher(s) expired")

    @group.command("remind")
    def remind():
        """Remind owners of vouchers expiring within 24 hours (run hourly; each voucher once)."""
        count = remind_expiring_vouchers()
        click.echo(f"{count} reminder(s) sent")

    app.cli.add_command(group)
