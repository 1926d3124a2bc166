"""Hooks other packages fill: ``GET /me`` details (points adds balances, level, stars, badges)
and the links of a signed-in member's "Me" page (and the resident's shortcuts)."""

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


class MeProfile:
    """The member as ``GET /me`` shows them: their own fields plus what the hooks add."""

    def __init__(self, member: Member):
        self._member = member
        self._details = me_details(member)

    def __getattr__(self, name: str):
        if name in self._details:
            return self._details[name]
        return getattr(self._member, name)
