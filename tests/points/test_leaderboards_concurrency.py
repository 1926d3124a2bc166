"""Many awards and reversals at once, to one member and to several: the period totals stay exact."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import sqlalchemy as sa

from core.database import begin_writing, utcnow
from core.extensions import db
from core.identity.models import Member
from points import contributions, leaderboards, ledger
from points.models import LeaderboardTotal, LedgerTransaction
from tests.factories import make_activity
from tests.points.test_ledger_concurrency import run_at_once

THREADS = 40


def totals_of(member_id: int) -> dict[str, int]:
    """A member's score per period key."""
    return {
        row.period_key: row.score
        for row in db.session.scalars(
            sa.select(LeaderboardTotal).where(LeaderboardTotal.member_id == member_id)
        )
    }


def test_concurrent_awards_to_one_member_leave_the_totals_exact(app, world):
    with app.app_context():
        make_activity("patrol_each", points=3, needs_review=False)
    resident, villager, staff = (world.people[k] for k in ("resident", "villager", "grid_worker"))
    occurred_at = utcnow() - timedelta(hours=1)

    def award_to(member_id):
        def award():
            contributions.record_contribution(
                db.session.get(Member, staff), member_id, "patrol_each", 1, occurred_at
            )

        return award

    outcomes = run_at_once(app, [award_to(resident)] * THREADS + [award_to(villager)] * (THREADS // 2))

    assert outcomes == Counter({"ok": THREADS + THREADS // 2})
    with app.app_context():
        assert set(totals_of(resident).values()) == {3 * THREADS}
        assert set(totals_of(villager).values()) == {3 * THREADS // 2}
        assert len(totals_of(resident)) == 5
        assert leaderboards.rebuild_totals()["changed"] == 0


def test_concurrent_awards_and_reversals_of_one_member_leave_the_totals_exact(app, world):
    resident = world.people["resident"]
    occurred_at = utcnow() - timedelta(hours=1)
    with app.app_context():
        begin_writing(db.session)
        earlier = [ledger.award(resident, 5, occurred_at=occurred_at, actor_id=None).id for _ in range(15)]
        db.session.commit()

    def reverse(transaction_id):
        def call():
            begin_writing(db.session)
            ledger.reverse_award(
                db.session.get(LedgerTransaction, transaction_id), actor_id=None, reason="wrong"
            )
            db.session.commit()

        return call

    def award():
        begin_writing(db.session)
        ledger.award(resident, 2, occurred_at=occurred_at, actor_id=None)
        db.session.commit()

    outcomes = run_at_once(app, [reverse(tid) for tid in earlier] + [award] * 15)

    assert outcomes == Counter({"ok": 30})
    with app.app_context():
        assert set(totals_of(resident).values()) == {2 * 15}
        assert leaderboards.rebuild_totals()["changed"] == 0
