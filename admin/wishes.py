"""The console's micro-wishes: those of my subtree by step; vet, publish with points and a due date,
confirm for a requester who has not (3 days after it was done), cancel."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from admin.pages import PAGE_SIZE, console_member, page_number, submit
from admin.views import bp
from admin.volunteer_forms import PublishWishForm
from core.clock import SHANGHAI
from core.errors import AppError
from core.form_tokens import once_per_form
from core.identity.auth import current_member
from points.wishes import services
from points.wishes.forms import CancelForm, ConfirmForm, VetForm
from points.wishes.models import WISH_STATUSES

#: A new wish is due a week after it is published, unless the organiser says otherwise.
DEFAULT_DUE = timedelta(days=7)


@bp.get("/wishes")
@login_required
def wishes():
    """The wishes of my subtree at one step (default: every step), nearest and soonest due first."""
    actor = console_member("wish.manage")
    status = request.args.get("status") or None
    status = status if status in WISH_STATUSES else None
    listing = services.list_wishes(
        actor, status=status, managed=True, page=page_number(), page_size=PAGE_SIZE
    )
    return render_template("admin/wishes.html", wishes=listing, status=status, statuses=WISH_STATUSES)


def _wish_page(wish_id: int, status: int = 200, problem: AppError | None = None, **forms):
    """A wish with the forms of what I may do to it here (those given keep what was typed)."""
    actor = console_member("wish.manage")
    wish = services.read_wish(actor, wish_id)
    publish = PublishWishForm(
        formdata=None,
        points=wish.points or 10,
        due_at=(wish.due_at or datetime.now(SHANGHAI).replace(second=0, microsecond=0) + DEFAULT_DUE)
        .astimezone(SHANGHAI)
        .replace(tzinfo=None),
    )
    shown = {
        "publish_form": publish,
        "vet_form": VetForm(formdata=None),
        "confirm_form": ConfirmForm(formdata=None),
        "cancel_form": CancelForm(formdata=None),
        **forms,
    }
    return render_template(
        "admin/wish.html", wish=wish, seen=services.seen_by(actor, wish), problem=problem, **shown
    ), status


@bp.get("/wishes/<id:wish_id>")
@login_required
def wish(wish_id: int):
    """One wish of my subtree: what was asked, each step and who took it, and what I may do now."""
    return _wish_page(wish_id)


def _act(wish_id: int, form_name: str, form, call, done_message: str):
    """Validate the form and run the service: back to the wish with what happened, or the refusal beside
    the form with what was typed."""

    def again(outcome):
        """The wish again with the form as typed (a wish gone or out of reach is refused as it is)."""
        if outcome.problem is not None and outcome.problem.status in (401, 404):
            raise outcome.problem
        return _wish_page(wish_id, outcome.status, outcome.problem, **{form_name: form})

    return submit(form, call, done_message, url_for("admin.wish", wish_id=wish_id), again)


@bp.post("/wishes/<id:wish_id>/publish")
@login_required
@once_per_form
def publish_wish(wish_id: int):
    """Publish a vetted wish with points and a due date (or set them again while it is open)."""
    form = PublishWishForm()
    return _act(
        wish_id,
        "publish_form",
        form,
        lambda: services.publish_wish(
            current_member(), wish_id, form.points.data, form.due_at.data.replace(tzinfo=SHANGHAI)
        ),
        _("Published: volunteers nearby can take it now."),
    )


@bp.post("/wishes/<id:wish_id>/vet")
@login_required
@once_per_form
def vet_wish(wish_id: int):
    """Accept or decline a submitted wish of my subtree."""
    form = VetForm()
    return _act(
        wish_id,
        "vet_form",
        form,
        lambda: services.vet_wish(current_member(), wish_id, form.decision.data, form.reason.data),
        _("Accepted: publish it with points next.") if form.decision.data == "accept" else _("Declined."),
    )


@bp.post("/wishes/<id:wish_id>/confirm")
@login_required
@once_per_form
def confirm_wish(wish_id: int):
    """Confirm a wish done over 3 days ago for a requester who has not; the volunteer is paid."""
    form = ConfirmForm()
    return _act(
        wish_id,
        "confirm_form",
        form,
        lambda: services.confirm_wish(current_member(), wish_id, form.rating.data),
        _("Confirmed: the volunteer has earned the points."),
    )


@bp.post("/wishes/<id:wish_id>/cancel")
@login_required
@once_per_form
def cancel_wish(wish_id: int):
    """Cancel a wish of my subtree, saying why; nobody is paid."""
    form = CancelForm()
    return _act(
        wish_id,
        "cancel_form",
        form,
        lambda: services.cancel_wish(current_member(), wish_id, form.reason.data),
        _("The wish is cancelled."),
    )
