"""Who is calling: a bearer token (API) or a session cookie (pages), and the rate limits keyed on them.

Failed sign-ins are not counted here but in ``core.throttle`` (see ``services.authenticate``).
"""

from __future__ import annotations

import math
import time

from flask import Flask, current_app, request
from flask_babel import lazy_gettext as _l
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, current_user

from core.errors import DEFAULTS, AppError, error_response
from core.extensions import db
from core.identity.hooks import nav_links
from core.identity.models import ApiToken, Member
from core.identity.services import find_token

login_manager = LoginManager()
login_manager.login_view = "identity_pages.login"
login_manager.login_message = _l("Please sign in.")
login_manager.session_protection = "basic"


def rate_limit_key() -> str:
    """Key signed-in calls on the member (villages share one address), others on the address."""
    member = current_member(required=False)
    return f"member:{member.id}" if member is not None else f"ip:{get_remote_address()}"


def default_limit() -> str:
    """Signed-in calls allowed per member (``RATELIMIT_DEFAULT``), read per app."""
    return current_app.config["RATELIMIT_DEFAULT"]


#: One limiter for every app in the process: settings that differ per app are read
#: through callables (the limiter keeps the first app's plain settings).
limiter = Limiter(key_func=rate_limit_key, default_limits=[default_limit], strategy="moving-window")


def handle_rate_limited(_error: RateLimitExceeded):
    """Answer 429 ``rate_limited`` with Retry-After: the seconds until the limit lets a call through.

    Set here rather than by Flask-Limiter's headers, which would also rewrite the
    Retry-After of every other answer (a 503's one second, say) to the limit's window.
    """
    limit = limiter.current_limit
    wait = math.ceil(limit.reset_at - time.time()) if limit is not None else 60
    code, message = DEFAULTS[429]
    return error_response(429, code, message, headers={"Retry-After": str(max(wait, 1))})


@login_manager.user_loader
def load_session_member(session_id: str) -> Member | None:
    """Load the member of a page session; a changed password or suspension ends it."""
    member_id, _, version = session_id.partition(".")
    if not member_id.isdigit():
        return None
    member = db.session.get(Member, int(member_id))
    if member is None or not member.is_active or str(member.session_version) != version:
        return None
    return member


def _bearer_token() -> str | None:
    """Return the bearer token of the request, if it sent one."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def current_token() -> ApiToken | None:
    """Return the live API token this request came with, if any."""
    return _authenticate().token


class _Auth:
    """Who this request is: resolved once per request, kept on the request itself."""

    __slots__ = ("member", "token", "problem")

    def __init__(self, member=None, token=None, problem=None):
        self.member, self.token, self.problem = member, token, problem


def _authenticate() -> _Auth:
    """Resolve the caller once per request (not per app context, which tests may share)."""
    cached = request.environ.get("pingan.auth")
    if cached is None:
        token = _bearer_token()
        if token is not None:
            row = find_token(token)
            cached = (
                _Auth(problem=_l("The token is invalid, expired or revoked. Please sign in again."))
                if row is None
                else _Auth(row.member, row)
            )
        elif current_user.is_authenticated:
            cached = _Auth(current_user._get_current_object())
        else:
            cached = _Auth()
        request.environ["pingan.auth"] = cached
    return cached


def current_member(required: bool = True) -> Member | None:
    """Return the signed-in member, or refuse with 401 when ``required``.

    A bearer token wins over the session cookie; a token that is unknown, expired
    or revoked is refused even if a cookie is present.
    """
    auth = _authenticate()
    if auth.member is None and required:
        raise AppError(401, message=auth.problem)
    return auth.member


def init_auth(app: Flask) -> None:
    """Bind sign-in (Flask-Login) and rate limits (Flask-Limiter) to the app."""
    login_manager.init_app(app)
    limiter.init_app(app)
    app.register_error_handler(RateLimitExceeded, handle_rate_limited)

    @app.context_processor
    def inject_member():
        member = current_member(required=False)
        return {"member": member, "nav_links": nav_links(member)}


__all__ = ["current_member", "current_token", "init_auth", "limiter", "login_manager"]
