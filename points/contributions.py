"""Contributions: record, claim, approve, reject, reverse and list them; a member's ledger.

One public call is one transaction: each checks what needs no lock, then begins writing
(``begin_writing``: the write lock on SQLite) just before its first locked read or write,
posts through ``points.ledger`` and commits.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from core.audit import record_audit
from core.clock import bounds_of
from core.database import begin_writing, utcnow
from core.errors import AppError
from core.extensions import db
from core.identity.access import require, scope_condition, scope_units
from core.identity.models import Member, OrgUnit
from core.identity.services import get_member
from core.notifications import notify
from core.refusals import require_found, require_status
from points import ledger
from points.activities import check_activity_applies, check_recordable, get_activity, points_for
from points.alerts import MY_POINTS, activity_names
from points.models import (
    Activity,
    Contribution,
    LedgerTransaction,
)
from points.photos import check_photo_owner

MAX_BACKDATE = timedelta(days=31)


def _check_occurred_at(occurred_at: datetime, now: datetime) -> None:
    if occurred_at > now + timedelta(minutes=5):  # a little clock skew between phones
        raise AppError(422, errors={"occurred_at": ["cannot be in the future"]})
    if occurred_at < now - MAX_BACKDATE:
        raise AppError(422, errors={"occurred_at": ["may lie at most 31 days back"]})


#: A contribution locked for review, with its member (and grid, for the reviewer's scope) and activity.
_LOCKED_CONTRIBUTION = (
    sa.select(Contribution)
    .where(Contribution.id == sa.bindparam("id"))
    .options(
        sa.orm.joinedload(Contribution.member).options(
            sa.orm.joinedload(Member.org_unit), sa.orm.lazyload(Member.grants)
        ),
        sa.orm.joinedload(Contribution.activity),
    )
    .with_for_update(of=Contribution)
    .execution_options(populate_existing=True)
)


def get_contribution(contribution_id: int, lock: bool = False) -> Contribution:
    """Return a contribution (locked for this transaction when ``lock``) or refuse with 404."""
    if lock:  # two reviewers at once: the second waits, then sees the first one's decision
        contribution = db.session.scalar(_LOCKED_CONTRIBUTION, {"id": contribution_id})
    else:
        contribution = db.session.get(Contribution, contribution_id)
    return require_found(contribution, "contribution_id", "contribution")


def read_contribution(actor: Member, contribution_id: int) -> Contribution:
    """Return a contribution to its member, or to someone who may review it."""
    contribution = get_contribution(contribution_id)
    if contribution.member_id != actor.id:
        require(actor, "claim.review", contribution.member)
    return contribution


def earned_today(member_id: int, activity_id: int, occurred_at: datetime) -> int:
    """Points the member earned from an activity on the Shanghai day of ``occurred_at``, as
    ``ledger.earned_points`` counts them: a reversal takes all of its award's points back, even a
    forced one that wrote part of them off."""
    earned = ledger.earned_points(*bounds_of("day", occurred_at))
    return int(
        db.session.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(earned.c.points), 0)).where(
                earned.c.member_id == member_id, earned.c.activity_id == activity_id
            )
        )
    )


def _check_daily_cap(member_id: int, activity: Activity, occurred_at: datetime, points: int) -> None:
    """Refuse points beyond the activity's daily cap, counted under the member's lock."""
    if activity.daily_cap is None:
        return
    ledger.lock_balances(member_id)
    already = earned_today(member_id, activity.id, occurred_at)
    if already + points > activity.daily_cap:
        raise AppError(
            409,
            "daily_cap_reached",
            _l("The daily limit for this activity is reached."),
            {"points": [f"{already} of {activity.daily_cap} already earned that day"]},
        )


def _post_award(contribution: Contribution, activity: Activity, actor_id: int) -> None:
    """Post an approved contribution's points."""
    if contribution.points > 0:
        ledger.award(
            contribution.member_id,
            contribution.points,
            occurred_at=contribution.occurred_at,
            actor_id=actor_id,
            contribution_id=contribution.id,
            activity_id=activity.id,
            memo=activity.name,
            org_unit_id=contribution.member.org_unit_id,
        )


def award_contribution(contribution: Contribution, actor_id: int | None) -> None:
    """Approve a pending contribution and post its points, within the daily cap."""
    _check_daily_cap(
        contribution.member_id, contribution.activity, contribution.occurred_at, contribution.points
    )
    contribution.status = "approved"
    _post_award(contribution, contribution.activity, actor_id)


def add_approved_contribution(
    activity: Activity, actor_id: int | None, reviewed_at: datetime, **fields
) -> Contribution:
    """Add a contribution approved at once (inserted as approved) and post its points, within the cap.

    Callers go through ``settle_contribution``, which keeps anyone from approving their own."""
    _check_daily_cap(fields["member"].id, activity, fields["occurred_at"], fields["points"])
    contribution = Contribution(
        activity=activity, status="approved", reviewed_by_id=actor_id, reviewed_at=reviewed_at, **fields
    )
    db.session.add(contribution)
    db.session.flush()
    _post_award(contribution, activity, actor_id)
    return contribution


def settle_contribution(activity: Activity, approver_id: int | None, now: datetime, **fields) -> Contribution:
    """Add a new contribution approved in the name of whoever vouches for it (None: a rule nobody
    set up, like the built-in ones) and post its points — unless that is the member themself.

    Nobody's points are approved by their own act, by any path: a contribution the member
    would vouch for themself (their own event, their own activity that needs no review) is
    inserted as a pending claim that someone else in scope approves or rejects.
    """
    if approver_id is not None and approver_id == fields["member"].id:
        contribution = Contribution(activity=activity, status="pending", **fields)
        db.session.add(contribution)
        db.session.flush()
        return contribution
    return add_approved_contribution(activity, approver_id, now, **fields)


def settle_vouched(
    activity: Activity,
    vouched_by_id: int,
    now: datetime,
    *,
    member: Member,
    quantity: Decimal,
    occurred_at: datetime,
    points: int | None = None,
    **fields,
) -> Contribution:
    """Settle a contribution a flow vouches for (a patrol route, a confirmed wish), recorded in the name of
    whoever vouches: the activity must apply to the member when it happened; it pays ``points``, else
    what the quantity earns."""
    check_activity_applies(activity, member, occurred_at)
    return settle_contribution(
        activity,
        vouched_by_id,
        now,
        member=member,
        quantity=quantity,
        occurred_at=occurred_at,
        points=points_for(activity, quantity) if points is None else points,
        recorded_by_id=vouched_by_id,
        **fields,
    )


_MEMBER_AND_ACTIVITY = (
    sa.select(Member, Activity)
    .join(Activity, Activity.code == sa.bindparam("code"))
    .where(Member.id == sa.bindparam("member_id"))
    .options(sa.orm.joinedload(Member.org_unit), sa.orm.lazyload(Member.grants))
)


def _member_and_activity(member_id: int, activity_code: str) -> tuple[Member, Activity]:
    """Load a member (with their grid, not their roles) and an activity in one query, or refuse with 404."""
    row = db.session.execute(_MEMBER_AND_ACTIVITY, {"member_id": member_id, "code": activity_code}).first()
    if row is None:
        get_member(member_id)  # whichever is missing refuses
        get_activity(activity_code)
    return row


def record_contribution(
    actor: Member,
    member_id: int,
    activity_code: str,
    quantity: Decimal,
    occurred_at: datetime,
    note: str | None = None,
    photo_id: int | None = None,
    now: datetime | None = None,
) -> Contribution:
    """Record a contribution: staff for someone else (approved at once), or a member's own claim."""
    now = now or utcnow()
    member, activity = _member_and_activity(member_id, activity_code)
    _check_occurred_at(occurred_at, now)
    check_recordable(activity)
    check_photo_owner(actor, photo_id)
    points = points_for(activity, quantity)
    quantity = Decimal(str(quantity))
    own = member.id == actor.id
    if not own:
        require(actor, "contribution.record", member)
    if not member.is_active:
        raise AppError(409, "invalid_state", _l("This member is suspended."))
    check_activity_applies(activity, member, occurred_at)
    fields = {
        "member": member,
        "quantity": quantity,
        "points": points,
        "occurred_at": occurred_at,
        "note": note,
        "photo_id": photo_id,
        "recorded_by_id": actor.id,
    }
    begin_writing(db.session)
    if not own:
        contribution = settle_contribution(activity, actor.id, now, **fields)
    elif not activity.needs_review:  # the activity's own rule approves it, in its author's name
        contribution = settle_contribution(activity, activity.created_by_id, now, **fields)
    else:
        contribution = Contribution(activity=activity, status="pending", **fields)
        db.session.add(contribution)
    record_audit(
        actor,
        "contribution.record" if not own else "contribution.claim",
        contribution,
        after={
            "member_id": member.id,
            "activity": activity.code,
            "quantity": str(quantity),
            "points": points,
            "status": contribution.status,
        },
    )
    db.session.commit()
    return contribution


def _review(actor: Member, contribution_id: int) -> Contribution:
    """Load a pending claim the actor may review, under a writer's transaction."""
    begin_writing(db.session)
    contribution = get_contribution(contribution_id, lock=True)
    require(actor, "claim.review", contribution.member)
    if contribution.member_id == actor.id:
        raise AppError(403, "self_review", _l("Nobody reviews their own claim."))
    require_status(contribution, "pending", _l("This contribution is no longer pending."))
    return contribution


def _tell_member(contribution: Contribution, kind: str, key: str, **params) -> None:
    """Notify a contribution's member of what became of it (once per ``key`` and contribution),
    naming its activity and leading to their points."""
    notify(
        contribution.member_id,
        kind,
        f"{key}:{contribution.id}",
        link=MY_POINTS,
        activity=activity_names(contribution.activity),
        **params,
    )


def approve_contribution(actor: Member, contribution_id: int) -> Contribution:
    """Approve a pending claim and award its points (within the daily cap)."""
    contribution = _review(actor, contribution_id)
    contribution.reviewed_by_id, contribution.reviewed_at = actor.id, utcnow()
    award_contribution(contribution, actor.id)
    record_audit(actor, "contribution.approve", contribution, after={"points": contribution.points})
    _tell_member(contribution, "claim_approved", "claim", points=contribution.points)
    db.session.commit()
    return contribution


def reject_contribution(actor: Member, contribution_id: int, reason: str) -> Contribution:
    """Reject a pending claim with a reason."""
    contribution = _review(actor, contribution_id)
    contribution.status = "rejected"
    contribution.reviewed_by_id, contribution.reviewed_at = actor.id, utcnow()
    contribution.review_reason = reason
    record_audit(actor, "contribution.reject", contribution, reason=reason)
    _tell_member(contribution, "claim_rejected", "claim", reason=reason)
    db.session.commit()
    return contribution


def review_contributions(
    actor: Member, contribution_ids: list[int], decision: str, reason: str | None = None
) -> dict[int, Contribution | AppError]:
    """Approve or reject several claims, each in its own transaction; answer each one's outcome.

    A refusal (one's own claim, another's subtree, no longer pending, a daily cap) is that
    claim's answer and leaves nothing of it written; the others still go through.
    """
    if decision not in ("approve", "reject"):
        raise AppError(422, errors={"decision": ["approve or reject"]})
    if decision == "reject" and not (reason or "").strip():
        raise AppError(422, errors={"reason": ["say why the claims are rejected"]})
    outcomes: dict[int, Contribution | AppError] = {}
    for contribution_id in dict.fromkeys(contribution_ids):
        try:
            outcomes[contribution_id] = (
                approve_contribution(actor, contribution_id)
                if decision == "approve"
                else reject_contribution(actor, contribution_id, reason)
            )
        except AppError as error:
            db.session.rollback()
            outcomes[contribution_id] = error
    return outcomes


def balances_after_awards(contribution_ids: list[int]) -> dict[int, int]:
    """The member's available balance right after each contribution's award (by contribution id)."""
    if not contribution_ids:
        return {}
    return dict(
        db.session.execute(
            sa.select(LedgerTransaction.contribution_id, LedgerTransaction.available_after).where(
                LedgerTransaction.contribution_id.in_(contribution_ids), LedgerTransaction.kind == "award"
            )
        ).all()
    )


#: A claim worth more than this many items (or hours) of its activity is flagged as unusually large.
LARGE_CLAIM_QUANTITY = 10


def claim_warnings(claims: list[Contribution]) -> dict[int, list[str]]:
    """What a reviewer should look at twice, by claim id: ``duplicate`` (the same member, activity,
    quantity and Shanghai day as another pending or approved contribution), ``over_daily_cap`` (more
    points than the activity's daily cap: approving it is refused) and ``large`` (over
    ``LARGE_CLAIM_QUANTITY`` items or hours)."""
    warnings: dict[int, list[str]] = {claim.id: [] for claim in claims}
    for claim in claims:
        start, end = bounds_of("day", claim.occurred_at)
        twin = db.session.scalar(
            sa.select(Contribution.id)
            .where(
                Contribution.member_id == claim.member_id,
                Contribution.activity_id == claim.activity_id,
                Contribution.quantity == claim.quantity,
                Contribution.id != claim.id,
                Contribution.status.in_(("pending", "approved")),
                Contribution.occurred_at >= start,
                Contribution.occurred_at < end,
            )
            .limit(1)
        )
        if twin is not None:
            warnings[claim.id].append("duplicate")
        cap = claim.activity.daily_cap
        if cap is not None and claim.points > cap:
            warnings[claim.id].append("over_daily_cap")
        if claim.quantity > LARGE_CLAIM_QUANTITY:
            warnings[claim.id].append("large")
    return warnings


def reverse_contribution(
    actor: Member, contribution_id: int, reason: str, force: bool = False
) -> Contribution:
    """Reverse an approved contribution with a compensating entry (forced: admins only)."""
    begin_writing(db.session)
    contribution = get_contribution(contribution_id, lock=True)
    take_back_contribution(actor, contribution, reason, force)
    _tell_member(contribution, "contribution_reversed", "reversal", points=contribution.points, reason=reason)
    db.session.commit()
    return contribution


def take_back_contribution(
    actor: Member, contribution: Contribution, reason: str, force: bool = False
) -> None:
    """Reverse a contribution locked in the caller's writing transaction (which commits): the
    actor's right, its state, the compensating entry and the audit; an upheld objection too."""
    require(actor, "contribution.force_reverse" if force else "contribution.reverse", contribution.member)
    require_status(contribution, "approved", _l("Only an approved contribution can be reversed."))
    award = db.session.scalar(
        sa.select(LedgerTransaction).where(
            LedgerTransaction.contribution_id == contribution.id, LedgerTransaction.kind == "award"
        )
    )
    if award is not None:
        ledger.reverse_award(award, actor_id=actor.id, reason=reason, force=force)
    contribution.status = "reversed"
    contribution.reversed_by_id, contribution.reversed_at = actor.id, utcnow()
    contribution.reverse_reason = reason
    record_audit(
        actor,
        "contribution.reverse",
        contribution,
        reason=reason,
        after={"points": contribution.points, "forced": force},
    )


def list_contributions(
    actor: Member, *, member_id: int | None, status: str | None, page: int, page_size: int
) -> dict:
    """List contributions: one's own, or those of members in the actor's review scope."""
    from core.api import paginate

    statement = sa.select(Contribution).join(Member, Member.id == Contribution.member_id)
    reviews_somewhere = scope_units(actor, "claim.review") != []
    if member_id == actor.id or (member_id is None and not reviews_somewhere):
        statement = statement.where(Contribution.member_id == actor.id)
    else:
        statement = statement.outerjoin(OrgUnit, OrgUnit.id == Member.org_unit_id).where(
            scope_condition(actor, "claim.review")
        )
        if member_id is not None:
            statement = statement.where(Contribution.member_id == member_id)
    if status is not None:
        statement = statement.where(Contribution.status == status)
    return paginate(statement.order_by(Contribution.id.desc()), page, page_size)


def member_ledger(
    actor: Member, member_id: int, page: int, page_size: int, available_only: bool = False
) -> dict:
    """A member's ledger, newest first (their own, or a member's in the actor's scope); with
    ``available_only``, only the entries that moved the available balance."""
    member = get_member(member_id)
    if member.id != actor.id:
        require(actor, "member.read", member)
    return ledger.ledger_page(member.id, page, page_size, available_only)
