"""Cookies in production: Secure, HttpOnly and SameSite, so no script or other site can use them."""

import secrets

from tests.conftest import dispose, make_app
from tests.factories import PASSWORD, build_world
from tests.support.pages import csrf_token


def production_app(database_url):
    """The app with production settings (a random secret) on the test database."""
    return make_app(
        database_url,
        APP_ENV="production",
        SECRET_KEY=secrets.token_urlsafe(48),
        PUBLIC_BASE_URL="https://points.example.gov.cn",
    )


def cookie(response, name: str) -> str:
    """The Set-Cookie header that sets ``name``."""
    return next(header for header in response.headers.getlist("Set-Cookie") if header.startswith(name + "="))


def test_the_session_and_language_cookies_are_secure_httponly_and_same_site(database_url):
    app = production_app(database_url)
    try:
        with app.app_context():
            world = build_world()
        browser = app.test_client()
        form = browser.get("/login", base_url="https://localhost")
        session = cookie(form, "session")
        token = csrf_token(form.get_data(as_text=True))
        # over HTTPS, CSRF protection also wants the form to come from this site (Referer)
        signed_in = browser.post(
            "/login",
            base_url="https://localhost",
            headers={"Referer": "https://localhost/login"},
            data={"csrf_token": token, "phone": world.phones["resident"], "password": PASSWORD},
        )
        language = browser.get("/lang/en", base_url="https://localhost")
    finally:
        dispose(app)
    assert signed_in.status_code == 302
    for header in (session, cookie(signed_in, "session"), cookie(language, "lang")):
        assert "Secure" in header and "HttpOnly" in header and "SameSite=Lax" in header, header
    assert "Strict-Transport-Security" in signed_in.headers
