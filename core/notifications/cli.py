"""``flask notifications prune``: remove old notifications (daily, by cron)."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from core.notifications import prune_notifications


def init_notifications_cli(app: Flask) -> None:
    """Add ``flask notifications …``."""
    group = AppGroup("notifications", help="In-app notifications.")

    @group.command("prune")
    @click.option(
        "--days",
        type=click.IntRange(min=1),
        default=None,
        help="keep this many days (default: NOTIFICATION_KEEP_DAYS, 180)",
    )
    def prune(days):
        """Remove notifications older than the days kept, read or not."""
        removed = prune_notifications(keep_days=days)
        click.echo(f"{removed} notification(s) removed")

    app.cli.add_command(group)
