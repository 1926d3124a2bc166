"""The application factory: the one place that knows every package."""

from __future__ import annotations

import importlib
import os

from flask import Flask
from flask_babel import get_locale

from core.config import load_config

#: Every module that defines models: imported at start so that the metadata (and so
#: migrations and their tests) always sees every table.
MODEL_MODULES: tuple[str, ...] = (
    "core.identity.models",
    "core.audit",
    "core.qr.models",
    "core.idempotency",
    "core.throttle",
    "points.models",
    "points.wishes.models",
    "points.patrols.models",
    "rewards.models",
    "core.notifications",
)
#: Packages with their own message catalogue (``<package>/translations``), merged at run time;
#: ``core``'s also holds the texts of ``app.py``.
TRANSLATED_PACKAGES: tuple[str, ...] = ("core", "points", "rewards", "admin")


def create_app(config: dict | None = None) -> Flask:
    """Build the application: config → extensions → blueprints → errors → CLI → hooks."""
    app = Flask(
        __name__, static_folder="core/static", template_folder="core/templates", instance_relative_config=True
    )
    load_config(app, config)
    trust_proxies(app)
    register_extensions(app)
    register_blueprints(app)
    register_errors(app)
    register_cli(app)
    register_hooks(app)
    return app


def trust_proxies(app: Flask) -> None:
    """Read the client's address from ``X-Forwarded-*`` when behind ``TRUSTED_PROXIES`` proxies."""
    hops = int(app.config.get("TRUSTED_PROXIES") or 0)
    if hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)


def register_extensions(app: Flask) -> None:
    """Bind storage, migrations, the API, languages and security to the app."""
    from core.api import Api, IdConverter, JsonProvider, require_json_body
    from core.database import configure_sqlite, write_requests_begin_late
    from core.extensions import babel, db, migrate
    from core.form_tokens import init_form_tokens
    from core.i18n import HTML_LANG, LANGUAGE_NAMES, html_lang, select_locale
    from core.identity.auth import init_auth
    from core.observability import init_observability
    from core.qr.keys import warm_signing_key
    from core.replica import init_replica
    from core.security import init_security
    from core.throttle import init_throttle

    for module in MODEL_MODULES:
        importlib.import_module(module)
    db.init_app(app)
    init_replica(app)
    app.before_request(warm_signing_key)  # first: before any hook opens a transaction
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            configure_sqlite(
                db.engine, app.config["SQLITE_BUSY_TIMEOUT_MS"], app.config["SQLITE_SYNCHRONOUS"]
            )
            write_requests_begin_late(app)
    migrate.init_app(
        app, db, directory=os.path.join(app.root_path, "migrations"), render_as_batch=True, compare_type=True
    )
    babel.init_app(
        app,
        locale_selector=select_locale,
        default_translation_directories=";".join(
            f"{package}/translations" for package in TRANSLATED_PACKAGES
        ),
    )
    init_security(app)
    init_form_tokens(app)
    init_observability(app)
    init_auth(app)
    init_throttle(app)
    app.url_map.converters["id"] = IdConverter  # before any route is added
    app.json = JsonProvider(app)
    app.extensions["api"] = Api(app)
    app.before_request(require_json_body)

    @app.context_processor
    def inject_language():
        locale = str(get_locale())
        return {
            "current_locale": locale,
            "html_lang": html_lang(locale),
            "languages": LANGUAGE_NAMES,
            "html_langs": HTML_LANG,
        }


def register_blueprints(app: Flask) -> None:
    """Register every package's API blueprint under /api/v1 and its pages."""
    import core.identity.api
    import core.identity.card_api
    import core.identity.views
    import core.notifications.api
    import core.notifications.views
    import core.views
    import points.api
    import points.budget_api
    import points.leaderboard_api
    import points.notices_api
    import points.patrols.api
    import points.patrols.views
    import points.views
    import points.wishes.api
    import points.wishes.views
    import rewards.api
    import rewards.counter_api
    import rewards.views
    from admin import console_blueprint

    api = app.extensions["api"]
    app.register_blueprint(core.views.bp)
    app.register_blueprint(core.identity.views.bp)
    app.register_blueprint(core.notifications.views.bp)
    for blueprint in (
        core.identity.api.blp,
        points.api.blp,
        points.leaderboard_api.blp,
        points.wishes.api.blp,
        points.patrols.api.blp,
        rewards.api.blp,
        core.identity.card_api.blp,
        rewards.counter_api.blp,
        core.notifications.api.blp,
        points.notices_api.blp,
        points.budget_api.blp,
    ):
        api.register_blueprint(blueprint)
    for blueprint in (
        points.views.bp,
        points.wishes.views.bp,
        points.patrols.views.bp,
        rewards.views.bp,
        console_blueprint(),
    ):
        app.register_blueprint(blueprint)


def register_errors(app: Flask) -> None:
    """Answer every error in the contract's shape (JSON) or as a friendly page."""
    from core.errors import register_error_handlers

    register_error_handlers(app)


def register_cli(app: Flask) -> None:
    """Add the command-line interface (``flask seed-demo`` and friends)."""
    from core.cli import init_cli
    from core.idempotency import init_idempotency_cli
    from core.identity.demo import seed_identity_demo
    from core.notifications.cli import init_notifications_cli
    from core.qr.cli import init_qr_cli
    from points.cli import init_fairness_cli, init_leaderboards_cli, init_points_cli, init_wishes_cli
    from points.demo import seed_points_demo, seed_volunteer_demo
    from rewards.cli import init_rewards_cli
    from rewards.demo import seed_rewards_demo, seed_settlement_demo

    init_cli(
        app,
        seeders=[
            seed_identity_demo,
            seed_points_demo,
            seed_rewards_demo,
            seed_settlement_demo,
            seed_volunteer_demo,
        ],
    )
    init_qr_cli(app)
    init_idempotency_cli(app)
    init_notifications_cli(app)
    init_points_cli(app)
    init_leaderboards_cli(app)
    init_wishes_cli(app)
    init_fairness_cli(app)
    init_rewards_cli(app)


def register_hooks(app: Flask) -> None:
    """Let packages fill the platform's hooks: ledger subscribers, identity changes, ``GET /me``
    details, the links of "Me", the tab bar and home page of each role, and the names of ledger
    entries. Every read model the ledger moves is listed here."""
    import admin.views
    import core.notifications.views
    import core.views
    import points.notice_views
    import points.views
    import points.wishes.views
    import rewards.views
    from core.identity.hooks import (
        register_me_extension,
        register_member_changes,
        register_nav_links,
        register_unit_moves,
    )
    from core.navigation import CLERK, ORGANISER, RESIDENT, register_home, register_tabs
    from points.alerts import notify_posting
    from points.budgets import charge_budgets, recount_budgets
    from points.gamification import note_posting, points_for_me
    from points.leaderboards.totals import record_earning, refresh_members, refresh_subtree
    from points.ledger import register_subscriber

    # Each ledger transaction (an award, a reversal, a hold, a spend…) goes to these, in this
    # order, inside the transaction that posts it:
    register_subscriber(app, charge_budgets)  # budgets of the org units above: may refuse the award
    register_subscriber(app, record_earning)  # leaderboard totals of the member's periods
    register_subscriber(app, note_posting)  # badges, volunteer stars and their counters
    register_subscriber(app, notify_posting)  # notifications: points recorded for the member, new levels
    # Changes to who counts on the boards, and where: made by the identity services.
    register_member_changes(app, refresh_members)
    register_unit_moves(app, recount_budgets)  # before the boards: budget rows, then members' totals
    register_unit_moves(app, refresh_subtree)

    register_me_extension(app, points_for_me)
    register_nav_links(app, points.views.navigation)
    register_nav_links(app, points.views.leaderboard_navigation)
    register_nav_links(app, points.wishes.views.navigation)
    register_nav_links(app, points.notice_views.navigation)
    register_nav_links(app, rewards.views.navigation)
    register_nav_links(app, admin.views.navigation)
    register_nav_links(app, core.notifications.views.navigation)
    for package in (core.views, points.views, rewards.views, admin.views):
        register_tabs(app, package.TABS)
    register_home(app, RESIDENT, points.views.resident_home)
    register_home(app, CLERK, rewards.views.clerk_home)
    register_home(app, ORGANISER, admin.views.organiser_home)
    points.views.register_entry_labels(app, rewards.views.voucher_entry_labels)
