"""The console's fairness watch: the flags in scope (what, whom, the evidence), deciding them with a
reason, and for administrators a button that runs the watch now."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required

from admin.forms import DecideFlagForm
from admin.pages import PAGE_SIZE, console_member, page_number
from admin.views import bp
from core.errors import AppError
from core.form_tokens import once_per_form
from core.identity.access import can_somewhere
from core.identity.auth import current_member
from points import fairness
from points.models import FLAG_STATUSES

#: Headings of the evidence tables' columns.
EVIDENCE_COLUMNS = {
    "contribution_id": _l("Contribution"),
    "member": _l("Member"),
    "points": _l("Points"),
    "occurred_at": _l("When done"),
    "recorded_at": _l("Recorded"),
    "approved_at": _l("Approved"),
    "seconds": _l("Seconds"),
    "grid": _l("Grid"),
    "residents": _l("Residents"),
    "per_capita": _l("Per resident"),
}


@bp.get("/fairness")
@login_required
def fairness_flags():
    """The flags in scope (open ones first by default), and the button that runs the watch."""
    actor = console_member("fairness.review")
    status = request.args.get("status", "open")
    status = status if status in FLAG_STATUSES else None
    listing = fairness.list_flags(actor, status, page_number(), PAGE_SIZE)
    return render_template(
        "admin/fairness.html",
        listing=listing,
        status=status,
        statuses=fairness.STATUS_NAMES,
        rule_names=fairness.RULE_NAMES,
        summary=fairness.summary,
        may_scan=can_somewhere(actor, "fairness.scan"),
    )


@bp.post("/fairness/scan")
@login_required
@once_per_form
def fairness_scan():
    """Run the fairness watch now (administrators); nothing but flags is changed."""
    counts = fairness.run_scan(current_member())
    flash(
        _(
            "Fairness watch run: %(found)d patterns found, %(new)d new flags.",
            found=counts["found"],
            new=counts["new"],
        )
    )
    return redirect(url_for("admin.fairness_flags"), 303)


@bp.route("/fairness/<id:flag_id>", methods=["GET", "POST"])
@login_required
@once_per_form
def fairness_flag(flag_id: int):
    """One flag: what, whom, the evidence rows; dismiss it or say what was done, with a reason."""
    actor = console_member("fairness.review")
    flag = fairness.get_flag(actor, flag_id)
    form, status, problem = DecideFlagForm(), 200, None
    if form.validate_on_submit():
        try:
            fairness.decide_flag(actor, flag_id, form.decision.data, form.reason.data)
        except AppError as error:
            status, problem = error.status, error
        else:
            flash(_("Flag dismissed.") if form.decision.data == "dismiss" else _("Flag marked as acted on."))
            return redirect(url_for("admin.fairness_flags"), 303)
    elif form.is_submitted():
        status = 422
    columns = [name for name in EVIDENCE_COLUMNS if any(name in row for row in flag.evidence)]
    return render_template(
        "admin/fairness_flag.html",
        flag=flag,
        form=form,
        problem=problem,
        summary=fairness.summary(flag),
        rule_name=fairness.RULE_NAMES.get(flag.rule, flag.rule),
        statuses=fairness.STATUS_NAMES,
        columns=columns,
        headings=EVIDENCE_COLUMNS,
    ), status
