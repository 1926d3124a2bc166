"""The pages in a real browser: Chinese first, a language switch, a friendly error page."""

from tests.browser.conftest import console_errors


def test_home_page_switches_language_and_shows_the_error_page(page, live_server):
    errors = console_errors(page)
    page.goto(live_server + "/")
    assert page.locator("h1").inner_text() == "平安超市积分"
    assert page.locator("html").get_attribute("lang") == "zh-CN"

    page.get_by_role("link", name="English").click()
    page.wait_for_url(live_server + "/")
    assert page.locator("h1").inner_text() == "Safety supermarket points"
    assert errors == [], f"console errors (CSP, script or a missing asset): {errors}"

    response = page.goto(live_server + "/no-such-page")
    assert response.status == 404
    assert page.locator("h1").inner_text() == "404"
    page.get_by_role("link", name="Back to the home page").click()
    page.wait_for_url(live_server + "/")
    assert page.locator("h1").inner_text() == "Safety supermarket points"


def test_the_api_docs_render_under_the_csp(page, live_server):
    errors = console_errors(page)
    page.goto(live_server + "/api/v1/docs")
    page.locator(".swagger-ui .title").first.wait_for()
    assert "Ping'an Points" in page.locator(".swagger-ui .title").first.inner_text()
    assert not [e for e in errors if "Content Security Policy" in e], errors


def test_a_member_signs_in_on_a_phone_and_signs_out_from_me(page, live_server_with_world):
    base, phone, password = live_server_with_world
    page.goto(base + "/account")
    page.wait_for_url(lambda url: "/login" in url)
    page.get_by_label("手机号").fill(phone)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(base + "/account")  # back to the page asked for
    assert "张居民" in page.locator("main").inner_text()
    page.get_by_role("link", name="我的").click()
    page.wait_for_url(base + "/me")
    page.get_by_role("button", name="退出登录").click()
    page.wait_for_url(base + "/")
    assert page.get_by_role("banner").get_by_role("link", name="登录").is_visible()
