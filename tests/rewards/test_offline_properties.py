"""A hypothesis state machine over reserve, cancel, expire, online fulfil and offline scans that arrive
late, in any order and duplicated.

After every step: no voucher is spent twice, points are conserved per member (available + held +
fulfilled = awarded), held points equal the open vouchers, stock on hand equals what was received
minus what was handed over, reserved stock equals the open vouchers' units, the ledger verifies,
and every offline scan sent has exactly one result — the same each time it is sent.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import timedelta

import sqlalchemy as sa
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule

from core.database import utcnow
from core.extensions import db
from core.identity.models import Member
from points import ledger
from points.models import LedgerTransaction
from rewards import offline, stock, vouchers
from rewards.models import OfflineFulfilment, Stock, Voucher, VoucherItem
from tests.rewards.conftest import assert_points_conserved
from tests.support.machines import WorldMachine

MEMBERS = ("resident", "villager")
AWARDED = 240
RECEIVED = {"soap": 12, "oil": 5}
BASE = "http://localhost"


def machine_for(database_url: str, sqlite_template):
    """A state machine class bound to one database, reset before each example."""

    class OfflineMachine(WorldMachine.bind(database_url, sqlite_template)):
        @initialize()
        def start(self):
            self.start_shop(MEMBERS, AWARDED)
            for name, units in RECEIVED.items():
                stock.receive_stock(self.actor("clerk"), self.shop, self.rewards[name], units)
            self.vouchers = []  # (id, short code, payload, expires_at)
            self.pending = []  # scans made offline, not yet sent (a device may send one again)
            self.results = {}  # scan id → (result, reason) as first answered

        @rule(
            member=st.sampled_from(MEMBERS),
            lines=st.lists(
                st.tuples(st.sampled_from(("soap", "oil")), st.integers(1, 3)), min_size=1, max_size=2
            ),
            overdue=st.booleans(),
        )
        def reserve(self, member, lines, overdue):
            now = utcnow() - timedelta(days=2) if overdue else None
            items = [{"reward_id": self.rewards[name], "quantity": quantity} for name, quantity in lines]
            voucher = self.attempt(
                lambda: vouchers.reserve_voucher(
                    self.actor(member), self.shop, items, now=now, ttl=timedelta(days=1) if overdue else None
                )
            )
            if voucher is not None:
                self.vouchers.append(
                    (
                        voucher.id,
                        voucher.short_code,
                        vouchers.voucher_payload(voucher, BASE),
                        voucher.expires_at,
                    )
                )

        @precondition(lambda self: self.vouchers)
        @rule(data=st.data(), by_clerk=st.booleans())
        def cancel(self, data, by_clerk):
            voucher_id = data.draw(st.sampled_from(self.vouchers))[0]
            owner = db.session.get(Voucher, voucher_id).member_id
            actor = self.actor("clerk") if by_clerk else db.session.get(Member, owner)
            self.attempt(lambda: vouchers.cancel_voucher(actor, voucher_id))

        @rule()
        def expire(self):
            vouchers.expire_vouchers()

        @precondition(lambda self: self.vouchers)
        @rule(data=st.data())
        def fulfil_online(self, data):
            voucher_id, short_code, _payload, _expires = data.draw(st.sampled_from(self.vouchers))
            self.attempt(
                lambda: vouchers.fulfil_voucher(self.actor("clerk"), voucher_id, short_code=short_code)
            )

        @precondition(lambda self: self.vouchers)
        @rule(data=st.data(), typed=st.booleans())
        def scan_offline(self, data, typed):
            """The counter, offline, hands a voucher's goods over: before its expiry, as the device checks."""
            voucher_id, short_code, payload, expires_at = data.draw(st.sampled_from(self.vouchers))
            scanned_at = min(utcnow(), expires_at - timedelta(minutes=1))
            self.pending.append(
                {
                    "scan_id": str(uuid.uuid4()),
                    "voucher_id": voucher_id,
                    "code": short_code if typed else payload,
                    "scanned_at": scanned_at,
                }
            )

        @precondition(lambda self: self.pending)
        @rule(data=st.data())
        def send(self, data):
            """Signal returns: some of the scans arrive, in any order, some twice."""
            batch = data.draw(st.lists(st.sampled_from(self.pending), min_size=1, max_size=6))
            answers = offline.record_offline_fulfilments(self.actor("clerk"), self.shop, batch)
            assert [answer["scan_id"] for answer in answers] == [scan["scan_id"] for scan in batch]
            for answer in answers:
                got = (answer["result"], answer["reason"])
                assert got[0] in ("fulfilled", "conflict", "rejected")
                event(f"offline scan: {got[0]} {got[1] or ''}".strip())
                assert self.results.setdefault(answer["scan_id"], got) == got, "a scan answered two ways"

        @invariant()
        def nothing_is_spent_twice_and_everything_is_conserved(self):
            if not hasattr(self, "app"):
                return
            db.session.rollback()
            assert ledger.verify_ledger() == []
            spends = Counter(
                db.session.scalars(
                    sa.select(LedgerTransaction.reference).where(LedgerTransaction.kind == "spend")
                )
            )
            assert all(count == 1 for count in spends.values()), spends
            fulfilled_ids = set(
                db.session.scalars(sa.select(Voucher.id).where(Voucher.status == "fulfilled"))
            )
            assert set(spends) == {f"voucher:{voucher_id}" for voucher_id in fulfilled_ids}
            for key in MEMBERS:
                assert_points_conserved(self.people[key], AWARDED)
            for name, reward_id in self.rewards.items():
                units = dict(
                    db.session.execute(
                        sa.select(Voucher.status, sa.func.sum(VoucherItem.quantity))
                        .join(Voucher, Voucher.id == VoucherItem.voucher_id)
                        .where(VoucherItem.reward_id == reward_id)
                        .group_by(Voucher.status)
                    ).all()
                )
                row = db.session.get(Stock, (self.shop, reward_id))
                assert (row.on_hand, row.reserved) == (
                    RECEIVED[name] - (units.get("fulfilled") or 0),
                    units.get("reserved") or 0,
                )
                assert 0 <= row.reserved <= row.on_hand
            kept = Counter(db.session.scalars(sa.select(OfflineFulfilment.scan_id)))
            assert set(kept) == set(self.results) and set(kept.values()) <= {1}

    return OfflineMachine


def test_offline_scans_in_any_order_and_twice_never_spend_twice_and_conserve_points_and_stock(
    database_url, sqlite_template
):
    machine = machine_for(database_url, sqlite_template)
    machine.TestCase.settings = settings(max_examples=20, stateful_step_count=25, deadline=None)
    machine.TestCase().runTest()
