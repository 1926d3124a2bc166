"""Hooks other packages fill: ``GET /me`` details (points adds balances, level, stars, badges)."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, current_app

from core.identity.models import Member

MeExtension = Callable[[Member], dict]


def register_me_extension(app: Flask, extension: MeExtension) -> None:
    """Add a function whose answer is merged into ``GET /me``."""
    app.extensions.setdefault("me_extensions", []).append(extension)


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
