"""The bottom tab bar and the home page of each role, filled by the packages.

Every signed-in member gets a tab bar of at most five items, as Chinese mini-programs do,
chosen by their role (``role_of``): residents (grid workers too), clerks, and organisers
(administrators too). The packages register their tabs and the home page of the roles they
serve (``app.py`` wires them); ``core`` adds "Me". A tab is lit on its own page and on the
pages under the paths it claims; the longest match wins.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, current_app, request, url_for

RESIDENT, CLERK, ORGANISER = "resident", "clerk", "organiser"
ROLES = (RESIDENT, CLERK, ORGANISER)
MAX_TABS = 5


@dataclass(frozen=True)
class Tab:
    """One item of the tab bar: where it goes, what it says, its icon, and the paths it lights on."""

    order: int
    endpoint: str
    label: object  # a lazy string: translated when the bar is drawn
    icon: str
    paths: tuple[str, ...] = ()


def role_of(member) -> str:
    """The role whose tab bar and home page a member gets: organiser > clerk > resident."""
    roles = {grant.role for grant in member.grants}
    if roles & {"organiser", "admin"}:
        return ORGANISER
    if "clerk" in roles:
        return CLERK
    return RESIDENT


def register_tabs(app: Flask, tabs: dict[str, list[Tab]]) -> None:
    """Add tabs per role (``{"resident": [Tab(...)], ...}``)."""
    registry = app.extensions.setdefault("tabs", {role: [] for role in ROLES})
    for role, added in tabs.items():
        registry[role] = sorted([*registry[role], *added], key=lambda tab: tab.order)
        if len(registry[role]) > MAX_TABS:
            raise ValueError(
                f"at most {MAX_TABS} tabs for {role}: {[tab.endpoint for tab in registry[role]]}"
            )


def register_home(app: Flask, role: str, view: Callable) -> None:
    """Name the function that answers ``/`` for a role's members."""
    app.extensions.setdefault("homes", {})[role] = view


def home_for(member):
    """Answer ``/`` for a signed-in member: their role's home page (the resident's by default)."""
    homes = current_app.extensions.get("homes", {})
    return (homes.get(role_of(member)) or homes[RESIDENT])()


def _match(tab_url: str, tab: Tab, path: str) -> int:
    """How long a match the tab has on ``path`` (0: none); ``/`` matches only itself."""
    if path == tab_url:
        return len(path) + 1
    claims = [prefix for prefix in (tab_url, *tab.paths) if prefix != "/" and path.startswith(prefix)]
    return max(map(len, claims), default=0)


def tabs_for(member) -> list[dict]:
    """The member's tab bar: url, label, icon and whether it is the current page's."""
    if member is None:
        return []
    tabs = current_app.extensions.get("tabs", {}).get(role_of(member), [])
    items = [{"url": url_for(tab.endpoint), "label": tab.label, "icon": tab.icon} for tab in tabs]
    scores = [_match(item["url"], tab, request.path) for item, tab in zip(items, tabs, strict=True)]
    best = max(scores, default=0)
    for item, score in zip(items, scores, strict=True):
        item["current"] = bool(best) and score == best
    return items
