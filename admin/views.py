"""Pages of the organisers' console, under ``/admin``: its blueprint, the console home and its menu.

Each section lives in its own module, listed in ``admin.PAGE_MODULES``, and adds its routes to
``bp`` (``admin.console_blueprint`` gathers them) with the helpers of ``admin.pages``; every page is
limited to the signed-in member's subtree by the services it calls (``core.identity.access``).
"""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required

from core.errors import AppError
from core.identity.access import CONSOLE, can_somewhere, holds_role
from core.identity.auth import current_member
from core.navigation import ORGANISER, Tab

bp = Blueprint(
    "admin",
    __name__,
    url_prefix="/admin",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

#: The console's sections: endpoint, label, and the action that opens them.
SECTIONS = (
    ("admin.dashboard", _l("Dashboard"), "member.manage"),
    ("admin.review", _l("Review queue"), "claim.review"),
    ("admin.activities", _l("Activities"), "activity.manage"),
    ("admin.events", _l("Events"), "event.manage"),
    ("admin.wishes", _l("Micro-wishes"), "wish.manage"),
    ("admin.patrols", _l("Patrol routes"), "patrol.manage"),
    ("admin.members", _l("Members"), "member.manage"),
    ("admin.imports", _l("Import members"), "member.manage"),
    ("admin.member_cards", _l("Member cards"), "member.manage"),
    ("admin.supermarkets", _l("Supermarkets and stock"), "stock.receive"),
    ("admin.rewards", _l("Rewards"), "reward.manage"),
    ("admin.offline_conflicts", _l("Offline conflicts"), "supermarket.manage"),
    ("admin.settlements_overview", _l("Settlements"), "settlement.read"),
    ("admin.budgets_overview", _l("Budgets"), "budget.read"),
    ("admin.org_units", _l("Org units"), "org_unit.manage"),
    ("admin.reports", _l("Monthly report"), "member.manage"),
    ("admin.audit", _l("Audit log"), "audit.read"),
    ("admin.notices_console", _l("Public notices"), "notice.publish"),
    ("admin.objections", _l("Objections"), "objection.decide"),
    ("admin.fairness_flags", _l("Fairness watch"), "fairness.review"),
)

#: The organiser's tab bar: the dashboard is their home.
TABS = {
    ORGANISER: [
        Tab(0, "admin.dashboard", _l("Home"), "home"),
        Tab(20, "admin.review", _l("Review"), "review"),
        Tab(30, "admin.members", _l("Members"), "members", ("/admin/import",)),
        Tab(40, "admin.home", _l("Console"), "console"),
    ]
}


def organiser_home():
    """The organiser's home is the console's dashboard."""
    return redirect(url_for("admin.dashboard"))


def sections_for(actor) -> list[tuple[str, str]]:
    """The sections the actor may open, as ``(url, label)``."""
    return [
        (url_for(endpoint), str(label))
        for endpoint, label, action in SECTIONS
        if can_somewhere(actor, action)
    ]


def is_console_user(actor) -> bool:
    """Tell whether the actor holds a role that opens the console (grid workers review from /review)."""
    return holds_role(actor, CONSOLE)


def navigation(actor) -> list:
    """The link of "Me" to the console, for organisers, administrators and clerks."""
    return [(url_for("admin.home"), _("Console"))] if is_console_user(actor) else []


@bp.context_processor
def inject_console_sections():
    """Give the console's menu to its templates."""
    return {"console_sections": sections_for}


@bp.get("/")
@login_required
def home():
    """List the console's sections this member may open."""
    actor = current_member()
    sections = sections_for(actor)
    if not is_console_user(actor) or not sections:
        raise AppError(403)
    return render_template("admin/home.html", sections=sections)
