"""The console's patrol routes: list, draw a new one, its checkpoint posters, and who walked it each night."""

from __future__ import annotations

from datetime import date

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from admin.views import PAGE_SIZE, bp, page_count, page_number, require_reach, show_refusal
from admin.volunteer_forms import PatrolRouteForm
from core.errors import AppError
from core.form_tokens import once_per_form
from core.identity.auth import current_member
from core.identity.services import list_units_in_scope
from points import activities
from points.models import FLOW_ONLY_ACTIVITIES
from points.patrols import services


def _route_form(actor) -> PatrolRouteForm:
    """The route form with the places and activities the actor may choose."""
    form = PatrolRouteForm()
    form.org_unit.choices = [("", _("Choose…"))] + [
        (str(unit.id), "　" * unit.depth + unit.name) for unit in list_units_in_scope(actor, "patrol.manage")
    ]
    form.activity.choices = [("", _("Choose…"))] + [
        (activity.code, activity.name)
        for activity in activities.list_managed_activities(actor, False, 1, 100)["items"]
        if activity.code not in FLOW_ONLY_ACTIVITIES
    ]
    return form


@bp.get("/patrols")
@login_required
def patrols():
    """List the patrol routes of my subtree, newest first."""
    actor = current_member()
    require_reach(actor, "patrol.manage")
    listing = services.list_routes(actor, page_number(), PAGE_SIZE)
    return render_template("admin/patrols.html", routes=listing, pages=page_count(listing))


@bp.route("/patrols/new", methods=["GET", "POST"])
@login_required
@once_per_form
def new_patrol_route():
    """Draw a route: its checkpoints in order, the window and the pace; its posters follow."""
    actor = current_member()
    require_reach(actor, "patrol.manage")
    form = _route_form(actor)
    status, problem = 200, None
    if form.validate_on_submit():
        try:
            route = services.create_route(
                actor,
                form.name.data.strip(),
                int(form.org_unit.data),
                form.activity.data,
                form.checkpoint_names(),
                form.window_start.data,
                form.window_end.data,
                form.min_minutes_between.data,
            )
        except AppError as error:
            status, problem = error.status, error
            show_refusal(form, error, {"activity_code": "activity", "org_unit_id": "org_unit"})
        else:
            flash(
                _(
                    "Route %(name)s drawn. Print its posters and put each one up at its checkpoint.",
                    name=route.name,
                )
            )
            return redirect(url_for("admin.patrol_route", route_id=route.id), 303)
    elif form.is_submitted():
        status = 422
    return render_template("admin/patrol_form.html", form=form, problem=problem), status


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
        pages=page_count(rounds),
        summary=services.night_summary(route, rounds["night"]),
        state_of=services.round_state,
    )
