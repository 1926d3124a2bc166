"""The console's review queue: pending claims in scope with their photos, approved or rejected
one or many at a time. One's own claim is refused on its row; the others still go through."""

from __future__ import annotations

from flask import render_template, request
from flask_babel import lazy_gettext as _l
from flask_login import login_required

from admin.forms import ReviewForm
from admin.views import PAGE_SIZE, bp, page_count, page_number, require_reach
from core.errors import AppError
from core.identity.auth import current_member
from points import services
from points.ledger import balance_of

#: What a refused row says, by the service's code.
REFUSALS = {
    "self_review": _l("Your own claim: someone else reviews it."),
    "daily_cap_reached": _l("The daily limit for this activity is reached."),
    "invalid_state": _l("This claim is no longer pending."),
    "forbidden": _l("You have no right to do this here."),
    "not_found": _l("No such claim."),
}


def _claim_ids() -> list[int]:
    """The ticked claims' ids (anything that is not a number is ignored)."""
    return [int(value) for value in request.form.getlist("claim") if value.isdigit()]


@bp.route("/review", methods=["GET", "POST"])
@login_required
def review():
    """List pending claims; approve or reject the ticked ones with a reason."""
    actor = current_member()
    require_reach(actor, "claim.review")
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
            outcomes = services.review_contributions(actor, sorted(ticked), form.decision.data,
                                                     form.reason.data or None)
            done = [(outcome, balance_of(outcome.member_id).available)
                    for outcome in outcomes.values() if not isinstance(outcome, AppError)]
            refused = {claim_id: REFUSALS.get(error.code, error.message)
                       for claim_id, error in outcomes.items() if isinstance(error, AppError)}
            ticked = set(refused)
    elif form.is_submitted():
        status = 422
        ticked = set(_claim_ids())
    claims = services.list_contributions(actor, member_id=None, status="pending", page=page_number(),
                                         page_size=PAGE_SIZE)
    return render_template("admin/review.html", form=form, claims=claims, pages=page_count(claims),
                           done=done, refused=refused, ticked=ticked), status
