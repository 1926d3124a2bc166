"""docs/domain.md's "who may do what" over every operation of /api/v1: each role, inside and outside its scope.

The actors are the world's resident, grid worker, organiser and admin of town A, the
global admin and the clerk of shop A. "inside" objects lie in town A or at shop A,
"outside" ones in town B or at shop B. Each row of ``TABLE`` names one operation of the
OpenAPI document, who may call it where, and how to make a valid call on real objects
(``tests/support/scene.py``). A refused call answers its exact status and code and writes
nothing; every call signed out answers 401, except signing in and activating.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest

from core.clock import last_month
from core.database import utcnow
from tests.factories import PASSWORD, next_phone
from tests.support.scene import BUDGET_YEAR, Scene, build_scene, picture, snapshot

ROLES = ("resident", "grid_worker", "organiser", "admin", "global_admin", "clerk")
SCOPES = ("inside", "outside")
GRID = frozenset({"grid_worker", "organiser", "admin"})
ORGANISERS = frozenset({"organiser", "admin"})
ADMINS = frozenset({"admin"})
COUNTER = frozenset({"clerk", "admin"})
FORBIDDEN = (403, "forbidden")
WRONG_SUPERMARKET = (403, "wrong_supermarket")
SELF_REVIEW = (403, "self_review")
NOBODY = frozenset()
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

Refusal = tuple[int, str] | None
Rule = Callable[[str, str], Refusal]


# --- who may: a rule answers None (allowed) or the refusal a role meets on a side --------------


def everyone(_role: str, _scope: str) -> Refusal:
    """Every signed-in member, on either side (their own things, or what all may read)."""
    return None


def in_scope(roles: frozenset[str]) -> Rule:
    """The roles inside their scope, and the global admin everywhere."""

    def rule(role: str, scope: str) -> Refusal:
        return None if role == "global_admin" or (role in roles and scope == "inside") else FORBIDDEN

    return rule


def holding(roles: frozenset[str]) -> Rule:
    """Whoever holds one of the roles anywhere (lists filtered to their scope; the global catalogue)."""

    def rule(role: str, _scope: str) -> Refusal:
        return None if role == "global_admin" or role in roles else FORBIDDEN

    return rule


def at_counter(role: str, scope: str) -> Refusal:
    """Clerks and admins at their own supermarket; at another one they hear ``wrong_supermarket``."""
    if role == "global_admin" or (role in COUNTER and scope == "inside"):
        return None
    return WRONG_SUPERMARKET if role in COUNTER else FORBIDDEN


def owner_only(_role: str, _scope: str) -> Refusal:
    """Only the object's owner, who is none of the roles (a voucher's code spends its points)."""
    return FORBIDDEN


def own_claim(role: str, _scope: str) -> Refusal:
    """Nobody reviews their own claim: ``self_review`` for whoever could review it were it another's.

    The world's organiser and town admin belong to no grid, so their own claims lie outside
    every scope but the global admin's: for them it is plain ``forbidden``.
    """
    return SELF_REVIEW if role in ("grid_worker", "global_admin") else FORBIDDEN


def county_or_scope(role: str, scope: str) -> Refusal:
    """An open wish: members of its county (every member of the world with a grid) and staff who vet
    where it lies; the clerk, with no grid and no such scope, nowhere."""
    if role in ("resident", "grid_worker", "global_admin") or (role in GRID and scope == "inside"):
        return None
    return FORBIDDEN


def reads_notice(role: str, scope: str) -> Refusal:
    """A notice: members living in its area (the world's resident and grid worker live in town A's
    grid A) and grid staff in scope."""
    if role == "global_admin" or (
        scope == "inside" and role in ("resident", "grid_worker", "organiser", "admin")
    ):
        return None
    return FORBIDDEN


def with_a_grid(role: str, _scope: str) -> Refusal:
    """A wish is posted from one's own grid: staff accounts with none are told so."""
    return None if role in ("resident", "grid_worker") else (422, "validation_error")


def lives_there(role: str, scope: str) -> Refusal:
    """Objecting: only members living in the notice's area (staff of no grid may not)."""
    return None if scope == "inside" and role in ("resident", "grid_worker") else FORBIDDEN


# --- the table ---------------------------------------------------------------------------------


@dataclass
class Call:
    """One request: its URL (under /api/v1), its JSON or multipart body, and headers when not the actor's own."""

    url: str
    json: dict | None = None
    files: dict | None = None
    headers: dict | None = None  # in place of the actor's standing token
    listed: int | None = None  # an id that the answer's items hold exactly when visible


@dataclass
class Row:
    """One operation (or one way of calling it): who may, and how to make a valid call."""

    method: str
    path: str
    rule: Rule
    call: Callable[[Scene, str, str], Call]
    success: int = 200
    variant: str = ""
    scopeless: bool = False  # the object is the caller's own or common to all: one call per role
    public: bool = False  # needs nobody signed in
    sees: Rule | None = None  # for lists: who sees the side's object
    group: str = ""  # rows of a group share one world; default: the path's first segment

    @property
    def operation(self) -> tuple[str, str]:
        """The (method, path) of the OpenAPI document this row calls."""
        return self.method, self.path

    @property
    def name(self) -> str:
        """The operation, and the way of calling it when there are several."""
        return f"{self.method} {self.path}" + (f" ({self.variant})" if self.variant else "")

    @property
    def group_name(self) -> str:
        """The group whose rows share one world."""
        return self.group or self.path.split("/")[1]


def _own(s: Scene, role: str) -> int:
    return s.world.people[role]


def _new_voucher_of_owner(s: Scene, _role: str, scope: str) -> int:
    return s.fresh_voucher(s.owner(scope), scope)


TABLE = [
    # --- identity --------------------------------------------------------------------------
    Row(
        "POST",
        "/auth/tokens",
        everyone,
        lambda s, role, _: Call("/auth/tokens", {"phone": s.world.phones[role], "password": PASSWORD}),
        201,
        public=True,
        scopeless=True,
    ),
    Row(
        "POST",
        "/auth/activate",
        everyone,
        lambda s, _role, scope: Call(
            "/auth/activate",
            dict(zip(("phone", "code"), s.fresh_activation(scope)), password="my-first-password"),
        ),
        201,
        public=True,
        scopeless=True,
    ),
    Row(
        "DELETE",
        "/auth/tokens/current",
        everyone,
        lambda s, role, _: Call("/auth/tokens/current", headers=s.fresh_token(role)),
        204,
        scopeless=True,
    ),
    Row("GET", "/me", everyone, lambda s, _r, _s: Call("/me"), scopeless=True),
    Row("PATCH", "/me", everyone, lambda s, _r, _s: Call("/me", {"anonymous": True}), scopeless=True),
    Row(
        "POST",
        "/me/password",
        everyone,
        lambda s, role, _: Call(
            "/me/password",
            {"current_password": PASSWORD, "new_password": "another-password"},
            headers=s.fresh_token(role, reset_password=True),
        ),
        204,
        scopeless=True,
        group="own password",
    ),
    Row(
        "GET",
        "/org-units",
        everyone,
        lambda s, _r, scope: Call(f"/org-units?parent_id={s.unit(scope, 'town_a', 'town_b')}"),
    ),
    Row(
        "POST",
        "/org-units",
        in_scope(ADMINS),
        lambda s, _r, scope: Call(
            "/org-units",
            {
                "name": f"新网格{next_phone()}",
                "kind": "grid",
                "parent_id": s.unit(scope, "community_a", "community_b"),
            },
        ),
        201,
    ),
    Row(
        "POST",
        "/org-units",
        in_scope(NOBODY),
        lambda s, _r, _s: Call(
            "/org-units", {"name": f"新县{next_phone()}", "kind": "county", "parent_id": None}
        ),
        201,
        variant="a root",
        scopeless=True,
    ),
    Row(
        "GET",
        "/org-units/{unit_id}",
        everyone,
        lambda s, _r, scope: Call(f"/org-units/{s.unit(scope, 'community_a', 'community_b')}"),
    ),
    Row(
        "PATCH",
        "/org-units/{unit_id}",
        in_scope(ADMINS),
        lambda s, _r, scope: Call(
            f"/org-units/{s.unit(scope, 'community_a', 'community_b')}", {"name": f"改名{next_phone()}"}
        ),
    ),
    Row(
        "GET",
        "/members",
        holding(GRID),
        lambda s, _r, scope: Call("/members?page_size=100", listed=s.owner(scope)),
        sees=in_scope(GRID),
    ),
    Row(
        "POST",
        "/members",
        in_scope(ORGANISERS),
        lambda s, _r, scope: Call(
            "/members",
            {
                "name": "新居民",
                "phone": next_phone(),
                "password": "a-good-password",
                "org_unit_id": s.unit(scope, "grid_a", "grid_b"),
            },
        ),
        201,
    ),
    Row(
        "GET", "/members/{member_id}", in_scope(GRID), lambda s, _r, scope: Call(f"/members/{s.owner(scope)}")
    ),
    Row(
        "GET",
        "/members/{member_id}",
        everyone,
        lambda s, role, _: Call(f"/members/{_own(s, role)}"),
        variant="oneself",
        scopeless=True,
    ),
    Row(
        "PATCH",
        "/members/{member_id}",
        in_scope(ORGANISERS),
        lambda s, _r, scope: Call(f"/members/{s.owner(scope)}", {"name": "新名字"}),
        variant="rename",
    ),
    Row(
        "PATCH",
        "/members/{member_id}",
        in_scope(ORGANISERS),
        lambda s, _r, scope: Call(
            f"/members/{s.fresh_member(scope)}", {"org_unit_id": s.unit(scope, "grid_a2", "grid_b")}
        ),
        variant="move",
    ),
    Row(
        "PATCH",
        "/members/{member_id}",
        in_scope(ORGANISERS),
        lambda s, _r, scope: Call(f"/members/{s.fresh_member(scope)}", {"status": "suspended"}),
        variant="suspend",
    ),
    Row(
        "PATCH",
        "/members/{member_id}",
        in_scope(ADMINS),
        lambda s, _r, scope: Call(f"/members/{s.owner(scope)}", {"hidden": True}),
        variant="hide",
    ),
    Row(
        "PATCH",
        "/members/{member_id}",
        in_scope(ORGANISERS),
        lambda s, _r, scope: Call(f"/members/{s.fresh_member(scope)}", {"phone": next_phone()}),
        variant="new phone",
    ),
    Row(
        "POST",
        "/members/{member_id}/password",
        in_scope(ORGANISERS),
        lambda s, _r, scope: Call(
            f"/members/{s.fresh_member(scope)}/password", {"password": "another-password"}
        ),
        204,
    ),
    Row(
        "POST",
        "/members/{member_id}/unlock",
        in_scope(ORGANISERS),
        lambda s, _r, scope: Call(f"/members/{s.fresh_member(scope)}/unlock"),
        204,
    ),
    # --- the target rule: the actor's grants must reach above every grant the member holds ------
    # (the world's town staff are below a county admin grant: only the global admin is above it;
    # a clerk answers to the admins whose scope covers the supermarket)
    Row(
        "PATCH",
        "/members/{member_id}",
        in_scope(NOBODY),
        lambda s, _r, scope: Call(f"/members/{s.fresh_member_above(scope)}", {"name": "新名字"}),
        variant="rename, target holds a higher grant",
    ),
    Row(
        "PATCH",
        "/members/{member_id}",
        in_scope(NOBODY),
        lambda s, _r, scope: Call(f"/members/{s.fresh_member_above(scope)}", {"phone": next_phone()}),
        variant="new phone, target holds a higher grant",
    ),
    Row(
        "PATCH",
        "/members/{member_id}",
        in_scope(NOBODY),
        lambda s, _r, scope: Call(
            f"/members/{s.fresh_member_above(scope)}", {"org_unit_id": s.unit(scope, "grid_a2", "grid_b")}
        ),
        variant="move, target holds a higher grant",
    ),
    Row(
        "PATCH",
        "/members/{member_id}",
        in_scope(NOBODY),
        lambda s, _r, scope: Call(f"/members/{s.fresh_member_above(scope)}", {"status": "suspended"}),
        variant="suspend, target holds a higher grant",
    ),
    Row(
        "PATCH",
        "/members/{member_id}",
        in_scope(NOBODY),
        lambda s, _r, scope: Call(f"/members/{s.fresh_member_above(scope)}", {"hidden": True}),
        variant="hide, target holds a higher grant",
    ),
    Row(
        "POST",
        "/members/{member_id}/password",
        in_scope(NOBODY),
        lambda s, _r, scope: Call(
            f"/members/{s.fresh_member_above(scope)}/password", {"password": "another-password"}
        ),
        204,
        variant="target holds a higher grant",
    ),
    Row(
        "POST",
        "/members/{member_id}/password",
        in_scope(ADMINS),
        lambda s, _r, scope: Call(
            f"/members/{s.fresh_clerk(scope)}/password", {"password": "another-password"}
        ),
        204,
        variant="target is a clerk",
    ),
    Row(
        "PATCH",
        "/members/{member_id}",
        in_scope(ADMINS),
        lambda s, _r, scope: Call(f"/members/{s.fresh_clerk(scope)}", {"status": "suspended"}),
        variant="suspend, target is a clerk",
    ),
    Row(
        "POST",
        "/members/{member_id}/unlock",
        in_scope(NOBODY),
        lambda s, _r, scope: Call(f"/members/{s.fresh_member_above(scope)}/unlock"),
        204,
        variant="target holds a higher grant",
    ),
    Row(
        "GET",
        "/members/{member_id}/roles",
        in_scope(GRID),
        lambda s, _r, scope: Call(f"/members/{s.owner(scope)}/roles"),
    ),
    Row(
        "POST",
        "/members/{member_id}/roles",
        in_scope(ADMINS),
        lambda s, _r, scope: Call(
            f"/members/{s.fresh_member(scope)}/roles",
            {"role": "grid_worker", "org_unit_id": s.unit(scope, "grid_a", "grid_b")},
        ),
        201,
        variant="on an org unit",
    ),
    Row(
        "POST",
        "/members/{member_id}/roles",
        in_scope(ADMINS),
        lambda s, _r, scope: Call(
            f"/members/{s.fresh_member(scope)}/roles", {"role": "clerk", "supermarket_id": s.shop(scope)}
        ),
        201,
        variant="clerk",
    ),
    Row(
        "POST",
        "/members/{member_id}/roles",
        in_scope(NOBODY),
        lambda s, _r, scope: Call(
            f"/members/{s.fresh_member(scope)}/roles",
            {"role": "admin", "org_unit_id": s.world.units["county"]},
        ),
        201,
        variant="admin of the whole county",
    ),
    Row(
        "DELETE",
        "/members/{member_id}/roles/{grant_id}",
        in_scope(ADMINS),
        lambda s, _r, scope: Call("/members/{}/roles/{}".format(*s.fresh_grant(scope))),
        204,
    ),
    Row(
        "DELETE",
        "/members/{member_id}/roles/{grant_id}",
        in_scope(NOBODY),
        lambda s, _r, _s: Call("/members/{}/roles/{}".format(*s.fresh_global_grant())),
        204,
        variant="a global admin's",
        scopeless=True,
    ),
    Row("GET", "/supermarkets", everyone, lambda s, _r, _s: Call("/supermarkets"), scopeless=True),
    Row(
        "POST",
        "/supermarkets",
        in_scope(ADMINS),
        lambda s, _r, scope: Call(
            "/supermarkets",
            {"name": "新超市", "address": "新街 1 号", "org_unit_id": s.unit(scope, "town_a", "town_b")},
        ),
        201,
    ),
    Row(
        "GET",
        "/supermarkets/{supermarket_id}",
        everyone,
        lambda s, _r, scope: Call(f"/supermarkets/{s.shop(scope)}"),
    ),
    # --- points: activities, contributions, ledgers --------------------------------------------
    Row("GET", "/activities", everyone, lambda s, _r, _s: Call("/activities"), scopeless=True),
    Row(
        "POST",
        "/activities",
        in_scope(ORGANISERS),
        lambda s, _r, scope: Call(
            "/activities",
            {
                "code": f"act_{next_phone()}",
                "name": "防诈宣传",
                "category": "publicity",
                "points": 5,
                "unit": "each",
                "daily_cap": None,
                "needs_review": True,
                "org_unit_id": s.unit(scope, "town_a", "town_b"),
            },
        ),
        201,
    ),
    Row("GET", "/activities/{code}", everyone, lambda s, _r, scope: Call(f"/activities/{s.codes[scope]}")),
    Row(
        "PATCH",
        "/activities/{code}",
        in_scope(ORGANISERS),
        lambda s, _r, scope: Call(f"/activities/{s.codes[scope]}", {"name": "消防演练"}),
    ),
    Row(
        "GET",
        "/contributions",
        everyone,
        lambda s, _r, scope: Call("/contributions?page_size=100", listed=s.ids[scope]["claim"]),
        sees=in_scope(GRID),
    ),
    Row(
        "POST",
        "/contributions",
        in_scope(GRID),
        lambda s, _r, scope: Call(
            "/contributions",
            {
                "member_id": s.owner(scope),
                "activity_code": "patrol",
                "quantity": 1,
                "occurred_at": (utcnow() - timedelta(hours=1)).isoformat(),
            },
        ),
        201,
        variant="record for someone",
    ),
    Row(
        "POST",
        "/contributions",
        everyone,
        lambda s, role, _: Call(
            "/contributions",
            {
                "member_id": _own(s, role),
                "activity_code": "patrol",
                "quantity": 1,
                "occurred_at": (utcnow() - timedelta(hours=1)).isoformat(),
            },
        ),
        201,
        variant="claim",
        scopeless=True,
    ),
    Row(
        "GET",
        "/contributions/{contribution_id}",
        in_scope(GRID),
        lambda s, _r, scope: Call(f"/contributions/{s.ids[scope]['claim']}"),
    ),
    Row(
        "POST",
        "/contributions/{contribution_id}/approve",
        in_scope(GRID),
        lambda s, _r, scope: Call(f"/contributions/{s.fresh_claim(s.owner(scope))}/approve"),
    ),
    Row(
        "POST",
        "/contributions/{contribution_id}/approve",
        own_claim,
        lambda s, role, _: Call(f"/contributions/{s.fresh_claim(_own(s, role))}/approve"),
        variant="one's own claim",
        scopeless=True,
    ),
    Row(
        "POST",
        "/contributions/{contribution_id}/reject",
        in_scope(GRID),
        lambda s, _r, scope: Call(
            f"/contributions/{s.fresh_claim(s.owner(scope))}/reject", {"reason": "照片看不清"}
        ),
    ),
    Row(
        "POST",
        "/contributions/{contribution_id}/reverse",
        in_scope(ORGANISERS),
        lambda s, _r, scope: Call(
            f"/contributions/{s.fresh_award(s.owner(scope))}/reverse", {"reason": "记错了人"}
        ),
    ),
    Row(
        "POST",
        "/contributions/{contribution_id}/reverse",
        in_scope(ADMINS),
        lambda s, _r, scope: Call(
            f"/contributions/{s.fresh_award(s.owner(scope))}/reverse", {"reason": "记错了人", "force": True}
        ),
        variant="forced",
    ),
    Row(
        "GET",
        "/members/{member_id}/ledger",
        in_scope(GRID),
        lambda s, _r, scope: Call(f"/members/{s.owner(scope)}/ledger"),
    ),
    Row(
        "GET",
        "/members/{member_id}/ledger",
        everyone,
        lambda s, role, _: Call(f"/members/{_own(s, role)}/ledger"),
        variant="one's own",
        scopeless=True,
    ),
    # --- points: events, check-ins, photos, the daily check-in -----------------------------------
    Row(
        "GET",
        "/events",
        holding(ORGANISERS),
        lambda s, _r, scope: Call("/events?page_size=100", listed=s.ids[scope]["event"]),
        sees=in_scope(ORGANISERS),
    ),
    Row(
        "POST",
        "/events",
        in_scope(ORGANISERS),
        lambda s, _r, scope: Call(
            "/events",
            {
                "title": "防汛宣传日",
                "activity_code": "patrol",
                "org_unit_id": s.unit(scope, "town_a", "town_b"),
                "starts_at": utcnow().isoformat(),
                "ends_at": (utcnow() + timedelta(hours=3)).isoformat(),
            },
        ),
        201,
    ),
    Row(
        "GET",
        "/events/{event_id}",
        in_scope(ORGANISERS),
        lambda s, _r, scope: Call(f"/events/{s.ids[scope]['event']}"),
    ),
    Row(
        "GET",
        "/events/{event_id}/qr.svg",
        in_scope(ORGANISERS),
        lambda s, _r, scope: Call(f"/events/{s.ids[scope]['event']}/qr.svg"),
    ),
    Row(
        "GET",
        "/events/{event_id}/poster.png",
        in_scope(ORGANISERS),
        lambda s, _r, scope: Call(f"/events/{s.ids[scope]['event']}/poster.png"),
    ),
    Row(
        "POST",
        "/events/{event_id}/close",
        in_scope(ORGANISERS),
        lambda s, _r, scope: Call(f"/events/{s.fresh_event(scope)}/close"),
    ),
    Row(
        "POST",
        "/checkins",
        everyone,
        lambda s, _r, scope: Call("/checkins", {"payload": s.event_code(s.ids[scope]["event"])}),
        201,
    ),
    Row(
        "POST",
        "/checkins/{checkin_id}/checkout",
        in_scope(ORGANISERS),
        lambda s, _r, scope: Call(f"/checkins/{s.fresh_checkin(s.owner(scope), scope)}/checkout"),
        variant="someone's",
    ),
    Row(
        "POST",
        "/checkins/{checkin_id}/checkout",
        everyone,
        lambda s, role, scope: Call(f"/checkins/{s.fresh_checkin(_own(s, role), scope)}/checkout"),
        variant="one's own",
    ),
    Row(
        "POST",
        "/photos",
        everyone,
        lambda s, _r, _s: Call("/photos", files={"photo": (picture("JPEG"), "evidence.jpg")}),
        201,
        scopeless=True,
    ),
    Row(
        "GET",
        "/photos/{photo_id}",
        in_scope(GRID),
        lambda s, _r, scope: Call(f"/photos/{s.ids[scope]['photo']}"),
    ),
    Row("POST", "/me/checkins", everyone, lambda s, _r, _s: Call("/me/checkins"), 201, scopeless=True),
    Row(
        "GET",
        "/leaderboards/members",
        everyone,
        lambda s, _r, scope: Call(f"/leaderboards/members?org_unit_id={s.unit(scope, 'town_a', 'town_b')}"),
    ),
    Row(
        "GET",
        "/leaderboards/org-units",
        everyone,
        lambda s, _r, scope: Call(f"/leaderboards/org-units?parent_id={s.unit(scope, 'town_a', 'town_b')}"),
    ),
    Row(
        "GET",
        "/leaderboards/honour-roll",
        everyone,
        lambda s, _r, scope: Call(
            f"/leaderboards/honour-roll?org_unit_id={s.unit(scope, 'town_a', 'town_b')}"
            f"&month={(utcnow().replace(day=1) - timedelta(days=1)).strftime('%Y-%m')}"
        ),
    ),
    # --- points: micro-wishes and patrols ---------------------------------------------------------
    Row(
        "GET",
        "/wishes",
        everyone,
        lambda s, _r, scope: Call("/wishes?page_size=100", listed=s.ids[scope]["wish"]),
        sees=county_or_scope,
    ),
    Row(
        "POST",
        "/wishes",
        with_a_grid,
        lambda s, _r, _s: Call("/wishes", {"title": "帮忙修灯", "description": "楼道灯坏了"}),
        201,
        scopeless=True,
    ),
    Row(
        "GET",
        "/wishes/{wish_id}",
        county_or_scope,
        lambda s, _r, scope: Call(f"/wishes/{s.ids[scope]['wish']}"),
    ),
    Row(
        "POST",
        "/wishes/{wish_id}/vet",
        in_scope(GRID),
        lambda s, _r, scope: Call(f"/wishes/{s.fresh_wish(scope, 'submitted')}/vet", {"decision": "accept"}),
    ),
    Row(
        "POST",
        "/wishes/{wish_id}/publish",
        in_scope(ORGANISERS),
        lambda s, _r, scope: Call(
            f"/wishes/{s.fresh_wish(scope, 'vetted')}/publish",
            {"points": 30, "due_at": (utcnow() + timedelta(days=3)).isoformat()},
        ),
    ),
    Row(
        "POST",
        "/wishes/{wish_id}/take",
        county_or_scope,
        lambda s, _r, scope: Call(f"/wishes/{s.fresh_wish(scope)}/take"),
    ),
    Row(
        "POST",
        "/wishes/{wish_id}/release",
        owner_only,
        lambda s, _r, scope: Call(f"/wishes/{s.fresh_wish(scope, 'taken')}/release"),
        variant="taken by someone else",
    ),
    Row(
        "POST",
        "/wishes/{wish_id}/done",
        owner_only,
        lambda s, _r, scope: Call(f"/wishes/{s.fresh_wish(scope, 'taken')}/done", {"note": "修好了"}),
        variant="taken by someone else",
    ),
    Row(
        "POST",
        "/wishes/{wish_id}/confirm",
        in_scope(ORGANISERS),
        lambda s, _r, scope: Call(
            f"/wishes/{s.fresh_wish(scope, 'done', done_days_ago=4)}/confirm", {"rating": 5}
        ),
        variant="done 4 days ago, the requester silent",
    ),
    Row(
        "POST",
        "/wishes/{wish_id}/cancel",
        in_scope(ORGANISERS),
        lambda s, _r, scope: Call(f"/wishes/{s.fresh_wish(scope)}/cancel", {"reason": "已由家人解决"}),
        variant="someone's",
    ),
    Row(
        "GET",
        "/patrol-routes",
        holding(ORGANISERS),
        lambda s, _r, scope: Call("/patrol-routes?page_size=100", listed=s.ids[scope]["route"]),
        sees=in_scope(ORGANISERS),
    ),
    Row(
        "POST",
        "/patrol-routes",
        in_scope(ORGANISERS),
        lambda s, _r, scope: Call(
            "/patrol-routes",
            {
                "name": "夜巡西线",
                "org_unit_id": s.unit(scope, "town_a", "town_b"),
                "activity_code": "patrol",
                "checkpoints": [{"name": "桥头"}, {"name": "祠堂"}],
                "window_start": "22:00",
                "window_end": "02:00",
                "min_minutes_between": 5,
            },
        ),
        201,
    ),
    Row(
        "GET",
        "/patrol-routes/{route_id}",
        in_scope(ORGANISERS),
        lambda s, _r, scope: Call(f"/patrol-routes/{s.ids[scope]['route']}"),
    ),
    Row(
        "GET",
        "/patrol-routes/{route_id}/posters.pdf",
        in_scope(ORGANISERS),
        lambda s, _r, scope: Call(f"/patrol-routes/{s.ids[scope]['route']}/posters.pdf"),
    ),
    Row(
        "GET",
        "/patrol-routes/{route_id}/rounds",
        in_scope(ORGANISERS),
        lambda s, _r, scope: Call(f"/patrol-routes/{s.ids[scope]['route']}/rounds"),
    ),
    Row(
        "POST",
        "/patrols/scans",
        everyone,
        lambda s, _r, scope: Call("/patrols/scans", {"payload": s.checkpoint_code(s.ids[scope]["route"])}),
        201,
    ),
    Row(
        "GET",
        "/org-units/{unit_id}/budgets/{year}",
        in_scope(ORGANISERS),
        lambda s, _r, scope: Call(f"/org-units/{s.unit(scope, 'town_a', 'town_b')}/budgets/{BUDGET_YEAR}"),
    ),
    Row(
        "PUT",
        "/org-units/{unit_id}/budgets/{year}",
        in_scope(ADMINS),
        lambda s, _r, scope: Call(
            f"/org-units/{s.unit(scope, 'town_a', 'town_b')}/budgets/{BUDGET_YEAR}", {"points": 9_000_000}
        ),
    ),
    # --- rewards: one global catalogue, stock per supermarket, vouchers -------------------------
    Row("GET", "/rewards", everyone, lambda s, _r, _s: Call("/rewards"), scopeless=True),
    Row(
        "POST",
        "/rewards",
        holding(ADMINS),
        lambda s, _r, _s: Call("/rewards", {"name": "大米", "points_cost": 50, "per_member_limit": 2}),
        201,
        scopeless=True,
    ),
    Row(
        "GET",
        "/rewards/{reward_id}",
        everyone,
        lambda s, _r, _s: Call(f"/rewards/{s.reward_id}"),
        scopeless=True,
    ),
    Row(
        "PATCH",
        "/rewards/{reward_id}",
        holding(ADMINS),
        lambda s, _r, _s: Call(f"/rewards/{s.reward_id}", {"name": f"香皂{next_phone()}"}),
        scopeless=True,
    ),
    Row(
        "GET",
        "/rewards/{reward_id}/image",
        everyone,
        lambda s, _r, _s: Call(f"/rewards/{s.reward_id}/image"),
        scopeless=True,
    ),
    Row(
        "PUT",
        "/rewards/{reward_id}/image",
        holding(ADMINS),
        lambda s, _r, _s: Call(
            f"/rewards/{s.reward_id}/image", files={"image": (picture("PNG", (80, 60)), "soap.png")}
        ),
        scopeless=True,
    ),
    Row(
        "DELETE",
        "/rewards/{reward_id}/image",
        holding(ADMINS),
        lambda s, _r, _s: (s.ensure_picture(), Call(f"/rewards/{s.reward_id}/image"))[1],
        204,
        scopeless=True,
    ),
    Row(
        "GET",
        "/supermarkets/{supermarket_id}/catalogue",
        everyone,
        lambda s, _r, scope: Call(f"/supermarkets/{s.shop(scope)}/catalogue"),
    ),
    Row(
        "GET",
        "/supermarkets/{supermarket_id}/stock",
        in_scope(COUNTER),
        lambda s, _r, scope: Call(f"/supermarkets/{s.shop(scope)}/stock"),
    ),
    Row(
        "PUT",
        "/supermarkets/{supermarket_id}/stock/{reward_id}",
        in_scope(COUNTER),
        lambda s, _r, scope: Call(
            f"/supermarkets/{s.shop(scope)}/stock/{s.reward_id}", {"quantity": 450, "reason": "月底盘点"}
        ),
    ),
    Row(
        "POST",
        "/supermarkets/{supermarket_id}/stock/{reward_id}/receipts",
        in_scope(COUNTER),
        lambda s, _r, scope: Call(
            f"/supermarkets/{s.shop(scope)}/stock/{s.reward_id}/receipts", {"quantity": 5}
        ),
        201,
    ),
    Row(
        "GET",
        "/supermarkets/{supermarket_id}/settlements/{month}",
        in_scope(COUNTER),
        lambda s, _r, scope: Call(f"/supermarkets/{s.shop(scope)}/settlements/{s.fresh_month()}"),
    ),
    Row(
        "POST",
        "/supermarkets/{supermarket_id}/settlements/{month}/confirm",
        in_scope(ADMINS),
        lambda s, _r, scope: Call(f"/supermarkets/{s.shop(scope)}/settlements/{s.fresh_month()}/confirm"),
    ),
    Row("GET", "/vouchers", everyone, lambda s, _r, _s: Call("/vouchers"), scopeless=True),
    Row(
        "POST",
        "/vouchers",
        everyone,
        lambda s, _r, scope: Call(
            "/vouchers",
            {"supermarket_id": s.shop(scope), "items": [{"reward_id": s.reward_id, "quantity": 1}]},
        ),
        201,
    ),
    Row(
        "POST",
        "/vouchers/scan",
        at_counter,
        lambda s, _r, scope: Call("/vouchers/scan", {"payload": s.voucher_code(s.ids[scope]["voucher"])}),
    ),
    Row(
        "GET",
        "/vouchers/{voucher_id}",
        at_counter,
        lambda s, _r, scope: Call(f"/vouchers/{s.ids[scope]['voucher']}"),
        variant="someone's",
    ),
    Row(
        "GET",
        "/vouchers/{voucher_id}",
        everyone,
        lambda s, role, scope: Call(f"/vouchers/{s.fresh_voucher(_own(s, role), scope)}"),
        variant="one's own",
    ),
    Row(
        "POST",
        "/vouchers/{voucher_id}/fulfil",
        at_counter,
        lambda s, role, scope: (
            lambda voucher: Call(f"/vouchers/{voucher}/fulfil", {"payload": s.voucher_code(voucher)})
        )(_new_voucher_of_owner(s, role, scope)),
    ),
    Row(
        "POST",
        "/vouchers/{voucher_id}/cancel",
        at_counter,
        lambda s, role, scope: Call(f"/vouchers/{_new_voucher_of_owner(s, role, scope)}/cancel"),
        variant="someone's",
    ),
    Row(
        "POST",
        "/vouchers/{voucher_id}/cancel",
        everyone,
        lambda s, role, scope: Call(f"/vouchers/{s.fresh_voucher(_own(s, role), scope)}/cancel"),
        variant="one's own",
    ),
    Row(
        "GET",
        "/vouchers/{voucher_id}/qr.svg",
        owner_only,
        lambda s, _r, scope: Call(f"/vouchers/{s.ids[scope]['voucher']}/qr.svg"),
    ),
    Row(
        "GET",
        "/vouchers/{voucher_id}/qr.png",
        owner_only,
        lambda s, _r, scope: Call(f"/vouchers/{s.ids[scope]['voucher']}/qr.png"),
    ),
    # --- the counter: cards, PINs, pay codes, sales, offline ------------------------------------
    Row(
        "GET",
        "/members/{member_id}/card",
        in_scope(ORGANISERS),
        lambda s, _r, scope: (s.fresh_card(s.owner(scope)), Call(f"/members/{s.owner(scope)}/card"))[1],
    ),
    Row(
        "GET",
        "/members/{member_id}/card",
        everyone,
        lambda s, role, _: (s.fresh_card(_own(s, role)), Call(f"/members/{_own(s, role)}/card"))[1],
        variant="one's own",
        scopeless=True,
    ),
    Row(
        "POST",
        "/members/{member_id}/card",
        in_scope(ORGANISERS),
        lambda s, _r, scope: Call(f"/members/{s.owner(scope)}/card"),
        201,
    ),
    Row(
        "POST",
        "/members/{member_id}/card",
        everyone,
        lambda s, role, _: Call(f"/members/{_own(s, role)}/card"),
        201,
        variant="one's own",
        scopeless=True,
    ),
    Row(
        "PUT",
        "/members/{member_id}/pin",
        in_scope(ORGANISERS),
        lambda s, _r, scope: Call(f"/members/{s.owner(scope)}/pin", {"pin": "284615"}),
        204,
    ),
    Row(
        "PUT",
        "/members/{member_id}/pin",
        everyone,
        lambda s, role, _: Call(f"/members/{_own(s, role)}/pin", {"pin": "284615", "password": PASSWORD}),
        204,
        variant="one's own",
        scopeless=True,
    ),
    Row(
        "GET",
        "/members/cards.pdf",
        in_scope(ORGANISERS),
        lambda s, _r, scope: Call(f"/members/cards.pdf?org_unit_id={s.unit(scope, 'grid_a', 'grid_b')}"),
    ),
    Row("GET", "/me/pay-code", everyone, lambda s, _r, _s: Call("/me/pay-code"), scopeless=True),
    Row(
        "POST",
        "/counter/holders",
        at_counter,
        lambda s, _r, scope: Call(
            "/counter/holders", {"supermarket_id": s.shop(scope), "card": s.fresh_card(s.owner(scope))}
        ),
    ),
    Row(
        "POST",
        "/counter/sales",
        at_counter,
        lambda s, _r, scope: Call(
            "/counter/sales",
            {
                "supermarket_id": s.shop(scope),
                "pay_code": s.fresh_pay_code(s.owner(scope)),
                "items": [{"reward_id": s.reward_id, "quantity": 1}],
            },
        ),
        201,
    ),
    Row(
        "GET",
        "/supermarkets/{supermarket_id}/offline-bundle",
        in_scope(COUNTER),
        lambda s, _r, scope: Call(f"/supermarkets/{s.shop(scope)}/offline-bundle"),
    ),
    Row(
        "POST",
        "/supermarkets/{supermarket_id}/offline-fulfilments",
        in_scope(COUNTER),
        lambda s, _r, scope: Call(
            f"/supermarkets/{s.shop(scope)}/offline-fulfilments",
            {"fulfilments": [s.offline_scan(s.fresh_voucher(s.owner(scope), scope))]},
        ),
    ),
    Row(
        "GET",
        "/supermarkets/{supermarket_id}/offline-conflicts",
        in_scope(ADMINS),
        lambda s, _r, scope: Call(f"/supermarkets/{s.shop(scope)}/offline-conflicts"),
    ),
    Row(
        "POST",
        "/offline-conflicts/{conflict_id}/resolve",
        in_scope(ADMINS),
        lambda s, _r, scope: Call(
            f"/offline-conflicts/{s.fresh_conflict(scope)}/resolve", {"note": "已核实"}
        ),
    ),
    # --- the public notice (积分公示), objections and notifications --------------------------------
    Row(
        "GET",
        "/notices",
        everyone,
        lambda s, _r, scope: Call("/notices?page_size=100", listed=s.ids[scope]["notice"]),
        sees=reads_notice,
    ),
    Row(
        "POST",
        "/notices",
        in_scope(ORGANISERS),
        lambda s, _r, scope: Call(
            "/notices", {"org_unit_id": s.fresh_notice_unit(scope), "month": last_month()}
        ),
        201,
    ),
    Row(
        "GET",
        "/notices/{notice_id}",
        reads_notice,
        lambda s, _r, scope: Call(f"/notices/{s.ids[scope]['notice']}"),
    ),
    Row(
        "POST",
        "/notices/{notice_id}/objections",
        lives_there,
        lambda s, _r, scope: Call(
            f"/notices/{s.ids[scope]['notice']}/objections",
            {"contribution_id": s.fresh_entry(scope), "reason": "那天没有见到他"},
        ),
        201,
    ),
    Row(
        "GET",
        "/objections",
        everyone,
        lambda s, _r, scope: Call("/objections?page_size=100", listed=s.ids[scope]["objection"]),
        sees=in_scope(ORGANISERS),
    ),
    Row(
        "POST",
        "/objections/{objection_id}/uphold",
        in_scope(ORGANISERS),
        lambda s, _r, scope: Call(f"/objections/{s.fresh_objection(scope)}/uphold", {"reason": "核实属实"}),
    ),
    Row(
        "POST",
        "/objections/{objection_id}/dismiss",
        in_scope(ORGANISERS),
        lambda s, _r, scope: Call(
            f"/objections/{s.fresh_objection(scope)}/dismiss", {"reason": "核实不成立"}
        ),
    ),
    Row("GET", "/me/notifications", everyone, lambda s, _r, _s: Call("/me/notifications"), scopeless=True),
    Row(
        "POST",
        "/me/notifications/read",
        everyone,
        lambda s, _r, _s: Call("/me/notifications/read", {"all": True}),
        204,
        scopeless=True,
    ),
]


def api_operations(app) -> set[tuple[str, str]]:
    """Every (method, path) of the OpenAPI document, paths relative to /api/v1."""
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    return {
        (method.upper(), path.removeprefix("/api/v1"))
        for path, operations in spec["paths"].items()
        for method in operations
        if method.upper() in HTTP_METHODS
    }


def url_map_operations(app) -> set[tuple[str, str]]:
    """Every (method, path) the app routes under /api/v1, in OpenAPI's ``{name}`` spelling."""
    found = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.endpoint.startswith(("api-docs.", "core.api_docs")):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule).removeprefix("/api/v1")
        found |= {(method, path) for method in rule.methods if method in HTTP_METHODS}
    return found


# --- the tests ---------------------------------------------------------------------------------


def test_every_api_operation_has_a_row_and_every_row_an_operation(app):
    operations = url_map_operations(app) | api_operations(app)
    covered = {row.operation for row in TABLE}
    assert len(operations) > 60
    assert not operations - covered, (
        f"operations with no row in the authorisation table: {operations - covered}"
    )
    assert not covered - operations, f"rows naming operations that no longer exist: {covered - operations}"


@pytest.fixture
def scene(app):
    """The world with one object of each kind on each side."""
    with app.app_context():
        return build_scene()


def _send(client, row: Row, call: Call, headers: dict | None):
    """Make the call, JSON or multipart."""
    if call.files:
        data = {name: (io.BytesIO(content), filename) for name, (content, filename) in call.files.items()}
        return client.open(
            "/api/v1" + call.url,
            method=row.method,
            headers=headers,
            data=data,
            content_type="multipart/form-data",
        )
    return client.open("/api/v1" + call.url, method=row.method, headers=headers, json=call.json)


def _prepare(app, scene: Scene, row: Row, role: str, scope: str) -> Call:
    with app.app_context():
        return row.call(scene, role, scope)


def _state(app) -> dict:
    with app.app_context():
        return snapshot()


def _check_refused(app, client, row, call, headers, expected, label):
    before = _state(app)
    response = _send(client, row, call, headers)
    body = response.get_json(silent=True) or {}
    assert (response.status_code, body.get("code")) == expected, (
        f"{label}: expected {expected}, got {response.status_code} {response.get_data(as_text=True)[:300]}"
    )
    assert _state(app) == before, f"{label}: a refused call wrote something"


def _unknown_ids(row: Row, url: str) -> str:
    """The URL with every id the path names replaced by one that does not exist."""
    pattern = re.sub(r"\\{[^}]+\\}", "([^/?]+)", re.escape(row.path))
    match = re.match(pattern, url)
    ids = iter(match.groups())
    return (
        re.sub(r"\{[^}]+\}", lambda _m: "999999" if next(ids).isdigit() else "no_such_code", row.path)
        + url[match.end() :]
    )


def check_row(app, client, scene: Scene, row: Row) -> None:
    """Call one row signed out, then as each role on each side; assert what the table says."""
    signed_out = _prepare(app, scene, row, "resident", "inside")
    if row.public:
        assert _send(client, row, signed_out, None).status_code == row.success, f"{row.name} signed out"
    else:
        _check_refused(app, client, row, signed_out, None, (401, "unauthorized"), f"{row.name} signed out")
        if "{" in row.path:
            missing = Call(_unknown_ids(row, signed_out.url), signed_out.json, signed_out.files)
            _check_refused(
                app, client, row, missing, None, (401, "unauthorized"), f"{row.name} signed out, unknown id"
            )
    for role in ROLES:
        for scope in SCOPES[:1] if row.scopeless else SCOPES:
            label = f"{row.name} as {role} {scope}"
            call = _prepare(app, scene, row, role, scope)
            headers = call.headers or scene.world.headers[role]
            refusal = row.rule(role, scope)
            if refusal is not None:
                _check_refused(app, client, row, call, headers, refusal, label)
                continue
            response = _send(client, row, call, headers)
            assert response.status_code == row.success, (
                f"{label}: expected {row.success}, got {response.status_code} {response.get_data(as_text=True)[:300]}"
            )
            if call.listed is not None:
                ids = {item["id"] for item in response.get_json()["items"]}
                assert (call.listed in ids) == (row.sees(role, scope) is None), f"{label}: wrong items {ids}"


GROUPS: dict[str, list[Row]] = {}
for _row in TABLE:
    GROUPS.setdefault(_row.group_name, []).append(_row)


@pytest.mark.parametrize("group", list(GROUPS))
def test_each_role_may_call_only_where_the_table_allows_and_nobody_signed_out(app, client, scene, group):
    failures = []
    for row in GROUPS[group]:  # one world per group keeps the file fast; each row still reports alone
        try:
            check_row(app, client, scene, row)
        except AssertionError as error:
            failures.append(str(error).split("\nassert")[0])
    assert not failures, "\n".join(failures)


def test_member_lists_hold_exactly_the_members_in_scope(client, scene):
    world = scene.world

    def listed(who, query=""):
        body = client.get(f"/api/v1/members?page_size=100{query}", headers=world.headers[who]).get_json()
        return {item["id"] for item in body["items"]}

    people = world.people
    assert listed("grid_worker") == {people[k] for k in ("grid_worker", "resident", "villager")}
    assert listed("organiser") == {people[k] for k in ("grid_worker", "resident", "villager", "neighbour")}
    assert listed("admin") == listed("organiser")
    assert listed("global_admin") == set(people.values())
    assert listed("organiser", f"&org_unit_id={world.units['grid_b']}") == set()
