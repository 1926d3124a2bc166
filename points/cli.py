"""Commands of the points package: ``flask ledger verify``, ``flask ledger partitions``,
``flask gamification rebuild``."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from core.extensions import db
from points.gamification import rebuild_gamification
from points import partitions
from points.ledger import verify_ledger
from points.models import LedgerTransaction, MemberBalance


def init_points_cli(app: Flask) -> None:
    """Add ``flask ledger …``."""
    group = AppGroup("ledger", help="Check the points ledger and keep its partitions.")

    @group.command("verify")
    def verify():
        """Recompute every balance from the postings; exit 1 naming each mismatch."""
        problems = verify_ledger()
        for problem in problems:
            click.echo(f"MISMATCH {problem}", err=True)
        if problems:
            raise SystemExit(1)
        transactions = db.session.scalar(db.select(db.func.count()).select_from(LedgerTransaction))
        members = db.session.scalar(db.select(db.func.count()).select_from(MemberBalance))
        click.echo(f"ledger ok: {transactions} transactions, {members} member balances, every one sums to zero")

    @group.command("partitions")
    @click.option("--ahead", default=partitions.AHEAD, show_default=True, type=click.IntRange(0, 120),
                  help="Months to have ready after the current one.")
    def create_partitions(ahead: int):
        """Create the ledger's month partitions ahead (PostgreSQL; run daily from cron)."""
        with db.engine.begin() as connection:
            if not partitions.is_partitioned(connection):
                click.echo("ledger partitions: not partitioned here (SQLite keeps plain tables); nothing to do")
                return
            created = partitions.create_ahead(connection, ahead)
            waiting = partitions.default_rows(connection)
        names = ", ".join(month.strftime("%Y-%m") for month in created) or "none needed"
        click.echo(f"ledger partitions: created {names}; {waiting} transactions in the default partition")

    app.cli.add_command(group)
    init_gamification_cli(app)


def init_gamification_cli(app: Flask) -> None:
    """Add ``flask gamification rebuild``."""
    group = AppGroup("gamification", help="Badges, volunteer stars and their counters.")

    @group.command("rebuild")
    def rebuild():
        """Derive every badge and counter again from the ledger (badges keep their first date)."""
        counts = rebuild_gamification()
        click.echo(f"gamification rebuilt: {counts['postings']} postings replayed, {counts['badges']} badges")

    app.cli.add_command(group)


def init_leaderboards_cli(app: Flask) -> None:
    """Add ``flask leaderboards rebuild`` and ``flask leaderboards close-month``."""
    from core.errors import AppError
    from points.leaderboards import HISTOGRAMS, close_month, rebuild_totals

    group = AppGroup("leaderboards", help="Keep the leaderboards and honour rolls.")

    @group.command("rebuild")
    def rebuild():
        """Recompute every member's period totals from the ledger; fix the rows that differ."""
        counts = rebuild_totals()
        HISTOGRAMS.clear()
        click.echo(f"leaderboards rebuilt: {counts['rows']} totals, {counts['changed']} changed")

    @group.command("close-month")
    @click.option("--month", help="YYYY-MM (default: last month, Asia/Shanghai)")
    @click.option("--top", default=20, show_default=True, help="members kept per org unit")
    def close(month, top):
        """Publish a finished month's honour roll (光荣榜) for every org unit, once."""
        try:
            closed = close_month(month, top=top)
        except AppError as error:
            raise click.ClickException("; ".join(
                message for messages in error.errors.values() for message in messages)) from None
        click.echo(f"honour roll published for {closed} org units")

    app.cli.add_command(group)
