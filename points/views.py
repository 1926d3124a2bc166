"""Pages of the points package: the resident's home, earning, the check-in landing page, my points,
claims, the review list and the leaderboards."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required

from core.clock import SHANGHAI, last_month
from core.errors import AppError
from core.form_tokens import once_per_form
from core.identity.access import can_somewhere, scope_units
from core.identity.auth import current_member
from core.navigation import RESIDENT, Tab
from core.replica import reads_replica
from core.views import safe_next
from points import activities, contributions, events, gamification, leaderboards, notices, photos
from points.forms import ClaimForm, RejectForm
from points.models import FLOW_ONLY_ACTIVITIES
from points.wishes.views import nearby_wishes, wishes_to_vet

bp = Blueprint("points_pages", __name__, template_folder="templates")

#: The resident's tabs for earning and ranking.
TABS = {
    RESIDENT: [
        Tab(
            20,
            "points_pages.earn",
            _l("Earn points"),
            "earn",
            ("/me/claims", "/E/", "/e/", "/wishes", "/me/wishes", "/K/", "/k/"),
        ),
        Tab(40, "points_pages.leaderboard", _l("Rankings"), "rank"),
    ]
}


@bp.route("/E/<token>", methods=["GET", "POST"])
@bp.route("/e/<token>", methods=["GET", "POST"])
@login_required
@once_per_form
def checkin_landing(token: str):
    """Show the event a scanned code names; check in with one tap."""
    status, event, checkin, problem = 200, None, None, None
    try:
        event = events.event_from_code(token)
        if request.method == "POST":
            checkin = events.check_in(current_member(), token)
    except AppError as error:
        if error.code == "invalid_code":  # show no event for a code that names none
            event = None
        status, problem = error.status, error
    return render_template("points/checkin.html", event=event, checkin=checkin, problem=problem), status


# --- home and earning -------------------------------------------------------------------------


def resident_home():
    """The resident's home: balance, the 报平安 button, events and open wishes around, shortcuts to everything."""
    actor = current_member()
    reviewing = scope_units(actor, "claim.review") != []
    waiting = (
        contributions.list_contributions(actor, member_id=None, status="pending", page=1, page_size=1)[
            "total"
        ]
        if reviewing
        else None
    )
    to_vet = wishes_to_vet(actor) if can_somewhere(actor, "wish.vet") else None
    return render_template(
        "points/home.html",
        points=gamification.points_for_me(actor),
        events=events.upcoming_events(actor),
        wishes=nearby_wishes(actor),
        waiting=waiting,
        to_vet=to_vet,
    )


@bp.get("/earn")
@login_required
def earn():
    """Ways to earn: the daily check-in, a claim, events and open wishes around, what each activity pays."""
    actor = current_member()
    return render_template(
        "points/earn.html",
        points=gamification.points_for_me(actor),
        events=events.upcoming_events(actor),
        wishes=nearby_wishes(actor),
        activities=_claimable_activities(actor),
    )


# --- my points, claims and the review list ---------------------------------------------------

PAGE_SIZE = 20

KIND_NAMES = {
    "award": _l("Earned"),
    "reversal": _l("Taken back"),
    "hold": _l("Reserved for a voucher"),
    "release": _l("Returned from a voucher"),
    "spend": _l("Spent at the supermarket"),
    "opening": _l("Opening balance"),
    "expiry": _l("Expired"),
}

#: Where a service's refusal belongs on the claim form, and what to tell the member there.
CLAIM_FIELDS = {
    "activity_code": "activity",
    "quantity": "quantity",
    "occurred_at": "occurred_at",
    "note": "note",
    "photo": "photo",
    "photo_id": "photo",
}
CLAIM_HINTS = {
    "activity": _l("This activity cannot be claimed for you now."),
    "quantity": _l("Count whole items, or hours in steps of half an hour."),
    "occurred_at": _l("Choose a time in the last 31 days, not in the future, within the activity's dates."),
    "note": _l("The note is too long."),
}


photos.allow_photo_uploads(bp, "points_pages.new_claim")


def register_entry_labels(app, provider) -> None:
    """Add a function naming a member's ledger entries: ``provider(member, entries) → {entry id:
    (label, url)}`` (rewards names the goods of a voucher's entries)."""
    app.extensions.setdefault("ledger_entry_labels", []).append(provider)


def _entry_labels(member, entries) -> dict:
    """What every registered provider says about these ledger entries of the member."""
    labels: dict = {}
    for provider in current_app.extensions.get("ledger_entry_labels", []):
        labels.update(provider(member, entries))
    return labels


def navigation(actor) -> list:
    """Links of "Me" for a signed-in member (the review list only for reviewers)."""
    links = [
        (url_for("points_pages.my_points"), _("My points")),
        (url_for("points_pages.new_claim"), _("Claim points")),
    ]
    if scope_units(actor, "claim.review") != []:
        links.append((url_for("points_pages.review"), _("Review")))
    return links


def page_number() -> int:
    """The ``page`` query parameter, 1 when missing or nonsense."""
    return max(request.args.get("page", 1, type=int), 1)


@bp.get("/me/points")
@login_required
def my_points():
    """Show my balances, my ledger with the balance after each entry, and my pending claims."""
    actor = current_member()
    history = contributions.member_ledger(actor, actor.id, page_number(), PAGE_SIZE, available_only=True)
    pending = contributions.list_contributions(
        actor, member_id=actor.id, status="pending", page=1, page_size=PAGE_SIZE
    )
    return render_template(
        "points/my_points.html",
        points=gamification.points_for_me(actor),
        history=history,
        pending=pending,
        kind_names=KIND_NAMES,
        labels=_entry_labels(actor, history["items"]),
        publicised=notices.publicised(
            entry.contribution_id for entry in history["items"] if entry.kind == "award"
        ),
    )


@bp.post("/me/checkin")
@login_required
@once_per_form
def daily_checkin():
    """Check in for today (报平安) with one tap, then go back to the page it was on (my points)."""
    try:
        checkin = gamification.check_in_daily(current_member())
    except AppError as error:
        flash(str(error.message), "error")
    else:
        flash(
            _(
                "Checked in: +%(points)d points, day %(days)d of your streak.",
                points=checkin.points,
                days=checkin.streak,
            )
        )
    back = request.args.get("next")
    return redirect(safe_next(back) if back else url_for("points_pages.my_points"), 303)


def _claimable_activities(member) -> list:
    """Active activities one may claim whose scope covers the member's grid (the service checks again)."""
    items = activities.list_activities(False, 1, 100)["items"]
    return [
        activity
        for activity in items
        if activity.code not in FLOW_ONLY_ACTIVITIES
        and (activity.org_unit is None or activity.org_unit.contains(member.org_unit))
    ]


def _activity_label(activity) -> str:
    """Name an activity in the select with what it pays."""
    name = activity.name_en if str(get_locale()) == "en" and activity.name_en else activity.name
    if activity.unit == "hour":
        return _("%(name)s · %(points)d points an hour", name=name, points=activity.points)
    return _("%(name)s · %(points)d points each", name=name, points=activity.points)


def _show_claim_refusal(form: ClaimForm, error: AppError) -> None:
    """Put a service's refusal next to the fields it concerns."""
    for key in error.errors:
        name = CLAIM_FIELDS.get(key)
        if name is not None:
            getattr(form, name).errors = [*getattr(form, name).errors, CLAIM_HINTS.get(name, error.message)]


@bp.route("/me/claims/new", methods=["GET", "POST"])
@login_required
@once_per_form
def new_claim():
    """Show the claim form and send my claim for review."""
    actor = current_member()
    form = ClaimForm()
    form.activity.choices = [("", _("Choose…"))] + [
        (activity.code, _activity_label(activity)) for activity in _claimable_activities(actor)
    ]
    status, problem = 200, None
    if form.validate_on_submit():
        try:
            photo_id = photos.photo_from_form(actor, form)
            contribution = contributions.record_contribution(
                actor,
                actor.id,
                form.activity.data,
                form.quantity.data,
                form.occurred_at.data.replace(tzinfo=SHANGHAI),
                note=form.note.data or None,
                photo_id=photo_id,
            )
        except AppError as error:
            _show_claim_refusal(form, error)
            status, problem = error.status, error
        else:
            if contribution.status == "approved":
                flash(_("Claim approved: +%(points)d points.", points=contribution.points))
            else:
                flash(_("Your claim has been sent for review."))
            return redirect(url_for("points_pages.my_points"), 303)
    elif form.is_submitted():
        status = 422
    elif form.occurred_at.data is None:
        form.occurred_at.data = datetime.now(SHANGHAI).replace(tzinfo=None, second=0, microsecond=0)
    return render_template(
        "points/claim.html", form=form, problem=problem, photo_max_bytes=photos.PHOTO_MAX_BYTES
    ), status


@bp.get("/review")
@login_required
def review():
    """List the pending claims in my scope, each with one-tap approve and reject."""
    actor = current_member()
    if scope_units(actor, "claim.review") == []:
        raise AppError(403)
    claims = contributions.list_contributions(
        actor, member_id=None, status="pending", page=page_number(), page_size=PAGE_SIZE
    )
    return render_template("points/review.html", claims=claims)


def _back_to_review():
    """Go back to the page of the review list the reviewer acted on."""
    return redirect(url_for("points_pages.review", page=request.args.get("page", type=int)), 303)


@bp.post("/review/<id:contribution_id>/approve")
@login_required
@once_per_form
def approve_claim(contribution_id: int):
    """Approve a pending claim, then go back to the list with what happened (CSRF: core.security)."""
    try:
        contribution = contributions.approve_contribution(current_member(), contribution_id)
    except AppError as error:
        flash(str(error.message), "error")
    else:
        flash(
            _(
                "Approved: %(name)s, +%(points)d points.",
                name=contribution.member.name,
                points=contribution.points,
            )
        )
    return _back_to_review()


@bp.post("/review/<id:contribution_id>/reject")
@login_required
@once_per_form
def reject_claim(contribution_id: int):
    """Reject a pending claim with a reason, then go back to the list with what happened."""
    form = RejectForm()
    if not form.validate_on_submit():
        flash(_("Give a reason to reject."), "error")
        return _back_to_review()
    try:
        contribution = contributions.reject_contribution(current_member(), contribution_id, form.reason.data)
    except AppError as error:
        flash(str(error.message), "error")
    else:
        flash(_("Rejected: %(name)s.", name=contribution.member.name))
    return _back_to_review()


# --- leaderboards and the honour roll --------------------------------------------------------

PERIOD_NAMES = {
    "week": _l("This week"),
    "month": _l("This month"),
    "quarter": _l("This quarter"),
    "year": _l("This year"),
    "all": _l("All time"),
}


def leaderboard_navigation(actor) -> list:
    """The link of "Me" to the leaderboards."""
    return [(url_for("points_pages.leaderboard"), _("Leaderboards"))]


def _board_area(actor) -> tuple[list, int | None]:
    """The areas the member may switch between and the one asked for (default: the widest)."""
    areas = leaderboards.board_areas(actor)
    wanted = request.args.get("org_unit_id", type=int)
    return areas, wanted if wanted is not None else (areas[0].id if areas else None)


@bp.get("/leaderboards")
@login_required
@reads_replica
def leaderboard():
    """The members board of an area and period, with my place pinned on top."""
    actor = current_member()
    period = request.args.get("period", "month")
    period = period if period in leaderboards.PERIODS else "month"
    areas, unit_id = _board_area(actor)
    result = leaderboards.member_board(actor, unit_id, period) if unit_id is not None else None
    return render_template(
        "points/leaderboard.html",
        board=result,
        areas=areas,
        unit_id=unit_id,
        period=period,
        period_names=PERIOD_NAMES,
        last_month=last_month(),
    )


@bp.get("/leaderboards/honour-roll")
@login_required
@reads_replica
def honour_roll():
    """A closed month's honour roll (光荣榜) of an area; a page saying so when it is not published yet."""
    actor = current_member()
    areas, unit_id = _board_area(actor)
    month = request.args.get("month") or last_month()
    roll = None
    if unit_id is not None:
        try:
            roll = leaderboards.honour_roll(unit_id, month)
        except AppError as error:
            if error.status != 404 or "month" not in error.errors:
                raise
    months = leaderboards.closed_months(unit_id) if unit_id is not None else []
    return render_template(
        "points/leaderboard_honour_roll.html",
        roll=roll,
        areas=areas,
        unit_id=unit_id,
        month=month,
        months=months,
    )


from points import notice_views  # noqa: E402,F401 - the public notice's pages join this blueprint
