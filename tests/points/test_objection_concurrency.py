"""Upholding objections at the same moment, in real threads on SQLite and PostgreSQL: the
contribution is reversed exactly once and the ledger stays whole."""

from __future__ import annotations

from collections import Counter

import sqlalchemy as sa

from core.extensions import db
from points import notices
from points.ledger import verify_ledger
from points.models import Contribution, LedgerTransaction, Objection
from tests.factories import make_activity
from tests.points.test_ledger_concurrency import run_at_once
from tests.points.test_notices import LAST_MONTH, settle
from tests.rewards.conftest import person


def _setup(app, world, objectors: tuple[str, ...]) -> tuple[int, list[int]]:
    """An approved contribution of the resident on last month's notice, objected to by ``objectors``."""
    with app.app_context():
        make_activity("patrol", points=10, category="patrol")
        contribution = settle(world.people["resident"], world=world, by="grid_worker")
        notice = notices.publish_notice(person(world, "global_admin"), world.units["community_a"], LAST_MONTH)
        objections = [
            notices.lodge_objection(person(world, who), notice.id, contribution, "没有参加").id
            for who in objectors
        ]
    return contribution, objections


def _reversals(contribution_id: int) -> int:
    return db.session.scalar(
        sa.select(sa.func.count())
        .select_from(LedgerTransaction)
        .where(LedgerTransaction.contribution_id == contribution_id, LedgerTransaction.kind == "reversal")
    )


def test_two_organisers_upholding_one_objection_at_once_reverse_once(app, world):
    contribution, [objection] = _setup(app, world, ("villager",))

    def uphold(who):
        return lambda: notices.decide_objection(person(world, who), objection, "uphold", "属实")

    outcomes = run_at_once(app, [uphold("organiser"), uphold("admin"), uphold("global_admin")])
    assert outcomes == Counter({"ok": 1, "invalid_state": 2})
    with app.app_context():
        assert _reversals(contribution) == 1 and verify_ledger() == []
        assert db.session.get(Contribution, contribution).status == "reversed"


def test_upholding_two_objections_to_one_entry_at_once_reverses_once(app, world):
    contribution, objections = _setup(app, world, ("villager", "neighbour"))

    def uphold(who, objection_id):
        return lambda: notices.decide_objection(person(world, who), objection_id, "uphold", "属实")

    outcomes = run_at_once(app, [uphold("organiser", objections[0]), uphold("admin", objections[1])])
    # The first settles both (the same entry); the second then finds its objection decided.
    assert outcomes == Counter({"ok": 1, "invalid_state": 1})
    with app.app_context():
        assert _reversals(contribution) == 1 and verify_ledger() == []
        assert {db.session.get(Objection, each).status for each in objections} == {"upheld"}


def test_upholding_and_dismissing_at_once_decide_once(app, world):
    contribution, [objection] = _setup(app, world, ("villager",))

    def decide(who, decision):
        return lambda: notices.decide_objection(person(world, who), objection, decision, "核实")

    outcomes = run_at_once(app, [decide("organiser", "uphold"), decide("admin", "dismiss")])
    assert outcomes == Counter({"ok": 1, "invalid_state": 1})
    with app.app_context():
        status = db.session.get(Objection, objection).status
        assert _reversals(contribution) == (1 if status == "upheld" else 0) and verify_ledger() == []


def test_objections_sent_at_once_never_pass_the_daily_limit(app, world):
    app.config["OBJECTIONS_PER_DAY"] = 2
    with app.app_context():
        make_activity("patrol", points=10, category="patrol")
        entries = [settle(world.people["resident"], world=world, by="grid_worker") for _ in range(4)]
        notice = notices.publish_notice(
            person(world, "global_admin"), world.units["community_a"], LAST_MONTH
        ).id

    def lodge(contribution_id):
        return lambda: notices.lodge_objection(person(world, "villager"), notice, contribution_id, "没有参加")

    assert run_at_once(app, [lodge(entry) for entry in entries]) == Counter({"ok": 2, "rate_limited": 2})
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Objection)) == 2
