"""The console's activities (积分规则): list, create, edit and retire. Editing never changes
points already awarded: a contribution keeps the points it was recorded with."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from admin.forms import CATEGORY_NAMES, ActivityForm
from admin.pages import PAGE_SIZE, console_member, indented_units, page_number, save_form
from admin.views import bp
from core.clock import SHANGHAI
from core.form_tokens import once_per_form
from core.identity.access import can, require, scope_units
from core.identity.auth import current_member
from core.identity.services import list_units_in_scope
from points.activities import create_activity, get_activity, list_managed_activities, update_activity

#: Form fields an edit may change (the code names the activity and stays).
EDITABLE = (
    "name",
    "name_en",
    "category",
    "points",
    "unit",
    "daily_cap",
    "needs_review",
    "starts_at",
    "ends_at",
)

#: The form's fields named by the service's refusals.
REFUSAL_FIELDS = {"org_unit_id": "org_unit", "activity_code": "code"}


def _unit_choices(actor) -> list[tuple[str, str]]:
    """Where an activity may apply: the whole tree (global admins) or a unit of the actor's scope."""
    units = list_units_in_scope(actor, "activity.manage")
    everywhere = [("", _("Everywhere"))] if scope_units(actor, "activity.manage") is None else []
    return everywhere + indented_units(units)


def _fields(form: ActivityForm) -> dict:
    """The service's fields from the form (local times are Asia/Shanghai)."""
    fields = {name: getattr(form, name).data for name in EDITABLE}
    fields["name_en"] = fields["name_en"] or None
    for name in ("starts_at", "ends_at"):
        if fields[name] is not None:
            fields[name] = fields[name].replace(tzinfo=SHANGHAI)
    return fields


@bp.get("/activities")
@login_required
def activities():
    """List the activities of my subtree (and the tree-wide ones), retired ones last."""
    actor = console_member("activity.manage")
    listing = list_managed_activities(actor, True, page_number(), PAGE_SIZE)
    return render_template(
        "admin/activities.html",
        activities=listing,
        category_names=CATEGORY_NAMES,
        can_edit=lambda activity: can(actor, "activity.manage", activity.org_unit),
    )


@bp.route("/activities/new", methods=["GET", "POST"])
@login_required
@once_per_form
def new_activity():
    """Define a new activity in my subtree."""
    actor = console_member("activity.manage")
    form = ActivityForm()
    form.org_unit.choices = _unit_choices(actor)
    outcome = save_form(
        form,
        lambda: create_activity(
            actor,
            {
                "code": form.code.data,
                **_fields(form),
                "org_unit_id": int(form.org_unit.data) if form.org_unit.data else None,
            },
        ),
        REFUSAL_FIELDS,
    )
    if outcome.saved:
        flash(_("Activity %(name)s created.", name=outcome.answer.name))
        return redirect(url_for("admin.activities"), 303)
    return render_template(
        "admin/activity_form.html", form=form, problem=outcome.problem, activity=None
    ), outcome.status


@bp.route("/activities/<code>", methods=["GET", "POST"])
@login_required
@once_per_form
def edit_activity(code: str):
    """Edit an activity of my subtree; points already awarded keep their value."""
    actor = current_member()
    activity = get_activity(code, "code")
    require(actor, "activity.manage", activity.org_unit)
    form = ActivityForm(obj=activity if request.method == "GET" else None)
    form.org_unit.choices = [
        (str(activity.org_unit_id or ""), activity.org_unit.name if activity.org_unit else _("Everywhere"))
    ]
    form.org_unit.data = str(activity.org_unit_id or "")
    form.code.data = activity.code
    if request.method == "GET":
        for name in ("starts_at", "ends_at"):
            if getattr(activity, name) is not None:
                getattr(form, name).data = getattr(activity, name).astimezone(SHANGHAI).replace(tzinfo=None)
    outcome = save_form(form, lambda: update_activity(actor, activity, _fields(form)), REFUSAL_FIELDS)
    if outcome.saved:
        flash(_("Activity %(name)s saved.", name=activity.name))
        return redirect(url_for("admin.activities"), 303)
    return render_template(
        "admin/activity_form.html", form=form, problem=outcome.problem, activity=activity
    ), outcome.status


@bp.post("/activities/<code>/active")
@login_required
@once_per_form
def retire_activity(code: str):
    """Retire an activity (no new points from it), or bring it back."""
    actor = current_member()
    activity = get_activity(code, "code")
    retire = request.form.get("active") != "1"
    update_activity(actor, activity, {"active": not retire})
    flash(
        _("Activity %(name)s retired.", name=activity.name)
        if retire
        else _("Activity %(name)s is active again.", name=activity.name)
    )
    return redirect(url_for("admin.activities"), 303)
