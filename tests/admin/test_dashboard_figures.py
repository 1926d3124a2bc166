"""The dashboard's figures equal a brute-force sum of what happened, inside the organiser's town only."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
import sqlalchemy.orm
from hypothesis import given, settings
from hypothesis import strategies as st

from core.database import begin_writing, utcnow
from core.extensions import db
from points import ledger, stats
from points.models import LedgerTransaction
from tests.rewards.conftest import person

PEOPLE = ("resident", "villager", "outsider")
TOWN_A = ("resident", "villager")

operations = st.lists(
    st.tuples(
        st.sampled_from(("award", "reverse", "hold", "release", "spend")),
        st.sampled_from(PEOPLE),
        st.integers(min_value=1, max_value=50),
    ),
    max_size=12,
)


def latest_unreversed_award(member_id):
    reversal = sa.orm.aliased(LedgerTransaction)
    return db.session.scalar(
        sa.select(LedgerTransaction)
        .where(
            LedgerTransaction.member_id == member_id,
            LedgerTransaction.kind == "award",
            ~sa.exists().where(reversal.reverses_id == LedgerTransaction.id),
        )
        .order_by(LedgerTransaction.id.desc())
        .limit(1)
    )


def figures(organiser):
    now = utcnow()
    month = stats.month_figures(organiser, now, now)
    return month.issued, month.redeemed, month.held


@settings(max_examples=25)
@given(steps=operations)
def test_issued_redeemed_and_held_match_the_operations_in_scope(app, world, steps):
    with app.app_context():
        organiser = person(world, "organiser")
        before = figures(organiser)
        issued = redeemed = held = 0
        for kind, who, points in steps:
            member_id = world.people[who]
            balance = ledger.balance_of(member_id)
            in_scope = who in TOWN_A
            begin_writing(db.session)
            if kind == "award":
                ledger.award(member_id, points, occurred_at=utcnow() - timedelta(minutes=5), actor_id=None)
                issued += points * in_scope
            elif kind == "reverse" and (award := latest_unreversed_award(member_id)) is not None:
                ledger.reverse_award(award, actor_id=None, reason="test", force=True)
                issued -= award.available_change * in_scope
            elif kind == "hold" and balance.available >= points:
                ledger.hold(member_id, points, reference="test", actor_id=None)
                held += points * in_scope
            elif kind == "release" and balance.held >= points:
                ledger.release(member_id, points, reference="test", actor_id=None)
                held -= points * in_scope
            elif kind == "spend" and balance.held >= points:
                ledger.spend(member_id, points, reference="test", actor_id=None)
                held -= points * in_scope
                redeemed += points * in_scope
            db.session.commit()
        after = figures(organiser)
    assert (after[0] - before[0], after[1] - before[1], after[2] - before[2]) == (issued, redeemed, held)
