"""Hypothesis: after any awards, reversals, role changes, hiding, suspension and moves, every board
equals a brute-force ranking of the ledger, and a rebuild from the ledger changes nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime

import sqlalchemy as sa
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule

from core.clock import SHANGHAI, period_key
from core.database import begin_writing
from core.extensions import db
from core.identity import services as identity
from core.identity.models import Member, OrgUnit
from points import leaderboards, ledger
from points.models import LeaderboardTotal, LedgerPosting, LedgerTransaction
from tests.support.machines import WorldMachine

UTC = UTC
EARNERS = ("resident", "villager", "neighbour", "outsider", "grid_worker", "grid_worker_b")
#: Either side of midnight in Shanghai at a month end and at the year end.
MOMENTS = (
    datetime(2026, 10, 31, 15, 30, tzinfo=UTC),
    datetime(2026, 10, 31, 16, 30, tzinfo=UTC),
    datetime(2026, 12, 31, 15, 59, tzinfo=UTC),
    datetime(2026, 12, 31, 16, 1, tzinfo=UTC),
)
BOARDS = (
    ("month", date(2026, 10, 31)),
    ("month", date(2026, 11, 1)),
    ("week", date(2026, 11, 1)),
    ("quarter", date(2027, 1, 1)),
    ("year", date(2026, 12, 31)),
    ("all", date(2026, 1, 1)),
)
SCOPES = ("county", "town_b", "community_a", "grid_a2")
GRIDS = ("grid_a", "grid_a2", "grid_b")


def brute_force(unit: OrgUnit, period: str, day: date) -> list[tuple[int, int]]:
    """Rank the ledger by hand: (member id, points) of everyone ranked, in board order."""
    key = period_key(period, day)
    scores: dict[int, list] = {}
    for member_id, occurred_at, created_at, amount in db.session.execute(
        sa.select(
            LedgerTransaction.member_id,
            LedgerTransaction.occurred_at,
            LedgerTransaction.created_at,
            LedgerPosting.amount,
        )
        .join(LedgerPosting, LedgerPosting.transaction_id == LedgerTransaction.id)
        .where(LedgerPosting.account == "issued")
    ):
        if period_key(period, occurred_at.astimezone(SHANGHAI).date()) != key:
            continue
        row = scores.setdefault(member_id, [0, created_at])
        row[0] -= amount
        row[1] = max(row[1], created_at)
    ranked = []
    for member_id, (score, reached_at) in scores.items():
        member = db.session.get(Member, member_id)
        if (
            score > 0
            and member.status == "active"
            and not member.hidden
            and not member.is_staff
            and member.org_unit is not None
            and unit.contains(member.org_unit)
        ):
            ranked.append((score, reached_at, member_id))
    ranked.sort(key=lambda item: (-item[0], item[1], -item[2]))
    return [(member_id, score) for score, _reached, member_id in ranked]


def machine_for(database_url: str, sqlite_template):
    """A state machine class bound to one database, reset before each example."""

    class BoardMachine(WorldMachine.bind(database_url, sqlite_template)):
        @initialize()
        def start(self):
            world = self.start_world()
            self.units = world.units
            self.awards, self.grants = [], {}

        def admin(self) -> Member:
            return self.actor("global_admin")

        @rule(
            member=st.sampled_from(EARNERS + ("organiser",)),
            points=st.integers(1, 5),
            moment=st.sampled_from(MOMENTS),
        )
        def award(self, member, points, moment):
            begin_writing(db.session)
            transaction = ledger.award(self.people[member], points, occurred_at=moment, actor_id=None)
            db.session.commit()
            self.awards.append(transaction.id)

        @precondition(lambda self: self.awards)
        @rule(data=st.data())
        def reverse(self, data):
            transaction_id = data.draw(st.sampled_from(self.awards))
            self.awards.remove(transaction_id)
            begin_writing(db.session)
            ledger.reverse_award(
                db.session.get(LedgerTransaction, transaction_id), actor_id=None, reason="x", force=True
            )
            db.session.commit()

        @rule(member=st.sampled_from(EARNERS))
        def toggle_staff(self, member):
            if member in self.grants:
                identity.revoke_role(self.admin(), self.actor(member), self.grants.pop(member))
            else:
                self.grants[member] = identity.grant_role(
                    self.admin(), self.actor(member), "organiser", self.units["county"], None
                ).id

        @rule(member=st.sampled_from(EARNERS), field=st.sampled_from(["hidden", "status"]))
        def toggle_flag(self, member, field):
            target = self.actor(member)
            value = (
                (not target.hidden)
                if field == "hidden"
                else ("suspended" if target.status == "active" else "active")
            )
            identity.update_member(self.admin(), target, {field: value})

        @rule(member=st.sampled_from(EARNERS), grid=st.sampled_from(GRIDS))
        def move(self, member, grid):
            identity.update_member(self.admin(), self.actor(member), {"org_unit_id": self.units[grid]})

        @invariant()
        def boards_equal_brute_force(self):
            if not hasattr(self, "app"):
                return
            db.session.rollback()
            viewer = self.actor("resident")
            for scope in SCOPES:
                unit = db.session.get(OrgUnit, self.units[scope])
                for period, day in BOARDS:
                    expected = brute_force(unit, period, day)
                    result = leaderboards.member_board(viewer, unit.id, period, day, 100)
                    assert [entry["points"] for entry in result["entries"]] == [p for _m, p in expected]
                    points = [p for _m, p in expected]
                    assert [entry["rank"] for entry in result["entries"]] == [
                        1 + sum(1 for other in points if other > mine) for mine in points
                    ]
                    me = result["me"]
                    if me is not None:
                        mine = dict(expected).get(viewer.id)
                        assert me["total"] == len(expected)
                        assert me["rank"] == (
                            None if mine is None else 1 + sum(1 for p in points if p > mine)
                        )
                        if me["rank"] not in (None, 1):
                            above = expected[[m for m, _p in expected].index(viewer.id) - 1][1]
                            assert me["to_next"] == above - mine + 1

        @invariant()
        def a_rebuild_changes_nothing(self):
            if not hasattr(self, "app"):
                return
            db.session.rollback()
            have = {
                (row.member_id, row.period_key): row
                for row in db.session.scalars(sa.select(LeaderboardTotal))
            }
            wanted = leaderboards.expected_totals()
            assert set(have) == set(wanted)
            for key, row in have.items():
                assert {name: getattr(row, name) for name in wanted[key]} == wanted[key]
            db.session.rollback()

    return BoardMachine


def test_boards_equal_a_brute_force_ranking_after_any_history(database_url, sqlite_template):
    machine = machine_for(database_url, sqlite_template)
    machine.TestCase.settings = settings(max_examples=10, stateful_step_count=15, deadline=None)
    machine.TestCase().runTest()
