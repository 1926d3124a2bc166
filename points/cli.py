"""Commands of the points package: ``flask ledger verify``, ``flask ledger partitions``, ``flask points
expire``, ``flask gamification rebuild``, ``flask leaderboards …``, ``flask fairness scan``, ``flask wishes
release-overdue``."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from core.database import utcnow
from core.extensions import db
from points import partitions
from points.budgets import verify_budgets
from points.expiry import WARN_DAYS, expire_points, expiry_months, points_expiring, warn_expiring
from points.gamification import rebuild_gamification
from points.ledger import verify_ledger
from points.models import LedgerTransaction, MemberBalance


def init_points_cli(app: Flask) -> None:
    """Add ``flask ledger …``."""
    group = AppGroup("ledger", help="Check the points ledger and keep its partitions.")

    @group.command("verify")
    def verify():
        """Recompute every balance and budget from the postings; exit 1 naming each mismatch."""
        problems = verify_ledger() + verify_budgets()
        for problem in problems:
            click.echo(f"MISMATCH {problem}", err=True)
        if problems:
            raise SystemExit(1)
        transactions = db.session.scalar(db.select(db.func.count()).select_from(LedgerTransaction))
        members = db.session.scalar(db.select(db.func.count()).select_from(MemberBalance))
        click.echo(
            f"ledger ok: {transactions} transactions, {members} member balances, every one sums to zero"
        )

    @group.command("partitions")
    @click.option(
        "--ahead",
        default=partitions.AHEAD,
        show_default=True,
        type=click.IntRange(0, 120),
        help="Months to have ready after the current one.",
    )
    def create_partitions(ahead: int):
        """Create the ledger's month partitions ahead (PostgreSQL; run daily from cron)."""
        with db.engine.begin() as connection:
            if not partitions.is_partitioned(connection):
                click.echo(
                    "ledger partitions: not partitioned here (SQLite keeps plain tables); nothing to do"
                )
                return
            created = partitions.create_ahead(connection, ahead)
            waiting = partitions.default_rows(connection)
        names = ", ".join(month.strftime("%Y-%m") for month in created) or "none needed"
        click.echo(f"ledger partitions: created {names}; {waiting} transactions in the default partition")

    app.cli.add_command(group)
    init_expiry_cli(app)
    init_gamification_cli(app)


def init_expiry_cli(app: Flask) -> None:
    """Add ``flask points expire`` and ``flask points expiring``."""
    group = AppGroup("points", help="Points that expire (POINTS_EXPIRE_MONTHS).")

    @group.command("expire")
    def expire():
        """Let points earned more than POINTS_EXPIRE_MONTHS months ago lapse, oldest first (run daily)."""
        if expiry_months() is None:
            click.echo("Points never expire here (POINTS_EXPIRE_MONTHS is not set): nothing to do.")
            return
        now = utcnow()
        done = expire_points(now)
        click.echo(
            f"{done.points} points of {done.members} members expired "
            f"(those earned before {done.earned_before.isoformat()})."
        )
        click.echo(f"{warn_expiring(now)} members told their points expire within {WARN_DAYS} days.")

    @group.command("expiring")
    @click.option("--days", type=click.IntRange(min=1, max=366), default=30, show_default=True)
    def expiring(days: int):
        """Say how many members have points that expire within DAYS days unless they spend them."""
        due = points_expiring(days)
        click.echo(
            f"{len(due)} members have {sum(item.points for item in due)} points expiring within {days} days."
        )

    app.cli.add_command(group)


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
            raise click.ClickException(
                "; ".join(message for messages in error.errors.values() for message in messages)
            ) from None
        click.echo(f"honour roll published for {closed} org units")

    app.cli.add_command(group)


def init_wishes_cli(app: Flask) -> None:
    """Add ``flask wishes release-overdue``."""
    from points.wishes.services import release_overdue_wishes

    group = AppGroup("wishes", help="Look after micro-wishes.")

    @group.command("release-overdue")
    def release_overdue():
        """Return every taken wish not done by its due date to open (run it from cron)."""
        click.echo(f"{release_overdue_wishes()} overdue wish(es) open again")

    app.cli.add_command(group)


def init_fairness_cli(app: Flask) -> None:
    """Add ``flask fairness scan``."""
    from points.fairness import scan

    group = AppGroup("fairness", help="The fairness watch.")

    @group.command("scan")
    def run():
        """Look for unfair patterns and flag them for review (nightly, by cron); changes nothing else."""
        counts = scan()
        click.echo(
            f"fairness watch: {counts['found']} patterns found, {counts['new']} new flags, "
            f"{counts['refreshed']} open flags refreshed"
        )

    app.cli.add_command(group)
