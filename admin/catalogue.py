"""The console's supermarkets: open and edit them (administrators), the rewards and stock of each,
receipts, stocktake corrections with a reason, the stock's history and the voucher history —
through identity's and rewards' services. Clerks see their own supermarket only; administrators
those of their subtree."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from admin.forms import ReceiveRewardForm, SupermarketForm
from admin.labels import STOCK_MOVEMENT_NAMES
from admin.pages import PAGE_SIZE, console_member, page_number, save_form, unit_choices
from admin.views import bp
from core.form_tokens import once_per_form
from core.identity import services as identity
from core.identity.access import can_somewhere, require
from core.identity.auth import current_member
from core.identity.services import get_supermarket
from rewards import overview, services
from rewards import stock as stock_service
from rewards.forms import CorrectStockForm
from rewards.models import VOUCHER_STATUSES
from rewards.views import STATUS_NAMES

#: The form's field named by the service's refusals.
REFUSAL_FIELDS = {"org_unit_id": "org_unit"}


@bp.get("/supermarkets")
@login_required
def supermarkets():
    """List the supermarkets whose stock I keep."""
    actor = console_member("stock.receive")
    return render_template(
        "admin/supermarkets.html",
        shops=overview.list_staffed_supermarkets(actor),
        may_manage=can_somewhere(actor, "supermarket.manage"),
    )


def _supermarket_form(actor, **kwargs) -> SupermarketForm:
    """The supermarket form with the org units the actor opens supermarkets in."""
    form = SupermarketForm(**kwargs)
    form.org_unit.choices = unit_choices(actor, "supermarket.manage")
    return form


def _supermarket_fields(form: SupermarketForm) -> dict:
    """The service's fields from the form."""
    return {
        "name": form.name.data.strip(),
        "org_unit_id": int(form.org_unit.data),
        "address": form.address.data.strip(),
        "opening_hours": (form.opening_hours.data or "").strip() or None,
    }


@bp.route("/supermarkets/new", methods=["GET", "POST"])
@login_required
@once_per_form
def new_supermarket():
    """Open a safety supermarket in an org unit of my subtree."""
    actor = console_member("supermarket.manage")
    form = _supermarket_form(actor)
    outcome = save_form(
        form, lambda: identity.create_supermarket(actor, **_supermarket_fields(form)), REFUSAL_FIELDS
    )
    if outcome.saved:
        flash(_("Supermarket %(name)s opened.", name=outcome.answer.name))
        return redirect(url_for("admin.supermarkets"), 303)
    return render_template("admin/supermarket_form.html", form=form, shop=None), outcome.status


@bp.route("/supermarkets/<id:supermarket_id>/edit", methods=["GET", "POST"])
@login_required
@once_per_form
def edit_supermarket(supermarket_id: int):
    """Edit a supermarket's name, org unit, address and opening hours."""
    actor = current_member()
    shop = get_supermarket(supermarket_id)
    require(actor, "supermarket.manage", shop)
    form = _supermarket_form(
        actor,
        data={
            "name": shop.name,
            "org_unit": str(shop.org_unit_id),
            "address": shop.address,
            "opening_hours": shop.opening_hours or "",
        },
    )
    outcome = save_form(
        form, lambda: identity.update_supermarket(actor, shop, _supermarket_fields(form)), REFUSAL_FIELDS
    )
    if outcome.saved:
        flash(_("Saved."))
        return redirect(url_for("admin.supermarkets"), 303)
    return render_template("admin/supermarket_form.html", form=form, shop=shop), outcome.status


def _receive_form(formdata=None) -> ReceiveRewardForm:
    """The receipt form with every active reward of the catalogue to choose from."""
    form = ReceiveRewardForm() if formdata else ReceiveRewardForm(formdata=None)
    form.reward.choices = [("", _("Choose…"))] + [
        (str(reward.id), reward.name) for reward in services.list_rewards(False, 1, 100)["items"]
    ]
    return form


def _supermarket_page(
    actor, supermarket_id: int, status: int = 200, receive=None, correct=None, corrected: int | None = None
):
    """Render a supermarket's stock, history and forms (a refused form keeps what was typed)."""
    levels = stock_service.stock_levels(actor, supermarket_id)
    history = stock_service.stock_history(actor, supermarket_id, None, page_number(), PAGE_SIZE)
    return render_template(
        "admin/supermarket.html",
        shop=get_supermarket(supermarket_id),
        levels=levels,
        history=history,
        receive=receive or _receive_form(),
        correct=correct or CorrectStockForm(formdata=None),
        corrected=corrected,
        low=overview.LOW_STOCK_THRESHOLD,
        movement_names=STOCK_MOVEMENT_NAMES,
        reward_names={row.reward_id: row.reward.name for row in levels},
    ), status


@bp.get("/supermarkets/<id:supermarket_id>")
@login_required
def supermarket(supermarket_id: int):
    """Show a supermarket's rewards with units on hand, reserved and available, and the stock's history."""
    return _supermarket_page(current_member(), supermarket_id)


@bp.post("/supermarkets/<id:supermarket_id>/receive")
@login_required
@once_per_form
def receive(supermarket_id: int):
    """Add units received of one reward."""
    actor = current_member()
    form = _receive_form(request.form)
    outcome = save_form(
        form,
        lambda: stock_service.receive_stock(actor, supermarket_id, int(form.reward.data), form.quantity.data),
        {"reward_id": "reward"},
    )
    refusal = outcome.problem
    if refusal is not None and refusal.status in (403, 404) and "reward_id" not in refusal.errors:
        raise refusal  # another supermarket's stock: refused as it is
    if not outcome.saved:  # the page reads the stock first, so it refuses another supermarket too
        return _supermarket_page(actor, supermarket_id, outcome.status, receive=form)
    flash(
        _(
            "Received %(quantity)d: %(on_hand)d on hand now.",
            quantity=form.quantity.data,
            on_hand=outcome.answer.on_hand,
        )
    )
    return redirect(url_for("admin.supermarket", supermarket_id=supermarket_id), 303)


@bp.post("/supermarkets/<id:supermarket_id>/stock/<id:reward_id>/correct")
@login_required
@once_per_form
def correct(supermarket_id: int, reward_id: int):
    """Set the units on hand to a stocktake's count, with a reason; never below what is reserved."""
    actor = current_member()
    form = CorrectStockForm()
    outcome = save_form(
        form,
        lambda: stock_service.correct_stock(
            actor, supermarket_id, reward_id, form.quantity.data, form.reason.data
        ),
    )
    if outcome.problem is not None and outcome.problem.status in (403, 404):
        raise outcome.problem
    if not outcome.saved:
        return _supermarket_page(actor, supermarket_id, outcome.status, correct=form, corrected=reward_id)
    flash(_("Corrected: %(on_hand)d on hand now.", on_hand=outcome.answer.on_hand))
    return redirect(url_for("admin.supermarket", supermarket_id=supermarket_id), 303)


@bp.get("/supermarkets/<id:supermarket_id>/vouchers")
@login_required
def vouchers(supermarket_id: int):
    """List a supermarket's vouchers, newest first, optionally of one status."""
    actor = current_member()
    status = request.args.get("status") if request.args.get("status") in VOUCHER_STATUSES else None
    listing = overview.list_supermarket_vouchers(actor, supermarket_id, status, page_number(), PAGE_SIZE)
    return render_template(
        "admin/vouchers.html",
        shop=get_supermarket(supermarket_id),
        vouchers=listing,
        status=status,
        statuses=VOUCHER_STATUSES,
        status_names=STATUS_NAMES,
    )
