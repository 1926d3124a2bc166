"""Pages of the rewards package: the counter's scanner and stock, the catalogue and my vouchers."""

from __future__ import annotations

import re
from datetime import datetime

from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required

from core.clock import bounds_of
from core.config import public_base_url
from core.database import utcnow
from core.errors import AppError
from core.form_tokens import once_per_form
from core.identity.access import COUNTER, can, holds_role
from core.identity.auth import current_member
from core.identity.services import get_supermarket, list_supermarkets, mask_name
from core.navigation import CLERK, RESIDENT, Tab
from core.qr.render import inline_svg
from points.ledger import balance_of
from rewards import overview, services, vouchers
from rewards import stock as stock_service
from rewards.forms import CorrectStockForm, FulfilForm, ReceiveStockForm, ScanForm
from rewards.overview import list_staffed_supermarkets
from rewards.vouchers import code_arguments

bp = Blueprint(
    "rewards_pages",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static/rewards",
)

#: How long a phone keeps my voucher page (and its QR code) to show at a counter with no signal.
VOUCHER_PAGE_MAX_AGE = 3600

#: What the counter sees for each refusal, in words a clerk can act on.
REFUSALS = {
    "invalid_code": _l(
        "This is not a valid voucher code. Ask the resident to open the voucher again, "
        "or type the short code under the QR code."
    ),
    "wrong_supermarket": _l("This voucher is for another supermarket."),
    "already_fulfilled": _l("This voucher has already been handed over."),
    "expired": _l("This voucher has expired."),
    "invalid_state": _l("This voucher can no longer be handed over."),
    "forbidden": _l("You have no right to do this here."),
    "not_found": _l("No such voucher."),
}

STATUS_NAMES = {
    "reserved": _l("Ready to collect"),
    "fulfilled": _l("Handed over"),
    "cancelled": _l("Cancelled"),
    "expired": _l("Expired"),
}
#: What residents read of their own vouchers: the goods were collected, not "handed over".
RESIDENT_STATUS_NAMES = {**STATUS_NAMES, "fulfilled": _l("Collected")}

#: The resident's exchange tab and the clerk's counter tabs.
TABS = {
    RESIDENT: [
        Tab(30, "rewards_pages.shops", _l("Exchange"), "exchange", ("/shops", "/me/vouchers", "/me/pay-code"))
    ],
    CLERK: [
        Tab(
            0,
            "rewards_pages.scan",
            _l("Scan"),
            "scan",
            ("/counter/vouchers", "/V/", "/v/", "/counter/offline"),
        ),
        Tab(5, "rewards_pages.sell", _l("Sell"), "exchange", ("/counter/sell",)),
        Tab(10, "rewards_pages.stock", _l("Stock"), "stock"),
        Tab(20, "rewards_pages.today", _l("Today"), "today"),
    ],
}


def clerk_home():
    """The clerk's home is the scanner."""
    return redirect(url_for("rewards_pages.scan"))


def is_counter_staff(member) -> bool:
    """Tell whether the member holds a clerk or admin role (the service checks the supermarket)."""
    return holds_role(member, COUNTER)


def navigation(actor) -> list:
    """Links of "Me": rewards and my vouchers for everyone, the counter's pages for counter staff."""
    links = [
        (url_for("rewards_pages.shops"), _("Rewards")),
        (url_for("rewards_pages.my_vouchers"), _("My vouchers")),
        (url_for("rewards_pages.pay_code"), _("Show the pay code")),
    ]
    if is_counter_staff(actor):
        links += [
            (url_for("rewards_pages.scan"), _("Scan vouchers")),
            (url_for("rewards_pages.sell"), _("Sell at the counter")),
            (url_for("rewards_pages.offline_counter"), _("Offline counter")),
            (url_for("rewards_pages.stock"), _("Stock")),
            (url_for("rewards_pages.today"), _("Handed over today")),
        ]
    return links


def voucher_entry_labels(member, entries) -> dict:
    """Name the goods of the member's ledger entries that hold, release or spend a voucher's points."""
    references = {
        entry.id: int(entry.reference.split(":", 1)[1])
        for entry in entries
        if (entry.reference or "").startswith("voucher:")
    }
    found = overview.own_vouchers_by_id(member, set(references.values())) if references else {}
    labels = {}
    for entry_id, voucher_id in references.items():
        voucher = found.get(voucher_id)
        if voucher is not None:
            separator = ", " if str(get_locale()) == "en" else "、"
            goods = separator.join(f"{reward_name(item.reward)} ×{item.quantity}" for item in voucher.items)
            labels[entry_id] = (goods, url_for("rewards_pages.my_voucher", voucher_id=voucher.id))
    return labels


def reward_name(reward) -> str:
    """A reward's name in the reader's language."""
    return reward.name_en if str(get_locale()) == "en" and reward.name_en else reward.name


def _require_counter_staff(actor) -> None:
    """Refuse the counter's pages to everyone but clerks and admins."""
    if not is_counter_staff(actor):
        raise AppError(403)


def refusal(error: AppError) -> dict:
    """Describe a service's refusal for the counter's pages (with when and by whom, if used)."""
    fulfilled_at = (error.errors.get("fulfilled_at") or [None])[0]
    return {
        "code": error.code,
        "status": error.status,
        "message": REFUSALS.get(error.code, error.message),
        "errors": error.errors,
        "fulfilled_at": datetime.fromisoformat(fulfilled_at) if fulfilled_at else None,
        "fulfilled_by": (error.errors.get("fulfilled_by") or [None])[0] or None,
    }


# --- the counter: scan, confirm, hand over -----------------------------------------------------


@bp.route("/counter/scan", methods=["GET", "POST"])
@login_required
def scan():
    """Scan a resident's voucher with the camera, or type its short code; then confirm."""
    actor = current_member()
    _require_counter_staff(actor)
    form = ScanForm()
    status, problem = 200, None
    if form.validate_on_submit():
        try:
            voucher = vouchers.scan_voucher(actor, **code_arguments(form.code.data))
        except AppError as error:
            status, problem = error.status, refusal(error)
        else:
            return redirect(
                url_for(
                    "rewards_pages.counter_voucher",
                    voucher_id=voucher.id,
                    code=form.code.data.strip(),
                ),
                303,
            )
    elif form.is_submitted():
        status = 422
    return render_template(
        "rewards/scan.html", form=form, problem=problem, refused_code=form.code.data if problem else ""
    ), status


def _handed_over_by(actor, voucher, problem: dict | None) -> str | None:
    """Who handed a fulfilled voucher over: from the refusal, or the actor themselves."""
    if problem and problem["fulfilled_by"]:
        return problem["fulfilled_by"]
    if voucher is not None and voucher.fulfilled_by_id == actor.id:
        return actor.name
    return None


@bp.get("/counter/vouchers/<id:voucher_id>")
@login_required
def counter_voucher(voucher_id: int):
    """Show what to hand over for a scanned code, with one big button; or what happened to it."""
    actor = current_member()
    _require_counter_staff(actor)
    code = request.args.get("code", "").strip()
    return _counter_confirm(actor, voucher_id, code)


def _counter_confirm(actor, voucher_id: int | None, code: str):
    """Render the confirm screen for ``code`` (checked by the service; nothing changes)."""
    status, problem, voucher = 200, None, None
    if code:
        try:
            voucher = vouchers.scan_voucher(actor, **code_arguments(code))
            if voucher_id is not None and voucher.id != voucher_id:
                raise AppError(400, "invalid_code")
        except AppError as error:
            status, problem = error.status, refusal(error)
    if voucher is None and voucher_id is not None:
        try:
            voucher = vouchers.get_voucher(actor, voucher_id)
        except AppError as error:
            if problem is None:
                status, problem = error.status, refusal(error)
    form = FulfilForm(code=code)
    return render_template(
        "rewards/confirm.html",
        voucher=voucher,
        problem=problem,
        form=form,
        code=code,
        status_names=STATUS_NAMES,
        member_name=vouchers.owner_display_name(voucher) if voucher is not None else "",
        handed_over_by=_handed_over_by(actor, voucher, problem),
    ), status


@bp.post("/counter/vouchers/<id:voucher_id>/fulfil")
@login_required
@once_per_form
def fulfil(voucher_id: int):
    """Hand over the goods: fulfil the voucher with the resident's code, then show the result."""
    actor = current_member()
    _require_counter_staff(actor)
    form = FulfilForm()
    if not form.validate_on_submit():
        flash(_("Scan the resident's code again."), "error")
        return redirect(url_for("rewards_pages.scan"), 303)
    try:
        vouchers.fulfil_voucher(actor, voucher_id, **code_arguments(form.code.data))
    except AppError as error:
        flash(str(refusal(error)["message"]), "error")
        return redirect(
            url_for("rewards_pages.counter_voucher", voucher_id=voucher_id, code=form.code.data), 303
        )
    flash(_("Handed over. The voucher is used."))
    return redirect(url_for("rewards_pages.counter_voucher", voucher_id=voucher_id), 303)


@bp.get("/V/<token>")
@bp.get("/v/<token>")
@login_required
def voucher_link(token: str):
    """A voucher's code opened by a phone's own camera: the counter's confirm screen, or my voucher."""
    actor = current_member()
    try:
        voucher = vouchers.voucher_from_code(payload=token)
    except AppError:
        if not is_counter_staff(actor):
            raise
        return _counter_confirm(actor, None, token)
    if voucher.member_id == actor.id and not can(actor, "voucher.handle", voucher.supermarket):
        return redirect(url_for("rewards_pages.my_voucher", voucher_id=voucher.id), 303)
    if not is_counter_staff(actor):
        raise AppError(403)
    return redirect(url_for("rewards_pages.counter_voucher", voucher_id=voucher.id, code=token), 303)


# --- the counter: stock ------------------------------------------------------------------------


def _counter_supermarkets(actor) -> tuple[list, object]:
    """The supermarkets whose stock the actor keeps, and the one asked for (``?supermarket=``; the
    only one when there is one); 403 for anyone but counter staff, and for one the actor does not keep."""
    _require_counter_staff(actor)
    shops = list_staffed_supermarkets(actor, "stock.receive")
    chosen = request.args.get("supermarket", type=int)
    shop = (
        next((shop for shop in shops if shop.id == chosen), None)
        if chosen
        else (shops[0] if len(shops) == 1 else None)
    )
    if chosen and shop is None:
        raise AppError(403)
    return shops, shop


@bp.route("/counter/stock", methods=["GET"])
@login_required
def stock():
    """List the stock at my supermarket, each reward with a receive and a correct form."""
    actor = current_member()
    shops, shop = _counter_supermarkets(actor)
    levels = stock_service.stock_levels(actor, shop.id) if shop else []
    return render_template(
        "rewards/stock.html",
        shops=shops,
        shop=shop,
        levels=levels,
        receive_form=ReceiveStockForm(),
        correct_form=CorrectStockForm(),
    )


@bp.get("/counter/today")
@login_required
def today():
    """What my supermarket handed over today (Asia/Shanghai), newest first."""
    actor = current_member()
    shops, shop = _counter_supermarkets(actor)
    listing = None
    if shop is not None:
        start, _end = bounds_of("day", utcnow())
        listing = overview.list_supermarket_vouchers(
            actor, shop.id, "fulfilled", 1, 100, fulfilled_since=start
        )
    return render_template(
        "rewards/today.html", shops=shops, shop=shop, vouchers=listing, mask_name=mask_name
    )


def _back_to_stock(supermarket_id: int):
    """Go back to the stock page of the supermarket acted on."""
    return redirect(url_for("rewards_pages.stock", supermarket=supermarket_id), 303)


@bp.post("/counter/stock/<id:supermarket_id>/<id:reward_id>/receive")
@login_required
@once_per_form
def receive(supermarket_id: int, reward_id: int):
    """Add units received, then go back to the stock list with what happened."""
    actor = current_member()
    _require_counter_staff(actor)
    form = ReceiveStockForm()
    if not form.validate_on_submit():
        flash(_("Enter the units received, from 1 to 100000."), "error")
        return _back_to_stock(supermarket_id)
    try:
        row = stock_service.receive_stock(actor, supermarket_id, reward_id, form.quantity.data)
    except AppError as error:
        flash(str(error.message), "error")
    else:
        flash(
            _(
                "Received %(quantity)d: %(on_hand)d on hand now.",
                quantity=form.quantity.data,
                on_hand=row.on_hand,
            )
        )
    return _back_to_stock(supermarket_id)


@bp.post("/counter/stock/<id:supermarket_id>/<id:reward_id>/correct")
@login_required
@once_per_form
def correct(supermarket_id: int, reward_id: int):
    """Set the units on hand to a stocktake's count with a reason, then go back to the list."""
    actor = current_member()
    _require_counter_staff(actor)
    form = CorrectStockForm()
    if not form.validate_on_submit():
        flash(_("Enter the units counted and a reason."), "error")
        return _back_to_stock(supermarket_id)
    try:
        row = stock_service.correct_stock(
            actor, supermarket_id, reward_id, form.quantity.data, form.reason.data
        )
    except AppError as error:
        flash(str(error.message), "error")
    else:
        flash(_("Corrected: %(on_hand)d on hand now.", on_hand=row.on_hand))
    return _back_to_stock(supermarket_id)


# --- residents: supermarkets, the catalogue, my vouchers ----------------------------------------


@bp.get("/shops")
@login_required
def shops():
    """List the safety supermarkets, each linking to its rewards."""
    return render_template("rewards/shops.html", shops=list_supermarkets(1, 100)["items"])


def _quantity_problem(text: str, available: int) -> str | None:
    """Why a typed quantity cannot be taken (None when it can): said, never silently ignored."""
    if re.fullmatch(r"-\s*\d+([.,]\d*)?", text):
        return _("A quantity cannot be negative.")
    if re.fullmatch(r"\d*[.,]\d+", text):
        return _("Whole units only: %(text)s is not a whole number.", text=text)
    if not re.fullmatch(r"\d+", text):
        return _("Enter a whole number, such as 1 or 2.")
    quantity = int(text)
    if quantity > vouchers.MAX_QUANTITY:
        return _("At most %(count)d at a time.", count=vouchers.MAX_QUANTITY)
    if quantity > available:
        return _("Only %(count)d left.", count=available)
    return None


def _basket(form_data, offered: list[dict]) -> tuple[list[dict], dict]:
    """Read the quantities typed for each offered reward: the items, and the fields in error."""
    items, errors = [], {}
    for reward in offered:
        text = (form_data.get(f"quantity-{reward['id']}") or "").strip()
        if not text:
            continue
        problem = _quantity_problem(text, reward["available"])
        if problem:
            errors[reward["id"]] = problem
        elif int(text):
            items.append({"reward_id": reward["id"], "quantity": int(text)})
    return items, errors


def _refusal_text(error: AppError, have: int, need: int) -> str:
    """A reserve's refusal in words: not enough points says what I have and what it needs."""
    if error.code == "insufficient_points":
        return _("Not enough points: you have %(have)d, this needs %(need)d.", have=have, need=need)
    return str(error.message)


@bp.route("/shops/<id:supermarket_id>", methods=["GET", "POST"])
@login_required
@once_per_form
def catalogue(supermarket_id: int):
    """Show a supermarket's rewards with available stock and my balance; reserve the basket."""
    actor = current_member()
    shop = get_supermarket(supermarket_id)
    offered = services.catalogue(supermarket_id)
    status, errors, problem = 200, {}, None
    if request.method == "POST":
        items, errors = _basket(request.form, offered)
        if not items and not errors:
            problem = _("Choose at least one reward.")
        if errors or problem:
            status = 422
        else:
            try:
                voucher = vouchers.reserve_voucher(actor, supermarket_id, items)
            except AppError as error:
                prices = {reward["id"]: reward["points_cost"] for reward in offered}
                need = sum(prices[item["reward_id"]] * item["quantity"] for item in items)
                status, problem = error.status, _refusal_text(error, balance_of(actor.id).available, need)
            else:
                flash(_("Reserved. Show this code at the counter."))
                return redirect(url_for("rewards_pages.my_voucher", voucher_id=voucher.id), 303)
    return render_template(
        "rewards/catalogue.html",
        shop=shop,
        offered=offered,
        errors=errors,
        problem=problem,
        typed=request.form,
        balance=balance_of(actor.id).available,
    ), status


@bp.get("/me/vouchers")
@login_required
def my_vouchers():
    """List my vouchers, newest first."""
    actor = current_member()
    listed = vouchers.list_vouchers(actor, page=max(request.args.get("page", 1, type=int), 1), page_size=20)
    return render_template(
        "rewards/my_vouchers.html",
        vouchers=listed,
        status_names=RESIDENT_STATUS_NAMES,
    )


@bp.get("/me/vouchers/<id:voucher_id>")
@login_required
def my_voucher(voucher_id: int):
    """Show my voucher's QR code and short code, kept by the phone for a counter with no signal."""
    actor = current_member()
    voucher = vouchers.get_voucher(actor, voucher_id)
    if voucher.member_id != actor.id:
        raise AppError(404)
    code = None
    if voucher.status == "reserved":
        code = inline_svg(vouchers.voucher_payload(voucher, public_base_url()))
    response = make_response(
        render_template(
            "rewards/my_voucher.html", voucher=voucher, qr_svg=code, status_names=RESIDENT_STATUS_NAMES
        )
    )
    response.headers["Cache-Control"] = f"private, max-age={VOUCHER_PAGE_MAX_AGE}"
    return response


@bp.post("/me/vouchers/<id:voucher_id>/cancel")
@login_required
@once_per_form
def cancel(voucher_id: int):
    """Cancel my voucher: points and stock go back."""
    try:
        vouchers.cancel_voucher(current_member(), voucher_id)
    except AppError as error:
        flash(str(error.message), "error")
    else:
        flash(_("Cancelled. The points are back in your balance."))
    return redirect(url_for("rewards_pages.my_voucher", voucher_id=voucher_id), 303)


# The counter's other pages join this blueprint: sales by card or pay code, the pay code, the offline counter.
from rewards import counter_views, offline_views  # noqa: E402,F401
