"""Platform pages: home, language switch, API docs, and the health check."""

from __future__ import annotations

from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify, redirect, render_template, request
from flask_babel import lazy_gettext as _l

from core.api import API_PREFIX
from core.errors import AppError
from core.extensions import db
from core.i18n import LANGUAGE_COOKIE, normalise_locale
from core.throttle import ThrottleEntry, check_throttle_store, throttle_store_name

bp = Blueprint("core", __name__)

ONE_YEAR = 365 * 24 * 3600


@bp.get("/")
def home():
    """Show the home page."""
    return render_template("core/home.html")


@bp.get("/lang/<code>")
def switch_language(code: str):
    """Remember the chosen language and go back to the page the user was on."""
    locale = normalise_locale(code)
    if locale is None:
        raise AppError(404)
    response = redirect(safe_next(request.args.get("next")))
    response.set_cookie(LANGUAGE_COOKIE, locale, max_age=ONE_YEAR, samesite="Lax",
                        httponly=True, secure=current_app.config["SESSION_COOKIE_SECURE"])
    return response


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
    503 ``unavailable`` naming each part that failed otherwise."""
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
    return jsonify(status="ok", database="ok", failure_store=throttle_store_name(current_app))


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
