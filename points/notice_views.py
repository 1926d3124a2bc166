"""Pages of the monthly public notice (积分公示): the notices of my areas, a notice with its
entries, objecting to an entry, and the printable A4 notice with its QR code."""

from __future__ import annotations

from flask import Response, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import login_required

from core.config import public_base_url
from core.errors import AppError
from core.form_tokens import once_per_form
from core.identity.auth import current_member
from points import notices
from points.forms import ObjectionForm
from points.notice_print import render_notice_pdf
from points.views import bp, page_number

PAGE_SIZE = 50


def navigation(actor) -> list:
    """The link of "Me" to the public notices."""
    return [(url_for("points_pages.notice_list"), _("Public notices"))]


@bp.get("/notices")
@login_required
def notice_list():
    """The notices of the areas I live in and of my scope, newest first."""
    actor = current_member()
    listing = notices.list_notices(actor, page_number(), 20)
    return render_template(
        "points/notices.html",
        listing=listing,
        status_of=notices.notice_status,
    )


@bp.get("/notices/<id:notice_id>")
@login_required
def notice(notice_id: int):
    """A notice: its window and status, its entries, and an objection link on each while it is open."""
    actor = current_member()
    found = notices.read_notice(actor, notice_id)
    shown = notices.shown_notice(found, page_number(), PAGE_SIZE)
    may_object = shown["status"] == "open" and notices.lives_under(actor, found.org_unit)
    return render_template(
        "points/notice.html",
        notice=shown,
        may_object=may_object,
        objected=notices.objected_by(actor, found),
    )


@bp.route("/notices/<id:notice_id>/objections/<id:contribution_id>", methods=["GET", "POST"])
@login_required
@once_per_form
def object_to_entry(notice_id: int, contribution_id: int):
    """Object to one entry of an open notice, with a reason; the reason is kept if it is refused."""
    actor = current_member()
    found = notices.read_notice(actor, notice_id)
    entry = notices.standing_entry(found, contribution_id)
    form, status, problem = ObjectionForm(), 200, None
    if form.validate_on_submit():
        try:
            notices.lodge_objection(actor, notice_id, contribution_id, form.reason.data)
        except AppError as error:
            status, problem = error.status, error
        else:
            flash(
                _(
                    "Your objection has been sent. You will be told the outcome; the member will not "
                    "learn who objected."
                )
            )
            return redirect(url_for("points_pages.notice", notice_id=notice_id), 303)
    elif form.is_submitted():
        status = 422
    return render_template(
        "points/notice_object.html", notice=found, entry=entry, form=form, problem=problem
    ), status


@bp.get("/notices/<id:notice_id>/notice.pdf")
@login_required
def notice_pdf(notice_id: int):
    """The printable A4 notice, with a QR code to its page, for the notice board."""
    found = notices.read_notice(current_member(), notice_id)
    entries = notices.printable_entries(found)
    shown = {**notices.shown_notice(found, 1, 1), "total": len(entries)}
    page_url = public_base_url().rstrip("/") + url_for("points_pages.notice", notice_id=found.id)
    body = render_notice_pdf(shown, entries, page_url, current_app.config["NOTICE_WORKING_DAYS"])
    return Response(
        body,
        mimetype="application/pdf",
        headers={"Content-Disposition": f"attachment; filename=notice-{found.org_unit_id}-{found.month}.pdf"},
    )
