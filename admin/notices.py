"""The console's public notices (积分公示): publish a finished month for an org unit, list the
notices in scope with their printable PDF, and decide the objections waiting."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required

from admin.forms import DecideObjectionForm, PublishNoticeForm
from admin.pages import PAGE_SIZE, console_member, page_number, save_form, unit_choices
from admin.views import bp
from core.errors import AppError
from core.form_tokens import once_per_form
from points import notices

#: What a refused decision says, by the service's code.
REFUSALS = {
    "self_review": _l("Your own act: someone else decides this objection."),
    "invalid_state": _l("This objection has already been decided."),
    "insufficient_points": _l(
        "The member has spent these points: an administrator may take back what is "
        "left and write off the rest."
    ),
    "forbidden": _l("You have no right to do this here."),
    "not_found": _l("No such objection."),
}


def _publish_form(actor) -> PublishNoticeForm:
    """The publish form with the units and finished months the actor may choose."""
    form = PublishNoticeForm()
    form.org_unit.choices = unit_choices(actor, "notice.publish")
    form.month.choices = [(month, month) for month in notices.publishable_months()]
    return form


@bp.route("/notices", methods=["GET", "POST"])
@login_required
@once_per_form
def notices_console():
    """List the notices in scope; publish a finished month for an org unit."""
    actor = console_member("notice.publish")
    form = _publish_form(actor)
    outcome = save_form(
        form,
        lambda: notices.publish_notice(actor, int(form.org_unit.data), form.month.data),
        {"org_unit_id": "org_unit"},
    )
    if outcome.saved:
        flash(
            _(
                "Notice published: %(count)d entries, open for objections until %(when)s.",
                count=outcome.answer.entries_count,
                when=outcome.answer.closes_at.strftime("%Y-%m-%d"),
            )
        )
        return redirect(url_for("admin.notices_console"), 303)
    listing = notices.list_notices(actor, page_number(), PAGE_SIZE)
    return render_template(
        "admin/notices.html",
        form=form,
        problem=outcome.problem,
        listing=listing,
        status_of=notices.notice_status,
    ), outcome.status


def _objections_page(
    actor,
    failed: DecideObjectionForm | None = None,
    failed_id: int | None = None,
    problem=None,
    status: int = 200,
):
    """The pending objections in scope with a decision form each (a refused one keeps what was typed)."""
    listing = notices.list_objections(actor, "pending", None, page_number(), PAGE_SIZE)
    forms = {
        item["id"]: DecideObjectionForm(prefix=f"o{item['id']}", formdata=None) for item in listing["items"]
    }
    if failed is not None:
        forms[failed_id] = failed
    return render_template(
        "admin/objections.html",
        listing=listing,
        forms=forms,
        failed_id=failed_id,
        problem=problem,
    ), status


@bp.get("/objections")
@login_required
def objections():
    """The objections waiting for a decision in scope, each with its decision form."""
    return _objections_page(console_member("objection.decide"))


@bp.post("/objections/<id:objection_id>")
@login_required
@once_per_form
def decide_objection(objection_id: int):
    """Uphold or dismiss one objection; back to the list with what happened (a refusal stays on
    the list with the reason typed and what went wrong)."""
    actor = console_member("objection.decide")
    form = DecideObjectionForm(prefix=f"o{objection_id}")
    if not form.validate_on_submit():
        return _objections_page(actor, form, objection_id, status=422)
    try:
        notices.decide_objection(actor, objection_id, form.decision.data, form.reason.data)
    except AppError as error:
        return _objections_page(
            actor, form, objection_id, REFUSALS.get(error.code, error.message), error.status
        )
    flash(
        _("Objection upheld: the points were taken back.")
        if form.decision.data == "uphold"
        else _("Objection dismissed: the points stand.")
    )
    return redirect(url_for("admin.objections", page=page_number()), 303)
