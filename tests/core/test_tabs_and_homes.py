"""The bottom tab bar and the home page of each role, "me", elder mode and the password rules on forms."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from core.database import utcnow
from core.extensions import db
from core.identity.models import Member
from points import events
from tests.factories import make_activity
from tests.support.pages import csrf_token, signed_in

TABS = {
    "resident": ["首页", "赚积分", "兑换", "排行", "我的"],
    "grid_worker": ["首页", "赚积分", "兑换", "排行", "我的"],
    "clerk": ["扫码", "刷卡", "库存", "今日", "我的"],
    "organiser": ["首页", "审核", "成员", "控制台", "我的"],
    "global_admin": ["首页", "审核", "成员", "控制台", "我的"],
}


def tab_bar(html: str) -> list[tuple[str, bool]]:
    """The tab bar's labels, each with whether it is lit."""
    bar = re.search(r'<nav class="tabbar".*?</nav>', html, re.S).group(0)
    return [
        (label, bool(current))
        for current, label in re.findall(
            r'<a href="[^"]+"( aria-current="page")?><svg.*?</svg><span>([^<]+)</span></a>', bar, re.S
        )
    ]


@pytest.mark.parametrize("who", sorted(TABS))
def test_each_role_gets_its_own_tab_bar_of_at_most_five_items(app, world, who):
    browser = signed_in(app, world, who)
    page = browser.get("/me").get_data(as_text=True)
    assert [label for label, _lit in tab_bar(page)] == TABS[who]
    assert dict(tab_bar(page))["我的"] is True


def test_the_tab_of_the_page_is_lit_and_only_that_one(app, world):
    browser = signed_in(app, world, "resident")
    for path, lit in (
        ("/", "首页"),
        ("/earn", "赚积分"),
        ("/me/claims/new", "赚积分"),
        ("/shops", "兑换"),
        ("/me/vouchers", "兑换"),
        ("/leaderboards", "排行"),
        ("/me/points", "我的"),
        ("/account", "我的"),
    ):
        assert [label for label, current in tab_bar(browser.get(path).get_data(as_text=True)) if current] == [
            lit
        ], path


def test_signed_out_there_is_no_tab_bar_and_home_offers_sign_in_and_activation(client):
    html = client.get("/").get_data(as_text=True)
    assert 'class="tabbar"' not in html and 'href="/login"' in html and 'href="/activate"' in html


def test_home_is_the_scanner_for_clerks_and_the_dashboard_for_organisers(app, world):
    assert signed_in(app, world, "clerk").get("/").headers["Location"] == "/counter/scan"
    assert signed_in(app, world, "organiser").get("/").headers["Location"] == "/admin/dashboard"
    assert signed_in(app, world, "global_admin").get("/").headers["Location"] == "/admin/dashboard"


def test_the_resident_s_home_shows_balance_check_in_events_around_and_shortcuts(app, world):
    with app.app_context():
        make_activity("patrol", points=10)
        organiser = db.session.get(Member, world.people["organiser"])
        start = utcnow() + timedelta(hours=2)
        events.create_event(
            organiser, "周末巡逻", "patrol", world.units["town_a"], start, start + timedelta(hours=2)
        )
        events.create_event(
            db.session.get(Member, world.people["global_admin"]),
            "河口巡逻",
            "patrol",
            world.units["town_b"],
            start,
            start + timedelta(hours=2),
        )
    resident = signed_in(app, world, "resident")
    html = resident.get("/").get_data(as_text=True)
    assert 'data-available="0"' in html and "每日报平安" in html
    assert "周末巡逻" in html and "河口巡逻" not in html  # only events around the member's grid
    assert 'href="/me/vouchers"' in html and 'href="/me/claims/new"' in html
    token = csrf_token(html)
    form_token = re.search(r'name="form_token" value="([^"]+)"', html).group(1)
    checked_in = resident.post("/me/checkin?next=/", data={"csrf_token": token, "form_token": form_token})
    assert checked_in.headers["Location"] == "/"
    assert "今天已报平安" in resident.get("/").get_data(as_text=True)
    earn = resident.get("/earn").get_data(as_text=True)
    assert "每次 10 分" in earn and "周末巡逻" in earn


def test_me_gathers_my_links_elder_mode_the_password_and_signing_out(app, world):
    grid_worker = signed_in(app, world, "grid_worker")
    html = grid_worker.get("/me").get_data(as_text=True)
    for link in ("/me/points", "/me/vouchers", "/review", "/leaderboards", "/account", "/elder/on?next=/me"):
        assert f'href="{link}"' in html, link
    assert 'action="/logout"' in html
    assert 'href="/admin/"' not in html


def test_elder_mode_is_a_switch_remembered_on_the_phone(app, world):
    browser = signed_in(app, world, "resident")
    assert 'class="elder"' not in browser.get("/").get_data(as_text=True)
    switched = browser.get("/elder/on?next=/me/points")
    assert switched.headers["Location"] == "/me/points"
    assert "elder=1" in switched.headers["Set-Cookie"] and "HttpOnly" in switched.headers["Set-Cookie"]
    assert '<html lang="zh-CN" class="elder">' in browser.get("/me/points").get_data(as_text=True)
    assert "关闭长辈模式" in browser.get("/me").get_data(as_text=True)
    browser.get("/elder/off?next=https://evil.example/")
    assert 'class="elder"' not in browser.get("/").get_data(as_text=True)
    assert browser.get("/elder/maybe").status_code == 404


def test_forms_that_set_a_password_show_its_rules(app, world):
    organiser = signed_in(app, world, "organiser")
    rules = "至少 8 个字符。不要用 12345678 这类常见密码，也不要全是空格。"
    for browser, path in (
        (organiser, "/account"),
        (organiser, "/admin/members/new"),
        (organiser, f"/admin/members/{world.people['resident']}"),
        (app.test_client(), "/activate"),
    ):
        html = browser.get(path).get_data(as_text=True)
        assert rules in html and 'aria-describedby="' in html, path


def test_a_long_name_is_cut_in_the_header_not_wrapped(app, world):
    with app.app_context():
        db.session.get(Member, world.people["resident"]).name = "长" * 50
        db.session.commit()
    html = signed_in(app, world, "resident").get("/").get_data(as_text=True)
    assert re.search(r'<a class="who" href="/me" title="长{50}">', html)
