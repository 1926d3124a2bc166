"""Wish services: post, vet, publish, take, release, mark done, confirm, cancel; list and read.

One public call is one transaction: each loads the wish and checks who may act (403 before
anything else), then begins writing, locks the wish's row (``FOR UPDATE``; the write lock on
SQLite) and checks its state again under the lock, so two takers or two confirmations at once
queue on the row and the second sees the first one's outcome. A taken wish not done by its
``due_at`` goes back to open by itself: lazily whenever wishes are read, and by
``flask wishes release-overdue`` from cron.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from core.api import paginate
from core.audit import record_audit
from core.database import begin_writing, utcnow
from core.errors import AppError
from core.extensions import db
from core.identity.access import can, can_somewhere, require, scope_condition
from core.identity.models import Member, OrgUnit
from core.identity.services import get_org_unit, mask_name
from core.notifications import notify
from core.refusals import require_status
from points import activities, contributions
from points.models import WISH_ACTIVITY
from points.photos import check_photo_owner
from points.wishes.models import WISH_STATUSES, Wish

#: An organiser in scope may confirm a done wish for a requester who has not, this long after it was done.
CONFIRM_AFTER = timedelta(days=3)
#: The steps at which a requester may still cancel their wish, and the steps where a wish is over.
REQUESTER_CANCELS = frozenset({"submitted", "vetted", "open"})
CLOSED = frozenset({"declined", "completed", "cancelled"})
MANAGER_CANCELS = frozenset(WISH_STATUSES) - CLOSED

_LOCKED = (
    sa.select(Wish)
    .where(Wish.id == sa.bindparam("id"))
    .with_for_update(of=Wish)
    .execution_options(populate_existing=True)
)


def get_wish(wish_id: int) -> Wish:
    """Return a wish or refuse with 404."""
    wish = db.session.get(Wish, wish_id)
    if wish is None:
        raise AppError(404, errors={"wish_id": ["no such wish"]})
    return wish


def _lock(wish_id: int) -> Wish:
    """Begin writing and return the wish locked for this transaction, read afresh."""
    begin_writing(db.session)
    return db.session.scalar(_LOCKED, {"id": wish_id})


NOT_AT_THIS_STEP = _l("This wish is not at a step where this can be done.")


def _self_review(message) -> AppError:
    return AppError(403, "self_review", message)


# --- where a wish may be seen ------------------------------------------------------------------


def area_prefixes(member: Member) -> list[str]:
    """The org-unit paths above and at the member's grid, widest first: county, town, community, grid."""
    if member.org_unit is None:
        return []
    ids = member.org_unit.path.strip("/").split("/")
    return ["/" + "/".join(ids[:depth]) + "/" for depth in range(1, len(ids) + 1)]


def _in_county(member: Member, wish: Wish) -> bool:
    prefixes = area_prefixes(member)
    return bool(prefixes) and wish.org_unit.path.startswith(prefixes[0])


def is_takeable(wish: Wish, now: datetime) -> bool:
    """Tell whether a volunteer may take the wish now: open and not past its due date."""
    return wish.status == "open" and wish.due_at is not None and wish.due_at > now


def can_see(actor: Member, wish: Wish, now: datetime | None = None) -> bool:
    """Its requester and taker, staff who vet in its grid, and members of its county while it is takeable."""
    return (
        actor.id in (wish.requester_id, wish.taker_id)
        or can(actor, "wish.vet", wish.org_unit)
        or (is_takeable(wish, now or utcnow()) and _in_county(actor, wish))
    )


def shows_photo_to(actor: Member, photo_id: int) -> bool:
    """Tell whether a wish the actor may see shows this photo (posted with it, or sent when done)."""
    wishes = db.session.scalars(
        sa.select(Wish).where(sa.or_(Wish.photo_id == photo_id, Wish.done_photo_id == photo_id))
    )
    return any(can_see(actor, wish) for wish in wishes)


def _visible(actor: Member, now: datetime):
    """The WHERE condition of ``can_see`` over ``Wish`` joined with its ``OrgUnit``."""
    conditions = [Wish.requester_id == actor.id, Wish.taker_id == actor.id]
    prefixes = area_prefixes(actor)
    if prefixes:
        conditions.append(
            sa.and_(Wish.status == "open", Wish.due_at > now, OrgUnit.path.startswith(prefixes[0]))
        )
    if can_somewhere(actor, "wish.vet"):
        conditions.append(scope_condition(actor, "wish.vet"))
    return sa.or_(*conditions)


def _nearness(actor: Member):
    """0 for wishes of the actor's community, 1 of their town, 2 further away."""
    prefixes = area_prefixes(actor)
    if len(prefixes) < 3:
        return sa.literal(0)
    return sa.case(
        (OrgUnit.path.startswith(prefixes[2]), 0), (OrgUnit.path.startswith(prefixes[1]), 1), else_=2
    )


def list_wishes(
    actor: Member,
    *,
    status: str | None = None,
    org_unit_id: int | None = None,
    mine: str | None = None,
    managed: bool = False,
    page: int = 1,
    page_size: int = 20,
    now: datetime | None = None,
) -> dict:
    """List the wishes the actor may see, nearest first — their community's, then their town's, then the
    rest; soonest due first within each — or only those they posted or took (``mine``), newest first,
    or only those they manage (``managed``: the console's list)."""
    now = now or utcnow()
    release_overdue_wishes(now)
    # The page is chosen by ids alone (sorting narrow rows that the covering index holds), then its
    # wishes are loaded: thousands of open wishes in a county are ordered without reading their text.
    statement = sa.select(Wish.id).join(OrgUnit, OrgUnit.id == Wish.org_unit_id)
    if mine == "requested":
        statement = statement.where(Wish.requester_id == actor.id)
    elif mine == "taken":
        statement = statement.where(Wish.taker_id == actor.id)
    elif managed:
        statement = statement.where(scope_condition(actor, "wish.manage"))
    else:
        statement = statement.where(_visible(actor, now))
    if status is not None:
        statement = statement.where(Wish.status == status)
    if org_unit_id is not None:
        statement = statement.where(OrgUnit.path.startswith(get_org_unit(org_unit_id).path))
    order = (Wish.id.desc(),) if mine else (_nearness(actor), Wish.due_at.asc().nulls_last(), Wish.id.desc())
    listing = paginate(statement.order_by(*order), page, page_size)
    wishes = {
        wish.id: wish
        for wish in db.session.scalars(
            sa.select(Wish)
            .where(Wish.id.in_(listing["items"]))
            .options(
                sa.orm.joinedload(Wish.org_unit), sa.orm.joinedload(Wish.requester).lazyload(Member.grants)
            )
        )
    }
    listing["items"] = [wishes[wish_id] for wish_id in listing["items"]]
    return listing


def read_wish(actor: Member, wish_id: int, now: datetime | None = None) -> Wish:
    """Return a wish to whoever may see it (returning it to open first if it is overdue)."""
    now = now or utcnow()
    wish = get_wish(wish_id)
    if _overdue(wish, now):
        _release_overdue(wish.id, now)
        wish = get_wish(wish_id)
    if not can_see(actor, wish, now):
        raise AppError(403)
    return wish


# --- who may do what, at which step (the services check under the lock; pages ask first) --------


def _check_vet(actor: Member, wish: Wish, _now: datetime) -> None:
    require(actor, "wish.vet", wish.org_unit)
    if wish.requester_id == actor.id:
        raise _self_review(_l("Nobody vets their own wish."))
    require_status(wish, "submitted", _l("This wish has already been vetted."))


def _check_publish(actor: Member, wish: Wish, _now: datetime) -> None:
    require(actor, "wish.manage", wish.org_unit)
    require_status(wish, ("vetted", "open"), NOT_AT_THIS_STEP)


def _check_take(actor: Member, wish: Wish, now: datetime) -> None:
    if wish.requester_id == actor.id:
        raise _self_review(_l("Nobody takes their own wish."))
    if not (_in_county(actor, wish) or can(actor, "wish.vet", wish.org_unit)):
        raise AppError(403)
    if wish.status in ("taken", "done", "completed"):
        raise AppError(
            409, "already_taken", _l("Someone else has already taken this wish."), {"status": [wish.status]}
        )
    require_status(wish, "open", NOT_AT_THIS_STEP)
    if wish.due_at <= now:
        raise AppError(
            410, "expired", _l("This wish is past its due date."), {"due_at": [wish.due_at.isoformat()]}
        )


def _check_taker(actor: Member, wish: Wish, _now: datetime) -> None:
    if wish.taker_id != actor.id:
        raise AppError(403, message=_l("Only the volunteer who took this wish may do this."))
    require_status(wish, "taken", NOT_AT_THIS_STEP)


def _check_confirm(actor: Member, wish: Wish, now: datetime) -> None:
    if wish.taker_id == actor.id:
        raise _self_review(_l("Nobody confirms their own work for points."))
    if wish.requester_id != actor.id:
        require(actor, "wish.manage", wish.org_unit)
        if wish.status == "done" and now < wish.done_at + CONFIRM_AFTER:
            raise AppError(
                403,
                message=_l("The requester confirms first; you may confirm it 3 days after it was done."),
                errors={"done_at": [wish.done_at.isoformat()]},
            )
    require_status(wish, "done", NOT_AT_THIS_STEP)


def _check_cancel(actor: Member, wish: Wish, _now: datetime) -> None:
    manages = can(actor, "wish.manage", wish.org_unit)
    if not manages and wish.requester_id != actor.id:
        raise AppError(403)
    allowed = MANAGER_CANCELS if manages else REQUESTER_CANCELS
    require_status(wish, tuple(allowed), _l("This wish can no longer be cancelled here."))


CHECKS = {
    "vet": _check_vet,
    "publish": _check_publish,
    "take": _check_take,
    "release": _check_taker,
    "done": _check_taker,
    "confirm": _check_confirm,
    "cancel": _check_cancel,
}


def available_actions(actor: Member, wish: Wish, now: datetime | None = None) -> list[str]:
    """What the actor may do to the wish now (``vet``, ``publish``, ``take``, ``release``, ``done``,
    ``confirm``, ``cancel``), by the same checks the services make."""
    now = now or utcnow()
    allowed = []
    for action, check in CHECKS.items():
        try:
            check(actor, wish, now)
        except AppError:
            continue
        allowed.append(action)
    return allowed


def _checked(action: str, actor: Member, wish_id: int, now: datetime) -> Wish:
    """Check ``action`` on the wish as read, then begin writing, lock it and check again; answer it locked."""
    CHECKS[action](actor, get_wish(wish_id), now)
    wish = _lock(wish_id)
    CHECKS[action](actor, wish, now)
    return wish


def sees_names(viewer: Member, wish: Wish) -> bool:
    """Tell whether the viewer sees the people of a wish by name: its requester, its taker, staff who vet
    in its grid (everyone else sees the requester's name masked, and no taker)."""
    return viewer.id in (wish.requester_id, wish.taker_id) or can(viewer, "wish.vet", wish.org_unit)


def requester_name(viewer: Member, wish: Wish) -> str:
    """The requester's name as the viewer sees it: masked unless they see names."""
    return wish.requester.name if sees_names(viewer, wish) else mask_name(wish.requester.name)


def contact_phone(viewer: Member, wish: Wish) -> str | None:
    """The requester's phone, for the taker and staff who vet in its grid (never the requester)."""
    return wish.requester.phone if viewer.id != wish.requester_id and sees_names(viewer, wish) else None


def taker_name(viewer: Member, wish: Wish) -> str | None:
    """The taker's name, for those who see names; None when nobody took it."""
    return wish.taker.name if sees_names(viewer, wish) and wish.taker is not None else None


@dataclass(frozen=True)
class Seen:
    """What of a wish depends on who looks at it, for the pages (the API's schema asks the same
    functions): the requester's name and phone, the taker's name, what the viewer may do to it now."""

    requester_name: str
    contact_phone: str | None
    taker_name: str | None
    actions: tuple[str, ...]


def seen_by(viewer: Member, wish: Wish, now: datetime | None = None) -> Seen:
    """What of the wish the viewer sees and may do now."""
    return Seen(
        requester_name(viewer, wish),
        contact_phone(viewer, wish),
        taker_name(viewer, wish),
        tuple(available_actions(viewer, wish, now)),
    )


# --- the flow ----------------------------------------------------------------------------------


def post_wish(actor: Member, title: str, description: str, photo_id: int | None = None) -> Wish:
    """Post a wish from the actor's grid (居民点单); it waits for a grid worker to vet it."""
    if actor.org_unit is None:
        raise AppError(
            422,
            message=_l("A wish is posted from the grid you live in; you belong to none."),
            errors={"org_unit_id": ["the member belongs to no grid"]},
        )
    check_photo_owner(actor, photo_id)
    begin_writing(db.session)
    wish = Wish(
        title=title,
        description=description,
        photo_id=photo_id,
        requester_id=actor.id,
        org_unit_id=actor.org_unit_id,
        status="submitted",
    )
    db.session.add(wish)
    record_audit(actor, "wish.post", wish, after={"title": title, "org_unit_id": actor.org_unit_id})
    db.session.commit()
    return wish


def vet_wish(actor: Member, wish_id: int, decision: str, reason: str | None = None) -> Wish:
    """Accept or decline a submitted wish (网格交单): staff who vet in its grid, never its requester."""
    if decision not in ("accept", "decline"):
        raise AppError(422, errors={"decision": ["accept or decline"]})
    reason = (reason or "").strip() or None
    if decision == "decline" and reason is None:
        raise AppError(422, errors={"reason": ["say why the wish is declined"]})
    wish = _checked("vet", actor, wish_id, utcnow())
    wish.status = "vetted" if decision == "accept" else "declined"
    wish.vetted_by_id, wish.vetted_at, wish.vet_reason = actor.id, utcnow(), reason
    record_audit(actor, "wish.vet", wish, after={"status": wish.status}, reason=reason)
    db.session.commit()
    return wish


def publish_wish(
    actor: Member, wish_id: int, points: int, due_at: datetime, now: datetime | None = None
) -> Wish:
    """Publish a vetted wish with its points and due date (共同体下单), or set them again while it is open."""
    now = now or utcnow()
    if due_at <= now:
        raise AppError(422, errors={"due_at": ["must be in the future"]})
    wish = _checked("publish", actor, wish_id, now)
    before = {"status": wish.status, "points": wish.points, "due_at": wish.due_at}
    wish.status, wish.points, wish.due_at = "open", points, due_at
    wish.published_by_id, wish.published_at = actor.id, now
    record_audit(
        actor,
        "wish.publish",
        wish,
        before=before,
        after={"status": "open", "points": points, "due_at": due_at},
    )
    db.session.commit()
    return wish


def _tell(member_id: int, kind: str, wish: Wish, **params) -> None:
    """Notify a member of a step of a wish, in the step's transaction (once per wish and kind)."""
    notify(
        member_id,
        kind,
        f"{kind}:{wish.id}",
        link=("wish_pages.wish", {"wish_id": wish.id}),
        title=wish.title,
        **params,
    )


def take_wish(actor: Member, wish_id: int, now: datetime | None = None) -> Wish:
    """Take an open wish to do it (成员认领接单): any member of its county (or staff who vet there) but
    its requester; of several at once, exactly one gets it and the others hear ``already_taken``."""
    now = now or utcnow()
    wish = _checked("take", actor, wish_id, now)
    wish.status, wish.taker_id, wish.taken_at = "taken", actor.id, now
    record_audit(actor, "wish.take", wish, after={"status": "taken"})
    _tell(wish.requester_id, "wish_taken", wish, taker=mask_name(actor.name))
    db.session.commit()
    return wish


def _back_to_open(wish: Wish, actor: Member | None, why: str) -> None:
    """Return a taken wish to open, for anyone to take again."""
    taker_id = wish.taker_id
    wish.status, wish.taker_id, wish.taken_at = "open", None, None
    record_audit(
        actor,
        "wish.release",
        wish,
        before={"status": "taken", "taker_id": taker_id},
        after={"status": "open"},
        reason=why,
    )


def release_wish(actor: Member, wish_id: int) -> Wish:
    """Give a taken wish back (its taker): it is open again."""
    wish = _checked("release", actor, wish_id, utcnow())
    _back_to_open(wish, actor, "released by the taker")
    db.session.commit()
    return wish


def mark_done(
    actor: Member,
    wish_id: int,
    note: str | None = None,
    photo_id: int | None = None,
    now: datetime | None = None,
) -> Wish:
    """Say a taken wish is done (its taker), with a note or a photo; the requester confirms next."""
    now = now or utcnow()
    note = (note or "").strip() or None
    if note is None and photo_id is None:
        raise AppError(
            422,
            message=_l("Say what you did, or add a photo."),
            errors={"note": ["say what was done, or add a photo"]},
        )
    check_photo_owner(actor, photo_id)
    wish = _checked("done", actor, wish_id, now)
    if _overdue(wish, now):
        _back_to_open(wish, None, "not done by its due date")
        db.session.commit()
        raise AppError(
            410,
            "expired",
            _l("This wish passed its due date before it was done; it is open again."),
            {"due_at": [wish.due_at.isoformat()]},
        )
    wish.status, wish.done_at, wish.done_note, wish.done_photo_id = "done", now, note, photo_id
    record_audit(actor, "wish.done", wish, after={"status": "done"})
    _tell(wish.requester_id, "wish_done", wish, taker=mask_name(actor.name))
    db.session.commit()
    return wish


def confirm_wish(actor: Member, wish_id: int, rating: int, now: datetime | None = None) -> Wish:
    """Confirm a done wish with a rating: it is completed, and the taker is paid its points.

    The points are an approved contribution of the built-in activity ``wish``, vouched for by
    whoever confirms (never the taker) and posted through the ledger like any award, so caps,
    boards, levels and badges apply.
    """
    now = now or utcnow()
    wish = _checked("confirm", actor, wish_id, now)
    taker = db.session.get(Member, wish.taker_id)
    if not taker.is_active:
        raise AppError(409, "invalid_state", _l("The volunteer who did this wish is suspended."))
    contribution = contributions.settle_vouched(
        activities.get_activity(WISH_ACTIVITY),
        actor.id,
        now,
        member=taker,
        quantity=Decimal(1),
        occurred_at=wish.done_at,
        points=wish.points,
        note=wish.title,
        photo_id=wish.done_photo_id,
    )
    wish.status, wish.rating, wish.contribution = "completed", rating, contribution
    wish.confirmed_by_id, wish.confirmed_at = actor.id, now
    record_audit(
        actor,
        "wish.confirm",
        wish,
        after={"status": "completed", "rating": rating, "points": wish.points, "taker_id": taker.id},
    )
    if contribution.status == "approved":
        _tell(taker.id, "wish_completed", wish, points=wish.points)
    db.session.commit()
    return wish


def cancel_wish(actor: Member, wish_id: int, reason: str) -> Wish:
    """Cancel a wish before it is completed: organisers in scope at any step, its requester until it is taken."""
    wish = _checked("cancel", actor, wish_id, utcnow())
    before = {"status": wish.status, "taker_id": wish.taker_id}
    wish.status, wish.cancelled_by_id, wish.cancelled_at, wish.cancel_reason = (
        "cancelled",
        actor.id,
        utcnow(),
        reason,
    )
    record_audit(actor, "wish.cancel", wish, before=before, after={"status": "cancelled"}, reason=reason)
    db.session.commit()
    return wish


# --- due dates ---------------------------------------------------------------------------------


def _overdue(wish: Wish, now: datetime) -> bool:
    return wish.status == "taken" and wish.due_at is not None and wish.due_at <= now


def _release_overdue(wish_id: int, now: datetime) -> bool:
    """Return one taken wish past its due date to open, in its own transaction; tell whether it did."""
    wish = _lock(wish_id)
    if wish is None or not _overdue(wish, now):
        db.session.rollback()
        return False
    _back_to_open(wish, None, "not done by its due date")
    db.session.commit()
    return True


def release_overdue_wishes(now: datetime | None = None) -> int:
    """Return every taken wish not done by its due date to open; answer how many (each its own transaction)."""
    now = now or utcnow()
    due = list(
        db.session.scalars(
            sa.select(Wish.id).where(Wish.status == "taken", Wish.due_at <= now).order_by(Wish.id)
        )
    )
    return sum(_release_overdue(wish_id, now) for wish_id in due)
