"""Supermarkets in the console: stock per reward, receipts, corrections with a reason, voucher history."""

import re

from rewards import vouchers
from tests.rewards.conftest import give_points, person, reserve_at_shop_a
from tests.support.pages import csrf_token, signed_in


def stock_row(html, reward_id):
    return re.search(rf'<tr id="stock-{reward_id}">.*?</tr>', html, re.S).group(0)


def test_a_clerk_receives_stock_and_the_history_shows_it(app, console):
    clerk = signed_in(app, console, "clerk")
    shop, soap = console.shops["a"], console.rewards["soap"]
    page = clerk.get(f"/admin/supermarkets/{shop}").get_data(as_text=True)
    assert ">10<" in stock_row(page, soap)
    received = clerk.post(
        f"/admin/supermarkets/{shop}/receive",
        data={"csrf_token": csrf_token(page), "reward": str(soap), "quantity": "5"},
    )
    assert received.status_code == 303
    after = clerk.get(f"/admin/supermarkets/{shop}").get_data(as_text=True)
    assert ">15<" in stock_row(after, soap) and "入库 +5" in after


def test_a_refused_receipt_keeps_what_was_typed(app, console):
    clerk = signed_in(app, console, "clerk")
    shop = console.shops["a"]
    token = csrf_token(clerk.get(f"/admin/supermarkets/{shop}").get_data(as_text=True))
    refused = clerk.post(
        f"/admin/supermarkets/{shop}/receive",
        data={"csrf_token": token, "reward": str(console.rewards["oil"]), "quantity": "-3"},
    )
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert 'value="-3"' in html
    assert re.search(
        rf'<option selected value="{console.rewards["oil"]}">|<option value="{console.rewards["oil"]}" selected>',
        html,
    )


def test_a_correction_needs_a_reason_and_never_goes_below_what_is_reserved(app, console):
    with app.app_context():
        give_points(console.people["resident"], 300)
        reserve_at_shop_a(console, console.rewards["oil"], 2)
    clerk = signed_in(app, console, "clerk")
    shop, oil = console.shops["a"], console.rewards["oil"]
    token = csrf_token(clerk.get(f"/admin/supermarkets/{shop}").get_data(as_text=True))
    no_reason = clerk.post(
        f"/admin/supermarkets/{shop}/stock/{oil}/correct",
        data={"csrf_token": token, "quantity": "2", "reason": ""},
    )
    assert no_reason.status_code == 422
    assert 'value="2"' in stock_row(no_reason.get_data(as_text=True), oil)
    below = clerk.post(
        f"/admin/supermarkets/{shop}/stock/{oil}/correct",
        data={"csrf_token": token, "quantity": "1", "reason": "盘点少了"},
    )
    assert below.status_code == 409
    row = stock_row(below.get_data(as_text=True), oil)
    assert 'value="盘点少了"' in row and ">3<" in row
    done = clerk.post(
        f"/admin/supermarkets/{shop}/stock/{oil}/correct",
        data={"csrf_token": token, "quantity": "2", "reason": "盘点少了"},
    )
    assert done.status_code == 303
    page = clerk.get(f"/admin/supermarkets/{shop}").get_data(as_text=True)
    assert "盘点少了" in page and ">2<" in stock_row(page, oil)


def test_the_voucher_history_lists_and_filters_a_supermarkets_vouchers(app, console):
    with app.app_context():
        give_points(console.people["resident"], 300)
        first = reserve_at_shop_a(console, console.rewards["soap"])
        vouchers.cancel_voucher(person(console, "resident"), first.id)
        second = reserve_at_shop_a(console, console.rewards["oil"])
        codes = (first.short_code, second.short_code)
    clerk = signed_in(app, console, "clerk")
    every = clerk.get(f"/admin/supermarkets/{console.shops['a']}/vouchers").get_data(as_text=True)
    # a cancelled voucher's code is harmless; a reserved one's would spend the resident's points
    assert codes[0] in every and codes[1] not in every and "张居民" in every
    assert "肥皂" in every and "食用油" in every
    reserved = clerk.get(f"/admin/supermarkets/{console.shops['a']}/vouchers?status=reserved").get_data(
        as_text=True
    )
    assert "食用油" in reserved and "肥皂" not in reserved and codes[1] not in reserved


def test_the_dashboard_shows_low_stock_and_waiting_vouchers(app, console):
    with app.app_context():
        give_points(console.people["resident"], 300)
        reserve_at_shop_a(console, console.rewards["oil"])
    page = signed_in(app, console, "organiser").get("/admin/dashboard").get_data(as_text=True)
    assert '<dd class="waiting">1</dd>' in page
    low = re.search(r"<h2>[^<]*Low stock.*?</section>|<h2>库存不足.*?</section>", page, re.S).group(0)
    assert "食用油" in low and "肥皂" not in low and "河口镇平安超市" not in low
