"""The ledger's subscribers: registered in one place, each reached by every posting, none implicit."""

from __future__ import annotations

import pathlib
import re
from datetime import datetime, timezone

import pytest

from app import create_app
from core.database import begin_writing
from core.extensions import db
from core.identity.hooks import members_changed
from core.identity.models import Member
from points import ledger
from points.alerts import notify_posting
from points.gamification import note_posting
from points.leaderboards.totals import record_earning, refresh_members, refresh_subtree
from points.models import LeaderboardTotal, MemberActiveMonth, MemberBadge
from tests.factories import make_activity

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGES = ("core", "points", "rewards", "admin")


def test_the_app_lists_every_subscriber_of_the_ledger_and_of_identity_changes(app):
    assert app.extensions[ledger.SUBSCRIBERS] == [record_earning, note_posting, notify_posting]
    assert app.extensions["member_change_subscribers"] == [refresh_members]
    assert app.extensions["unit_move_subscribers"] == [refresh_subtree]


def test_an_award_reaches_the_boards_and_the_badges_in_its_own_transaction(ctx, world):
    activity = make_activity("patrol_once", points=8, category="patrol")
    resident = world.people["resident"]
    begin_writing(db.session)
    first = ledger.award(resident, 8, occurred_at=datetime.now(timezone.utc), actor_id=None,
                          activity_id=activity.id)
    db.session.rollback()  # the subscribers wrote inside the posting's transaction: all of it goes
    assert db.session.get(LeaderboardTotal, (resident, "all")) is None

    begin_writing(db.session)
    ledger.award(resident, 8, occurred_at=first.occurred_at, actor_id=None, activity_id=activity.id)
    db.session.commit()
    assert db.session.get(LeaderboardTotal, (resident, "all")).score == 8
    assert db.session.query(MemberActiveMonth).filter_by(member_id=resident).one().points == 8
    assert {badge.code for badge in db.session.query(MemberBadge).filter_by(member_id=resident)} == {"first_patrol"}


def test_an_app_without_ledger_subscribers_refuses_to_post(ctx, world, app):
    subscribers = app.extensions.pop(ledger.SUBSCRIBERS)
    try:
        begin_writing(db.session)
        with pytest.raises(RuntimeError, match="no ledger subscribers"):
            ledger.award(world.people["resident"], 5, occurred_at=datetime.now(timezone.utc), actor_id=None)
    finally:
        db.session.rollback()
        app.extensions[ledger.SUBSCRIBERS] = subscribers


def test_a_member_change_reaches_the_boards_only_through_the_hook(ctx, world):
    resident = world.people["resident"]
    begin_writing(db.session)
    ledger.award(resident, 3, occurred_at=datetime.now(timezone.utc), actor_id=None)
    db.session.commit()
    begin_writing(db.session)
    db.session.get(Member, resident).hidden = True
    db.session.flush()
    assert db.session.get(LeaderboardTotal, (resident, "all")).eligible  # nothing listens behind the session
    members_changed([resident])
    db.session.commit()
    db.session.expire_all()
    assert not db.session.get(LeaderboardTotal, (resident, "all")).eligible


def test_nothing_registers_session_wide_listeners_or_imports_a_subscriber_into_the_ledger():
    sources = [path for package in PACKAGES for path in (ROOT / package).rglob("*.py")]
    session_wide = [str(path.relative_to(ROOT)) for path in sources
                    if re.search(r"listens_for\(\s*(sa\.orm\.)?Session\b|event\.listen\(\s*(sa\.orm\.)?Session\b",
                                 path.read_text())]
    assert session_wide == []
    ledger_source = (ROOT / "points" / "ledger.py").read_text()
    assert not re.search(r"^\s*(from|import) points\.(gamification|leaderboards)", ledger_source, re.M)


def test_create_app_registers_the_subscribers_once_per_app():
    first, second = create_app({"APP_ENV": "test", "SQLALCHEMY_DATABASE_URI": "sqlite://"}), \
        create_app({"APP_ENV": "test", "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert first.extensions[ledger.SUBSCRIBERS] == second.extensions[ledger.SUBSCRIBERS] == [
        record_earning, note_posting, notify_posting]
