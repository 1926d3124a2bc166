"""Pages: Chinese by default, English complete, light, safe headers, friendly errors, CSRF."""

import re

import pytest
from flask import Blueprint, render_template_string

from core.views import safe_next

forms = Blueprint("forms_probe", __name__)


@forms.route("/probe-form", methods=["GET", "POST"])
def probe_form():
    """A form page like every later one: a CSRF token in a hidden field."""
    return render_template_string(
        '<form method="post"><input type="hidden" name="csrf_token" value="{{ csrf_token() }}">'
        "<button>ok</button></form>{{ request.method }}"
    )


@forms.get("/probe-boom")
def probe_boom():
    """Fail unexpectedly."""
    raise RuntimeError("secret internals")


@pytest.fixture
def client(app):
    app.register_blueprint(forms)
    return app.test_client()


def test_the_home_page_is_in_chinese_by_default(client):
    html = client.get("/").get_data(as_text=True)
    assert '<html lang="zh-CN">' in html
    assert "平安积分" in html and "English" in html


def test_a_browser_asking_for_english_gets_english(client):
    html = client.get("/", headers={"Accept-Language": "en-US,en;q=0.9"}).get_data(as_text=True)
    assert '<html lang="en">' in html and "Safety supermarket points" in html


def test_the_language_switch_is_remembered_and_returns_to_the_page(client):
    response = client.get("/lang/en?next=/somewhere?x=1")
    assert response.status_code == 302
    assert response.headers["Location"] == "/somewhere?x=1"
    assert "Safety supermarket points" in client.get("/").get_data(as_text=True)
    client.get("/lang/zh")
    assert "平安超市积分" in client.get("/").get_data(as_text=True)


def test_an_unknown_language_is_not_found(client):
    assert client.get("/lang/xx").status_code == 404


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/", "javascript:alert(1)", "evil"]
)
def test_the_language_switch_never_sends_users_to_another_site(target):
    assert safe_next(target) == "/"


def test_pages_carry_the_security_headers(client):
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";"))
    assert directives["script-src"] == "'self'"
    assert "unsafe-inline" not in csp
    assert directives["frame-ancestors"] == "'none'"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_pages_have_no_inline_script_and_load_nothing_from_another_site(client):
    for path in ("/", "/no-such-page"):
        html = client.get(path).get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
        assert not re.search(r'(src|href)="(https?:)?//', html)


def test_a_page_and_its_assets_weigh_under_100_kb(client):
    html = client.get("/").get_data()
    assets = re.findall(rb'(?:src|href)="(/static/[^"]+)"', html)
    total = len(html) + sum(len(client.get(asset.decode()).get_data()) for asset in assets)
    assert assets and total < 100 * 1024


def test_an_unknown_page_shows_a_friendly_error_page(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "返回首页" in response.get_data(as_text=True)


def test_an_unexpected_failure_shows_a_page_without_internals(client):
    response = client.get("/probe-boom")
    assert response.status_code == 500
    text = response.get_data(as_text=True)
    assert "secret internals" not in text and "Traceback" not in text
    assert "服务器出了点问题" in text


def test_a_form_post_without_its_csrf_token_is_refused(client):
    response = client.post("/probe-form", data={})
    assert response.status_code == 400
    assert "表单已过期" in response.get_data(as_text=True)


def test_a_form_post_with_its_csrf_token_is_accepted(client):
    page = client.get("/probe-form").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post("/probe-form", data={"csrf_token": token})
    assert response.status_code == 200 and response.get_data(as_text=True).endswith("POST")


def test_an_api_call_signed_by_the_browser_cookie_needs_the_csrf_token(client):
    client.get("/probe-form")  # the browser now holds a session cookie
    response = client.post("/api/v1/anything", json={})
    assert response.status_code == 400
    assert response.get_json()["code"] == "csrf_failed"
