"""The console's patrol routes: list, draw a new one, its checkpoint posters, and who walked it each night."""

from __future__ import annotations

from datetime import date

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from admin.pages import PAGE_SIZE, activity_choices, console_member, page_number, save_form, unit_choices
from admin.views import bp
from admin.volunteer_forms import PatrolRouteForm
from core.form_tokens import once_per_form
from core.identity.auth import current_member
from points.models import FLOW_ONLY_ACTIVITIES
from points.patrols import services


def _route_form(actor) -> PatrolRouteForm:
    """The route form with the places and activities the actor may choose."""
    form = PatrolRouteForm()
    form.org_unit.choices = unit_choices(actor, "patrol.manage")
    form.activity.choices = activity_choices(actor, leave_out=FLOW_ONLY_ACTIVITIES)
    return form


@bp.get("/patrols")
@login_required
def patrols():
    """List the patrol routes of my subtree, newest first."""
    listing = services.list_routes(console_member("patrol.manage"), page_number(), PAGE_SIZE)
    return render_template("admin/patrols.html", routes=listing)


@bp.route("/patrols/new", methods=["GET", "POST"])
@login_required
@once_per_form
def new_patrol_route():
    """Draw a route: its checkpoints in order, the window and the pace; its posters follow."""
    actor = console_member("patrol.manage")
    form = _route_form(actor)
    outcome = save_form(
        form,
        lambda: services.create_route(
            actor,
            form.name.data.strip(),
            int(form.org_unit.data),
            form.activity.data,
            form.checkpoint_names(),
            form.window_start.data,
            form.window_end.data,
            form.min_minutes_between.data,
        ),
        {"activity_code": "activity", "org_unit_id": "org_unit"},
    )
    if outcome.saved:
        flash(
            _(
                "Route %(name)s drawn. Print its posters and put each one up at its checkpoint.",
                name=outcome.answer.name,
            )
        )
        return redirect(url_for("admin.patrol_route", route_id=outcome.answer.id), 303)
    return render_template("admin/patrol_form.html", form=form, problem=outcome.problem), outcome.status


def _night() -> date | None:
    """The ``night`` query parameter (YYYY-MM-DD), None when missing or nonsense."""
    try:
        return date.fromisoformat(request.args.get("night", ""))
    except ValueError:
        return None


@bp.get("/patrols/<id:route_id>")
@login_required
def patrol_route(route_id: int):
    """A route: its checkpoints, the posters, and the rounds of one night — complete, incomplete, who."""
    actor = current_member()
    route = services.read_route(actor, route_id)
    rounds = services.list_rounds(actor, route_id, _night(), page_number(), PAGE_SIZE)
    return render_template(
        "admin/patrol_route.html",
        route=route,
        rounds=rounds,
        summary=services.night_summary(route, rounds["night"]),
        state_of=services.round_state,
    )
