"""A hypothesis state machine over awards, claims, reviews, reversals (forced too), holds and spends.

After every step: no negative balance, every transaction sums to zero, cached
balances equal their postings, lifetime earned equals approved minus reversed,
and a retried review changes nothing.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule

from core.database import begin_writing, utcnow
from core.extensions import db
from points import contributions, ledger
from points.models import Contribution, MemberBalance
from tests.factories import make_activity
from tests.support.machines import WorldMachine

MEMBERS = ("resident", "villager")


def machine_for(database_url: str, sqlite_template):
    """A state machine class bound to one database, reset before each example."""

    class LedgerMachine(WorldMachine.bind(database_url, sqlite_template)):
        @initialize()
        def start(self):
            self.start_world()
            make_activity("small", points=3, daily_cap=12)
            make_activity("big", points=20)
            self.occurred_at = utcnow() - timedelta(hours=2)
            self.pending, self.approved, self.held = [], [], {name: [] for name in MEMBERS}

        @rule(
            member=st.sampled_from(MEMBERS),
            activity=st.sampled_from(["small", "big"]),
            quantity=st.integers(1, 3),
        )
        def record(self, member, activity, quantity):
            contribution = self.attempt(
                lambda: contributions.record_contribution(
                    self.actor("grid_worker"), self.people[member], activity, quantity, self.occurred_at
                )
            )
            if contribution is not None:
                self.approved.append(contribution.id)

        @rule(member=st.sampled_from(MEMBERS), activity=st.sampled_from(["small", "big"]))
        def claim(self, member, activity):
            contribution = self.attempt(
                lambda: contributions.record_contribution(
                    self.actor(member), self.people[member], activity, 1, self.occurred_at
                )
            )
            if contribution is not None:
                self.pending.append(contribution.id)

        @precondition(lambda self: self.pending)
        @rule(data=st.data(), approve=st.booleans())
        def review(self, data, approve):
            contribution_id = data.draw(st.sampled_from(self.pending))
            if approve:
                done = self.attempt(
                    lambda: contributions.approve_contribution(self.actor("organiser"), contribution_id)
                )
            else:
                done = self.attempt(
                    lambda: contributions.reject_contribution(self.actor("organiser"), contribution_id, "no")
                )
            if done is not None:
                self.pending.remove(contribution_id)
                if approve:
                    self.approved.append(contribution_id)
                before = self.snapshot()
                again = self.attempt(
                    lambda: contributions.approve_contribution(self.actor("organiser"), contribution_id)
                )
                assert again is None and self.snapshot() == before, "a retried review changed something"

        @precondition(lambda self: self.approved)
        @rule(data=st.data(), force=st.booleans())
        def reverse(self, data, force):
            contribution_id = data.draw(st.sampled_from(self.approved))
            who = "global_admin" if force else "organiser"
            done = self.attempt(
                lambda: contributions.reverse_contribution(self.actor(who), contribution_id, "x", force)
            )
            if done is not None:
                self.approved.remove(contribution_id)

        @rule(member=st.sampled_from(MEMBERS), points=st.integers(1, 40))
        def hold(self, member, points):
            def call():
                begin_writing(db.session)
                ledger.hold(self.people[member], points, reference="voucher:test", actor_id=None)
                db.session.commit()
                return points

            if self.attempt(call) is not None:
                self.held[member].append(points)

        @precondition(lambda self: any(self.held.values()))
        @rule(data=st.data(), spend=st.booleans())
        def settle(self, data, spend):
            member = data.draw(st.sampled_from([m for m in MEMBERS if self.held[m]]))
            points = self.held[member].pop()
            begin_writing(db.session)
            (ledger.spend if spend else ledger.release)(
                self.people[member], points, reference="voucher:test", actor_id=None
            )
            db.session.commit()

        def snapshot(self):
            rows = db.session.scalars(sa.select(MemberBalance).order_by(MemberBalance.member_id))
            return [(row.member_id, row.available, row.held, row.lifetime_earned) for row in rows]

        @invariant()
        def ledger_is_consistent(self):
            if not hasattr(self, "app"):
                return
            db.session.rollback()
            assert ledger.verify_ledger() == []
            for member in MEMBERS:
                balance = ledger.balance_of(self.people[member])
                assert balance.available >= 0 and balance.held >= 0
                earned = db.session.scalar(
                    sa.select(sa.func.coalesce(sa.func.sum(Contribution.points), 0)).where(
                        Contribution.member_id == self.people[member], Contribution.status == "approved"
                    )
                )
                assert balance.lifetime_earned == earned
                assert balance.held == sum(self.held[member])

    return LedgerMachine


def test_the_ledger_keeps_its_invariants_through_any_sequence(database_url, sqlite_template):
    machine = machine_for(database_url, sqlite_template)
    machine.TestCase.settings = settings(max_examples=15, stateful_step_count=20, deadline=None)
    machine.TestCase().runTest()
