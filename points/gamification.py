"""Gamification: levels, badges, volunteer stars and the daily 报平安 check-in.

Badges and stars move with the ledger: ``note_posting`` is a ledger subscriber (see
app.py), handed every transaction the ledger posts, in the same database transaction and
under the member's balance lock, so counters never race and a badge is awarded with the
posting that earns it. ``rebuild_gamification`` replays the ledger through the same rules, so a
rebuild gives exactly what was awarded live.

- **Levels** come from lifetime earned points (``GAMIFICATION_LEVELS``: code, points
  from, Chinese name, English name — names are given in the config, not the catalogue).
- **Badges** are awarded once, with the time of the posting that earned them, and a
  reversal never takes one back. Counters (patrols, mediations, volunteer hours, a
  month's points) are net of reversals, so a badge needs the threshold crossed again
  only if it was never awarded.
- **Stars** come from verified volunteer hours (hourly ``volunteer_service`` activities
  whose contributions posted points), net of reversals: stars can fall after a reversal.
- **The daily check-in** posts through ``ledger.award`` (reference
  ``daily_checkin:<member>:<day>``), one per Asia/Shanghai day, with a streak bonus; the rules
  read it as a contribution of the ``daily_checkin`` category (so the first earns its badge).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cache

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale, get_locale
from flask_babel import lazy_gettext as _l

from core.audit import record_audit
from core.clock import SHANGHAI, month_index, shanghai_date
from core.database import UTCDateTime, begin_writing, utcnow
from core.errors import AppError
from core.extensions import db
from core.identity.models import Member
from core.notifications import localised, notify
from core.refusals import add_unique
from points import ledger
from points.models import (
    Activity,
    Contribution,
    DailyCheckin,
    LedgerPosting,
    LedgerTransaction,
    MemberActiveMonth,
    MemberBadge,
    MemberBalance,
    MemberGameStats,
)

#: Verified volunteer hours for 1★ … 5★ (the national volunteer-record convention).
STAR_HOURS = (100, 300, 600, 1000, 1500)
#: Activity category → (counter, the counts that earn a badge).
COUNTED_CATEGORIES = {"patrol": ("patrols", (10, 50)), "mediation": ("mediations", (10, 50))}
VOLUNTEER_CATEGORY = "volunteer_service"
#: Consecutive active months (any net points earned) that earn a badge.
ACTIVE_MONTH_RUNS = (3, 6, 12)
CHECKIN_MEMO = "每日报平安"
CHECKIN_CATEGORY = "daily_checkin"

BADGE_NAMES = {
    "first_publicity": _l("First safety publicity"),
    "first_mediation": _l("First dispute mediated"),
    "first_patrol": _l("First patrol"),
    "first_assistance": _l("First help for a resident in difficulty"),
    "first_volunteer_service": _l("First volunteer service"),
    "first_hazard_report": _l("First hazard reported"),
    "first_daily_checkin": _l("First daily check-in"),
    "first_other": _l("First other contribution"),
    "patrols_10": _l("10 patrols"),
    "patrols_50": _l("50 patrols"),
    "mediations_10": _l("10 mediations"),
    "mediations_50": _l("50 mediations"),
    "active_months_3": _l("Active 3 months in a row"),
    "active_months_6": _l("Active 6 months in a row"),
    "active_months_12": _l("Active 12 months in a row"),
    "first_redemption": _l("First reward redeemed"),
}


# --- levels and stars ---------------------------------------------------------------------------


def level_ladder() -> list[tuple[str, int, str, str]]:
    """The configured levels, lowest first; the first must start at 0 points."""
    ladder = sorted(current_app.config["GAMIFICATION_LEVELS"], key=lambda level: level[1])
    if not ladder or ladder[0][1] != 0:
        raise ValueError("GAMIFICATION_LEVELS must start with a level from 0 points")
    return ladder


def _english() -> bool:
    """Tell whether the current request reads English (Chinese is the default)."""
    return str(get_locale() or "zh") == "en"


def level_for(lifetime_earned: int) -> dict:
    """The level of a lifetime earned total, with the points where the next one starts."""
    ladder = level_ladder()
    index = max(i for i, level in enumerate(ladder) if level[1] <= max(lifetime_earned, 0))
    code, start, name_zh, name_en = ladder[index]
    next_at = ladder[index + 1][1] if index + 1 < len(ladder) else None
    return {
        "code": code,
        "name": name_en if _english() else name_zh,
        "min_points": start,
        "next_at": next_at,
        "to_next": None if next_at is None else next_at - lifetime_earned,
    }


def stars_for(volunteer_half_hours: int) -> dict:
    """Volunteer stars for verified hours (kept in half hours), with the hours of the next star."""
    hours = volunteer_half_hours / 2
    count = sum(1 for needed in STAR_HOURS if hours >= needed)
    next_at = STAR_HOURS[count] if count < len(STAR_HOURS) else None
    return {
        "count": count,
        "hours": hours,
        "next_at": next_at,
        "to_next": None if next_at is None else next_at - hours,
    }


def badge_name(code: str) -> str:
    """The badge's name in the reader's language."""
    return str(BADGE_NAMES.get(code, code))


# --- what GET /me and the pages show ------------------------------------------------------------


def member_badges(member_id: int) -> list[MemberBadge]:
    """A member's badges, in the order they were awarded."""
    return list(
        db.session.scalars(
            sa.select(MemberBadge)
            .where(MemberBadge.member_id == member_id)
            .order_by(MemberBadge.awarded_at, MemberBadge.id)
        )
    )


def _latest_checkin(column):
    """The member's latest check-in up to today: one of its columns, as a subquery."""
    return (
        sa.select(column)
        .where(DailyCheckin.member_id == sa.bindparam("member_id"), DailyCheckin.day <= sa.bindparam("today"))
        .order_by(DailyCheckin.day.desc())
        .limit(1)
        .scalar_subquery()
    )


#: A member's balances, volunteer hours and latest check-in, in one query (zeros when none yet).
_ACCOUNT = (
    sa.select(
        MemberBalance.available,
        MemberBalance.held,
        MemberBalance.lifetime_earned,
        MemberGameStats.volunteer_half_hours,
        _latest_checkin(DailyCheckin.day),
        _latest_checkin(DailyCheckin.streak),
    )
    .select_from(Member)
    .outerjoin(MemberBalance, MemberBalance.member_id == Member.id)
    .outerjoin(MemberGameStats, MemberGameStats.member_id == Member.id)
    .where(Member.id == sa.bindparam("member_id"))
)


def account_of(member_id: int, now: datetime | None = None) -> dict:
    """Balances, lifetime earned, level, stars, badges and check-in streak of a member (two reads)."""
    today = shanghai_date(now or utcnow())
    available, held, lifetime, half_hours, last_day, last_streak = db.session.execute(
        _ACCOUNT, {"member_id": member_id, "today": today}
    ).one()
    alive = last_day is not None and last_day >= today - timedelta(days=1)
    return {
        "balance": {"available": available or 0, "held": held or 0},
        "lifetime_earned": lifetime or 0,
        "level": level_for(lifetime or 0),
        "stars": stars_for(half_hours or 0),
        "badges": [
            {
                "code": badge.code,
                "name": badge_name(badge.code),
                "awarded_at": badge.awarded_at.astimezone(SHANGHAI).isoformat(),
            }
            for badge in member_badges(member_id)
        ],
        "streak": {"days": last_streak if alive else 0, "checked_in_today": alive and last_day == today},
    }


def points_for_me(member: Member) -> dict:
    """What ``GET /me`` shows of points: balances, lifetime earned, level, stars, badges, streak."""
    return account_of(member.id)


def streak_of(member_id: int, now: datetime | None = None) -> dict:
    """The member's check-in streak as of ``now``: days, and whether today is done."""
    return account_of(member_id, now)["streak"]


# --- the daily check-in -------------------------------------------------------------------------


def checkin_points(streak: int) -> int:
    """Points for a check-in that makes a streak of ``streak`` days: the base, +1 for every full
    ``CHECKIN_STREAK_STEP`` days of the streak, up to ``CHECKIN_BONUS_CAP``."""
    config = current_app.config
    bonus = min(streak // config["CHECKIN_STREAK_STEP"], config["CHECKIN_BONUS_CAP"])
    return config["CHECKIN_POINTS"] + bonus


def _already_checked_in() -> AppError:
    return AppError(409, "already_checked_in", _l("You have already checked in today."))


def check_in_daily(member: Member, now: datetime | None = None) -> DailyCheckin:
    """Check in for today (Asia/Shanghai) once: small points, more on a streak of days."""
    begin_writing(db.session)
    now = now or utcnow()
    if not member.is_active:
        raise AppError(409, "invalid_state", _l("This member is suspended."))
    ledger.lock_balances(member.id)  # one check-in at a time per member, on both engines
    today = shanghai_date(now)
    recent = {
        row.day: row
        for row in db.session.scalars(
            sa.select(DailyCheckin).where(
                DailyCheckin.member_id == member.id,
                DailyCheckin.day >= today - timedelta(days=1),
                DailyCheckin.day <= today,
            )
        )
    }
    if today in recent:
        raise _already_checked_in()
    yesterday = recent.get(today - timedelta(days=1))
    streak = yesterday.streak + 1 if yesterday else 1
    points = checkin_points(streak)
    transaction = ledger.award(
        member.id,
        points,
        occurred_at=now,
        actor_id=member.id,
        memo=CHECKIN_MEMO,
        reference=f"{CHECKIN_CATEGORY}:{member.id}:{today.isoformat()}",
        org_unit_id=member.org_unit_id,
    )
    checkin = DailyCheckin(
        member_id=member.id,
        day=today,
        streak=streak,
        points=points,
        checked_in_at=now,
        transaction_id=transaction.id,
    )
    add_unique(checkin, _already_checked_in())
    record_audit(
        member, "checkin.daily", checkin, after={"day": today.isoformat(), "streak": streak, "points": points}
    )
    db.session.commit()
    return checkin


# --- badges and counters, moved with every posting ----------------------------------------------


@dataclass(frozen=True)
class PostingFacts:
    """What the rules need to know of one ledger transaction."""

    kind: str
    member_id: int
    occurred_at: datetime
    created_at: datetime
    #: Points earned (+) or taken back (−) by an award or its reversal.
    earned: int = 0
    category: str | None = None
    hourly: bool = False
    quantity: Decimal | None = None


def category_of(activity_category: str | None, reference: str | None) -> str | None:
    """The category the rules count a posting in: its activity's, or the daily check-in's."""
    if activity_category is None and (reference or "").startswith(CHECKIN_CATEGORY + ":"):
        return CHECKIN_CATEGORY
    return activity_category


def note_posting(posted: ledger.Posted) -> None:
    """Move the member's counters with a transaction just posted and award the badges it earns.

    A ledger subscriber; the activity and contribution are usually in the session already.
    """
    if posted.kind not in ("award", "reversal", "spend"):
        return
    activity = db.session.get(Activity, posted.activity_id) if posted.activity_id else None
    contribution = db.session.get(Contribution, posted.contribution_id) if posted.contribution_id else None
    earned = apply_posting(
        PostingFacts(
            kind=posted.kind,
            member_id=posted.member_id,
            occurred_at=posted.occurred_at,
            created_at=posted.created_at,
            earned=posted.earned,
            category=category_of(activity.category if activity else None, posted.reference),
            hourly=bool(activity and activity.unit == "hour"),
            quantity=contribution.quantity if contribution else None,
        )
    )
    for code in earned:
        notify(
            posted.member_id,
            "badge_earned",
            f"badge:{code}",
            link=("points_pages.my_points", {}),
            badge=localised(*badge_names(code)),
        )


def badge_names(code: str) -> tuple[str, str]:
    """A badge's name in Chinese and in English."""
    with force_locale("zh"):
        chinese = badge_name(code)
    with force_locale("en"):
        return chinese, badge_name(code)


@cache
def _adder(model) -> tuple[tuple[str, ...], sa.TextClause]:
    """A counter table's counters and the upsert that adds to them at the row's key (built once
    per table; the same SQL on SQLite and PostgreSQL, so it is compiled once per engine)."""
    table = model.__table__
    keys = tuple(column.name for column in table.primary_key)
    names = tuple(column.name for column in table.columns if column.name not in keys)
    columns = keys + names
    return names, sa.text(  # names from the model's own table; every value is a bound parameter
        f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join(':' + name for name in columns)}) "  # nosec B608
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET "
        + ", ".join(f"{name} = {table.name}.{name} + excluded.{name}" for name in names)
        + f" RETURNING {', '.join(names)}"
    )


def _add_to(model, keys: dict, increments: dict) -> dict[str, int]:
    """Add to a member's counter row (creating it at zero), answering every counter after."""
    names, statement = _adder(model)
    after = db.session.execute(statement, {**keys, **dict.fromkeys(names, 0), **increments}).one()
    return dict(zip(names, after))


def _active_run(member_id: int, month: int) -> int:
    """The length of the run of consecutive active months through ``month``."""
    longest = max(ACTIVE_MONTH_RUNS) - 1
    active = set(
        db.session.scalars(
            sa.select(MemberActiveMonth.month).where(
                MemberActiveMonth.member_id == member_id,
                MemberActiveMonth.points > 0,
                MemberActiveMonth.month.between(month - longest, month + longest),
            )
        )
    )
    first, last = month, month
    while first - 1 in active:
        first -= 1
    while last + 1 in active:
        last += 1
    return last - first + 1


_GRANT = sa.text(
    "INSERT INTO member_badge (member_id, code, awarded_at) VALUES (:member_id, :code, :awarded_at) "
    "ON CONFLICT (member_id, code) DO NOTHING RETURNING code"
).bindparams(sa.bindparam("awarded_at", type_=UTCDateTime))


def _grant(member_id: int, codes: list[str], awarded_at: datetime) -> list[str]:
    """Award badges the member does not have yet (the unique constraint decides, on both engines);
    answer those newly awarded."""
    return [
        code
        for code in codes
        if db.session.execute(
            _GRANT, {"member_id": member_id, "code": code, "awarded_at": awarded_at}
        ).first()
        is not None
    ]


def apply_posting(facts: PostingFacts) -> list[str]:
    """Apply the badge and star rules to one posting (live, or replayed by a rebuild); answer the
    badges it newly awarded."""
    if facts.kind == "spend":
        return _grant(facts.member_id, ["first_redemption"], facts.created_at)
    if facts.kind not in ("award", "reversal") or facts.earned == 0:
        return []
    badges = []
    month = month_index(facts.occurred_at)
    after = _add_to(
        MemberActiveMonth, {"member_id": facts.member_id, "month": month}, {"points": facts.earned}
    )["points"]
    if after - facts.earned <= 0 < after:
        run = _active_run(facts.member_id, month)
        badges += [f"active_months_{length}" for length in ACTIVE_MONTH_RUNS if run >= length]
    step = 1 if facts.earned > 0 else -1
    if facts.category is not None and step > 0:
        badges.append(f"first_{facts.category}")
    increments = {}
    if facts.category in COUNTED_CATEGORIES:
        increments[COUNTED_CATEGORIES[facts.category][0]] = step
    if facts.category == VOLUNTEER_CATEGORY and facts.hourly and facts.quantity:
        increments["volunteer_half_hours"] = step * int(Decimal(facts.quantity) * 2)
    if increments:
        counters = _add_to(MemberGameStats, {"member_id": facts.member_id}, increments)
        if facts.category in COUNTED_CATEGORIES and step > 0:
            name, thresholds = COUNTED_CATEGORIES[facts.category]
            badges += [f"{name}_{count}" for count in thresholds if counters[name] == count]
    return _grant(facts.member_id, badges, facts.created_at)


# --- rebuilding from the ledger -----------------------------------------------------------------


def _ledger_facts(batch: int = 5000):
    """Every award, reversal and spend in posting order, as the rules read them, in batches."""
    issued = (
        sa.select(LedgerPosting.transaction_id, LedgerPosting.amount)
        .where(LedgerPosting.account == "issued")
        .subquery()
    )
    statement = (
        sa.select(
            LedgerTransaction.id,
            LedgerTransaction.kind,
            LedgerTransaction.member_id,
            LedgerTransaction.occurred_at,
            LedgerTransaction.created_at,
            LedgerTransaction.reference,
            issued.c.amount,
            Activity.category,
            Activity.unit,
            Contribution.quantity,
        )
        .outerjoin(issued, issued.c.transaction_id == LedgerTransaction.id)
        .outerjoin(Activity, Activity.id == LedgerTransaction.activity_id)
        .outerjoin(Contribution, Contribution.id == LedgerTransaction.contribution_id)
        .where(LedgerTransaction.kind.in_(("award", "reversal", "spend")))
        .order_by(LedgerTransaction.id)
        .limit(batch)
    )
    last_id = 0
    while rows := db.session.execute(statement.where(LedgerTransaction.id > last_id)).all():
        for (
            _id,
            kind,
            member_id,
            occurred_at,
            created_at,
            reference,
            amount,
            category,
            unit,
            quantity,
        ) in rows:
            yield PostingFacts(
                kind=kind,
                member_id=member_id,
                occurred_at=occurred_at,
                created_at=created_at,
                earned=-(amount or 0),
                category=category_of(category, reference),
                hourly=unit == "hour",
                quantity=quantity,
            )
        last_id = rows[-1].id


def rebuild_gamification() -> dict:
    """Forget every badge and counter and derive them again from the ledger; answer counts."""
    begin_writing(db.session)
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(
            sa.text(  # postings wait until the rebuild commits
                "LOCK TABLE member_badge, member_game_stats, member_active_month IN EXCLUSIVE MODE"
            )
        )
    for model in (MemberBadge, MemberGameStats, MemberActiveMonth):
        db.session.execute(sa.delete(model))
    postings = 0
    for facts in _ledger_facts():
        apply_posting(facts)
        postings += 1
    badges = db.session.scalar(sa.select(sa.func.count()).select_from(MemberBadge))
    record_audit(None, "gamification.rebuild", None, after={"postings": postings, "badges": badges})
    db.session.commit()
    return {"postings": postings, "badges": badges}
