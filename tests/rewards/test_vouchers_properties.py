"""A hypothesis state machine over reserve, fulfil, cancel, expire, receive and correct.

After every step: points are conserved per member (available + held + redeemed = awarded),
held points equal the open vouchers, stock equals what was received and counted minus what
was handed over, reserved stock equals the open vouchers' units, and the ledger verifies.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule

from core.database import utcnow
from core.extensions import db
from core.identity.models import Member
from points import ledger
from rewards import stock, vouchers
from rewards.models import Stock, Voucher, VoucherItem
from tests.rewards.conftest import assert_points_conserved
from tests.support.machines import WorldMachine

MEMBERS = ("resident", "villager")
REWARDS = ("soap", "oil")
AWARDED = 300


def machine_for(database_url: str, sqlite_template):
    """A state machine class bound to one database, reset before each example."""

    class VoucherMachine(WorldMachine.bind(database_url, sqlite_template)):
        @initialize()
        def start(self):
            self.start_shop(MEMBERS, AWARDED)
            self.on_hand = {name: 0 for name in REWARDS}
            self.open = []

        @rule(reward=st.sampled_from(REWARDS), quantity=st.integers(1, 6))
        def receive(self, reward, quantity):
            if (
                self.attempt(
                    lambda: stock.receive_stock(
                        self.actor("clerk"), self.shop, self.rewards[reward], quantity
                    )
                )
                is not None
            ):
                self.on_hand[reward] += quantity

        @rule(reward=st.sampled_from(REWARDS), counted=st.integers(0, 8))
        def correct(self, reward, counted):
            if (
                self.attempt(
                    lambda: stock.correct_stock(
                        self.actor("clerk"), self.shop, self.rewards[reward], counted, "盘点"
                    )
                )
                is not None
            ):
                self.on_hand[reward] = counted

        @rule(
            member=st.sampled_from(MEMBERS),
            lines=st.lists(st.tuples(st.sampled_from(REWARDS), st.integers(1, 3)), min_size=1, max_size=3),
            overdue=st.booleans(),
        )
        def reserve(self, member, lines, overdue):
            now = utcnow() - timedelta(days=8) if overdue else None
            items = [{"reward_id": self.rewards[name], "quantity": quantity} for name, quantity in lines]
            voucher = self.attempt(
                lambda: vouchers.reserve_voucher(self.actor(member), self.shop, items, now=now)
            )
            if voucher is not None:
                self.open.append((voucher.id, voucher.short_code, overdue))

        @precondition(lambda self: self.open)
        @rule(data=st.data())
        def fulfil(self, data):
            voucher_id, short_code, overdue = data.draw(st.sampled_from(self.open))
            done = self.attempt(
                lambda: vouchers.fulfil_voucher(self.actor("clerk"), voucher_id, short_code=short_code)
            )
            assert (done is None) == overdue or self._closed(voucher_id)
            if done is not None:
                self.open.remove((voucher_id, short_code, overdue))
                for item in done.items:
                    name = next(key for key, value in self.rewards.items() if value == item.reward_id)
                    self.on_hand[name] -= item.quantity
                again = self.attempt(
                    lambda: vouchers.fulfil_voucher(self.actor("clerk"), voucher_id, short_code=short_code)
                )
                assert again is None

        def _closed(self, voucher_id):
            return db.session.get(Voucher, voucher_id).status != "reserved"

        @precondition(lambda self: self.open)
        @rule(data=st.data(), by_clerk=st.booleans())
        def cancel(self, data, by_clerk):
            entry = data.draw(st.sampled_from(self.open))
            voucher = db.session.get(Voucher, entry[0])
            actor = self.actor("clerk") if by_clerk else db.session.get(Member, voucher.member_id)
            if self.attempt(lambda: vouchers.cancel_voucher(actor, entry[0])) is not None:
                self.open.remove(entry)

        @rule()
        def expire(self):
            vouchers.expire_vouchers()
            self.open = [entry for entry in self.open if not entry[2]]

        @invariant()
        def points_and_stock_are_conserved(self):
            if not hasattr(self, "app"):
                return
            db.session.rollback()
            assert ledger.verify_ledger() == []
            for key in MEMBERS:
                assert_points_conserved(self.people[key], AWARDED)
            for name, reward_id in self.rewards.items():
                row = db.session.get(Stock, (self.shop, reward_id))
                reserved = db.session.scalar(
                    sa.select(sa.func.coalesce(sa.func.sum(VoucherItem.quantity), 0))
                    .join(Voucher, Voucher.id == VoucherItem.voucher_id)
                    .where(Voucher.status == "reserved", VoucherItem.reward_id == reward_id)
                )
                on_hand, held = (row.on_hand, row.reserved) if row else (0, 0)
                assert (on_hand, held) == (self.on_hand[name], reserved)
                assert 0 <= held <= on_hand

    return VoucherMachine


def test_vouchers_keep_points_and_stock_through_any_sequence(database_url, sqlite_template):
    machine = machine_for(database_url, sqlite_template)
    machine.TestCase.settings = settings(max_examples=8, stateful_step_count=15, deadline=None)
    machine.TestCase().runTest()
