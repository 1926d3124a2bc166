"""Helpers for page tests: CSRF tokens and browsers signed in through the sign-in page."""

from __future__ import annotations

import re

from tests.factories import PASSWORD

#: A <script> element with no src: inline code, which the CSP forbids.
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)


def csrf_token(html: str) -> str:
    """The CSRF token of the first form in a page."""
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def signed_in(app, world, who):
    """A browser of its own, signed in through the sign-in page."""
    browser = app.test_client()
    token = csrf_token(browser.get("/login").get_data(as_text=True))
    response = browser.post(
        "/login", data={"csrf_token": token, "phone": world.phones[who], "password": PASSWORD}
    )
    assert response.status_code == 302
    return browser


def submit_form(browser, path: str, fields: dict, *, to: str | None = None):
    """Open the page at ``path`` and submit its form with ``fields`` and the page's CSRF token, to
    ``to`` (by default the page itself)."""
    token = csrf_token(browser.get(path).get_data(as_text=True))
    return browser.post(to or path, data={"csrf_token": token, **fields})


def change_own_password(browser, new_password: str, confirm: str | None = None):
    """Submit the account page's password form, with the right current password."""
    fields = {"current_password": PASSWORD, "new_password": new_password, "confirm": confirm or new_password}
    return submit_form(browser, "/account", fields)
