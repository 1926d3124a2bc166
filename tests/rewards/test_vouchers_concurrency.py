"""Vouchers under real concurrency, on both engines: fulfilled once, balances and stock never negative."""

from __future__ import annotations

from collections import Counter

import sqlalchemy as sa

from core.extensions import db
from points import ledger
from rewards import stock, vouchers
from rewards.models import Stock, Voucher, VoucherItem
from tests.points.test_ledger_concurrency import run_at_once
from tests.rewards.conftest import give_points, make_reward, person, reserve_at_shop_a

FULFILS = 100


def test_a_hundred_concurrent_fulfils_hand_over_exactly_once(app, stocked):
    with app.app_context():
        voucher = reserve_at_shop_a(stocked, stocked.rewards["soap"], 2)
        voucher_id, short_code = voucher.id, voucher.short_code

    def fulfil():
        vouchers.fulfil_voucher(person(stocked, "clerk"), voucher_id, short_code=short_code)

    outcomes = run_at_once(app, [fulfil] * FULFILS)
    assert outcomes == Counter({"ok": 1, "already_fulfilled": FULFILS - 1}), outcomes
    with app.app_context():
        balance = ledger.balance_of(stocked.people["resident"])
        assert (balance.held, balance.available) == (0, 400 - 60)
        row = db.session.get(Stock, (stocked.shops["a"], stocked.rewards["soap"]))
        assert (row.on_hand, row.reserved) == (8, 0)
        assert ledger.verify_ledger() == []


def test_concurrent_vouchers_never_spend_more_than_the_balance(app, stocked):
    with app.app_context():
        tea = make_reward("茶叶", 50)
        stock.receive_stock(person(stocked, "clerk"), stocked.shops["a"], tea, 100)

    def reserve():
        reserve_at_shop_a(stocked, tea)

    outcomes = run_at_once(app, [reserve] * 20)
    assert outcomes == Counter({"ok": 8, "insufficient_points": 12}), outcomes
    with app.app_context():
        balance = ledger.balance_of(stocked.people["resident"])
        assert (balance.available, balance.held) == (0, 400)
        assert db.session.get(Stock, (stocked.shops["a"], tea)).reserved == 8
        assert ledger.verify_ledger() == []


def test_concurrent_vouchers_for_the_last_units_keep_stock_and_limits(app, stocked):
    members = ("resident", "villager", "neighbour")
    with app.app_context():
        for key in members[1:]:
            give_points(stocked.people[key], 400)
    oil = stocked.rewards["oil"]

    def reserver(key):
        def reserve():
            reserve_at_shop_a(stocked, oil, 1, who=key)

        return reserve

    outcomes = run_at_once(app, [reserver(key) for key in members for _ in range(6)])
    assert outcomes["ok"] == 3 and set(outcomes) <= {"ok", "out_of_stock", "limit_reached"}, outcomes
    with app.app_context():
        row = db.session.get(Stock, (stocked.shops["a"], oil))
        assert (row.on_hand, row.reserved) == (3, 3)
        per_member = dict(
            db.session.execute(
                sa.select(Voucher.member_id, sa.func.sum(VoucherItem.quantity))
                .join(VoucherItem, VoucherItem.voucher_id == Voucher.id)
                .group_by(Voucher.member_id)
            ).all()
        )
        assert sum(per_member.values()) == 3 and max(per_member.values()) <= 2
        assert ledger.verify_ledger() == []


def test_one_members_concurrent_vouchers_never_pass_the_monthly_limit(app, stocked):
    with app.app_context():
        give_points(stocked.people["resident"], 1000)
        stock.receive_stock(person(stocked, "clerk"), stocked.shops["a"], stocked.rewards["oil"], 20)
    oil = stocked.rewards["oil"]

    def reserve():
        reserve_at_shop_a(stocked, oil)

    outcomes = run_at_once(app, [reserve] * 12)
    assert outcomes == Counter({"ok": 2, "limit_reached": 10}), outcomes
