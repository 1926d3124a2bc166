"""The offline counter in real Chromium: installed, it fulfils a voucher with no signal and syncs it later."""

from __future__ import annotations

import json

from core.extensions import db
from core.identity import cards
from core.identity.models import Member
from points.ledger import balance_of
from rewards.models import Voucher
from tests.browser.camera import camera_phone, launch_with_camera, write_qr_video
from tests.browser.conftest import (
    PHONE,
    console_errors,
    live_database,
    new_tab,
    serve,
    sign_in,
)
from tests.factories import PASSWORD
from tests.rewards.test_pages import build_shop_world, reserve

#: Every byte the installed counter keeps in its caches.
CACHED_BYTES = """async () => {
  let files = 0, bytes = 0;
  for (const name of await caches.keys()) {
    const cache = await caches.open(name);
    for (const request of await cache.keys()) {
      bytes += (await (await cache.match(request)).arrayBuffer()).byteLength;
      files += 1;
    }
  }
  return [files, bytes];
}"""
#: A browser whose WebCrypto has no Ed25519: the counter must fall back to the library it serves.
NO_WEBCRYPTO_ED25519 = """
const importKey = crypto.subtle.importKey.bind(crypto.subtle);
crypto.subtle.importKey = (format, key, algorithm, ...rest) =>
  (algorithm === "Ed25519" || (algorithm && algorithm.name === "Ed25519"))
    ? Promise.reject(new DOMException("Ed25519 is not supported", "NotSupportedError"))
    : importKey(format, key, algorithm, ...rest);
"""


def test_the_installed_counter_fulfils_a_voucher_offline_and_syncs_it_when_signal_returns(
    browser, tmp_path, sqlite_template
):
    video = tmp_path / "voucher.y4m"

    def prepare():
        world = build_shop_world()
        voucher_id, _short_code, payload = reserve(world)
        second_id, _second_short, second_payload = reserve(
            world, items=[{"reward_id": world.rewards["soap"], "quantity": 1}]
        )
        write_qr_video(video, payload)
        return world, voucher_id, second_id, second_payload

    with serve(tmp_path, sqlite_template, prepare) as (base, (world, voucher_id, second_id, second_payload)):
        chromium = launch_with_camera(browser.browser_type, video)
        try:
            context = camera_phone(chromium, base)
            page = new_tab(context, timeout=15_000)
            errors = console_errors(page)
            sign_in(page, base, world.phones["clerk"], PASSWORD)

            # Install: the service worker takes the page and keeps every file; the bundle is kept.
            page.goto(base + "/counter/offline")
            page.wait_for_function("() => navigator.serviceWorker.controller !== null")
            page.wait_for_selector("#counter[data-bundle-at]", state="attached")
            page.wait_for_function("async () => (await caches.keys()).length === 1")
            files, cached = page.evaluate(CACHED_BYTES)
            bundle_bytes = len(
                page.evaluate(
                    f"async () => JSON.stringify((await CounterQueue.bundle({world.shops['a']})).bundle)"
                ).encode()
            )

            # No signal: the page comes from the worker's cache, the camera reads the code, the
            # browser checks its signature itself and the goods are handed over into the queue.
            context.set_offline(True)
            response = page.reload()
            assert response is None or response.from_service_worker
            page.wait_for_selector("#found:not([hidden])")
            assert page.locator("#counter").get_attribute("data-verifier") == "webcrypto"
            goods = page.locator("#found [data-items]").inner_text()
            assert "肥皂 × 2" in goods and "食用油 × 1" in goods
            assert page.locator("#found [data-member]").inner_text() == "张*民"
            page.locator("#fulfil").click()
            page.wait_for_selector("#queued:not([hidden])")
            banner = page.locator("#banner")
            assert (
                banner.get_attribute("data-state") == "offline"
                and banner.get_attribute("data-waiting") == "1"
            )
            assert "离线" in banner.inner_text() and "1 条待同步" in banner.inner_text()
            assert page.locator(f".scan[data-voucher='{voucher_id}']").get_attribute("data-state") == "queued"

            # Signal returns: the queue is sent by itself and shows the result.
            context.set_offline(False)
            page.wait_for_selector(f".scan[data-voucher='{voucher_id}'][data-state='fulfilled']")
            page.wait_for_function("() => document.getElementById('banner').dataset.waiting === '0'")
            assert errors == [], f"console errors (CSP, script or a missing asset): {errors}"

            # Another device whose browser lacks Ed25519 verifies with the library served from here.
            other = chromium.new_context(locale="zh-CN", viewport={"width": 390, "height": 844})
            other.add_init_script(NO_WEBCRYPTO_ED25519)
            second = new_tab(other, timeout=15_000)
            sign_in(second, base, world.phones["clerk"], PASSWORD)
            second.goto(base + "/counter/offline")
            second.wait_for_selector("#counter[data-bundle-at]", state="attached")
            second.locator("#code").fill(second_payload)
            second.locator("#scan-form button[type=submit]").click()
            second.wait_for_selector("#found:not([hidden])")
            assert second.locator("#counter").get_attribute("data-verifier") == "noble"
            second.locator("#code").fill(
                second_payload[:-2] + ("AA" if not second_payload.endswith("AA") else "BB")
            )
            second.locator("#scan-form button[type=submit]").click()
            second.wait_for_selector("#refusal:not([hidden])")
            assert "不是有效的兑换码" in second.locator("#refusal").inner_text()
            other.close()
        finally:
            chromium.close()

    (tmp_path / "offline-weight.json").write_text(
        json.dumps({"files": files, "bytes": cached, "bundle_bytes": bundle_bytes})
    )
    print(f"\noffline counter keeps {files} files, {cached} bytes; bundle {bundle_bytes} bytes")
    with live_database(tmp_path):
        voucher = db.session.get(Voucher, voucher_id)
        assert voucher.status == "fulfilled" and voucher.fulfilled_by_id == world.people["clerk"]
        assert db.session.get(Voucher, second_id).status == "reserved"
        balance = balance_of(world.people["resident"])
        assert (balance.available, balance.held) == (200 - 90 - 20, 20)
    assert cached < 200_000, "the installed counter keeps more than 200 KB"


def test_a_card_sale_with_pin_through_the_basket_page(browser, tmp_path, sqlite_template):
    def prepare():
        world = build_shop_world()
        organiser, resident = (db.session.get(Member, world.people[key]) for key in ("organiser", "resident"))
        world.card = cards.issue_card(organiser, resident).number
        cards.set_pin(organiser, resident, "204816")
        return world

    with serve(tmp_path, sqlite_template, prepare) as (base, world):
        context = browser.new_context(**PHONE)
        try:
            page = new_tab(context)
            errors = console_errors(page)
            sign_in(page, base, world.phones["clerk"], PASSWORD)
            page.goto(base + "/counter/sell")
            page.locator(f"#quantity-{world.rewards['soap']}").fill("3")
            page.get_by_label("会员卡号或付款码数字").fill(world.card)
            page.get_by_role("button", name="下一步").click()
            page.wait_for_selector("#sale")
            assert page.locator("[data-member]").inner_text() == "张*民"
            assert page.locator("[data-available]").inner_text() == "200"
            page.get_by_label("卡密码（请居民本人输入）").fill("204816")
            page.locator("#sell").click()
            page.wait_for_url(lambda url: "/counter/vouchers/" in url)
            assert page.locator("#voucher").get_attribute("data-status") == "fulfilled"
            assert "兑换成功" in page.locator(".flash").inner_text()
            assert [error for error in errors if "camera" not in error.lower()] == []
        finally:
            context.close()
    with live_database(tmp_path):
        assert balance_of(world.people["resident"]).available == 200 - 60
