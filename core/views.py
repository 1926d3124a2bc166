"""Platform pages: home, "me", the language and elder-mode switches, API docs, and the health check."""

from __future__ import annotations

from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify, redirect, render_template, request
from flask_babel import lazy_gettext as _l
from flask_login import login_required

from core.api import API_PREFIX
from core.errors import AppError
from core.extensions import db
from core.i18n import LANGUAGE_COOKIE, normalise_locale
from core.identity.auth import current_member
from core.navigation import RESIDENT, ROLES, Tab, home_for, tabs_for
from core.replica import replica_state
from core.throttle import ThrottleEntry, check_throttle_store, throttle_store_name

bp = Blueprint("core", __name__)

ONE_YEAR = 365 * 24 * 3600
#: The cookie that remembers 长辈模式 (elder mode: large type, high contrast) on this phone.
ELDER_COOKIE = "elder"

#: The tabs core adds: "Me" for everyone, last; the resident's home, first.
ME_TAB = Tab(100, "core.me", _l("Me"), "me", ("/me", "/account"))
TABS = {role: [ME_TAB] for role in ROLES}
TABS[RESIDENT].insert(0, Tab(0, "core.home", _l("Home"), "home"))


@bp.app_context_processor
def inject_page_chrome():
    """Give every page the member's tab bar, whether elder mode is on, and after a refused form
    post the page it came from (on this site only)."""
    return {
        "tabs": tabs_for(current_member(required=False)),
        "elder_mode": request.cookies.get(ELDER_COOKIE) == "1",
        "back_url": _form_page() if request.method == "POST" else None,
    }


def _form_page() -> str | None:
    """The page of this site a form was posted from (its Referer), or None."""
    parts = urlsplit(request.referrer or "")
    if parts.netloc != request.host:
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


@bp.get("/")
def home():
    """The home page of the signed-in member's role; a welcome with sign-in for everyone else."""
    member = current_member(required=False)
    if member is None:
        return render_template("core/home.html")
    return home_for(member)


@bp.get("/me")
@login_required
def me():
    """Me: who I am, links to everything of mine, elder mode, language, password, sign out."""
    from core.identity.views import ROLE_NAMES  # it imports this module

    return render_template("core/me.html", role_names=ROLE_NAMES)


@bp.get("/elder/<state>")
def switch_elder_mode(state: str):
    """Turn elder mode (large type, high contrast) on or off on this phone, and go back."""
    if state not in ("on", "off"):
        raise AppError(404)
    response = redirect(safe_next(request.args.get("next")))
    response.set_cookie(
        ELDER_COOKIE,
        "1" if state == "on" else "0",
        max_age=ONE_YEAR,
        samesite="Lax",
        httponly=True,
        secure=current_app.config["SESSION_COOKIE_SECURE"],
    )
    return response


@bp.get("/lang/<code>")
def switch_language(code: str):
    """Remember the chosen language and go back to the page the user was on."""
    locale = normalise_locale(code)
    if locale is None:
        raise AppError(404)
    response = redirect(safe_next(request.args.get("next")))
    response.set_cookie(
        LANGUAGE_COOKIE,
        locale,
        max_age=ONE_YEAR,
        samesite="Lax",
        httponly=True,
        secure=current_app.config["SESSION_COOKIE_SECURE"],
    )
    return response


def show_refusal(form, error: AppError, names: dict | None = None) -> None:
    """Put a service's refusal, in the reader's language, beside the form fields it names
    (``names`` maps the service's field names to the form's), or on the first field."""
    placed = False
    for key in error.errors:
        field = getattr(form, (names or {}).get(key, key), None)
        if field is not None and hasattr(field, "errors"):
            field.errors = [*field.errors, str(error.message)]
            placed = True
    if not placed:
        first = next(field for field in form if field.type not in ("CSRFTokenField", "HiddenField"))
        first.errors = [*first.errors, str(error.message)]


def safe_next(target: str | None) -> str:
    """Return a local path to go back to, never another site."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


@bp.get(API_PREFIX + "/docs")
def api_docs():
    """Show the browsable API documentation (Swagger UI, served locally)."""
    return render_template("core/api_docs.html")


@bp.get("/healthz")
def healthz():
    """Answer 200 when the database reads and accepts a write and the failure store answers;
    503 ``unavailable`` naming each part that failed otherwise. With a replica, say how it fares."""
    problems = {}
    database = _database_problem()
    if database is not None:
        problems["database"] = [database]
    try:
        check_throttle_store()
    except Exception as error:  # noqa: BLE001 - any failure of the store is the answer
        problems["failure_store"] = [f"does not answer: {type(error).__name__}"]
    if problems:
        raise AppError(503, "unavailable", _l("A part of the service is not working."), problems)
    answer = {"status": "ok", "database": "ok", "failure_store": throttle_store_name(current_app)}
    replica = replica_state(current_app)
    if replica is not None:  # never a reason for 503: the marked views read from the primary meanwhile
        answer["replica"] = replica
    return jsonify(answer)


def _database_problem() -> str | None:
    """Say what the database cannot do — answer a read, or accept a write — or None when it can.

    The write is a no-op (an UPDATE that matches no row, rolled back): enough for a read-only
    file, a read-only transaction or a standby to refuse it, as they refuse every real write.
    """
    try:
        db.session.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError:
        db.session.rollback()
        return "does not answer"
    try:
        db.session.execute(sa.update(ThrottleEntry).where(sa.false()).values(failures=ThrottleEntry.failures))
    except sa.exc.SQLAlchemyError as error:
        return f"does not accept writes: {type(getattr(error, 'orig', error)).__name__}"
    finally:
        db.session.rollback()
    return None
