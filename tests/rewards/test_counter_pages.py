"""Pages of the counter: the basket sold by card and PIN, the pay code, the installable offline counter."""

from __future__ import annotations

import json
import re

from core.extensions import db
from core.identity import cards
from core.identity.models import Member
from points import ledger
from rewards.models import Voucher
from tests.rewards.test_pages import build_shop_world
from tests.support.pages import INLINE_SCRIPT, csrf_token, signed_in

PIN = "204816"
TOKEN = re.compile(r'name="form_token" value="([^"]+)"')


def world_with_card(app):
    with app.app_context():
        world = build_shop_world()
        organiser, resident = (db.session.get(Member, world.people[key]) for key in ("organiser", "resident"))
        world.card = cards.issue_card(organiser, resident).number
        cards.set_pin(organiser, resident, PIN)
    return world


def test_a_clerk_sells_by_card_and_pin_through_the_basket_and_a_wrong_pin_keeps_the_basket(app):
    world = world_with_card(app)
    clerk = signed_in(app, world, "clerk")
    page = clerk.get("/counter/sell")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="scan-form"' in html and not INLINE_SCRIPT.search(html)
    soap, oil = world.rewards["soap"], world.rewards["oil"]
    looked = clerk.post(
        f"/counter/sell?supermarket={world.shops['a']}",
        data={
            "csrf_token": csrf_token(html),
            f"quantity-{soap}": "2",
            f"quantity-{oil}": "1",
            "code": " ".join(world.card[i : i + 4] for i in range(0, 12, 4)),
        },
    )
    confirm = looked.get_data(as_text=True)
    assert looked.status_code == 200
    assert re.search(r"data-member[^>]*>张\*民<", confirm) and re.search(r"data-available[^>]*>200<", confirm)
    assert 'name="pin"' in confirm and "90" in confirm
    fields = {
        "csrf_token": csrf_token(confirm),
        "form_token": TOKEN.search(confirm).group(1),
        "code": world.card,
        f"quantity-{soap}": "2",
        f"quantity-{oil}": "1",
    }
    wrong = clerk.post(
        f"/counter/sell/confirm?supermarket={world.shops['a']}", data={**fields, "pin": "999991"}
    )
    again = wrong.get_data(as_text=True)
    assert wrong.status_code == 403 and "卡密码不正确" in again
    assert f'name="quantity-{soap}" value="2"' in again and 'name="pin"' in again  # nothing typed is lost
    fields["form_token"] = TOKEN.search(again).group(1)
    sold = clerk.post(f"/counter/sell/confirm?supermarket={world.shops['a']}", data={**fields, "pin": PIN})
    assert sold.status_code == 303 and "/counter/vouchers/" in sold.headers["Location"]
    twice = clerk.post(f"/counter/sell/confirm?supermarket={world.shops['a']}", data={**fields, "pin": PIN})
    assert twice.status_code == 303 and twice.headers["Location"] == sold.headers["Location"]
    with app.app_context():
        assert ledger.balance_of(world.people["resident"]).available == 200 - 90
        assert [voucher.status for voucher in db.session.query(Voucher).all()] == ["fulfilled"]


def test_an_unknown_card_says_so_and_keeps_the_quantities(app):
    world = world_with_card(app)
    clerk = signed_in(app, world, "clerk")
    html = clerk.get("/counter/sell").get_data(as_text=True)
    soap = world.rewards["soap"]
    refused = clerk.post(
        f"/counter/sell?supermarket={world.shops['a']}",
        data={"csrf_token": csrf_token(html), f"quantity-{soap}": "1", "code": cards.new_card_number()},
    )
    page = refused.get_data(as_text=True)
    assert refused.status_code == 400 and "不是有效的会员卡或付款码" in page
    assert 'value="1"' in page


def test_residents_see_a_fresh_pay_code_never_kept_by_the_browser(app):
    world = world_with_card(app)
    resident = signed_in(app, world, "resident")
    first, second = resident.get("/me/pay-code"), resident.get("/me/pay-code")
    assert first.status_code == 200 and first.headers["Cache-Control"] == "no-store"
    digits = [
        re.search(r"data-digits>([\d ]+)<", page.get_data(as_text=True)).group(1) for page in (first, second)
    ]
    assert digits[0] != digits[1] and len(digits[0].replace(" ", "")) == 18
    assert "<svg" in first.get_data(as_text=True) and not INLINE_SCRIPT.search(first.get_data(as_text=True))


def test_the_offline_counter_installs_from_our_own_origin_under_the_csp(app):
    world = world_with_card(app)
    clerk = signed_in(app, world, "clerk")
    page = clerk.get("/counter/offline")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and '<link rel="manifest" href="/counter/manifest.webmanifest">' in html
    assert "script-src 'self'" in page.headers["Content-Security-Policy"] and not INLINE_SCRIPT.search(html)
    assert f'data-bundle="/api/v1/supermarkets/{world.shops["a"]}/offline-bundle"' in html
    manifest = clerk.get("/counter/manifest.webmanifest")
    assert manifest.mimetype == "application/manifest+json"
    described = json.loads(manifest.get_data(as_text=True))
    assert described["start_url"] == "/counter/offline" and described["scope"] == "/counter/"
    assert {icon["sizes"] for icon in described["icons"]} == {"192x192", "512x512"}
    worker = clerk.get("/counter/sw.js")
    assert worker.mimetype == "text/javascript" and worker.headers["Cache-Control"] == "no-cache"
    script = worker.get_data(as_text=True)
    for url in (
        '"/counter/offline"',
        '"/static/vendor/noble-ed25519/index.js"',
        '"/static/rewards/offline-queue.js"',
    ):
        assert url in script
    for url in re.findall(r'"(/[^"]+)"', script.split("var URLS = ", 1)[1].split(";", 1)[0]):
        assert clerk.get(url).status_code == 200, url
    assert signed_in(app, world, "resident").get("/counter/offline").status_code == 403


def test_a_card_code_opened_by_a_phone_camera_leads_the_clerk_to_the_basket(app):
    world = world_with_card(app)
    with app.app_context():
        url = cards.card_url(cards.live_card(world.people["resident"]), "http://localhost")
    clerk = signed_in(app, world, "clerk")
    opened = clerk.get(url.removeprefix("HTTP://LOCALHOST"))
    assert opened.status_code == 303 and "/counter/sell?code=" in opened.headers["Location"]
    resident = signed_in(app, world, "resident")
    assert resident.get(url.removeprefix("HTTP://LOCALHOST")).status_code == 303
