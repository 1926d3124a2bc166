"""Commands of the points package: ``flask ledger verify``."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from core.extensions import db
from points.ledger import verify_ledger
from points.models import LedgerTransaction, MemberBalance


def init_points_cli(app: Flask) -> None:
    """Add ``flask ledger …``."""
    group = AppGroup("ledger", help="Check the points ledger.")

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

    app.cli.add_command(group)
