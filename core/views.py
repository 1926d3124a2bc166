"""Platform pages: home, language switch, API docs, and the health check."""

from __future__ import annotations

from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify, redirect, render_template, request

from core.api import API_PREFIX
from core.errors import AppError
from core.extensions import db
from core.i18n import LANGUAGE_COOKIE, normalise_locale

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
    """Answer 200 when the database answers, 503 otherwise."""
    try:
        db.session.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError:
        db.session.rollback()
        raise AppError(503, "unavailable", "The database does not answer.") from None
    return jsonify(status="ok", database="ok")
