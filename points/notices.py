"""The monthly public notice (积分公示) and objections to it.

An organiser publishes a finished month for an org unit: every approved contribution of that
month (Asia/Shanghai, by ``occurred_at``) by a member of the unit's subtree becomes an entry,
with the masked name and grid as published. The notice is open from publication until the end
of the ``NOTICE_WORKING_DAYS``-th working day after the day it was published (Monday to Friday,
less ``PUBLIC_HOLIDAYS``, plus ``WORKING_WEEKENDS``), then closed; a contribution on a closed
notice that was not taken back shows as 公示通过 (passed public notice) in its member's history.

While it is open, any member living in the subtree may object to an entry with a reason (at most
``OBJECTIONS_PER_DAY`` objections in 24 hours, one per entry). An organiser in scope decides:
upholding reverses the contribution once (through ``contributions.take_back_contribution``, with
the objection as the reason) and settles every other pending objection to it the same way;
dismissing keeps it. Nobody decides on their own act: not the objector, not the contributor,
not whoever approved the points (``self_review``). Both sides are told; the contributor never
learns who objected.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l

from core.api import paginate
from core.audit import record_audit
from core.clock import (
    MONTH_FORMAT,
    add_working_days,
    end_of_day,
    parse_month,
    period_bounds,
    shanghai_date,
    shanghai_today,
)
from core.database import begin_writing, insert_rows, utcnow
from core.errors import AppError
from core.extensions import db
from core.identity.access import can, require, scope_units
from core.identity.models import Member, OrgUnit
from core.identity.services import get_org_unit, mask_name
from core.notifications import notify
from core.refusals import add_unique, require_found, require_status
from points.alerts import MY_POINTS, activity_names
from points.contributions import get_contribution, take_back_contribution
from points.leaderboards.boards import display_name
from points.models import Contribution, Notice, NoticeEntry, Objection

#: The most entries a printed notice carries (a notice is for a village's board, not a county's).
PRINT_MAX_ENTRIES = 600


# --- the window -----------------------------------------------------------------------------------


def closes_at_for(published_at: datetime) -> datetime:
    """When a notice published at ``published_at`` closes: the end of the NOTICE_WORKING_DAYS-th
    working day after the day of publication (Asia/Shanghai)."""
    config = current_app.config
    last = add_working_days(
        shanghai_date(published_at),
        config["NOTICE_WORKING_DAYS"],
        config["PUBLIC_HOLIDAYS"],
        config["WORKING_WEEKENDS"],
    )
    return end_of_day(last)


def notice_status(notice: Notice, now: datetime | None = None) -> str:
    """``open`` until the notice closes, ``closed`` after."""
    return "open" if (now or utcnow()) < notice.closes_at else "closed"


# --- publishing and reading -----------------------------------------------------------------------


def _duplicate() -> AppError:
    return AppError(
        409,
        "duplicate",
        _l("This month's notice is already published for this org unit."),
        {"month": ["already published"]},
    )


def month_contributions(unit: OrgUnit, month: str):
    """The approved contributions of a month (Asia/Shanghai) by members of a unit's subtree, with
    their members and grids, oldest first."""
    start, end = period_bounds("month", parse_month(month))
    return (
        sa.select(Contribution, Member, OrgUnit)
        .join(Member, Member.id == Contribution.member_id)
        .join(OrgUnit, OrgUnit.id == Member.org_unit_id)
        .where(
            Contribution.status == "approved",
            Contribution.occurred_at >= start,
            Contribution.occurred_at < end,
            OrgUnit.path.startswith(unit.path),
        )
        .order_by(Contribution.occurred_at, Contribution.id)
    )


def publish_notice(actor: Member, org_unit_id: int, month: str, now: datetime | None = None) -> Notice:
    """Publish a finished month's notice for an org unit in the actor's scope, once."""
    now = now or utcnow()
    first = parse_month(month)
    month = first.strftime(MONTH_FORMAT)
    if period_bounds("month", first)[1] > now:
        raise AppError(422, errors={"month": [f"{month} has not ended yet"]})
    unit = get_org_unit(org_unit_id)
    require(actor, "notice.publish", unit)
    if db.session.scalar(sa.select(Notice.id).where(Notice.org_unit_id == unit.id, Notice.month == month)):
        raise _duplicate()
    begin_writing(db.session)
    rows = db.session.execute(month_contributions(unit, month)).all()
    notice = Notice(
        org_unit_id=unit.id,
        month=month,
        opens_at=now,
        closes_at=closes_at_for(now),
        entries_count=len(rows),
        published_by_id=actor.id,
        created_at=now,
    )
    add_unique(notice, _duplicate())
    insert_rows(
        db.session,
        NoticeEntry.__table__,
        [
            {
                "notice_id": notice.id,
                "contribution_id": contribution.id,
                "member_id": member.id,
                "display_name": mask_name(member.name),
                "anonymous": member.anonymous or member.hidden,
                "grid_id": grid.id,
            }
            for contribution, member, grid in rows
        ],
    )
    record_audit(
        actor,
        "notice.publish",
        notice,
        after={
            "org_unit_id": unit.id,
            "month": month,
            "entries": len(rows),
            "closes_at": notice.closes_at.isoformat(),
        },
    )
    db.session.commit()
    return notice


def get_notice(notice_id: int) -> Notice:
    """Return a notice or refuse with 404."""
    return require_found(db.session.get(Notice, notice_id), "notice_id", "notice")


def lives_under(member: Member, unit: OrgUnit) -> bool:
    """Tell whether the member lives in the unit's subtree."""
    return unit.contains(member.org_unit)


def may_read(actor: Member, notice: Notice) -> bool:
    """Members of the notice's subtree and staff in scope may read it."""
    return lives_under(actor, notice.org_unit) or can(actor, "notice.read", notice.org_unit)


def read_notice(actor: Member, notice_id: int) -> Notice:
    """Return a notice to someone who may read it."""
    notice = get_notice(notice_id)
    if actor is None:
        raise AppError(401)
    if not may_read(actor, notice):
        raise AppError(403)
    return notice


def _standing(notice: Notice):
    """The notice's entries that still stand (approved, not taken back), oldest first."""
    return (
        sa.select(NoticeEntry)
        .join(Contribution, Contribution.id == NoticeEntry.contribution_id)
        .where(NoticeEntry.notice_id == notice.id, Contribution.status == "approved")
        .options(
            sa.orm.contains_eager(NoticeEntry.contribution).joinedload(Contribution.activity),
            sa.orm.joinedload(NoticeEntry.grid),
        )
        .order_by(Contribution.occurred_at, Contribution.id)
    )


def shown_notice(notice: Notice, page: int = 1, page_size: int = 100, now: datetime | None = None) -> dict:
    """The notice as ``GET /notices/{id}`` answers it: its window, status and a page of the entries
    that still stand."""
    entries = paginate(_standing(notice), page, page_size)
    return {
        "id": notice.id,
        "org_unit": notice.org_unit,
        "month": notice.month,
        "opens_at": notice.opens_at,
        "closes_at": notice.closes_at,
        "status": notice_status(notice, now),
        "entries_count": notice.entries_count,
        "entries": [entry_fields(entry) for entry in entries["items"]],
        "page": entries["page"],
        "page_size": entries["page_size"],
        "total": entries["total"],
    }


def printable_entries(notice: Notice) -> list[dict]:
    """Every entry that still stands, for the printed notice; refused when too many to print."""
    rows = list(db.session.scalars(_standing(notice).limit(PRINT_MAX_ENTRIES + 1)).unique())
    if len(rows) > PRINT_MAX_ENTRIES:
        raise AppError(
            422,
            message=_l(
                "This notice has too many entries to print: publish one per village or community instead."
            ),
            errors={"entries": [f"over {PRINT_MAX_ENTRIES}"]},
        )
    return [entry_fields(entry) for entry in rows]


def standing_entry(notice: Notice, contribution_id: int) -> dict:
    """One entry of the notice that still stands, or 404."""
    entry = db.session.scalars(
        _standing(notice).where(NoticeEntry.contribution_id == contribution_id)
    ).first()
    if entry is None:
        raise AppError(404, errors={"contribution_id": ["not an entry of this notice"]})
    return entry_fields(entry)


def entry_fields(entry: NoticeEntry) -> dict:
    """One entry as published: the contribution, masked name, grid, activity, quantity, points."""
    contribution = entry.contribution
    return {
        "contribution_id": contribution.id,
        "display_name": shown_name(entry),
        "org_unit": entry.grid,
        "activity": contribution.activity,
        "quantity": contribution.quantity,
        "points": contribution.points,
        "occurred_at": contribution.occurred_at,
    }


def shown_name(entry: NoticeEntry) -> str:
    """The entry's name as the notice shows it: masked, or 匿名 (anonymous, or hidden by an admin)."""
    return str(display_name(entry.display_name, entry.anonymous))


def list_notices(actor: Member, page: int = 1, page_size: int = 20) -> dict:
    """Notices the actor may read, newest first: of the units they live in, and in their scope."""
    visible = []
    if actor.org_unit is not None:
        visible.append(sa.literal(actor.org_unit.path).startswith(OrgUnit.path))
    units = scope_units(actor, "notice.read")
    if units is None:
        visible.append(sa.true())
    else:
        visible += [OrgUnit.path.startswith(unit.path) for unit in units]
    if not visible:
        return {"items": [], "page": page, "page_size": page_size, "total": 0}
    statement = (
        sa.select(Notice)
        .join(OrgUnit, OrgUnit.id == Notice.org_unit_id)
        .where(sa.or_(*visible))
        .options(sa.orm.contains_eager(Notice.org_unit))
        .order_by(Notice.id.desc())
    )
    return paginate(statement, page, page_size)


def publicised(contribution_ids, now: datetime | None = None) -> set[int]:
    """Which of these contributions passed public notice: on a notice now closed, not taken back."""
    ids = {contribution_id for contribution_id in contribution_ids if contribution_id is not None}
    if not ids:
        return set()
    return set(
        db.session.scalars(
            sa.select(NoticeEntry.contribution_id)
            .join(Notice, Notice.id == NoticeEntry.notice_id)
            .join(Contribution, Contribution.id == NoticeEntry.contribution_id)
            .where(
                NoticeEntry.contribution_id.in_(ids),
                Notice.closes_at <= (now or utcnow()),
                Contribution.status == "approved",
            )
        )
    )


def publishable_months(now: datetime | None = None, count: int = 6) -> list[str]:
    """The last ``count`` finished months, newest first (what a notice may be published for)."""
    day = shanghai_today(now).replace(day=1)
    months = []
    for _ in range(count):
        day = (day - timedelta(days=1)).replace(day=1)
        months.append(day.strftime(MONTH_FORMAT))
    return months


# --- objections ---------------------------------------------------------------------------------


def _retry_after(objector_id: int, now: datetime) -> int | None:
    """Seconds until the objector may object again (None: now), counted over the last 24 hours."""
    limit = current_app.config["OBJECTIONS_PER_DAY"]
    since = now - timedelta(hours=24)
    recent = list(
        db.session.scalars(
            sa.select(Objection.created_at)
            .where(Objection.objector_id == objector_id, Objection.created_at > since)
            .order_by(Objection.created_at.desc())
            .limit(limit)
        )
    )
    if len(recent) < limit:
        return None
    return max(int((recent[-1] - since).total_seconds()) + 1, 1)


def lodge_objection(
    actor: Member, notice_id: int, contribution_id: int, reason: str, now: datetime | None = None
) -> Objection:
    """Object to one entry of an open notice, as a member of its subtree."""
    now = now or utcnow()
    notice = get_notice(notice_id)
    if actor is None:
        raise AppError(401)
    if not lives_under(actor, notice.org_unit):
        raise AppError(403, message=_l("Only members living in this notice's area may object."))
    if notice_status(notice, now) != "open":
        raise AppError(
            422,
            "outside_window",
            _l("This notice is closed: objections are no longer taken."),
            {"closes_at": [notice.closes_at.isoformat()]},
        )
    on_notice = db.session.scalar(
        sa.select(NoticeEntry.id)
        .join(Contribution, Contribution.id == NoticeEntry.contribution_id)
        .where(
            NoticeEntry.notice_id == notice.id,
            NoticeEntry.contribution_id == contribution_id,
            Contribution.status == "approved",
        )
    )
    if on_notice is None:
        raise AppError(422, errors={"contribution_id": ["not an entry of this notice"]})
    begin_writing(db.session)
    # One objector at a time: the count of their recent objections holds under concurrency.
    db.session.execute(sa.select(Member.id).where(Member.id == actor.id).with_for_update())
    wait = _retry_after(actor.id, now)
    if wait is not None:
        raise AppError(
            429,
            message=_l("You have lodged the most objections allowed in 24 hours. Please try again later."),
            headers={"Retry-After": str(wait)},
        )
    objection = Objection(
        notice_id=notice.id,
        contribution_id=contribution_id,
        objector_id=actor.id,
        reason=reason,
        status="pending",
        created_at=now,
    )
    add_unique(
        objection,
        AppError(
            409,
            "duplicate",
            _l("You have already objected to this entry."),
            {"contribution_id": ["already objected"]},
        ),
    )
    db.session.commit()
    return objection


_LOCKED_OBJECTION = (
    sa.select(Objection)
    .where(Objection.id == sa.bindparam("id"))
    .with_for_update()
    .execution_options(populate_existing=True)
)


def _entry_name(objection: Objection) -> str:
    """The contributor's name as the notice published it (masked, or 匿名)."""
    entry = db.session.scalar(
        sa.select(NoticeEntry).where(
            NoticeEntry.notice_id == objection.notice_id,
            NoticeEntry.contribution_id == objection.contribution_id,
        )
    )
    with force_locale("zh"):
        return shown_name(entry)


def decide_objection(
    actor: Member, objection_id: int, decision: str, reason: str, force: bool = False
) -> Objection:
    """Uphold an objection (the contribution is reversed, once) or dismiss it, with a reason.

    Upholding also upholds every other pending objection to the same entry. ``force`` (admins)
    takes back what is available and writes off the rest, as a forced reversal does.
    """
    if decision not in ("uphold", "dismiss"):
        raise ValueError(decision)
    begin_writing(db.session)
    objection = require_found(db.session.get(Objection, objection_id), "objection_id", "objection")
    # The contribution first, then its objections: deciders of two objections to one entry queue
    # on the same row in the same order, and never deadlock.
    contribution = get_contribution(objection.contribution_id, lock=True)
    objection = db.session.scalar(_LOCKED_OBJECTION, {"id": objection_id})
    require(actor, "objection.decide", contribution.member)
    if actor.id in (objection.objector_id, contribution.member_id, contribution.reviewed_by_id):
        raise AppError(
            403,
            "self_review",
            _l(
                "Nobody decides an objection to their own act: "
                "neither the objector, the contributor, nor whoever approved it."
            ),
        )
    require_status(objection, "pending", _l("This objection has already been decided."))
    settled = [objection]
    if decision == "uphold":
        require_status(
            contribution, ("approved", "reversed"), _l("This contribution can no longer be reversed.")
        )
        if contribution.status == "approved":
            take_back_contribution(actor, contribution, objection.reason, force)
        settled += db.session.scalars(
            sa.select(Objection)
            .where(
                Objection.contribution_id == contribution.id,
                Objection.status == "pending",
                Objection.id != objection.id,
            )
            .with_for_update()
        )
    now = utcnow()
    status = "upheld" if decision == "uphold" else "dismissed"
    for each in settled:
        each.status, each.decided_by_id, each.decided_at, each.decision_reason = status, actor.id, now, reason
        record_audit(
            actor,
            f"objection.{decision}",
            each,
            reason=reason,
            after={"contribution_id": contribution.id, "status": status},
        )
    _tell_outcome(settled, contribution, status, reason)
    db.session.commit()
    return objection


def _tell_outcome(settled: list[Objection], contribution: Contribution, status: str, reason: str) -> None:
    """Tell each objector the outcome, and the contributor without saying who objected."""
    activity = activity_names(contribution.activity)
    notice = settled[0].notice
    for objection in settled:
        notify(
            objection.objector_id,
            f"objection_{status}",
            f"objection:{objection.id}",
            link=("points_pages.notice", {"notice_id": objection.notice_id}),
            name=_entry_name(objection),
            activity=activity,
            points=contribution.points,
            reason=reason,
        )
    key = f"objected:{contribution.id}:upheld" if status == "upheld" else f"objected:{settled[0].id}"
    notify(
        contribution.member_id,
        f"entry_objection_{status}",
        key,
        link=MY_POINTS,
        activity=activity,
        month=notice.month,
        points=contribution.points,
        reason=reason,
    )


def objection_fields(actor: Member, objection: Objection) -> dict:
    """An objection as the actor may see it: the objector only to themself and to those who may
    decide it (never to the contributor)."""
    contribution = objection.contribution
    sees_objector = actor.id == objection.objector_id or (
        actor.id != contribution.member_id and can(actor, "objection.decide", contribution.member)
    )
    return {
        "id": objection.id,
        "notice_id": objection.notice_id,
        "contribution_id": objection.contribution_id,
        "status": objection.status,
        "reason": objection.reason,
        "created_at": objection.created_at,
        "decided_at": objection.decided_at,
        "decision_reason": objection.decision_reason,
        "objector": objection.objector if sees_objector else None,
        "contribution": contribution,
    }


def list_objections(
    actor: Member, status: str | None = None, notice_id: int | None = None, page: int = 1, page_size: int = 20
) -> dict:
    """Objections the actor may decide (to contributions of members in scope), or else their own."""
    statement = sa.select(Objection).join(Contribution, Contribution.id == Objection.contribution_id)
    units = scope_units(actor, "objection.decide")
    if units == []:
        statement = statement.where(Objection.objector_id == actor.id)
    elif units is not None:
        statement = (
            statement.join(Member, Member.id == Contribution.member_id)
            .join(OrgUnit, OrgUnit.id == Member.org_unit_id)
            .where(sa.or_(*[OrgUnit.path.startswith(unit.path) for unit in units]))
        )
    if status is not None:
        statement = statement.where(Objection.status == status)
    if notice_id is not None:
        statement = statement.where(Objection.notice_id == notice_id)
    listing = paginate(statement.order_by(Objection.id.desc()), page, page_size)
    return {**listing, "items": [objection_fields(actor, item) for item in listing["items"]]}


def objected_by(actor: Member, notice: Notice) -> set[int]:
    """The entries of a notice the actor has objected to."""
    return set(
        db.session.scalars(
            sa.select(Objection.contribution_id).where(
                Objection.notice_id == notice.id, Objection.objector_id == actor.id
            )
        )
    )
