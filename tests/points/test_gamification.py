"""Levels, badges and volunteer stars: awarded with the posting, once, and rebuilt identically."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from core.clock import month_index
from core.database import begin_writing, utcnow
from core.errors import AppError
from core.extensions import db
from core.identity.models import Member
from points import contributions, gamification, ledger
from points.gamification import level_for, stars_for
from points.ledger import verify_ledger
from points.models import (
    LedgerTransaction,
    MemberActiveMonth,
    MemberBadge,
    MemberGameStats,
)
from tests.conftest import dispose, make_app
from tests.factories import make_activity, make_member
from tests.points.test_ledger_concurrency import run_at_once
from tests.support.pages import csrf_token, signed_in

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def games(app, world):
    """Activities without caps in every counted category, and the standard world."""
    with app.app_context():
        make_activity("patrol_each", points=5, category="patrol", needs_review=False)
        make_activity("mediate", points=20, category="mediation", needs_review=False)
        make_activity("publicise", points=5, category="publicity", needs_review=False)
        make_activity("volunteer", points=2, unit="hour", category="volunteer_service", needs_review=False)
        make_activity("volunteer_each", points=2, category="volunteer_service", needs_review=False)
        make_activity("night_patrol", points=3, unit="hour", category="patrol", needs_review=False)
    return world


def record(world, code, quantity=1, at=None, member="resident"):
    """Staff record an approved contribution that happened at ``at`` (default an hour ago)."""
    at = at or utcnow() - timedelta(hours=1)
    actor = db.session.get(Member, world.people["organiser"])
    return contributions.record_contribution(
        actor, world.people[member], code, Decimal(str(quantity)), at, now=at + timedelta(hours=1)
    )


def reverse(world, contribution):
    """An organiser reverses a contribution."""
    actor = db.session.get(Member, world.people["organiser"])
    return contributions.reverse_contribution(actor, contribution.id, "recorded by mistake")


def badges(member_id):
    """The member's badge codes and award times."""
    return {badge.code: badge.awarded_at for badge in gamification.member_badges(member_id)}


def award_time(contribution):
    """When the contribution's award was posted."""
    return db.session.scalar(
        sa.select(LedgerTransaction.created_at).where(
            LedgerTransaction.contribution_id == contribution.id, LedgerTransaction.kind == "award"
        )
    )


def shanghai(*args):
    return datetime(*args, tzinfo=SHANGHAI)


# --- levels ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "earned, code, next_at, to_next",
    [
        (0, "newcomer", 100, 100),
        (99, "newcomer", 100, 1),
        (100, "guardian", 500, 400),
        (499, "guardian", 500, 1),
        (500, "pacesetter", 2000, 1500),
        (4999, "pioneer", 5000, 1),
        (5000, "exemplar", None, None),
        (123456, "exemplar", None, None),
    ],
)
def test_levels_change_exactly_at_their_thresholds(ctx, earned, code, next_at, to_next):
    level = level_for(earned)
    assert (level["code"], level["next_at"], level["to_next"]) == (code, next_at, to_next)
    assert level["min_points"] <= earned


def test_levels_are_named_in_chinese_by_default(ctx):
    assert level_for(0)["name"] == "平安新兵"
    assert level_for(150)["name"] == "平安卫士"


def test_a_configured_ladder_replaces_the_default(database_url):
    ladder = [("bronze", 0, "铜牌", "Bronze"), ("gold", 50, "金牌", "Gold")]
    app = make_app(database_url, GAMIFICATION_LEVELS=ladder)
    try:
        with app.app_context():
            assert level_for(49)["code"] == "bronze" and level_for(49)["to_next"] == 1
            assert level_for(50) == {
                "code": "gold",
                "name": "金牌",
                "min_points": 50,
                "next_at": None,
                "to_next": None,
            }
        app.config["GAMIFICATION_LEVELS"] = [("gold", 10, "金牌", "Gold")]
        with app.app_context(), pytest.raises(ValueError, match="from 0 points"):
            level_for(20)
    finally:
        dispose(app)


# --- badges ---------------------------------------------------------------------------------------


def test_the_first_contribution_of_a_category_earns_its_badge_once_with_its_date(ctx, games):
    first = record(games, "publicise")
    record(games, "publicise")
    record(games, "mediate")
    resident = games.people["resident"]
    assert badges(resident) == {
        "first_publicity": award_time(first),
        "first_mediation": badges(resident)["first_mediation"],
    }
    assert db.session.scalar(sa.select(sa.func.count()).select_from(MemberBadge)) == 2


def test_a_pending_claim_earns_no_badge_until_it_is_approved(ctx, games):
    make_activity("reviewed_publicity", points=5, category="publicity", needs_review=True)
    resident = db.session.get(Member, games.people["resident"])
    claim = contributions.record_contribution(
        resident, resident.id, "reviewed_publicity", Decimal(1), utcnow() - timedelta(hours=1)
    )
    assert badges(resident.id) == {}
    contributions.approve_contribution(db.session.get(Member, games.people["grid_worker"]), claim.id)
    assert list(badges(games.people["resident"])) == ["first_publicity"]


def test_ten_patrols_earn_a_badge_that_a_reversal_does_not_take_back(ctx, games):
    patrols = [record(games, "patrol_each") for _ in range(9)]
    resident = games.people["resident"]
    assert "patrols_10" not in badges(resident)
    tenth = record(games, "night_patrol", quantity="0.5")  # an hourly patrol counts once, not per hour
    assert badges(resident)["patrols_10"] == award_time(tenth)
    reverse(games, patrols[0])
    assert badges(resident)["patrols_10"] == award_time(tenth)
    assert db.session.get(MemberGameStats, resident).patrols == 9
    record(games, "patrol_each")
    assert (
        db.session.scalar(
            sa.select(sa.func.count()).select_from(MemberBadge).where(MemberBadge.code == "patrols_10")
        )
        == 1
    )
    assert badges(resident)["patrols_10"] == award_time(tenth)


def test_a_reversed_patrol_must_be_made_up_before_the_badge(ctx, games):
    patrols = [record(games, "patrol_each") for _ in range(9)]
    reverse(games, patrols[3])
    record(games, "patrol_each")
    assert "patrols_10" not in badges(games.people["resident"])
    record(games, "patrol_each")
    assert "patrols_10" in badges(games.people["resident"])


def test_ten_and_fifty_mediations_earn_their_badges(ctx, games):
    mediations = [record(games, "mediate") for _ in range(50)]
    earned = badges(games.people["resident"])
    assert earned["mediations_10"] == award_time(mediations[9])
    assert earned["mediations_50"] == award_time(mediations[49])
    assert "patrols_10" not in earned


def test_three_consecutive_months_across_the_year_end_earn_a_badge(ctx, games):
    resident = games.people["resident"]
    record(games, "publicise", at=shanghai(2025, 11, 20, 10))
    # 23:30 on 31 December in Shanghai is still December there (15:30 UTC).
    december = record(games, "publicise", at=shanghai(2025, 12, 31, 23, 30))
    assert "active_months_3" not in badges(resident)
    january = record(games, "publicise", at=shanghai(2026, 1, 1, 0, 10))
    assert month_index(january.occurred_at) == month_index(december.occurred_at) + 1
    assert badges(resident)["active_months_3"] == award_time(january)
    assert "active_months_6" not in badges(resident)


def test_a_backdated_award_that_fills_a_gap_completes_the_run(ctx, games):
    resident = games.people["resident"]
    for month in (9, 10, 12):
        record(games, "publicise", at=shanghai(2025, month, 5, 12))
    for month in (1, 2):
        record(games, "publicise", at=shanghai(2026, month, 5, 12))
    assert "active_months_3" in badges(resident) and "active_months_6" not in badges(resident)
    november = record(games, "publicise", at=shanghai(2025, 11, 28, 12))
    assert badges(resident)["active_months_6"] == award_time(november)
    assert "active_months_12" not in badges(resident)


def test_twelve_months_in_a_row_earn_all_three_month_badges(ctx, games):
    for offset in range(12):
        record(games, "publicise", at=shanghai(2025 + (3 + offset) // 12, (3 + offset) % 12 + 1, 1, 9))
    assert {"active_months_3", "active_months_6", "active_months_12"} <= set(badges(games.people["resident"]))


def test_a_month_whose_only_award_was_reversed_no_longer_counts_as_active(ctx, games):
    resident = games.people["resident"]
    record(games, "publicise", at=shanghai(2026, 1, 10, 9))
    february = record(games, "publicise", at=shanghai(2026, 2, 10, 9))
    reverse(games, february)
    assert db.session.get(MemberActiveMonth, (resident, month_index(february.occurred_at))).points == 0
    record(games, "publicise", at=shanghai(2026, 3, 10, 9))
    assert "active_months_3" not in badges(resident)
    record(games, "publicise", at=shanghai(2026, 2, 20, 9))
    assert "active_months_3" in badges(resident)


def spend(member_id, points, reference):
    """Reserve points for a voucher and spend them at the counter, as the rewards package does."""
    begin_writing(db.session)
    ledger.hold(member_id, points, reference=reference, actor_id=member_id)
    db.session.commit()
    begin_writing(db.session)
    transaction = ledger.spend(member_id, points, reference=reference, actor_id=None)
    db.session.commit()
    return transaction


def test_the_first_redemption_earns_a_badge_but_a_released_hold_does_not(ctx, games):
    resident = games.people["resident"]
    record(games, "mediate")
    begin_writing(db.session)
    ledger.hold(resident, 5, reference="voucher:1", actor_id=resident)
    ledger.release(resident, 5, reference="voucher:1", actor_id=None)
    db.session.commit()
    assert "first_redemption" not in badges(resident)
    first = spend(resident, 5, "voucher:2")
    spend(resident, 5, "voucher:3")
    assert badges(resident)["first_redemption"] == first.created_at


def test_an_award_that_fails_its_daily_cap_leaves_no_badge_or_counter(ctx, games):
    make_activity("capped_patrol", points=5, category="patrol", daily_cap=5, needs_review=False)
    at = utcnow() - timedelta(hours=1)
    record(games, "capped_patrol", at=at)
    with pytest.raises(AppError, match="daily_cap_reached"):
        record(games, "capped_patrol", at=at)
    db.session.rollback()
    assert db.session.get(MemberGameStats, games.people["resident"]).patrols == 1


def test_badges_are_awarded_once_when_many_awards_race(app, games):
    resident, staff = games.people["resident"], games.people["grid_worker"]
    at = utcnow() - timedelta(hours=1)

    def award():
        contributions.record_contribution(
            db.session.get(Member, staff), resident, "patrol_each", Decimal(1), at
        )

    assert run_at_once(app, [award] * 20) == Counter({"ok": 20})
    with app.app_context():
        assert db.session.get(MemberGameStats, resident).patrols == 20
        codes = Counter(
            db.session.scalars(sa.select(MemberBadge.code).where(MemberBadge.member_id == resident))
        )
        assert codes == Counter({"first_patrol": 1, "patrols_10": 1})
        tenth = db.session.scalars(
            sa.select(LedgerTransaction.created_at)
            .where(LedgerTransaction.member_id == resident)
            .order_by(LedgerTransaction.id)
        ).all()[9]
        assert badges(resident)["patrols_10"] == tenth
        assert verify_ledger() == []


# --- volunteer stars ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "half_hours, count, next_at",
    [
        (0, 0, 100),
        (199, 0, 100),
        (200, 1, 300),
        (599, 1, 300),
        (600, 2, 600),
        (1200, 3, 1000),
        (2000, 4, 1500),
        (2999, 4, 1500),
        (3000, 5, None),
    ],
)
def test_stars_follow_the_volunteer_record_convention(half_hours, count, next_at):
    stars = stars_for(half_hours)
    assert (stars["count"], stars["hours"], stars["next_at"]) == (count, half_hours / 2, next_at)


def test_stars_count_verified_volunteer_hours_in_half_hours_net_of_reversals(ctx, games):
    resident = games.people["resident"]
    record(games, "volunteer", quantity="99.5")
    record(games, "volunteer_each", quantity=3)  # not hours
    record(games, "night_patrol", quantity=5)  # hours, but not volunteer service
    assert stars_for(db.session.get(MemberGameStats, resident).volunteer_half_hours) == {
        "count": 0,
        "hours": 99.5,
        "next_at": 100,
        "to_next": 0.5,
    }
    half = record(games, "volunteer", quantity="0.5")
    assert stars_for(db.session.get(MemberGameStats, resident).volunteer_half_hours)["count"] == 1
    reverse(games, half)
    assert stars_for(db.session.get(MemberGameStats, resident).volunteer_half_hours)["hours"] == 99.5
    record(games, "volunteer", quantity="1000")
    record(games, "volunteer", quantity="400.5")
    stars = stars_for(db.session.get(MemberGameStats, resident).volunteer_half_hours)
    assert (stars["count"], stars["hours"], stars["next_at"]) == (5, 1500.0, None)


# --- rebuild --------------------------------------------------------------------------------------


def snapshot():
    """Every badge, counter and active month, as comparable values."""
    return (
        sorted(
            db.session.execute(
                sa.select(MemberBadge.member_id, MemberBadge.code, MemberBadge.awarded_at)
            ).all()
        ),
        sorted(
            db.session.execute(
                sa.select(
                    MemberGameStats.member_id,
                    MemberGameStats.patrols,
                    MemberGameStats.mediations,
                    MemberGameStats.volunteer_half_hours,
                )
            ).all()
        ),
        sorted(
            db.session.execute(
                sa.select(MemberActiveMonth.member_id, MemberActiveMonth.month, MemberActiveMonth.points)
            ).all()
        ),
    )


def test_a_rebuild_from_the_ledger_equals_what_was_awarded_live(app, games, runner):
    with app.app_context():
        for year, month in ((2025, 10), (2025, 11), (2025, 12), (2026, 1)):
            record(games, "publicise", at=shanghai(year, month, 3, 9))
        patrols = [record(games, "patrol_each", member="villager") for _ in range(11)]
        reverse(games, patrols[0])
        reverse(games, record(games, "volunteer", quantity="7.5", member="villager"))
        record(games, "volunteer", quantity="120", member="neighbour")
        record(games, "mediate", member="neighbour")
        spend(games.people["neighbour"], 10, "voucher:7")
        gamification.check_in_daily(db.session.get(Member, games.people["resident"]))
        live = snapshot()
        assert len(live[0]) >= 8
    result = runner.invoke(args=["gamification", "rebuild"])
    assert result.exit_code == 0, result.output
    assert "badges" in result.output
    with app.app_context():
        assert snapshot() == live
        db.session.execute(sa.delete(MemberBadge))
        db.session.execute(sa.delete(MemberGameStats))
        db.session.commit()
    assert runner.invoke(args=["gamification", "rebuild"]).exit_code == 0
    with app.app_context():
        assert snapshot() == live


# --- GET /me and the page -------------------------------------------------------------------------


def test_me_shows_level_stars_badges_and_streak(app, client, games):
    with app.app_context():
        first = record(games, "volunteer", quantity="60.5")
        record(games, "mediate")
        first_at = award_time(first)
    me = client.get("/api/v1/me", headers=games.headers["resident"]).get_json()
    assert me["lifetime_earned"] == 141
    assert me["level"] == {
        "code": "guardian",
        "name": "平安卫士",
        "min_points": 100,
        "next_at": 500,
        "to_next": 359,
    }
    assert me["stars"] == {"count": 0, "hours": 60.5, "next_at": 100, "to_next": 39.5}
    assert [badge["code"] for badge in me["badges"]] == ["first_volunteer_service", "first_mediation"]
    assert me["badges"][0]["name"] == "首次志愿服务"
    assert datetime.fromisoformat(me["badges"][0]["awarded_at"]) == first_at
    assert me["badges"][0]["awarded_at"].endswith("+08:00")
    assert me["streak"] == {"days": 0, "checked_in_today": False}
    english = client.get(
        "/api/v1/me", headers={**games.headers["resident"], "Accept-Language": "en"}
    ).get_json()
    assert english["level"]["name"] == "Guardian" and english["badges"][1]["name"] == "First dispute mediated"


def test_me_reads_a_few_rows_and_never_scans_the_ledger(ctx, games):
    for _ in range(12):
        record(games, "patrol_each")
    record(games, "volunteer", quantity=3)
    statements = []

    def note(_connection, _cursor, statement, *_args):
        statements.append(statement.lower())

    resident = db.session.get(Member, games.people["resident"])
    sa.event.listen(db.engine, "before_cursor_execute", note)
    try:
        points = gamification.points_for_me(resident)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", note)
    assert points["stars"]["hours"] == 3 and len(points["badges"]) == 3
    reads = [statement for statement in statements if statement.lstrip().startswith("select")]
    assert len(reads) <= 4, reads  # balance, counters, badges, streak
    assert not any("ledger_transaction" in statement or "ledger_posting" in statement for statement in reads)


def test_me_of_a_member_with_nothing_yet_starts_at_the_bottom(client, games):
    me = client.get("/api/v1/me", headers=games.headers["clerk"]).get_json()
    assert me["level"]["code"] == "newcomer" and me["level"]["to_next"] == 100
    assert me["stars"]["count"] == 0 and me["badges"] == []
    assert me["streak"] == {"days": 0, "checked_in_today": False}


def test_my_points_page_shows_level_stars_badges_and_a_one_tap_checkin(app, games):
    with app.app_context():
        record(games, "volunteer", quantity="150")
    browser = signed_in(app, games, "resident")
    html = browser.get("/me/points").get_data(as_text=True)
    assert 'data-level="guardian"' in html and "平安卫士" in html and "<progress" in html
    assert 'data-stars="1"' in html and "★☆☆☆☆" in html
    assert 'data-badge="first_volunteer_service"' in html and "首次志愿服务" in html
    assert 'action="/me/checkin"' in html and 'data-streak="0"' in html
    assert "<script>" not in html and " style=" not in html and "onclick" not in html
    refused = browser.post("/me/checkin", data={})
    assert refused.status_code == 400
    token = csrf_token(html)
    done = browser.post("/me/checkin", data={"csrf_token": token})
    assert done.status_code == 303
    html = browser.get("/me/points").get_data(as_text=True)
    assert 'data-streak="1"' in html and 'action="/me/checkin"' not in html
    again = browser.post("/me/checkin", data={"csrf_token": token}, follow_redirects=True)
    assert "今天已经报过平安" in again.get_data(as_text=True)
    with app.app_context():
        assert (
            db.session.scalar(
                sa.select(sa.func.count())
                .select_from(LedgerTransaction)
                .where(LedgerTransaction.reference.like("daily_checkin:%"))
            )
            == 1
        )


def test_a_suspended_member_cannot_check_in(ctx, games):
    member = make_member("停用者", status="suspended")
    with pytest.raises(AppError, match="invalid_state"):
        gamification.check_in_daily(member, now=datetime(2026, 5, 1, 1, tzinfo=UTC))
