"""The console's org units: the tree of the administrator's area — add a unit under another, rename
one, move one (with everything below it) — through identity's services, which check every right."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import login_required

from admin.forms import ORG_UNIT_KIND_NAMES, OrgUnitForm
from admin.pages import console_member, indented_units, save_form
from admin.views import bp
from core.form_tokens import once_per_form
from core.identity import services
from core.identity.access import require, scope_units
from core.identity.auth import current_member

#: The "parent" choice that makes a root (a county): global administrators only.
ROOT = ""
#: The form's field named by the service's refusals.
REFUSAL_FIELDS = {"parent_id": "parent"}


def _parent_choices(actor, leave_out=None) -> list[tuple[str, str]]:
    """Where a unit may go: under a unit of the actor's area (not a grid; not ``leave_out``'s subtree)."""
    roots = [(ROOT, _("Top level (a county)"))] if scope_units(actor, "org_unit.manage") is None else []
    return roots + indented_units(
        unit
        for unit in services.list_units_in_scope(actor, "org_unit.manage")
        if unit.kind != "grid" and not (leave_out is not None and leave_out.contains(unit))
    )


def _parent_id(form: OrgUnitForm) -> int | None:
    """The chosen parent's id, or None for the top level."""
    return int(form.parent.data) if form.parent.data else None


@bp.route("/org-units", methods=["GET", "POST"])
@login_required
@once_per_form
def org_units():
    """The tree of my area, and a form to add a unit under one of its units."""
    actor = console_member("org_unit.manage")
    form = OrgUnitForm()
    form.parent.choices = _parent_choices(actor)
    outcome = save_form(
        form,
        lambda: services.create_org_unit(actor, form.name.data.strip(), form.kind.data, _parent_id(form)),
        REFUSAL_FIELDS,
    )
    if outcome.saved:
        flash(_("%(name)s added.", name=outcome.answer.name))
        return redirect(url_for("admin.org_units"), 303)
    return render_template(
        "admin/org_units.html",
        form=form,
        kind_names=ORG_UNIT_KIND_NAMES,
        units=services.list_units_in_scope(actor, "org_unit.manage"),
    ), outcome.status


@bp.route("/org-units/<id:unit_id>", methods=["GET", "POST"])
@login_required
@once_per_form
def edit_org_unit(unit_id: int):
    """Rename a unit, or move it with everything below it under another unit of my area."""
    actor = current_member()
    unit = services.get_org_unit(unit_id)
    require(actor, "org_unit.manage", unit)
    form = OrgUnitForm(data={"name": unit.name, "kind": unit.kind, "parent": str(unit.parent_id or ROOT)})
    form.parent.choices = _parent_choices(actor, leave_out=unit)
    if unit.parent is not None and not any(
        value == str(unit.parent_id) for value, _label in form.parent.choices
    ):
        form.parent.choices.insert(0, (str(unit.parent_id), unit.parent.name))  # above the area: stays
    form.kind.data = unit.kind  # the kind never changes
    outcome = save_form(
        form,
        lambda: services.update_org_unit(
            actor,
            unit,
            name=form.name.data.strip(),
            parent_id=_parent_id(form),
            move=_parent_id(form) != unit.parent_id,
        ),
        REFUSAL_FIELDS,
    )
    if outcome.saved:
        flash(_("Saved."))
        return redirect(url_for("admin.org_units"), 303)
    return render_template(
        "admin/org_unit_form.html", form=form, unit=unit, kind_names=ORG_UNIT_KIND_NAMES
    ), outcome.status
