"""Demo data for points: the seed articles' kinds of safety work, and a few approved contributions."""

from __future__ import annotations

from datetime import time, timedelta

import sqlalchemy as sa

from core.database import begin_writing, utcnow
from core.extensions import db
from core.identity.models import Member, OrgUnit
from points import ledger
from points.models import Activity, Contribution
from points.patrols.models import PatrolRoute
from points.patrols.services import create_route
from points.wishes.models import Wish
from points.wishes.services import post_wish, publish_wish, vet_wish

#: (code, name, English name, category, points, unit, daily cap, needs review)
ACTIVITIES = [
    ("publicity", "平安建设宣传", "Safety publicity", "publicity", 5, "each", 20, True),
    ("mediation", "调解矛盾纠纷", "Mediating a dispute", "mediation", 20, "each", 60, True),
    ("night_patrol", "治安巡逻防范", "Safety patrol", "patrol", 10, "hour", 40, True),
    ("assistance", "帮扶困难群众", "Helping a resident in difficulty", "assistance", 10, "each", 30, True),
    ("volunteer_hours", "志愿服务", "Volunteer service", "volunteer_service", 5, "hour", 40, True),
    ("hazard_report", "隐患排查上报", "Reporting a hazard", "hazard_report", 5, "each", 15, True),
]
# The daily 报平安 check-in is a button of its own (POST /me/checkins), not an activity to claim.
#: (resident phone, activity code, quantity, days ago)
CONTRIBUTIONS = [
    ("13800000005", "publicity", 2, 3),
    ("13800000005", "night_patrol", 2, 2),
    ("13800000006", "mediation", 1, 5),
    ("13800000007", "assistance", 1, 1),
    # earlier ones, spent at the demo supermarket last month (rewards' demo)
    ("13800000005", "mediation", 2, 50),
    ("13800000006", "assistance", 3, 45),
]


def seed_points_demo() -> list[str]:
    """Add the demo activities and contributions that are missing."""
    begin_writing(db.session)
    for code, name, name_en, category, points, unit, cap, review in ACTIVITIES:
        if db.session.scalar(sa.select(Activity.id).where(Activity.code == code)) is None:
            db.session.add(
                Activity(
                    code=code,
                    name=name,
                    name_en=name_en,
                    category=category,
                    points=points,
                    unit=unit,
                    daily_cap=cap,
                    needs_review=review,
                )
            )
    db.session.flush()
    recorder = db.session.scalar(sa.select(Member).where(Member.phone == "13800000003"))
    added = 0
    for phone, code, quantity, days_ago in CONTRIBUTIONS:
        member = db.session.scalar(sa.select(Member).where(Member.phone == phone))
        activity = db.session.scalar(sa.select(Activity).where(Activity.code == code))
        if (
            member is None
            or recorder is None
            or db.session.scalar(
                sa.select(Contribution.id).where(
                    Contribution.member_id == member.id, Contribution.activity_id == activity.id
                )
            )
        ):
            continue
        occurred_at = utcnow() - timedelta(days=days_ago)
        contribution = Contribution(
            member=member,
            activity=activity,
            quantity=quantity,
            points=activity.points * quantity,
            occurred_at=occurred_at,
            status="approved",
            recorded_by_id=recorder.id,
            reviewed_by_id=recorder.id,
            reviewed_at=utcnow(),
        )
        db.session.add(contribution)
        db.session.flush()
        ledger.award(
            member.id,
            contribution.points,
            occurred_at=occurred_at,
            actor_id=recorder.id,
            contribution_id=contribution.id,
            activity_id=activity.id,
            memo=activity.name,
        )
        added += 1
    db.session.commit()
    return [f"Activities: {len(ACTIVITIES)} kinds of safety work; {added} demo contributions added."]


#: (requester phone, title, description, points when published, days until due; None: left to be vetted)
WISHES = [
    ("13800000005", "帮忙搬运蜂窝煤", "家里老人腿脚不便，入冬前想请人帮忙把两百块蜂窝煤搬上三楼。", 20, 7),
    (
        "13800000006",
        "楼道灯坏了",
        "二单元三楼楼道灯不亮，晚上上下楼看不清，想请懂电的志愿者帮忙换个灯泡。",
        10,
        5,
    ),
    ("13800000005", "陪同去卫生院复查", "下周三上午要去镇卫生院复查血压，想请人陪同前往。", None, None),
]
#: (route name, community, checkpoints, window start, window end, minutes between scans)
PATROL_ROUTES = [
    (
        "东街夜巡",
        "东街社区",
        ["东街社区党群服务中心", "东街一网格路口", "东街菜市场", "东街二网格小广场"],
        time(20, 0),
        time(2, 0),
        10,
    )
]


def seed_volunteer_demo() -> list[str]:
    """Add the demo micro-wishes (two open, one waiting to be vetted) and a night patrol route, through the
    same services the pages use: a resident posts, the grid worker vets, the organiser publishes."""

    def member(phone: str) -> Member | None:
        return db.session.scalar(sa.select(Member).where(Member.phone == phone))

    organiser, grid_worker = member("13800000002"), member("13800000003")
    if organiser is None or grid_worker is None:
        return []
    added = 0
    for phone, title, description, points, due_days in WISHES:
        requester = member(phone)
        if requester is None or db.session.scalar(sa.select(Wish.id).where(Wish.title == title)) is not None:
            continue
        wish = post_wish(requester, title, description)
        if points is not None:
            vet_wish(
                grid_worker if grid_worker.org_unit_id == requester.org_unit_id else organiser,
                wish.id,
                "accept",
            )
            publish_wish(organiser, wish.id, points, utcnow() + timedelta(days=due_days))
        added += 1
    lines = [f"Wishes: {added} demo micro-wishes added."]
    for name, unit_name, checkpoints, start, end, minutes in PATROL_ROUTES:
        unit = db.session.scalar(sa.select(OrgUnit).where(OrgUnit.name == unit_name))
        if (
            unit is None
            or db.session.scalar(sa.select(PatrolRoute.id).where(PatrolRoute.name == name)) is not None
        ):
            continue
        route = create_route(organiser, name, unit.id, "night_patrol", checkpoints, start, end, minutes)
        lines.append(
            f"Patrol route {name}: {len(checkpoints)} checkpoints, {start:%H:%M}–{end:%H:%M}; "
            f"print its posters from /admin/patrols/{route.id}."
        )
    return lines
