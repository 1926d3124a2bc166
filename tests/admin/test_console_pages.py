"""Every console page renders for staff in scope, in Chinese, and refuses residents."""

import re

import pytest

from tests.support.pages import INLINE_SCRIPT, csrf_token, signed_in

PAGES = [
    "/admin/",
    "/admin/dashboard",
    "/admin/review",
    "/admin/activities",
    "/admin/activities/new",
    "/admin/events",
    "/admin/events/new",
    "/admin/members",
    "/admin/members/new",
]


def test_every_page_renders_in_chinese_for_an_organiser_in_scope(app, console):
    organiser = signed_in(app, console, "organiser")
    pages = PAGES + [
        f"/admin/events/{console.events['a']}",
        f"/admin/members/{console.people['resident']}",
        "/admin/activities/patrol_a",
    ]
    for path in pages:
        response = organiser.get(path)
        assert response.status_code == 200, path
        assert 'lang="zh-CN"' in response.get_data(as_text=True), path
        assert "style=" not in response.get_data(as_text=True), path
        assert not INLINE_SCRIPT.search(response.get_data(as_text=True)), path
    assert "控制台" in organiser.get("/admin/").get_data(as_text=True)


def test_supermarket_and_audit_pages_render_for_an_administrator_in_scope(app, console):
    admin = signed_in(app, console, "admin")
    shop = console.shops["a"]
    for path in PAGES + [
        "/admin/supermarkets",
        f"/admin/supermarkets/{shop}",
        f"/admin/supermarkets/{shop}/vouchers",
        "/admin/audit",
    ]:
        assert admin.get(path).status_code == 200, path


def test_a_clerk_sees_only_the_supermarket_parts_of_their_own_supermarket(app, console):
    clerk = signed_in(app, console, "clerk")
    home = clerk.get("/admin/").get_data(as_text=True)
    assert "/admin/supermarkets" in home and "/admin/members" not in home and "/admin/dashboard" not in home
    listing = clerk.get("/admin/supermarkets").get_data(as_text=True)
    assert "城关镇平安超市" in listing and "河口镇平安超市" not in listing
    assert clerk.get(f"/admin/supermarkets/{console.shops['a']}").status_code == 200
    assert clerk.get(f"/admin/supermarkets/{console.shops['b']}").status_code == 403
    for path in ("/admin/dashboard", "/admin/members", "/admin/review", "/admin/audit", "/admin/activities"):
        assert clerk.get(path).status_code == 403, path


@pytest.mark.parametrize("path", PAGES + ["/admin/supermarkets", "/admin/audit", "/admin/audit.csv"])
def test_residents_are_refused_every_console_page(app, console, path):
    resident = signed_in(app, console, "resident")
    assert resident.get(path).status_code == 403


def test_the_console_is_a_tab_for_organisers_and_a_link_of_me_for_clerks(app, console):
    organiser = signed_in(app, console, "organiser")
    home = organiser.get("/")
    assert home.status_code == 302 and home.headers["Location"] == "/admin/dashboard"
    tabs = re.search(
        r'<nav class="tabbar".*?</nav>', organiser.get("/admin/dashboard").get_data(as_text=True), re.S
    )
    assert 'href="/admin/"' in tabs.group(0)
    assert 'href="/admin/"' in signed_in(app, console, "clerk").get("/me").get_data(as_text=True)
    assert 'href="/admin/"' not in signed_in(app, console, "resident").get("/me").get_data(as_text=True)
    assert app.test_client().get("/admin/dashboard").status_code == 302  # to the sign-in page


def test_every_console_form_needs_its_csrf_token(app, console):
    organiser = signed_in(app, console, "organiser")
    posts = {
        "/admin/review": {"decision": "approve", "claim": str(console.claims["resident"])},
        "/admin/activities/new": {"code": "x", "name": "x", "points": "1"},
        "/admin/activities/patrol_a/active": {},
        f"/admin/events/{console.events['a']}/close": {},
        "/admin/members/new": {"name": "新人", "phone": "13912345678"},
        f"/admin/members/{console.people['resident']}/status": {"status": "suspended"},
    }
    for path, data in posts.items():
        response = organiser.post(path, data=data)
        assert response.status_code == 400, path
        assert "csrf" in response.get_data(as_text=True).lower() or "表单" in response.get_data(as_text=True)
    assert organiser.get(f"/admin/members/{console.people['resident']}").status_code == 200
    token = csrf_token(organiser.get("/admin/review").get_data(as_text=True))
    assert (
        organiser.post(
            "/admin/review",
            data={"csrf_token": token, "decision": "approve", "claim": str(console.claims["resident"])},
        ).status_code
        == 200
    )
