"""The console's members: search by name or phone, create, edit, move to another grid, suspend
and unsuspend, reset the password, grant and revoke roles — through identity's services, which
check every right again."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from admin.forms import (
    GrantRoleForm,
    MemberForm,
    NewMemberForm,
    ResetPasswordForm,
    RevokeRoleForm,
    StatusForm,
)
from admin.pages import PAGE_SIZE, console_member, indented_units, page_number, save_form, submit
from admin.views import bp
from core.form_tokens import once_per_form
from core.identity import cards, services
from core.identity.access import can_somewhere, require, scope_units
from core.identity.auth import current_member
from core.identity.forms import PinForm
from core.identity.views import ROLE_NAMES
from points.ledger import balance_of
from rewards.overview import list_staffed_supermarkets


def _grid_choices(actor) -> list[tuple[str, str]]:
    """The grids the actor manages members in."""
    return [("", _("Choose…"))] + [
        (str(unit.id), unit.name) for unit in services.list_units_in_scope(actor, "member.manage", "grid")
    ]


def _target_choices(actor) -> list[tuple[str, str]]:
    """Where the actor may grant roles: org units (``u:<id>``, ``u:`` everywhere) and supermarkets."""
    choices = [("u:", _("Everywhere"))] if scope_units(actor, "role.manage") is None else []
    choices += [
        (f"u:{value}", label)
        for value, label in indented_units(services.list_units_in_scope(actor, "role.manage"))
    ]
    choices += [(f"s:{shop.id}", shop.name) for shop in list_staffed_supermarkets(actor, "role.manage")]
    return choices


@bp.get("/members")
@login_required
def members():
    """Search the members of my subtree by name or phone."""
    query = (request.args.get("q") or "").strip()[:50]
    listing = services.list_members(
        console_member("member.manage"),
        org_unit_id=None,
        query=query or None,
        page=page_number(),
        page_size=PAGE_SIZE,
    )
    return render_template("admin/members.html", members=listing, query=query)


@bp.route("/members/new", methods=["GET", "POST"])
@login_required
@once_per_form
def new_member():
    """Create a member in a grid of my subtree."""
    actor = console_member("member.manage")
    form = NewMemberForm()
    form.org_unit.choices = _grid_choices(actor)
    outcome = save_form(
        form,
        lambda: services.create_member(
            actor, form.name.data, form.phone.data, form.password.data, int(form.org_unit.data)
        ),
        {"org_unit_id": "org_unit"},
    )
    if outcome.saved:
        flash(_("Member %(name)s created.", name=outcome.answer.name))
        return redirect(url_for("admin.member", member_id=outcome.answer.id), 303)
    return render_template("admin/member_new.html", form=form), outcome.status


def member_page(actor, member, status: int = 200, **forms):
    """Render a member's page with its forms (those given keep what was typed)."""
    # Filled from a mapping, not the record: the record's ``org_unit`` is an object, not the
    # grid's id the select needs (so the grid showed "Choose…" and saving always failed).
    edit = forms.get("edit") or MemberForm(
        formdata=None,
        data={"name": member.name, "phone": member.phone, "org_unit": str(member.org_unit_id or "")},
    )
    edit.org_unit.choices = _grid_choices(actor)
    grant = forms.get("grant") or GrantRoleForm(formdata=None)
    grant.target.choices = _target_choices(actor) if can_somewhere(actor, "role.manage") else []
    return render_template(
        "admin/member.html",
        person=member,
        edit=edit,
        grant=grant,
        role_names=ROLE_NAMES,
        status_form=forms.get("status") or StatusForm(formdata=None),
        password=forms.get("password") or ResetPasswordForm(formdata=None),
        revoke=RevokeRoleForm(formdata=None),
        grants=services.list_grants(actor, member),
        balance=balance_of(member.id),
        locked_minutes=-(-services.sign_in_lock(member) // 60),
        may_grant=can_somewhere(actor, "role.manage"),
        card=cards.live_card(member.id),
        pin_set=cards.has_pin(member.id),
        pin=forms.get("pin") or PinForm(formdata=None),
    ), status


def managed_member(actor, member_id: int):
    """A member the actor manages (404 when unknown, 403 outside the actor's subtree)."""
    member = services.get_member(member_id)
    require(actor, "member.manage", member)
    return member


def submit_member_form(actor, person, name: str, form, save, done: str, names=None):
    """Submit one of the forms of a member's page (``name`` is its place on the page): back to the
    page with ``done``, or the page again with the form as typed."""
    return submit(
        form,
        save,
        done,
        url_for("admin.member", member_id=person.id),
        lambda outcome: member_page(actor, person, outcome.status, **{name: form}),
        names,
    )


@bp.route("/members/<id:member_id>", methods=["GET", "POST"])
@login_required
@once_per_form
def member(member_id: int):
    """Show a member; edit their name, phone and grid (moving them to another grid)."""
    actor = current_member()
    person = managed_member(actor, member_id)
    if request.method == "GET":
        return member_page(actor, person)
    form = MemberForm()
    form.org_unit.choices = _grid_choices(actor)
    return submit_member_form(
        actor,
        person,
        "edit",
        form,
        lambda: services.update_member(
            actor,
            person,
            {"name": form.name.data, "phone": form.phone.data, "org_unit_id": int(form.org_unit.data)},
        ),
        _("Saved."),
        {"org_unit_id": "org_unit"},
    )


@bp.post("/members/<id:member_id>/status")
@login_required
@once_per_form
def member_status(member_id: int):
    """Suspend a member (their sessions end) or let them back in."""
    actor = current_member()
    person = managed_member(actor, member_id)
    form = StatusForm()
    return submit_member_form(
        actor,
        person,
        "status",
        form,
        lambda: services.update_member(actor, person, {"status": form.status.data}),
        _("Suspended.") if form.status.data == "suspended" else _("Active again."),
    )


@bp.post("/members/<id:member_id>/password")
@login_required
@once_per_form
def member_password(member_id: int):
    """Set a new password for a member; their sessions and tokens end."""
    actor = current_member()
    person = managed_member(actor, member_id)
    form = ResetPasswordForm()
    return submit_member_form(
        actor,
        person,
        "password",
        form,
        lambda: services.reset_password(actor, person, form.password.data),
        _("The password has been reset."),
    )


@bp.post("/members/<id:member_id>/unlock")
@login_required
@once_per_form
def member_unlock(member_id: int):
    """Lift the lock that failed sign-ins put on a member's phone number (audited)."""
    actor = current_member()
    services.unlock_sign_in(actor, managed_member(actor, member_id))
    flash(_("Sign-in unlocked."))
    return redirect(url_for("admin.member", member_id=member_id), 303)


@bp.post("/members/<id:member_id>/roles")
@login_required
@once_per_form
def grant_member_role(member_id: int):
    """Grant a role on an org unit, or clerk at a supermarket (administrators)."""
    actor = current_member()
    person = services.get_member(member_id)
    services.read_member(actor, person)
    form = GrantRoleForm()
    form.target.choices = _target_choices(actor)

    def grant():
        """Grant the chosen role on the chosen org unit (``u:<id>``) or supermarket (``s:<id>``)."""
        kind, _sep, target_id = form.target.data.partition(":")
        target = int(target_id) if target_id else None
        services.grant_role(
            actor, person, form.role.data, target if kind == "u" else None, target if kind == "s" else None
        )

    return submit_member_form(
        actor,
        person,
        "grant",
        form,
        grant,
        _("Role granted."),
        {"org_unit_id": "target", "supermarket_id": "target"},
    )


@bp.post("/members/<id:member_id>/roles/<id:grant_id>/revoke")
@login_required
@once_per_form
def revoke_member_role(member_id: int, grant_id: int):
    """Revoke one of a member's roles (administrators)."""
    actor = current_member()
    person = services.get_member(member_id)
    services.read_member(actor, person)
    form = RevokeRoleForm()
    form.validate_on_submit()
    services.revoke_role(actor, person, grant_id, form.reason.data or None)
    flash(_("Role revoked."))
    return redirect(url_for("admin.member", member_id=member_id), 303)
