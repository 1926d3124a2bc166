"""The console's review queue: pending claims in scope with their photos, approved or rejected
one or many at a time (a box ticks them all). One's own claim is refused on its row; the others
still go through. Duplicates and unusually large claims carry a warning."""

from __future__ import annotations

from flask import render_template, request
from flask_babel import lazy_gettext as _l
from flask_login import login_required

from admin.forms import ReviewForm
from admin.pages import PAGE_SIZE, console_member, page_number
from admin.views import bp
from core.errors import AppError
from core.form_tokens import once_per_form
from points import contributions

#: What a refused row says, by the service's code.
REFUSALS = {
    "self_review": _l("Your own claim: someone else reviews it."),
    "daily_cap_reached": _l("The daily limit for this activity is reached."),
    "invalid_state": _l("This claim is no longer pending."),
    "forbidden": _l("You have no right to do this here."),
    "not_found": _l("No such claim."),
}

#: What each warning of ``points.contributions.claim_warnings`` tells the reviewer.
WARNINGS = {
    "duplicate": _l(
        "Looks like a duplicate: the same activity, amount and day as another claim of this member."
    ),
    "over_daily_cap": _l("More points than the activity's daily cap: approving it will be refused."),
    "large": _l(
        "Unusually large: more than %(count)d items or hours.", count=contributions.LARGE_CLAIM_QUANTITY
    ),
}


def _claim_ids() -> list[int]:
    """The ticked claims' ids (anything that is not a number is ignored)."""
    return [int(value) for value in request.form.getlist("claim") if value.isdigit()]


@bp.route("/review", methods=["GET", "POST"])
@login_required
@once_per_form
def review():
    """List pending claims; approve or reject the ticked ones with a reason."""
    actor = console_member("claim.review")
    form = ReviewForm()
    status, done, refused, ticked = 200, [], {}, set()
    if form.validate_on_submit():
        ticked = set(_claim_ids())
        if not ticked:
            form.decision.errors = [*form.decision.errors, _l("Tick at least one claim.")]
            status = 422
        elif form.decision.data == "reject" and not (form.reason.data or "").strip():
            form.reason.errors = [*form.reason.errors, _l("Give a reason to reject.")]
            status = 422
        else:
            outcomes = contributions.review_contributions(
                actor, sorted(ticked), form.decision.data, form.reason.data or None
            )
            decided = [outcome for outcome in outcomes.values() if not isinstance(outcome, AppError)]
            balances = contributions.balances_after_awards([claim.id for claim in decided])
            done = [(claim, balances.get(claim.id)) for claim in decided]
            refused = {
                claim_id: REFUSALS.get(error.code, error.message)
                for claim_id, error in outcomes.items()
                if isinstance(error, AppError)
            }
            ticked = set(refused)
    elif form.is_submitted():
        status = 422
        ticked = set(_claim_ids())
    claims = contributions.list_contributions(
        actor, member_id=None, status="pending", page=page_number(), page_size=PAGE_SIZE
    )
    return render_template(
        "admin/review.html",
        form=form,
        claims=claims,
        done=done,
        refused=refused,
        ticked=ticked,
        warning_texts=WARNINGS,
        warnings=contributions.claim_warnings(claims["items"]),
    ), status
