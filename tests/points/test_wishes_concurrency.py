"""Wishes and patrol scans under real concurrency, on both engines: one taker, one payment, one round."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import sqlalchemy as sa

from core.database import utcnow
from core.extensions import db
from core.identity.models import Member, OrgUnit
from points import ledger
from points.models import Activity, Contribution
from points.patrols import services as patrols
from points.patrols.models import PatrolRound, PatrolScan
from points.wishes import services
from points.wishes.models import Wish
from tests.factories import make_activity, make_member, make_open_route
from tests.points.test_ledger_concurrency import run_at_once

TAKERS = 12


def _open_wish(world, points: int = 25) -> int:
    admin = db.session.get(Member, world.people["global_admin"])
    wish = services.post_wish(db.session.get(Member, world.people["villager"]), "帮忙搬煤", "三楼").id
    services.vet_wish(admin, wish, "accept")
    services.publish_wish(admin, wish, points, utcnow() + timedelta(days=2))
    return wish


def test_twelve_volunteers_taking_one_wish_at_once_leave_exactly_one_taker(app, world):
    with app.app_context():
        wish = _open_wish(world)
        grid = db.session.get(OrgUnit, world.units["grid_a2"])
        volunteers = [make_member(f"志愿者{index}", grid).id for index in range(TAKERS)]

    def taker(member_id):
        return lambda: services.take_wish(db.session.get(Member, member_id), wish)

    outcomes = run_at_once(app, [taker(member_id) for member_id in volunteers])
    assert outcomes == Counter({"ok": 1, "already_taken": TAKERS - 1}), outcomes
    with app.app_context():
        row = db.session.get(Wish, wish)
        assert row.status == "taken" and row.taker_id in volunteers


def test_confirmations_at_once_complete_a_wish_and_pay_its_taker_once(app, world):
    with app.app_context():
        wish = _open_wish(world, points=40)
        neighbour = db.session.get(Member, world.people["neighbour"])
        services.take_wish(neighbour, wish)
        services.mark_done(neighbour, wish, "搬完了", now=utcnow() - timedelta(days=4))
    confirmers = ["villager"] * 6 + [
        "organiser"
    ] * 6  # the requester, and organisers now that 3 days have passed

    def confirm(key):
        return lambda: services.confirm_wish(db.session.get(Member, world.people[key]), wish, 5)

    outcomes = run_at_once(app, [confirm(key) for key in confirmers])
    assert outcomes == Counter({"ok": 1, "invalid_state": len(confirmers) - 1}), outcomes
    with app.app_context():
        paid = db.session.scalars(sa.select(Contribution).join(Activity).where(Activity.code == "wish")).all()
        assert [(row.member_id, row.points, row.status) for row in paid] == [
            (world.people["neighbour"], 40, "approved")
        ]
        assert ledger.balance_of(world.people["neighbour"]).available == 40
        assert ledger.verify_ledger() == []


def test_one_member_scanning_a_checkpoint_many_times_at_once_records_it_once(app, world):
    with app.app_context():
        make_activity("night_round", points=20, category="patrol")
        organiser = db.session.get(Member, world.people["organiser"])
        route = make_open_route(
            organiser, world.units["town_a"], "night_round", ["桥头", "祠堂"], name="夜巡"
        )
        first, second = (
            patrols.checkpoint_url(checkpoint, "http://localhost/") for checkpoint in route.checkpoints
        )
    resident = world.people["resident"]

    def scanner(code):
        return lambda: patrols.scan_checkpoint(db.session.get(Member, resident), code)

    assert run_at_once(app, [scanner(first)] * 8) == Counter({"ok": 1, "already_checked_in": 7})
    assert run_at_once(app, [scanner(second)] * 8) == Counter({"ok": 1, "already_checked_in": 7})
    with app.app_context():
        rounds = db.session.scalars(sa.select(PatrolRound)).all()
        assert [(row.scanned, row.status) for row in rounds] == [(2, "completed")]
        assert db.session.scalar(sa.select(sa.func.count()).select_from(PatrolScan)) == 2
        assert ledger.balance_of(resident).available == 20
        assert ledger.verify_ledger() == []
