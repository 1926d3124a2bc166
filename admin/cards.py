"""The console's member cards and counter PINs, printable card sheets, and the offline counters'
conflicts — through the services, which check every right again."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required

from admin.forms import ResolveConflictForm
from admin.members import managed_member, submit_member_form
from admin.pages import PAGE_SIZE, console_member, page_number
from admin.services.card_counts import active_members_below, grid_card_counts
from admin.views import bp
from core.errors import AppError
from core.form_tokens import once_per_form
from core.identity import cards, services
from core.identity.access import require
from core.identity.auth import current_member
from core.identity.card_sheet import MAX_CARDS, card_sheet_response, cards_to_print
from core.identity.forms import PinForm
from rewards import offline

#: Why an offline scan is a conflict, in words an admin can act on.
CONFLICT_REASONS = {
    "already_fulfilled": _l("Handed over twice: the voucher was already redeemed"),
    "insufficient_points": _l("Cancelled or expired after it was handed over, and the points are gone"),
    "out_of_stock": _l("Cancelled or expired after it was handed over, and the units were reserved again"),
    "invalid_state": _l("Handed over after the voucher was cancelled"),
    "expired": _l("Handed over after the voucher expired"),
}


@bp.post("/members/<id:member_id>/card")
@login_required
@once_per_form
def issue_member_card(member_id: int):
    """Issue a member card (re-issuing revokes the old one)."""
    actor = current_member()
    card = cards.issue_card(actor, managed_member(actor, member_id))
    flash(
        _(
            "Card %(number)s issued; the old card, if any, no longer works.",
            number=cards.group_digits(card.number),
        )
    )
    return redirect(url_for("admin.member", member_id=member_id), 303)


@bp.post("/members/<id:member_id>/pin")
@login_required
@once_per_form
def set_member_pin(member_id: int):
    """Set the counter PIN, with the resident present (they type it)."""
    actor = current_member()
    person = managed_member(actor, member_id)
    form = PinForm()
    return submit_member_form(
        actor, person, "pin", form, lambda: cards.set_pin(actor, person, form.pin.data), _("The PIN is set.")
    )


@bp.get("/cards")
@login_required
def member_cards():
    """Cards per grid: issue the missing ones, print a grid's sheet (10 cards to an A4 page)."""
    return render_template("admin/cards.html", grids=grid_card_counts(console_member("member.manage")))


@bp.post("/cards/<id:org_unit_id>/issue")
@login_required
@once_per_form
def issue_grid_cards(org_unit_id: int):
    """Issue cards to every active member of a grid who has none (and whom the actor manages)."""
    actor = current_member()
    unit = services.get_org_unit(org_unit_id)
    require(actor, "member.manage", unit)
    issued = cards.issue_missing_cards(actor, active_members_below(unit))
    flash(_("%(count)d cards issued in %(unit)s.", count=issued, unit=unit.name))
    return redirect(url_for("admin.member_cards"), 303)


@bp.get("/cards/print")
@login_required
def print_member_cards():
    """The cards of the members ticked on the members list, 10 to an A4 page (a PDF); back to the list
    saying why when there is nothing to print."""
    actor = console_member("member.manage")
    member_ids = request.args.getlist("member_id", type=int)[:MAX_CARDS]
    if not member_ids:
        return _back_to_members(_("Tick the members whose cards to print."))
    try:
        printed = cards_to_print(actor, member_ids=member_ids)
    except AppError as error:
        return _back_to_members(str(error.message))
    if not printed:
        return _back_to_members(_("None of the ticked members has a card yet: issue them first."))
    return card_sheet_response(printed)


def _back_to_members(message: str):
    flash(message, "error")
    return redirect(url_for("admin.members"), 303)


@bp.get("/offline-conflicts")
@login_required
def offline_conflicts():
    """Offline scans that ended in a conflict, for an admin to settle (the goods were handed over)."""
    actor = console_member("supermarket.manage")
    resolved = request.args.get("resolved") == "1"
    listing = offline.list_offline_conflicts(
        actor, resolved=resolved, page=page_number(), page_size=PAGE_SIZE
    )
    return render_template(
        "admin/offline_conflicts.html",
        conflicts=listing,
        resolved=resolved,
        form=ResolveConflictForm(formdata=None),
        reasons=CONFLICT_REASONS,
    )


@bp.post("/offline-conflicts/<id:conflict_id>/resolve")
@login_required
@once_per_form
def resolve_offline_conflict(conflict_id: int):
    """Mark a conflict settled, saying what was done (audited)."""
    actor = current_member()
    form = ResolveConflictForm()
    if not form.validate_on_submit():
        flash(_("Say what was done about it."), "error")
    else:
        try:
            offline.resolve_offline_conflict(actor, conflict_id, form.note.data)
        except AppError as error:
            flash(str(error.message), "error")
        else:
            flash(_("Marked as settled."))
    return redirect(url_for("admin.offline_conflicts"), 303)
