"""A hypothesis state machine over every step of a wish, by every kind of actor, legal or not.

Each attempt is checked against a model of the 四单制 flow: what the model allows goes through,
anything else is refused with its code (``self_review``, ``forbidden``, ``already_taken``,
``invalid_state``) and changes nothing. After every step: each wish is at the model's step, the
taker of every completed wish was paid its points exactly once (an approved ``wish`` contribution
vouched for by someone else), nobody else was paid, and the ledger verifies.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule

from core.database import utcnow
from core.errors import AppError
from core.extensions import db
from points import ledger
from points.models import Activity, Contribution
from points.wishes import services
from points.wishes.models import Wish
from tests.support.machines import WorldMachine

#: The requester is a grid worker, so that vetting their own wish is refused as ``self_review``.
REQUESTER = "grid_worker"
TAKERS = ("neighbour", "resident")
BYSTANDER = "villager"
EVERYONE = (REQUESTER, *TAKERS, BYSTANDER, "organiser")
POINTS = st.integers(1, 500)


def machine_for(database_url: str, sqlite_template):
    """A state machine class bound to one database, reset before each example."""

    class WishMachine(WorldMachine.bind(database_url, sqlite_template)):
        @initialize()
        def start(self):
            self.start_world()
            self.model: dict[int, dict] = {}

        def expect(self, call, refusal: str | None):
            """Run a service call; assert it went through exactly when ``refusal`` is None, else its code."""
            try:
                call()
            except AppError as error:
                db.session.rollback()
                assert error.code == refusal, f"refused with {error.code}, expected {refusal or 'success'}"
                return False
            assert refusal is None, f"went through, expected {refusal}"
            return True

        def wishes(self):
            return st.sampled_from(sorted(self.model))

        @rule()
        def post(self):
            wish = services.post_wish(self.actor(REQUESTER), "帮忙搬煤", "三楼")
            self.model[wish.id] = {"status": "submitted", "taker": None, "points": None}

        @precondition(lambda self: self.model)
        @rule(data=st.data(), who=st.sampled_from(("organiser", REQUESTER)), accept=st.booleans())
        def vet(self, data, who, accept):
            wish_id = data.draw(self.wishes())
            wish = self.model[wish_id]
            refusal = (
                "self_review"
                if who == REQUESTER
                else None
                if wish["status"] == "submitted"
                else "invalid_state"
            )
            if self.expect(
                lambda: services.vet_wish(
                    self.actor(who),
                    wish_id,
                    "accept" if accept else "decline",
                    None if accept else "不属于志愿服务",
                ),
                refusal,
            ):
                wish["status"] = "vetted" if accept else "declined"

        @precondition(lambda self: self.model)
        @rule(data=st.data(), points=POINTS)
        def publish(self, data, points):
            wish_id = data.draw(self.wishes())
            wish = self.model[wish_id]
            refusal = None if wish["status"] in ("vetted", "open") else "invalid_state"
            if self.expect(
                lambda: services.publish_wish(
                    self.actor("organiser"), wish_id, points, utcnow() + timedelta(days=7)
                ),
                refusal,
            ):
                wish.update(status="open", points=points)

        @precondition(lambda self: self.model)
        @rule(data=st.data(), who=st.sampled_from((REQUESTER, *TAKERS)))
        def take(self, data, who):
            wish_id = data.draw(self.wishes())
            wish = self.model[wish_id]
            refusal = (
                "self_review"
                if who == REQUESTER
                else "already_taken"
                if wish["status"] in ("taken", "done", "completed")
                else None
                if wish["status"] == "open"
                else "invalid_state"
            )
            if self.expect(lambda: services.take_wish(self.actor(who), wish_id), refusal):
                wish.update(status="taken", taker=who)

        def _as_taker(self, wish: dict, who: str, step: str) -> str | None:
            if wish["taker"] != who:
                return "forbidden"
            return None if wish["status"] == step else "invalid_state"

        @precondition(lambda self: self.model)
        @rule(data=st.data(), who=st.sampled_from(TAKERS))
        def release(self, data, who):
            wish_id = data.draw(self.wishes())
            wish = self.model[wish_id]
            if self.expect(
                lambda: services.release_wish(self.actor(who), wish_id), self._as_taker(wish, who, "taken")
            ):
                wish.update(status="open", taker=None)

        @precondition(lambda self: self.model)
        @rule(data=st.data(), who=st.sampled_from(TAKERS))
        def done(self, data, who):
            wish_id = data.draw(self.wishes())
            wish = self.model[wish_id]
            if self.expect(
                lambda: services.mark_done(self.actor(who), wish_id, "搬完了"),
                self._as_taker(wish, who, "taken"),
            ):
                wish["status"] = "done"

        @precondition(lambda self: self.model)
        @rule(
            data=st.data(),
            who=st.sampled_from(EVERYONE),
            days_later=st.sampled_from((0, 4)),
            rating=st.integers(1, 5),
        )
        def confirm(self, data, who, days_later, rating):
            wish_id = data.draw(self.wishes())
            wish = self.model[wish_id]
            if who == wish["taker"]:
                refusal = "self_review"
            elif who not in (REQUESTER, "organiser"):
                refusal = "forbidden"
            elif who == "organiser" and wish["status"] == "done" and days_later < 3:
                refusal = "forbidden"  # the requester confirms first
            else:
                refusal = None if wish["status"] == "done" else "invalid_state"
            now = utcnow() + timedelta(days=days_later)
            if self.expect(lambda: services.confirm_wish(self.actor(who), wish_id, rating, now=now), refusal):
                wish["status"] = "completed"

        @precondition(lambda self: self.model)
        @rule(data=st.data(), who=st.sampled_from((REQUESTER, "organiser", *TAKERS)))
        def cancel(self, data, who):
            wish_id = data.draw(self.wishes())
            wish = self.model[wish_id]
            if who in TAKERS:  # neither the requester nor an organiser, whether or not they took it
                refusal = "forbidden"
            elif wish["status"] in ("declined", "completed", "cancelled") or (
                who == REQUESTER and wish["status"] not in ("submitted", "vetted", "open")
            ):
                refusal = "invalid_state"
            else:
                refusal = None
            if self.expect(lambda: services.cancel_wish(self.actor(who), wish_id, "不需要了"), refusal):
                wish["status"] = "cancelled"

        @rule()
        def due_dates_pass(self):
            """A week and a day later: every taken wish not yet done is open again."""
            released = services.release_overdue_wishes(utcnow() + timedelta(days=8))
            overdue = [wish for wish in self.model.values() if wish["status"] == "taken"]
            assert released == len(overdue)
            for wish in overdue:
                wish.update(status="open", taker=None)

        @invariant()
        def each_wish_is_where_the_model_says_and_paid_once(self):
            if not hasattr(self, "app"):
                return
            db.session.rollback()
            assert ledger.verify_ledger() == []
            rows = {wish.id: wish for wish in db.session.scalars(sa.select(Wish))}
            assert {wish_id: wish["status"] for wish_id, wish in self.model.items()} == {
                wish_id: wish.status for wish_id, wish in rows.items()
            }
            paid = db.session.scalars(
                sa.select(Contribution).join(Activity).where(Activity.code == "wish")
            ).all()
            completed = [
                rows[wish_id] for wish_id, wish in self.model.items() if wish["status"] == "completed"
            ]
            assert sorted(contribution.id for contribution in paid) == sorted(
                wish.contribution_id for wish in completed
            )
            for wish in completed:
                contribution = wish.contribution
                assert (contribution.status, contribution.points, contribution.member_id) == (
                    "approved",
                    wish.points,
                    wish.taker_id,
                )
                assert contribution.reviewed_by_id not in (None, wish.taker_id)
            for taker in TAKERS:
                earned = sum(
                    self.model[wish.id]["points"] for wish in completed if wish.taker_id == self.people[taker]
                )
                assert ledger.balance_of(self.people[taker]).available == earned

    return WishMachine


def test_wishes_follow_the_flow_and_pay_their_taker_once_through_any_sequence(database_url, sqlite_template):
    machine = machine_for(database_url, sqlite_template)
    machine.TestCase.settings = settings(max_examples=12, stateful_step_count=30, deadline=None)
    machine.TestCase().runTest()
