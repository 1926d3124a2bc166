"""What the ledger tells members: points someone else recorded for them, and each new level.

``notify_posting`` is a ledger subscriber (registered in app.py after the read models), called
with every transaction inside the transaction that posts it. On an award it writes at most one
notification row (one INSERT; a level reached, rare, adds a second), keyed by the transaction,
so the award path stays lean and a posting is told once. What a member did themself (a daily
check-in, an event check-in, a claim approved by the activity's own rule) is not told: they
saw the result on their screen; a claim reviewed by someone else is told by the review itself
(``claim_approved``), a wish's points by its confirmation (``wish_completed``); badges are told where they are awarded (``gamification.note_posting``).
"""

from __future__ import annotations

from core.extensions import db
from core.notifications import localised, notify
from points.gamification import level_ladder
from points.ledger import Posted
from points.models import WISH_ACTIVITY, Activity, Contribution

MY_POINTS = ("points_pages.my_points", {})


def activity_names(activity: Activity | None) -> dict:
    """An activity's name in both languages, as a notification parameter."""
    if activity is None:
        return localised("积分", "points")
    return localised(activity.name, activity.name_en)


def _level_at(ladder: list, lifetime: int) -> tuple:
    """The level a lifetime earned total stands at."""
    return max((level for level in ladder if level[1] <= max(lifetime, 0)), key=lambda level: level[1])


def notify_posting(posted: Posted) -> None:
    """Tell the member about an award recorded by someone else, and about a new level."""
    if posted.kind != "award" or posted.earned <= 0:
        return
    if posted.contribution_id is not None:
        contribution = db.session.get(Contribution, posted.contribution_id)  # in the session already
        activity = db.session.get(Activity, posted.activity_id) if posted.activity_id else None
        told_elsewhere = activity is not None and activity.code == WISH_ACTIVITY
        if (
            contribution is not None
            and contribution.recorded_by_id != posted.member_id
            and not told_elsewhere
        ):
            notify(
                posted.member_id,
                "points_awarded",
                f"award:{posted.transaction_id}",
                link=MY_POINTS,
                points=posted.earned,
                activity=activity_names(activity),
            )
    if posted.lifetime_earned is not None:
        ladder = level_ladder()
        before, after = (
            _level_at(ladder, posted.lifetime_earned - posted.earned),
            _level_at(ladder, posted.lifetime_earned),
        )
        if after[1] > before[1]:
            notify(
                posted.member_id,
                "level_reached",
                f"level:{after[0]}",
                link=MY_POINTS,
                level=localised(after[2], after[3]),
            )
