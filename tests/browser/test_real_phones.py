"""Real hands on real phones, in Chromium: double taps write once, a big photo is shrunk before it
is sent, no page scrolls sideways at 360 px, a member's edit saves, a voucher turns 已领取 by itself."""

from __future__ import annotations

import io
import random
import re
from urllib.parse import urlsplit

from PIL import Image

from core.clock import last_month
from core.extensions import db
from core.identity.models import Member
from tests.browser.conftest import new_phone, sign_in
from tests.factories import PASSWORD
from tests.support.pages import signed_in

#: A phone's camera photo: 4000×3000, 6 MB, stored sideways with EXIF orientation 6 (turn 90°).
PHOTO_SIZE, PHOTO_ORIENTATION = (4000, 3000), 6
NARROW = 360


def camera_photo(path) -> int:
    """Write a 6 MB camera-like JPEG (noise does not compress) to ``path``; answer its size."""
    width, height = PHOTO_SIZE
    image = Image.frombytes("RGB", PHOTO_SIZE, random.Random(6).randbytes(width * height * 3))
    exif = Image.Exif()
    exif[0x0112] = PHOTO_ORIENTATION
    image.save(path, "JPEG", quality=70, exif=exif)
    return path.stat().st_size


def api(tab, base: str, path: str, headers: dict):
    """Read the API as one of the world's members (their bearer token)."""
    response = tab.request.get(base + path, headers=headers)
    assert response.ok, (path, response.status)
    return response.json()


def flashes(tab) -> list[str]:
    return [text.strip() for text in tab.locator("main .flash").all_inner_texts()]


def test_a_double_tapped_claim_with_a_six_megabyte_photo_is_shrunk_and_recorded_once(
    browser, live_scene, tmp_path
):
    base, scene, _app = live_scene
    world = scene.world
    photo = tmp_path / "IMG_0001.jpg"
    assert camera_photo(photo) > 6 * 1024 * 1024
    context = new_phone(browser)
    tab = context.new_page()
    sign_in(tab, base, world.phones["villager"], PASSWORD)
    before = api(
        tab, base, f"/api/v1/contributions?member_id={world.people['villager']}", world.headers["villager"]
    )["total"]
    tab.goto(base + "/me/claims/new")
    tab.get_by_label("积分项目").select_option("patrol")
    tab.get_by_label("数量（次数或小时）").fill("1")
    tab.get_by_label("照片（可选）").set_input_files(str(photo))
    tab.get_by_text("照片已准备好。").wait_for()
    sent = []
    tab.on("request", lambda request: request.method == "POST" and sent.append(request))
    tab.get_by_role("button", name="提交申报").dblclick()
    tab.wait_for_url(base + "/me/points")
    tab.wait_for_load_state()
    assert flashes(tab) == ["您的申报已提交审核。"]
    assert len(sent) == 1, "the button is disabled while the claim is sent"
    body_size = int(sent[0].all_headers().get("content-length", "0"))
    assert 0 < body_size < 1024 * 1024, f"the photo was sent as {body_size} bytes, not shrunk"
    claims = api(
        tab, base, f"/api/v1/contributions?member_id={world.people['villager']}", world.headers["villager"]
    )
    assert claims["total"] == before + 1
    stored = tab.request.get(
        base + f"/api/v1/photos/{claims['items'][0]['photo_id']}", headers=world.headers["villager"]
    )
    width, height = Image.open(io.BytesIO(stored.body())).size
    assert height > width, "the EXIF orientation was kept: the photo stands upright"
    context.close()


def test_reserve_and_hand_over_write_once_and_the_voucher_turns_collected_by_itself(browser, live_scene):
    base, scene, _app = live_scene
    world = scene.world
    resident = new_phone(browser).new_page()
    clerk = new_phone(browser).new_page()
    sign_in(resident, base, world.phones["villager"], PASSWORD)
    sign_in(clerk, base, world.phones["clerk"], PASSWORD)
    mine = "/api/v1/vouchers?page_size=100"
    before = api(resident, base, mine, world.headers["villager"])["total"]
    shop = scene.shop("inside")

    # Two submits of one form at once (no script in the way): one voucher, the same page for both.
    resident.goto(base + f"/shops/{shop}")
    resident.locator(f"#quantity-{scene.reward_id}").fill("1")
    answers = resident.evaluate("""() => {
        const form = document.querySelector("form.basket");
        const send = () => fetch(form.action, {method: "POST", body: new FormData(form)})
            .then(response => response.url);
        return Promise.all([send(), send()]);
    }""")
    assert len(set(answers)) == 1 and "/me/vouchers/" in answers[0]
    assert api(resident, base, mine, world.headers["villager"])["total"] == before + 1

    # A double tap on 预约兑换: one more voucher, and its page.
    resident.goto(base + f"/shops/{shop}")
    resident.locator(f"#quantity-{scene.reward_id}").fill("2")
    resident.get_by_role("button", name="预约兑换").dblclick()
    resident.wait_for_url(re.compile(r".*/me/vouchers/\d+$"))
    assert flashes(resident) == ["预约成功，请在柜台出示此二维码。"]
    listed = api(resident, base, mine, world.headers["villager"])
    assert listed["total"] == before + 2
    voucher = listed["items"][0]
    assert voucher["status"] == "reserved" and voucher["items"][0]["quantity"] == 2
    short_code = resident.locator("[data-short-code]").inner_text().strip()

    # The clerk types the code and double-taps 确认兑换: handed over once, one clear result.
    clerk.goto(base + "/counter/scan")
    clerk.locator("input[name=code]").fill(short_code)
    clerk.get_by_role("button", name="查询").click()
    clerk.wait_for_url(re.compile(r".*/counter/vouchers/\d+"))
    clerk.locator("#fulfil").dblclick()
    clerk.wait_for_url(re.compile(r".*/counter/vouchers/\d+$"))
    clerk.wait_for_load_state()
    assert clerk.locator(".refusal").count() == 0
    assert clerk.locator("#voucher[data-status=fulfilled]").count() == 1
    history = api(clerk, base, f"/api/v1/supermarkets/{shop}/stock?page_size=100", world.headers["clerk"])
    handed = [
        move
        for move in history["items"]
        if move["kind"] == "handed_over" and move.get("voucher_id") == voucher["id"]
    ]
    assert len(handed) == 1
    ledger = api(
        resident,
        base,
        f"/api/v1/members/{world.people['villager']}/ledger?page_size=100",
        world.headers["villager"],
    )["items"]
    assert len([entry for entry in ledger if entry["kind"] == "spend"]) == 1

    # The resident's page, left open, says 已领取 by itself.
    resident.locator("#voucher-state").get_by_text("已领取").wait_for(timeout=15_000)
    assert resident.locator(".qr-code").is_hidden()
    resident.context.close()
    clerk.context.close()


def test_an_organiser_edits_a_member_and_it_saves(browser, live_scene):
    base, scene, _app = live_scene
    world = scene.world
    tab = new_phone(browser, NARROW).new_page()
    sign_in(tab, base, world.phones["organiser"], PASSWORD)
    tab.goto(base + f"/admin/members/{world.people['villager']}")
    grid = tab.get_by_label("网格")
    assert grid.locator("option:checked").inner_text().strip() == "东街一网格"
    tab.get_by_label("姓名").fill("钱新村民")
    grid.select_option(label="东街二网格")
    tab.get_by_role("button", name="保存").first.click()
    tab.wait_for_load_state()
    assert "已保存。" in flashes(tab)
    member = api(tab, base, f"/api/v1/members/{world.people['villager']}", world.headers["organiser"])
    assert member["name"] == "钱新村民" and member["org_unit"]["id"] == world.units["grid_a2"]
    tab.context.close()


# --- no page scrolls sideways at 360 px --------------------------------------------------------

#: Pages that are not pages (files, images, downloads) or leave the site.
NOT_PAGES = re.compile(
    r"\.(svg|png|pdf|csv|xlsx)$|/reports/|/import/template|^/api/|^/static/|^/lang/|"
    r"^/elder/|^/logout|^/metrics|^/healthz"
)


def sample_arguments(scene, event_token: str, checkpoint_token: str) -> dict:
    """A real value for each URL argument, from the scene."""
    inside = scene.ids["inside"]
    return {
        "supermarket_id": scene.shop("inside"),
        "reward_id": scene.reward_id,
        "voucher_id": inside["voucher"],
        "event_id": inside["event"],
        "member_id": scene.world.people["villager"],
        "contribution_id": inside["claim"],
        "photo_id": inside["photo"],
        "unit_id": scene.world.units["grid_a"],
        "code": "patrol",
        "grant_id": 1,
        "checkin_id": 1,
        "token": event_token,
        "wish_id": inside["wish"],
        "route_id": inside["route"],
        "checkpoint_token": checkpoint_token,
        "notice_id": inside["notice"],
        "flag_id": scene.ids["inside"]["flag"],
        "month": last_month(),
    }


def page_paths(app, scene) -> list[str]:
    """Every page of the URL map, with the scene's ids."""
    with app.app_context():
        event_token = urlsplit(scene.event_code(scene.ids["inside"]["event"])).path.rsplit("/", 1)[1]
        checkpoint_token = urlsplit(scene.checkpoint_code(scene.ids["inside"]["route"])).path.rsplit("/", 1)[
            1
        ]
    samples = sample_arguments(scene, event_token, checkpoint_token)
    paths = set()
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "static":
            continue
        try:
            path = rule.build({name: samples[name] for name in rule.arguments}, append_unknown=False)[1]
        except KeyError:
            continue
        if not NOT_PAGES.search(path):
            paths.add(path)
    paths.add(
        f"/notices/{scene.ids['inside']['notice']}/objections/{scene.ids['inside']['entry']}"
    )  # an entry's form
    return sorted(paths)


def test_no_page_of_any_role_scrolls_sideways_at_360_px(browser, live_scene):
    base, scene, live_app = live_scene
    world = scene.world
    paths = page_paths(live_app, scene)
    assert len(paths) > 40
    inside = scene.ids["inside"]
    assert {f"/notices/{inside['notice']}", f"/admin/fairness/{inside['flag']}", "/me/notifications"} <= set(
        paths
    )
    with live_app.app_context():  # a long name must not push anything off the screen either
        db.session.get(Member, world.people["villager"]).name = "长" * 50
        db.session.commit()
    wide, visited = [], 0
    roles = [
        ("villager", False),
        ("villager", True),
        ("grid_worker", False),
        ("clerk", False),
        ("organiser", False),
        ("admin", False),
    ]
    for who, elder in roles:
        # Only the pages this role may open (asked without a browser, which is quick), and one refusal.
        client = signed_in(live_app, world, who)
        opened = [path for path in paths if _is_page(client.get(path))]
        refused = next(path for path in paths if client.get(path).status_code == 403)
        context = new_phone(browser, NARROW)
        tab = context.new_page()
        sign_in(tab, base, world.phones[who], PASSWORD)
        if elder:
            tab.goto(base + "/elder/on?next=/")
        for path in [*opened, refused]:
            tab.goto(base + path, wait_until="domcontentloaded")  # the deferred script waits for the CSS
            visited += 1
            scroll, inner = tab.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
            if scroll > inner:
                wide.append(f"{who}{' (elder mode)' if elder else ''} {path}: {scroll} > {inner}")
        context.close()
    assert visited > 100 and not wide, "\n".join(wide)


def _is_page(response) -> bool:
    """An HTML page answered 200."""
    return response.status_code == 200 and response.mimetype == "text/html"
