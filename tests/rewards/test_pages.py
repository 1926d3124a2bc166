"""Rewards pages: the counter's scanner and confirm screen, stock, the catalogue and my vouchers."""

from __future__ import annotations

import re

import sqlalchemy as sa

from core.database import begin_writing, utcnow
from core.extensions import db
from core.identity.models import Member
from points import ledger
from rewards import services, stock, vouchers
from rewards.models import Stock, Voucher
from tests.factories import build_world
from tests.support.pages import csrf_token, signed_in


def build_shop_world(points: int = 200):
    """The standard world, soap and cooking oil in stock at supermarket A, points for the resident."""
    world = build_world()
    admin = db.session.get(Member, world.people["global_admin"])
    soap = services.create_reward(
        admin, {"name": "肥皂", "name_en": "Soap", "points_cost": 20, "per_member_limit": None}
    )
    oil = services.create_reward(
        admin, {"name": "食用油", "name_en": "Cooking oil", "points_cost": 50, "per_member_limit": 2}
    )
    stock.receive_stock(admin, world.shops["a"], soap.id, 10)
    stock.receive_stock(admin, world.shops["a"], oil.id, 3)
    begin_writing(db.session)
    ledger.award(world.people["resident"], points, occurred_at=utcnow(), actor_id=None)
    db.session.commit()
    world.rewards = {"soap": soap.id, "oil": oil.id}
    return world


def reserve(world, who="resident", items=None):
    """Reserve a voucher through the service; answer its id, short code and payload."""
    member = db.session.get(Member, world.people[who])
    voucher = vouchers.reserve_voucher(
        member,
        world.shops["a"],
        items
        or [
            {"reward_id": world.rewards["soap"], "quantity": 2},
            {"reward_id": world.rewards["oil"], "quantity": 1},
        ],
    )
    return voucher.id, voucher.short_code, vouchers.voucher_payload(voucher, "http://127.0.0.1")


def shop_world(app):
    with app.app_context():
        return build_shop_world()


def look_up(browser, code):
    """Type a code on the scanner page's manual form."""
    token = csrf_token(browser.get("/counter/scan").get_data(as_text=True))
    return browser.post("/counter/scan", data={"csrf_token": token, "code": code})


def hand_over(browser, confirm_url):
    page = browser.get(confirm_url)
    html = page.get_data(as_text=True)
    action = re.search(r'<form method="post" action="([^"]+/fulfil)"', html).group(1)
    code = re.search(r'name="code" type="hidden" value="([^"]*)"', html).group(1)
    return browser.post(action, data={"csrf_token": csrf_token(html), "code": code})


def test_the_scanner_is_for_counter_staff_only(app):
    world = shop_world(app)
    assert app.test_client().get("/counter/scan").status_code == 302  # to the sign-in page
    assert signed_in(app, world, "resident").get("/counter/scan").status_code == 403
    page = signed_in(app, world, "clerk").get("/counter/scan")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and len(page.data) < 100 * 1024
    assert "扫码兑换" in html and "/static/rewards/scanner.js" in html
    assert "vendor/qr-scanner/qr-scanner.umd.min.js" in html
    assert "vendor/qr-scanner/qr-scanner-worker.js" in html
    assert "<script>" not in html and 'name="code"' in html
    assert signed_in(app, world, "global_admin").get("/counter/scan").status_code == 200


#: What a clerk's phone downloads for the scanner page, uncompressed: HTML, CSS and JS with the decoder.
SCAN_PAGE_BUDGET = 100 * 1024
#: A same-origin file the page links (src, href) or its scanner loads (data-decoder, data-decoder-worker).
SAME_ORIGIN_ASSET = r'(?:src|href|data-decoder(?:-worker)?)="(/[^"/][^"]*\.(?:js|css|svg|png))"'


def test_the_scanner_page_with_everything_it_loads_weighs_at_most_100_kb(app):
    world = shop_world(app)
    clerk = signed_in(app, world, "clerk")
    page = clerk.get("/counter/scan")
    html = page.get_data(as_text=True)
    assets = sorted(set(re.findall(SAME_ORIGIN_ASSET, html)))
    assert any(asset.endswith("qr-scanner.umd.min.js") for asset in assets)
    assert any(asset.endswith("qr-scanner-worker.js") for asset in assets)
    assert any(asset.endswith(".css") for asset in assets)
    sizes = {}
    for asset in assets:
        response = clerk.get(asset)
        assert response.status_code == 200, asset
        sizes[asset] = len(response.data)
        response.close()
    total = len(page.data) + sum(sizes.values())
    assert total <= SCAN_PAGE_BUDGET, (total, sizes)


def test_a_typed_short_code_shows_the_voucher_and_the_clerk_hands_it_over(app):
    world = shop_world(app)
    with app.app_context():
        voucher_id, short_code, _payload = reserve(world)
    clerk = signed_in(app, world, "clerk")
    found = look_up(clerk, short_code.lower()[:4] + " " + short_code.lower()[4:])
    assert found.status_code == 303
    confirm_url = found.headers["Location"]
    assert confirm_url.startswith(f"/counter/vouchers/{voucher_id}?code=")
    html = clerk.get(confirm_url).get_data(as_text=True)
    assert "肥皂" in html and "× 2" in html and "食用油" in html and "张*民" in html and "90 分" in html
    assert "确认兑换" in html

    done = hand_over(clerk, confirm_url)
    assert done.status_code == 303 and done.headers["Location"] == f"/counter/vouchers/{voucher_id}"
    html = clerk.get(done.headers["Location"]).get_data(as_text=True)
    assert "兑换完成" in html and 'data-status="fulfilled"' in html
    with app.app_context():
        assert db.session.get(Voucher, voucher_id).status == "fulfilled"
        balance = ledger.balance_of(world.people["resident"])
        assert (balance.available, balance.held) == (110, 0)

    again = look_up(clerk, short_code)
    html = again.get_data(as_text=True)
    assert again.status_code == 409 and "已经兑换过了" in html and "赵店员" in html
    assert "确认兑换</button>" not in html
    # The old confirm screen says the same, never a 500.
    old = clerk.get(confirm_url)
    assert old.status_code == 409 and "赵店员" in old.get_data(as_text=True)


def test_the_counter_never_shows_a_reserved_voucher_s_code_without_the_resident(app):
    world = shop_world(app)
    with app.app_context():
        voucher_id, short_code, _payload = reserve(world)
    clerk = signed_in(app, world, "clerk")
    for url in (f"/counter/vouchers/{voucher_id}", f"/counter/vouchers/{voucher_id}?code=WRONGCODE"):
        html = clerk.get(url).get_data(as_text=True)
        assert short_code not in html and 'id="fulfil"' not in html, url
    history = clerk.get(f"/admin/supermarkets/{world.shops['a']}/vouchers").get_data(as_text=True)
    assert short_code not in history


def test_the_counter_refuses_bad_codes_in_plain_chinese(app):
    world = shop_world(app)
    with app.app_context():
        voucher_id, short_code, payload = reserve(world)
    with app.app_context():
        begin_writing(db.session)
        db.session.get(Voucher, voucher_id).expires_at = utcnow().replace(microsecond=0)
        db.session.commit()
    clerk = signed_in(app, world, "clerk")
    bad = look_up(clerk, "ACDEFGHJ")
    assert bad.status_code == 400 and "不是有效的兑换码" in bad.get_data(as_text=True)
    tampered = look_up(clerk, payload[:-3] + ("AAA" if not payload.endswith("AAA") else "BBB"))
    assert tampered.status_code == 400 and "不是有效的兑换码" in tampered.get_data(as_text=True)
    expired = look_up(clerk, short_code)
    assert expired.status_code == 410 and "已过期" in expired.get_data(as_text=True)


def test_a_clerk_of_another_supermarket_is_told_so(app):
    world = shop_world(app)
    with app.app_context():
        _voucher_id, short_code, _payload = reserve(world)
    with app.app_context():
        from core.identity.models import Supermarket
        from tests.factories import make_member

        make_member(
            "何店员", role="clerk", on=db.session.get(Supermarket, world.shops["b"]), phone="13900000001"
        )
    world.phones["clerk_b"] = "13900000001"
    response = look_up(signed_in(app, world, "clerk_b"), short_code)
    assert response.status_code == 403 and "属于其他超市" in response.get_data(as_text=True)


def test_a_voucher_link_opens_the_confirm_screen_for_the_clerk_and_the_voucher_for_its_owner(app):
    world = shop_world(app)
    with app.app_context():
        voucher_id, _short_code, payload = reserve(world)
    path = payload.split("127.0.0.1", 1)[1]  # /V/<TOKEN>
    clerk = signed_in(app, world, "clerk").get(path)
    assert clerk.status_code == 303 and clerk.headers["Location"].startswith(
        f"/counter/vouchers/{voucher_id}?code="
    )
    lower = signed_in(app, world, "clerk").get(path.lower())
    assert lower.status_code == 303 and f"/counter/vouchers/{voucher_id}" in lower.headers["Location"]
    owner = signed_in(app, world, "resident").get(path)
    assert owner.status_code == 303 and owner.headers["Location"] == f"/me/vouchers/{voucher_id}"
    assert signed_in(app, world, "villager").get(path).status_code == 403
    assert app.test_client().get(path).status_code == 302  # sign in first


def test_a_resident_reserves_from_the_catalogue_and_sees_the_code_to_show(app):
    world = shop_world(app)
    resident = signed_in(app, world, "resident")
    page = resident.get(f"/shops/{world.shops['a']}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "肥皂" in html and "剩 10 件" in html and "剩 3 件" in html
    soap, oil = world.rewards["soap"], world.rewards["oil"]
    response = resident.post(
        f"/shops/{world.shops['a']}",
        data={"csrf_token": csrf_token(html), f"quantity-{soap}": "3", f"quantity-{oil}": ""},
    )
    assert response.status_code == 303
    location = response.headers["Location"]
    assert re.fullmatch(r"/me/vouchers/\d+", location)
    mine = resident.get(location)
    html = mine.get_data(as_text=True)
    with app.app_context():
        voucher = db.session.scalar(sa.select(Voucher))
    assert voucher.points == 60 and voucher.short_code in html and "<svg" in html
    assert "private" in mine.headers["Cache-Control"] and "max-age=" in mine.headers["Cache-Control"]
    assert "预约成功" in html
    assert voucher.short_code in resident.get("/me/vouchers").get_data(
        as_text=True
    ) or f"/me/vouchers/{voucher.id}" in resident.get("/me/vouchers").get_data(as_text=True)
    # Somebody else's voucher is not shown to the neighbour.
    assert signed_in(app, world, "villager").get(location).status_code in (403, 404)


def test_the_catalogue_says_why_a_quantity_is_refused_and_keeps_it(app):
    world = shop_world(app)
    resident = signed_in(app, world, "resident")
    html = resident.get(f"/shops/{world.shops['a']}").get_data(as_text=True)
    soap, oil = world.rewards["soap"], world.rewards["oil"]
    for typed, said in (
        ("-1", "数量不能是负数。"),
        ("1.5", "只能填整数：1.5 不是整数。"),
        ("两个", "请填整数"),
        ("4", "只剩 3 件。"),
        ("100", "一次最多 99 件。"),
    ):
        refused = resident.post(
            f"/shops/{world.shops['a']}",
            data={"csrf_token": csrf_token(html), f"quantity-{oil}": typed, f"quantity-{soap}": "1"},
        )
        page = refused.get_data(as_text=True)
        assert refused.status_code == 422 and said in page, typed
        assert f'value="{typed}"' in page and 'aria-invalid="true"' in page
    assert (
        resident.post(f"/shops/{world.shops['a']}", data={"csrf_token": csrf_token(html)}).status_code == 422
    )
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Voucher.id))) == 0
    too_many = resident.post(
        f"/shops/{world.shops['a']}", data={"csrf_token": csrf_token(html), f"quantity-{oil}": "3"}
    )
    assert too_many.status_code == 409 and "上限" in too_many.get_data(as_text=True)


def test_a_resident_cancels_a_voucher_from_its_page(app):
    world = shop_world(app)
    with app.app_context():
        voucher_id, _short_code, _payload = reserve(world)
    resident = signed_in(app, world, "resident")
    html = resident.get(f"/me/vouchers/{voucher_id}").get_data(as_text=True)
    response = resident.post(f"/me/vouchers/{voucher_id}/cancel", data={"csrf_token": csrf_token(html)})
    assert response.status_code == 303
    html = resident.get(response.headers["Location"]).get_data(as_text=True)
    assert "已取消" in html and 'class="qr-code"' not in html
    with app.app_context():
        assert db.session.get(Voucher, voucher_id).status == "cancelled"
        assert ledger.balance_of(world.people["resident"]).available == 200


def test_the_clerk_receives_and_corrects_stock_on_the_stock_page(app):
    world = shop_world(app)
    clerk = signed_in(app, world, "clerk")
    page = clerk.get("/counter/stock")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "肥皂" in html and "食用油" in html
    soap, shop = world.rewards["soap"], world.shops["a"]
    received = clerk.post(
        f"/counter/stock/{shop}/{soap}/receive", data={"csrf_token": csrf_token(html), "quantity": "5"}
    )
    assert received.status_code == 303
    assert "现有库存 15 件" in clerk.get(received.headers["Location"]).get_data(as_text=True)
    corrected = clerk.post(
        f"/counter/stock/{shop}/{soap}/correct",
        data={"csrf_token": csrf_token(html), "quantity": "12", "reason": "盘点破损 3 件"},
    )
    assert corrected.status_code == 303
    assert "现有库存 12 件" in clerk.get(corrected.headers["Location"]).get_data(as_text=True)
    no_reason = clerk.post(
        f"/counter/stock/{shop}/{soap}/correct", data={"csrf_token": csrf_token(html), "quantity": "1"}
    )
    assert "请输入盘点数量和原因" in clerk.get(no_reason.headers["Location"]).get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Stock, (shop, soap)).on_hand == 12
    assert signed_in(app, world, "resident").get("/counter/stock").status_code == 403
    # A clerk of shop A cannot change shop B's stock.
    other = clerk.post(
        f"/counter/stock/{world.shops['b']}/{soap}/receive",
        data={"csrf_token": csrf_token(html), "quantity": "5"},
    )
    assert other.status_code == 303
    with app.app_context():
        assert db.session.get(Stock, (world.shops["b"], soap)) is None


def test_forms_without_the_csrf_token_are_refused(app):
    world = shop_world(app)
    with app.app_context():
        voucher_id, short_code, _payload = reserve(world)
    clerk = signed_in(app, world, "clerk")
    assert clerk.post("/counter/scan", data={"code": short_code}).status_code == 400
    assert clerk.post(f"/counter/vouchers/{voucher_id}/fulfil", data={"code": short_code}).status_code == 400
    assert (
        clerk.post(
            f"/counter/stock/{world.shops['a']}/{world.rewards['soap']}/receive", data={"quantity": "5"}
        ).status_code
        == 400
    )
    resident = signed_in(app, world, "resident")
    assert resident.post(f"/me/vouchers/{voucher_id}/cancel").status_code == 400
    with app.app_context():
        assert db.session.get(Voucher, voucher_id).status == "reserved"


def test_the_links_of_me_follow_the_member_s_roles(app):
    from rewards.views import navigation

    world = shop_world(app)
    with app.test_request_context():
        resident = [url for url, _label in navigation(db.session.get(Member, world.people["resident"]))]
        clerk = [url for url, _label in navigation(db.session.get(Member, world.people["clerk"]))]
    assert "/me/vouchers" in resident and "/counter/scan" not in resident
    assert "/counter/scan" in clerk and "/counter/stock" in clerk


def test_the_catalogue_shows_my_balance_and_what_i_cannot_afford_yet(app):
    with app.app_context():
        world = build_shop_world(points=30)
    resident = signed_in(app, world, "resident")
    html = resident.get(f"/shops/{world.shops['a']}").get_data(as_text=True)
    assert 'data-balance="30"' in html
    oil = re.search(
        rf'<article class="card reward[^"]*" id="reward-{world.rewards["oil"]}">.*?</article>', html, re.S
    )
    assert "unaffordable" in oil.group(0) and "还差 20 分。" in oil.group(0)
    soap = re.search(
        rf'<article class="card reward[^"]*" id="reward-{world.rewards["soap"]}">.*?</article>', html, re.S
    )
    assert "还差" not in soap.group(0)
    refused = resident.post(
        f"/shops/{world.shops['a']}",
        data={"csrf_token": csrf_token(html), f"quantity-{world.rewards['soap']}": "2"},
    )
    assert refused.status_code == 409
    assert "积分不足：您有 30 分，这次兑换需要 40 分。" in refused.get_data(as_text=True)


def test_my_vouchers_list_the_goods_and_a_collected_one_reads_collected(app):
    world = shop_world(app)
    with app.app_context():
        voucher_id, short_code, _payload = reserve(world)
        vouchers.fulfil_voucher(
            db.session.get(Member, world.people["clerk"]), voucher_id, short_code=short_code
        )
    resident = signed_in(app, world, "resident")
    listing = resident.get("/me/vouchers").get_data(as_text=True)
    assert "肥皂 ×2、食用油 ×1" in listing and "已领取" in listing and "已兑出" not in listing
    page = resident.get(f"/me/vouchers/{voucher_id}").get_data(as_text=True)
    assert re.search(r'id="voucher-state"[^>]*>已领取', page) and 'class="qr-code"' not in page


def test_cancelling_a_voucher_asks_first_and_the_page_watches_for_the_clerk(app):
    world = shop_world(app)
    with app.app_context():
        voucher_id, _short_code, _payload = reserve(world)
    page = signed_in(app, world, "resident").get(f"/me/vouchers/{voucher_id}").get_data(as_text=True)
    question = re.search(r'<details class="confirm[^"]*">.*?</details>', page, re.S).group(0)
    assert "取消兑换" in question and "关闭" in question and "积分会退回" in question
    assert f'data-status-url="/api/v1/vouchers/{voucher_id}"' in page and "voucher.js" in page
    assert 'data-label-fulfilled="已领取"' in page


def test_the_clerk_s_today_page_lists_what_was_handed_over_today(app):
    world = shop_world(app)
    with app.app_context():
        voucher_id, short_code, _payload = reserve(world)
        vouchers.fulfil_voucher(
            db.session.get(Member, world.people["clerk"]), voucher_id, short_code=short_code
        )
        reserve(world, items=[{"reward_id": world.rewards["soap"], "quantity": 1}])  # not handed over
    page = signed_in(app, world, "clerk").get("/counter/today").get_data(as_text=True)
    assert '<dd class="big" data-count>1</dd>' in page and "肥皂 ×2、食用油 ×1" in page and "张*民" in page
    assert signed_in(app, world, "resident").get("/counter/today").status_code == 403


def test_my_points_names_the_goods_of_a_voucher_and_shows_no_zero_rows(app):
    world = shop_world(app)
    with app.app_context():
        voucher_id, short_code, _payload = reserve(world)
        vouchers.fulfil_voucher(
            db.session.get(Member, world.people["clerk"]), voucher_id, short_code=short_code
        )
    page = signed_in(app, world, "resident").get("/me/points").get_data(as_text=True)
    history = re.search(r'<table class="card ledger">.*?</table>', page, re.S).group(0)
    assert f'<a href="/me/vouchers/{voucher_id}">肥皂 ×2、食用油 ×1</a>' in history
    changes = re.findall(r'<td class="num (?:plus|minus)">([^<]+)</td>', history)
    assert changes == ["-90", "+200"]  # the hold and the award; the spend moved no available points
