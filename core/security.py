"""Security headers and CSRF: a CSP without inline script, frame-ancestors, nosniff."""

from __future__ import annotations

from flask import Flask, current_app, request
from flask_talisman import Talisman

from core.api import API_PREFIX
from core.extensions import csrf

CONTENT_SECURITY_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "connect-src": "'self'",
    "worker-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def init_security(app: Flask) -> None:
    """Bind Talisman (headers) and CSRFProtect (forms) to the app."""
    Talisman(
        app,
        force_https=False,  # TLS ends at the reverse proxy (docs/deploy.md)
        strict_transport_security=app.config["SESSION_COOKIE_SECURE"],
        session_cookie_secure=app.config["SESSION_COOKIE_SECURE"],
        session_cookie_http_only=True,
        content_security_policy=CONTENT_SECURITY_POLICY,
        frame_options="DENY",
        referrer_policy="same-origin",
        permissions_policy={"camera": "(self)", "geolocation": "()", "microphone": "()"},
    )
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False  # protect_from_csrf decides
    csrf.init_app(app)
    app.before_request(protect_from_csrf)


def protect_from_csrf() -> None:
    """Check the CSRF token of every form post and of API calls a browser cookie could sign.

    An API call with a bearer token, or with no session cookie at all, cannot be
    forged by another site through the user's browser, so it needs no token.
    """
    if request.method in ("GET", "HEAD", "OPTIONS", "TRACE"):
        return
    if request.path.startswith(API_PREFIX + "/"):
        if request.headers.get("Authorization", "").startswith("Bearer "):
            return
        if current_app.config["SESSION_COOKIE_NAME"] not in request.cookies:
            return
    csrf.protect()
