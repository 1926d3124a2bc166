"""Hooks other packages fill: ``GET /me`` details (points adds balances, level, stars, badges),
the links of a signed-in member's "Me" page (and the resident's shortcuts), and who hears of
changes to members and org units.

Identity knows no package above it: the identity services call ``members_changed`` when a
member's status, hidden flag, grid or staff roles change, and ``units_moved`` when an org unit
moves in the tree, in the transaction that makes the change; app.py registers the functions
that follow them (the leaderboards' eligibility and scopes).
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, current_app

from core.identity.models import Member

MeExtension = Callable[[Member], dict]


def register_me_extension(app: Flask, extension: MeExtension) -> None:
    """Add a function whose answer is merged into ``GET /me``."""
    app.extensions.setdefault("me_extensions", []).append(extension)


NavProvider = Callable[[Member], list]


def register_nav_links(app: Flask, provider: NavProvider) -> None:
    """Add a function answering ``[(url, label), ...]`` for the "Me" page of a signed-in member."""
    app.extensions.setdefault("nav_providers", []).append(provider)


def nav_links(member: Member | None) -> list:
    """Collect the links every package offers this member."""
    if member is None:
        return []
    return [link for provider in current_app.extensions.get("nav_providers", []) for link in provider(member)]


def me_details(member: Member) -> dict:
    """Collect what every registered package adds to ``GET /me``."""
    details: dict = {}
    for extension in current_app.extensions.get("me_extensions", []):
        details.update(extension(member))
    return details


MembersChanged = Callable[[list[int]], None]
UnitsMoved = Callable[[list[int]], None]


def register_member_changes(app: Flask, subscriber: MembersChanged) -> None:
    """Have ``subscriber`` called with the ids of members whose status, hidden flag, grid or staff roles changed."""
    app.extensions.setdefault("member_change_subscribers", []).append(subscriber)


def register_unit_moves(app: Flask, subscriber: UnitsMoved) -> None:
    """Have ``subscriber`` called with the ids of org units that moved under another parent."""
    app.extensions.setdefault("unit_move_subscribers", []).append(subscriber)


def members_changed(member_ids: list[int]) -> None:
    """Tell the subscribers, inside the caller's transaction, that these members changed."""
    for subscriber in current_app.extensions.get("member_change_subscribers", []):
        subscriber(member_ids)


def units_moved(unit_ids: list[int]) -> None:
    """Tell the subscribers, inside the caller's transaction, that these org units moved."""
    for subscriber in current_app.extensions.get("unit_move_subscribers", []):
        subscriber(unit_ids)
