"""Pages of counter sales (the clerk's basket, by card and PIN or pay code) and the resident's pay code."""

from __future__ import annotations

from flask import flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required

from core.config import public_base_url
from core.errors import AppError
from core.form_tokens import once_per_form
from core.identity import cards
from core.identity.auth import current_member
from core.qr.render import inline_svg
from rewards import counter, services
from rewards.views import (
    _basket,
    _counter_supermarkets,
    bp,
    is_counter_staff,
    refusal,
)

#: What the basket page says for each refusal of a card or pay code.
HOLDER_REFUSALS = {
    "invalid_code": _l(
        "This is not a valid member card or pay code (a replaced card, or a pay code "
        "already used). Scan again, or type the number."
    ),
    "expired": _l("This pay code has expired. Ask the resident to show a new one."),
    "invalid_pin": _l("The PIN is not correct. Let the resident type it again."),
    "rate_limited": _l(
        "Too many wrong PINs: this card is locked for PIN use for a while. An organiser can set a new PIN."
    ),
    "insufficient_points": _l("The resident does not have enough points for these goods."),
    "out_of_stock": _l("Not enough of these goods in stock."),
    "limit_reached": _l("The resident has reached this month's limit for one of these goods."),
}


def holder_arguments(code: str) -> dict:
    """Tell a pay code (18 digits, or its QR code's ``/P/`` text) from a card (12 digits, or ``/C/``)."""
    text = (code or "").strip()
    digits = cards.typed_digits(text)
    if (digits is not None and len(digits) == cards.PAY_CODE_DIGITS) or "/P/" in text.upper():
        return {"pay_code": text}
    return {"card": text}


def _problem(error: AppError) -> dict:
    """Describe a refusal for the basket page, in the words said for cards and pay codes."""
    described = refusal(error)
    described["message"] = HOLDER_REFUSALS.get(error.code, described["message"])
    return described


def _sell_page(shop, shops, *, typed=None, errors=None, problem=None, status=200):
    """The basket page: the shop's catalogue with what was typed, and any refusal."""
    offered = services.catalogue(shop.id) if shop else []
    return render_template(
        "rewards/sell.html",
        shops=shops,
        shop=shop,
        offered=offered,
        typed=typed or {},
        errors=errors or {},
        problem=problem,
    ), status


def _holder_refused(shop, shops, error: AppError):
    """The basket page again, its goods kept and the refused card or pay code cleared, saying why."""
    return _sell_page(
        shop, shops, typed={**request.form, "code": ""}, problem=_problem(error), status=error.status
    )


@bp.route("/counter/sell", methods=["GET", "POST"])
@login_required
def sell():
    """The basket: pick goods from the catalogue, then scan or type the resident's card or pay code."""
    actor = current_member()
    shops, shop = _counter_supermarkets(actor)
    if request.method == "GET" or shop is None:
        return _sell_page(shop, shops, typed={"code": request.args.get("code", "")})
    offered = services.catalogue(shop.id)
    items, errors = _basket(request.form, offered)
    code = (request.form.get("code") or "").strip()
    problem = None
    if not items and not errors:
        problem = {"message": _("Choose at least one reward.")}
    elif not code:
        problem = {"message": _("Scan the resident's card or pay code, or type its number.")}
    if errors or problem:
        return _sell_page(shop, shops, typed=request.form, errors=errors, problem=problem, status=422)
    try:
        holder = counter.look_up_holder(actor, shop.id, **holder_arguments(code))
    except AppError as error:
        return _holder_refused(shop, shops, error)
    return _confirm_page(shop, offered, items, code, holder)


def _confirm_page(shop, offered, items, code, holder, problem=None, status=200):
    prices = {reward["id"]: reward for reward in offered}
    lines = [{"reward": prices[item["reward_id"]], "quantity": item["quantity"]} for item in items]
    total = sum(line["reward"]["points_cost"] * line["quantity"] for line in lines)
    return render_template(
        "rewards/sell_confirm.html",
        shop=shop,
        lines=lines,
        total=total,
        code=code,
        holder=holder,
        problem=problem,
    ), status


@bp.post("/counter/sell/confirm")
@login_required
@once_per_form
def sell_confirm():
    """Sell: the resident's PIN (for a card) travels with the basket; show the result."""
    actor = current_member()
    shops, shop = _counter_supermarkets(actor)
    if shop is None:
        raise AppError(403)
    offered = services.catalogue(shop.id)
    items, errors = _basket(request.form, offered)
    code = (request.form.get("code") or "").strip()
    if errors or not items or not code:
        flash(_("The basket changed: choose the goods again."), "error")
        return redirect(url_for("rewards_pages.sell", supermarket=shop.id), 303)
    arguments = holder_arguments(code)
    try:
        voucher = counter.sell_at_counter(
            actor, shop.id, items, pin=request.form.get("pin") or None, **arguments
        )
    except AppError as error:
        try:
            holder = counter.look_up_holder(actor, shop.id, **arguments)
        except AppError:
            return _holder_refused(shop, shops, error)
        return _confirm_page(shop, offered, items, code, holder, problem=_problem(error), status=error.status)
    flash(_("Sold: %(points)d points spent. Hand the goods over.", points=voucher.points))
    return redirect(url_for("rewards_pages.counter_voucher", voucher_id=voucher.id), 303)


@bp.get("/C/<token>")
@bp.get("/c/<token>")
@bp.get("/P/<token>")
@bp.get("/p/<token>")
@login_required
def holder_link(token: str):
    """A card's or pay code's QR code opened by a phone's own camera: the counter's basket, for its staff."""
    if not is_counter_staff(current_member()):
        flash(_("This is a member card or pay code: show it at the supermarket's counter."))
        return redirect(url_for("core.home"), 303)
    return redirect(url_for("rewards_pages.sell", code=request.url.split("?", 1)[0]), 303)


@bp.get("/me/pay-code")
@login_required
def pay_code():
    """The resident's pay code (出示付款码), large, renewed before it runs out; never kept by the browser."""
    code, digits = cards.issue_pay_code(current_member())
    response = make_response(
        render_template(
            "rewards/pay_code.html",
            qr_svg=inline_svg(cards.pay_code_payload(code, public_base_url())),
            digits=cards.group_digits(digits),
            expires_at=code.expires_at,
            seconds=int(cards.PAY_CODE_TTL.total_seconds()),
        )
    )
    response.headers["Cache-Control"] = "no-store"
    return response
