"""The clerk's scanner in real Chromium: a fake camera shows a resident's voucher code."""

from core.extensions import db
from points.ledger import balance_of
from rewards.models import Voucher
from tests.browser.camera import camera_phone, launch_with_camera, write_qr_video
from tests.browser.conftest import console_errors, live_database, new_tab, serve
from tests.factories import PASSWORD
from tests.rewards.test_pages import build_shop_world, reserve


def test_a_clerk_scans_a_voucher_with_the_camera_and_hands_it_over(browser, tmp_path, sqlite_template):
    video = tmp_path / "voucher.y4m"

    def prepare():
        world = build_shop_world()
        voucher_id, _short_code, payload = reserve(world)
        write_qr_video(video, payload)
        return world, voucher_id

    with serve(tmp_path, sqlite_template, prepare) as (base, (world, voucher_id)):
        chromium = launch_with_camera(browser.browser_type, video)
        try:
            # Without a native detector the page must decode with the vendored qr-scanner worker.
            page = new_tab(camera_phone(chromium, base))
            errors, workers = console_errors(page), []
            page.on("worker", lambda worker: workers.append(worker.url))

            page.goto(base + "/counter/scan")
            page.wait_for_url(lambda url: "/login" in url)
            page.get_by_label("手机号").fill(world.phones["clerk"])
            page.get_by_label("密码").fill(PASSWORD)
            page.get_by_role("button", name="登录").click()
            page.wait_for_url(base + "/counter/scan")

            # The camera sees the code; the page looks it up and shows what to hand over.
            page.wait_for_url(lambda url: f"/counter/vouchers/{voucher_id}?code=" in url)
            assert workers == [base + "/static/vendor/qr-scanner/qr-scanner-worker.js"]
            items = page.locator(".items").inner_text()
            assert "肥皂" in items and "× 2" in items and "食用油" in items
            assert page.locator("[data-member]").inner_text() == "张*民"
            assert "90" in page.locator("[data-points]").inner_text()

            page.get_by_role("button", name="确认兑换").click()
            page.wait_for_url(base + f"/counter/vouchers/{voucher_id}")
            assert page.locator("#voucher").get_attribute("data-status") == "fulfilled"
            assert page.locator(".done").inner_text().startswith("✓ 已兑")  # 已兑换 (handed over)
            assert errors == [], f"console errors (CSP, script or a missing asset): {errors}"
        finally:
            chromium.close()

    with live_database(tmp_path):
        voucher = db.session.get(Voucher, voucher_id)
        assert voucher.status == "fulfilled" and voucher.fulfilled_by_id == world.people["clerk"]
        balance = balance_of(world.people["resident"])
        assert (balance.available, balance.held) == (110, 0)
