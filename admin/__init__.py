"""The organisers' console: pages over the points and rewards services; owns no tables."""

from __future__ import annotations

import importlib

from flask import Blueprint

#: The console's page modules: each adds its routes to ``admin.views.bp``, the console's blueprint.
PAGE_MODULES: tuple[str, ...] = (
    "admin.dashboard",
    "admin.review",
    "admin.activities",
    "admin.events",
    "admin.members",
    "admin.org_units",
    "admin.catalogue",
    "admin.rewards",
    "admin.audit",
    "admin.member_import",
    "admin.reports",
    "admin.cards",
    "admin.wishes",
    "admin.patrols",
    "admin.notices",
    "admin.fairness",
    "admin.budgets",
    "admin.settlements",
)


def console_blueprint() -> Blueprint:
    """The console's blueprint with the pages of every module in ``PAGE_MODULES`` on it."""
    from admin.views import bp

    for module in PAGE_MODULES:
        importlib.import_module(module)
    return bp
