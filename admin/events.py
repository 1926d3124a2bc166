"""The console's events: list, create, the printable check-in poster, who checked in, close."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import login_required

from admin.forms import EventForm
from admin.pages import PAGE_SIZE, activity_choices, console_member, page_number, save_form, unit_choices
from admin.views import bp
from core.clock import SHANGHAI
from core.errors import AppError
from core.form_tokens import once_per_form
from core.identity.auth import current_member
from points import events as event_service


def _event_form(actor) -> EventForm:
    """The event form with the activities and places the actor may choose."""
    form = EventForm()
    form.activity.choices = activity_choices(actor)
    form.org_unit.choices = unit_choices(actor, "event.manage")
    return form


@bp.get("/events")
@login_required
def events():
    """List the events of my subtree, newest first."""
    listing = event_service.list_events(console_member("event.manage"), page_number(), PAGE_SIZE)
    return render_template("admin/events.html", events=listing)


@bp.route("/events/new", methods=["GET", "POST"])
@login_required
@once_per_form
def new_event():
    """Schedule an event; its check-in code and poster follow."""
    actor = console_member("event.manage")
    form = _event_form(actor)
    outcome = save_form(
        form,
        lambda: event_service.create_event(
            actor,
            form.title.data,
            form.activity.data,
            int(form.org_unit.data),
            form.starts_at.data.replace(tzinfo=SHANGHAI),
            form.ends_at.data.replace(tzinfo=SHANGHAI),
        ),
        {"activity_code": "activity", "org_unit_id": "org_unit"},
    )
    if outcome.saved:
        flash(_("Event %(title)s scheduled.", title=outcome.answer.title))
        return redirect(url_for("admin.event", event_id=outcome.answer.id), 303)
    return render_template("admin/event_form.html", form=form, problem=outcome.problem), outcome.status


@bp.get("/events/<id:event_id>")
@login_required
def event(event_id: int):
    """Show an event: its poster link, who checked in, and the close button."""
    actor = current_member()
    shown = event_service.read_event(actor, event_id)
    checkins = event_service.list_checkins(actor, event_id, page_number(), PAGE_SIZE)
    return render_template("admin/event.html", event=shown, checkins=checkins)


@bp.post("/events/<id:event_id>/close")
@login_required
@once_per_form
def close_event(event_id: int):
    """Close an event: members still checked in are checked out and awarded their hours."""
    try:
        event_service.close_event(current_member(), event_id)
    except AppError as error:
        if error.status in (403, 404):
            raise
        flash(str(error.message), "error")
    else:
        flash(_("Event closed; hours awarded."))
    return redirect(url_for("admin.event", event_id=event_id), 303)
