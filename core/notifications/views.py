"""Notification pages: my notifications, marking them read, and the unread count on every page."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from core.api import MAX_ID
from core.errors import AppError
from core.form_tokens import once_per_form
from core.identity.auth import current_member
from core.notifications import list_notifications, mark_read, unread_count

bp = Blueprint("notifications_pages", __name__)

PAGE_SIZE = 20


@bp.app_context_processor
def inject_unread_count():
    """Give every page the signed-in member's unread count (the header's bell), asked only when drawn."""

    def unread() -> int:
        member = current_member(required=False)
        return unread_count(member.id) if member is not None else 0

    return {"unread_notifications": unread}


def navigation(actor) -> list:
    """The link of "Me" to my notifications, with the unread count."""
    count = unread_count(actor.id)
    label = _("Notifications (%(count)d unread)", count=count) if count else _("Notifications")
    return [(url_for("notifications_pages.notifications"), label)]


@bp.get("/me/notifications")
@login_required
def notifications():
    """My notifications, newest first; unread ones stand out."""
    page = max(request.args.get("page", 1, type=int), 1)
    listing = list_notifications(current_member(), page, PAGE_SIZE)
    return render_template("notifications/list.html", listing=listing)


@bp.post("/me/notifications/read")
@login_required
@once_per_form
def read_notifications():
    """Mark one notification read (``id``) or all of them, then go back to the list."""
    # A value that is no notification's id stays in the list as 0, which no notification has: refused.
    ids = [
        int(value) if value.isascii() and value.isdigit() and int(value) <= MAX_ID else 0
        for value in request.form.getlist("id")
    ]
    try:
        mark_read(current_member(), ids or None, everything=not ids)
    except AppError as error:
        flash(str(error.message), "error")
    return redirect(
        url_for("notifications_pages.notifications", page=request.args.get("page", type=int)), 303
    )
