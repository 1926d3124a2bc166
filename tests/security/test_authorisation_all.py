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


# --- the objects a row calls on: each name, resolved once per call for one role on one side ----


def _fresh_wish(step: str, **options) -> Callable[[Scene, str, str], int]:
    return lambda s, _r, scope: s.fresh_wish(scope, step, **options)


def _iso_from_now(**delta) -> Callable[[Scene, str, str], str]:
    return lambda _s, _r, _scope: (utcnow() + timedelta(**delta)).isoformat()


PLACES: dict[str, Callable[[Scene, str, str], object]] = {
    # people and places of the side
    "own": lambda s, role, _: s.world.people[role],
    "owner": lambda s, _r, scope: s.owner(scope),
    "town": lambda s, _r, scope: s.unit(scope, "town_a", "town_b"),
    "community": lambda s, _r, scope: s.unit(scope, "community_a", "community_b"),
    "grid": lambda s, _r, scope: s.unit(scope, "grid_a", "grid_b"),
    "other_grid": lambda s, _r, scope: s.unit(scope, "grid_a2", "grid_b"),
    "county": lambda s, _r, _s: s.world.units["county"],
    "shop": lambda s, _r, scope: s.shop(scope),
    "reward": lambda s, _r, _s: s.reward_id,
    "activity": lambda s, _r, scope: s.codes[scope],
    # the side's standing objects
    **{
        key: (lambda s, _r, scope, key=key: s.ids[scope][key])
        for key in ("claim", "event", "photo", "wish", "route", "voucher", "notice", "objection")
    },
    "event_code": lambda s, _r, scope: s.event_code(s.ids[scope]["event"]),
    "checkpoint_code": lambda s, _r, scope: s.checkpoint_code(s.ids[scope]["route"]),
    "voucher_code": lambda s, _r, scope: s.voucher_code(s.ids[scope]["voucher"]),
    # objects made for the one call (of the side's resident, or the caller's own)
    "fresh_member": lambda s, _r, scope: s.fresh_member(scope),
    "fresh_member_above": lambda s, _r, scope: s.fresh_member_above(scope),
    "fresh_clerk": lambda s, _r, scope: s.fresh_clerk(scope),
    "fresh_event": lambda s, _r, scope: s.fresh_event(scope),
    "fresh_claim": lambda s, _r, scope: s.fresh_claim(s.owner(scope)),
    "own_fresh_claim": lambda s, role, _: s.fresh_claim(s.world.people[role]),
    "fresh_award": lambda s, _r, scope: s.fresh_award(s.owner(scope)),
    "fresh_checkin": lambda s, _r, scope: s.fresh_checkin(s.owner(scope), scope),
    "own_fresh_checkin": lambda s, role, scope: s.fresh_checkin(s.world.people[role], scope),
    "fresh_voucher": lambda s, _r, scope: s.fresh_voucher(s.owner(scope), scope),
    "own_fresh_voucher": lambda s, role, scope: s.fresh_voucher(s.world.people[role], scope),
    "fresh_card": lambda s, _r, scope: s.fresh_card(s.owner(scope)),
    "fresh_pay_code": lambda s, _r, scope: s.fresh_pay_code(s.owner(scope)),
    "fresh_offline_scan": lambda s, _r, scope: s.offline_scan(s.fresh_voucher(s.owner(scope), scope)),
    "fresh_conflict": lambda s, _r, scope: s.fresh_conflict(scope),
    "fresh_notice_unit": lambda s, _r, scope: s.fresh_notice_unit(scope),
    "fresh_entry": lambda s, _r, scope: s.fresh_entry(scope),
    "fresh_objection": lambda s, _r, scope: s.fresh_objection(scope),
    "fresh_month": lambda s, _r, _s: s.fresh_month(),
    "submitted_wish": _fresh_wish("submitted"),
    "vetted_wish": _fresh_wish("vetted"),
    "open_wish": _fresh_wish("open"),
    "taken_wish": _fresh_wish("taken"),
    "wish_done_4_days_ago": _fresh_wish("done", done_days_ago=4),
    # values: a number no call has used, times and months
    "n": lambda _s, _r, _scope: next_phone(),
    "now": _iso_from_now(),
    "an_hour_ago": _iso_from_now(hours=-1),
    "in_3_hours": _iso_from_now(hours=3),
    "in_3_days": _iso_from_now(days=3),
    "last_month": lambda _s, _r, _scope: last_month(),
    "month_before": lambda _s, _r, _scope: (utcnow().replace(day=1) - timedelta(days=1)).strftime("%Y-%m"),
}


class Places(dict):
    """The named objects of one call, each made on first use: ``"{name}"`` in a URL or a body."""

    def __init__(self, scene: Scene, role: str, scope: str):
        super().__init__()
        self.where = (scene, role, scope)

    def __missing__(self, name: str):
        self[name] = PLACES[name](*self.where)
        return self[name]

    def fill(self, value):
        """A body with its names resolved: a whole ``"{name}"`` keeps the object's type."""
        if isinstance(value, dict):
            return {key: self.fill(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.fill(item) for item in value]
        if isinstance(value, str):
            whole = re.fullmatch(r"\{(\w+)\}", value)
            return self[whole[1]] if whole else value.format_map(self)
        return value


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
    """One operation (or one way of calling it): who may, and how to make a valid call.

    ``call`` is the URL with ``{name}``s of ``PLACES`` (and ``body`` the JSON body, likewise), or,
    for the few calls that need more, a function of (scene, role, side) answering the ``Call``.
    """

    method: str
    path: str
    rule: Rule
    call: str | Callable[[Scene, str, str], Call]
    success: int = 200
    body: dict | None = None
    variant: str = ""
    scopeless: bool = False  # the object is the caller's own or common to all: one call per role
    public: bool = False  # needs nobody signed in
    listed: str | None = None  # for lists: the name of the object whose visibility ``sees`` rules
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

    def make_call(self, scene: Scene, role: str, scope: str) -> Call:
        """The call for one role on one side (call inside an app context)."""
        if callable(self.call):
            return self.call(scene, role, scope)
        places = Places(scene, role, scope)
        listed = places[self.listed] if self.listed else None
        return Call(self.call.format_map(places), places.fill(self.body), listed=listed)


def _card_of(s: Scene, member_id: int) -> Call:
    """Reading a member's card, which is issued first."""
    s.fresh_card(member_id)
    return Call(f"/members/{member_id}/card")


# One row, one operation: the formatter leaves the table's rows as they are written.
# fmt: off
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
    Row("GET", "/me", everyone, "/me", scopeless=True),
    Row("PATCH", "/me", everyone, "/me", body={"anonymous": True}, scopeless=True),
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
    Row("GET", "/org-units", everyone, "/org-units?parent_id={town}"),
    Row(
        "POST", "/org-units", in_scope(ADMINS), "/org-units", 201,
        body={"name": "新网格{n}", "kind": "grid", "parent_id": "{community}"},
    ),
    Row(
        "POST", "/org-units", in_scope(NOBODY), "/org-units", 201,
        body={"name": "新县{n}", "kind": "county", "parent_id": None}, variant="a root", scopeless=True,
    ),
    Row("GET", "/org-units/{unit_id}", everyone, "/org-units/{community}"),
    Row("PATCH", "/org-units/{unit_id}", in_scope(ADMINS), "/org-units/{community}", body={"name": "改名{n}"}),
    Row(
        "GET", "/members", holding(GRID), "/members?page_size=100", listed="owner", sees=in_scope(GRID)
    ),
    Row(
        "POST", "/members", in_scope(ORGANISERS), "/members", 201,
        body={"name": "新居民", "phone": "{n}", "password": "a-good-password", "org_unit_id": "{grid}"},
    ),
    Row("GET", "/members/{member_id}", in_scope(GRID), "/members/{owner}"),
    Row("GET", "/members/{member_id}", everyone, "/members/{own}", variant="oneself", scopeless=True),
    Row(
        "PATCH", "/members/{member_id}", in_scope(ORGANISERS), "/members/{owner}",
        body={"name": "新名字"}, variant="rename",
    ),
    Row(
        "PATCH", "/members/{member_id}", in_scope(ORGANISERS), "/members/{fresh_member}",
        body={"org_unit_id": "{other_grid}"}, variant="move",
    ),
    Row(
        "PATCH", "/members/{member_id}", in_scope(ORGANISERS), "/members/{fresh_member}",
        body={"status": "suspended"}, variant="suspend",
    ),
    Row(
        "PATCH", "/members/{member_id}", in_scope(ADMINS), "/members/{owner}",
        body={"hidden": True}, variant="hide",
    ),
    Row(
        "PATCH", "/members/{member_id}", in_scope(ORGANISERS), "/members/{fresh_member}",
        body={"phone": "{n}"}, variant="new phone",
    ),
    Row(
        "POST", "/members/{member_id}/password", in_scope(ORGANISERS), "/members/{fresh_member}/password", 204,
        body={"password": "another-password"},
    ),
    Row(
        "POST", "/members/{member_id}/unlock", in_scope(ORGANISERS), "/members/{fresh_member}/unlock", 204
    ),
    # --- the target rule: the actor's grants must reach above every grant the member holds ------
    # (the world's town staff are below a county admin grant: only the global admin is above it;
    # a clerk answers to the admins whose scope covers the supermarket)
    *(
        Row(
            "PATCH", "/members/{member_id}", in_scope(NOBODY), "/members/{fresh_member_above}",
            body=body, variant=f"{change}, target holds a higher grant",
        )
        for change, body in (
            ("rename", {"name": "新名字"}),
            ("new phone", {"phone": "{n}"}),
            ("move", {"org_unit_id": "{other_grid}"}),
            ("suspend", {"status": "suspended"}),
            ("hide", {"hidden": True}),
        )
    ),
    Row(
        "POST", "/members/{member_id}/password", in_scope(NOBODY), "/members/{fresh_member_above}/password",
        204, body={"password": "another-password"}, variant="target holds a higher grant",
    ),
    Row(
        "POST", "/members/{member_id}/password", in_scope(ADMINS), "/members/{fresh_clerk}/password", 204,
        body={"password": "another-password"}, variant="target is a clerk",
    ),
    Row(
        "PATCH", "/members/{member_id}", in_scope(ADMINS), "/members/{fresh_clerk}",
        body={"status": "suspended"}, variant="suspend, target is a clerk",
    ),
    Row(
        "POST", "/members/{member_id}/unlock", in_scope(NOBODY), "/members/{fresh_member_above}/unlock", 204,
        variant="target holds a higher grant",
    ),
    Row("GET", "/members/{member_id}/roles", in_scope(GRID), "/members/{owner}/roles"),
    Row(
        "POST", "/members/{member_id}/roles", in_scope(ADMINS), "/members/{fresh_member}/roles", 201,
        body={"role": "grid_worker", "org_unit_id": "{grid}"}, variant="on an org unit",
    ),
    Row(
        "POST", "/members/{member_id}/roles", in_scope(ADMINS), "/members/{fresh_member}/roles", 201,
        body={"role": "clerk", "supermarket_id": "{shop}"}, variant="clerk",
    ),
    Row(
        "POST", "/members/{member_id}/roles", in_scope(NOBODY), "/members/{fresh_member}/roles", 201,
        body={"role": "admin", "org_unit_id": "{county}"}, variant="admin of the whole county",
    ),
    Row(
        "POST", "/members/{member_id}/roles", in_scope(NOBODY), "/members/{fresh_member_above}/roles", 201,
        body={"role": "grid_worker", "org_unit_id": "{grid}"}, variant="target holds a higher grant",
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
    Row(
        "DELETE",
        "/members/{member_id}/roles/{grant_id}",
        in_scope(NOBODY),
        lambda s, _r, scope: Call("/members/{}/roles/{}".format(*s.fresh_grant_above(scope))),
        204,
        variant="target holds a higher grant",
    ),
    Row("GET", "/supermarkets", everyone, "/supermarkets", scopeless=True),
    Row(
        "POST", "/supermarkets", in_scope(ADMINS), "/supermarkets", 201,
        body={"name": "新超市", "address": "新街 1 号", "org_unit_id": "{town}"},
    ),
    Row("GET", "/supermarkets/{supermarket_id}", everyone, "/supermarkets/{shop}"),
    # --- points: activities, contributions, ledgers --------------------------------------------
    Row("GET", "/activities", everyone, "/activities", scopeless=True),
    Row(
        "POST", "/activities", in_scope(ORGANISERS), "/activities", 201,
        body={"code": "act_{n}", "name": "防诈宣传", "category": "publicity", "points": 5, "unit": "each",
              "daily_cap": None, "needs_review": True, "org_unit_id": "{town}"},
    ),
    Row("GET", "/activities/{code}", everyone, "/activities/{activity}"),
    Row("PATCH", "/activities/{code}", in_scope(ORGANISERS), "/activities/{activity}", body={"name": "消防演练"}),
    Row(
        "GET", "/contributions", everyone, "/contributions?page_size=100", listed="claim", sees=in_scope(GRID)
    ),
    Row(
        "POST", "/contributions", in_scope(GRID), "/contributions", 201,
        body={"member_id": "{owner}", "activity_code": "patrol", "quantity": 1, "occurred_at": "{an_hour_ago}"},
        variant="record for someone",
    ),
    Row(
        "POST", "/contributions", everyone, "/contributions", 201,
        body={"member_id": "{own}", "activity_code": "patrol", "quantity": 1, "occurred_at": "{an_hour_ago}"},
        variant="claim", scopeless=True,
    ),
    Row("GET", "/contributions/{contribution_id}", in_scope(GRID), "/contributions/{claim}"),
    Row(
        "POST", "/contributions/{contribution_id}/approve", in_scope(GRID), "/contributions/{fresh_claim}/approve"
    ),
    Row(
        "POST", "/contributions/{contribution_id}/approve", own_claim, "/contributions/{own_fresh_claim}/approve",
        variant="one's own claim", scopeless=True,
    ),
    Row(
        "POST", "/contributions/{contribution_id}/reject", in_scope(GRID), "/contributions/{fresh_claim}/reject",
        body={"reason": "照片看不清"},
    ),
    Row(
        "POST", "/contributions/{contribution_id}/reverse", in_scope(ORGANISERS),
        "/contributions/{fresh_award}/reverse", body={"reason": "记错了人"},
    ),
    Row(
        "POST", "/contributions/{contribution_id}/reverse", in_scope(ADMINS),
        "/contributions/{fresh_award}/reverse", body={"reason": "记错了人", "force": True}, variant="forced",
    ),
    Row("GET", "/members/{member_id}/ledger", in_scope(GRID), "/members/{owner}/ledger"),
    Row(
        "GET", "/members/{member_id}/ledger", everyone, "/members/{own}/ledger",
        variant="one's own", scopeless=True,
    ),
    # --- points: events, check-ins, photos, the daily check-in -----------------------------------
    Row(
        "GET", "/events", holding(ORGANISERS), "/events?page_size=100", listed="event", sees=in_scope(ORGANISERS)
    ),
    Row(
        "POST", "/events", in_scope(ORGANISERS), "/events", 201,
        body={"title": "防汛宣传日", "activity_code": "patrol", "org_unit_id": "{town}",
              "starts_at": "{now}", "ends_at": "{in_3_hours}"},
    ),
    Row("GET", "/events/{event_id}", in_scope(ORGANISERS), "/events/{event}"),
    Row("GET", "/events/{event_id}/qr.svg", in_scope(ORGANISERS), "/events/{event}/qr.svg"),
    Row("GET", "/events/{event_id}/poster.png", in_scope(ORGANISERS), "/events/{event}/poster.png"),
    Row("POST", "/events/{event_id}/close", in_scope(ORGANISERS), "/events/{fresh_event}/close"),
    Row("POST", "/checkins", everyone, "/checkins", 201, body={"payload": "{event_code}"}),
    Row(
        "POST", "/checkins/{checkin_id}/checkout", in_scope(ORGANISERS), "/checkins/{fresh_checkin}/checkout",
        variant="someone's",
    ),
    Row(
        "POST", "/checkins/{checkin_id}/checkout", everyone, "/checkins/{own_fresh_checkin}/checkout",
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
    Row("GET", "/photos/{photo_id}", in_scope(GRID), "/photos/{photo}"),
    Row("POST", "/me/checkins", everyone, "/me/checkins", 201, scopeless=True),
    Row("GET", "/leaderboards/members", everyone, "/leaderboards/members?org_unit_id={town}"),
    Row("GET", "/leaderboards/org-units", everyone, "/leaderboards/org-units?parent_id={town}"),
    Row(
        "GET", "/leaderboards/honour-roll", everyone, "/leaderboards/honour-roll?org_unit_id={town}&month={month_before}"
    ),
    # --- points: micro-wishes and patrols ---------------------------------------------------------
    Row("GET", "/wishes", everyone, "/wishes?page_size=100", listed="wish", sees=county_or_scope),
    Row(
        "POST", "/wishes", with_a_grid, "/wishes", 201,
        body={"title": "帮忙修灯", "description": "楼道灯坏了"}, scopeless=True,
    ),
    Row("GET", "/wishes/{wish_id}", county_or_scope, "/wishes/{wish}"),
    Row(
        "POST", "/wishes/{wish_id}/vet", in_scope(GRID), "/wishes/{submitted_wish}/vet", body={"decision": "accept"}
    ),
    Row(
        "POST", "/wishes/{wish_id}/publish", in_scope(ORGANISERS), "/wishes/{vetted_wish}/publish",
        body={"points": 30, "due_at": "{in_3_days}"},
    ),
    Row("POST", "/wishes/{wish_id}/take", county_or_scope, "/wishes/{open_wish}/take"),
    Row(
        "POST", "/wishes/{wish_id}/release", owner_only, "/wishes/{taken_wish}/release",
        variant="taken by someone else",
    ),
    Row(
        "POST", "/wishes/{wish_id}/done", owner_only, "/wishes/{taken_wish}/done",
        body={"note": "修好了"}, variant="taken by someone else",
    ),
    Row(
        "POST", "/wishes/{wish_id}/confirm", in_scope(ORGANISERS), "/wishes/{wish_done_4_days_ago}/confirm",
        body={"rating": 5}, variant="done 4 days ago, the requester silent",
    ),
    Row(
        "POST", "/wishes/{wish_id}/cancel", in_scope(ORGANISERS), "/wishes/{open_wish}/cancel",
        body={"reason": "已由家人解决"}, variant="someone's",
    ),
    Row(
        "GET", "/patrol-routes", holding(ORGANISERS), "/patrol-routes?page_size=100",
        listed="route", sees=in_scope(ORGANISERS),
    ),
    Row(
        "POST", "/patrol-routes", in_scope(ORGANISERS), "/patrol-routes", 201,
        body={"name": "夜巡西线", "org_unit_id": "{town}", "activity_code": "patrol",
              "checkpoints": [{"name": "桥头"}, {"name": "祠堂"}],
              "window_start": "22:00", "window_end": "02:00", "min_minutes_between": 5},
    ),
    Row("GET", "/patrol-routes/{route_id}", in_scope(ORGANISERS), "/patrol-routes/{route}"),
    Row(
        "GET", "/patrol-routes/{route_id}/posters.pdf", in_scope(ORGANISERS), "/patrol-routes/{route}/posters.pdf"
    ),
    Row("GET", "/patrol-routes/{route_id}/rounds", in_scope(ORGANISERS), "/patrol-routes/{route}/rounds"),
    Row("POST", "/patrols/scans", everyone, "/patrols/scans", 201, body={"payload": "{checkpoint_code}"}),
    Row(
        "GET", "/org-units/{unit_id}/budgets/{year}", in_scope(ORGANISERS),
        f"/org-units/{{town}}/budgets/{BUDGET_YEAR}",
    ),
    Row(
        "PUT", "/org-units/{unit_id}/budgets/{year}", in_scope(ADMINS),
        f"/org-units/{{town}}/budgets/{BUDGET_YEAR}", body={"points": 9_000_000},
    ),
    # --- rewards: one global catalogue, stock per supermarket, vouchers -------------------------
    Row("GET", "/rewards", everyone, "/rewards", scopeless=True),
    Row(
        "POST", "/rewards", holding(ADMINS), "/rewards", 201,
        body={"name": "大米", "points_cost": 50, "per_member_limit": 2}, scopeless=True,
    ),
    Row("GET", "/rewards/{reward_id}", everyone, "/rewards/{reward}", scopeless=True),
    Row(
        "PATCH", "/rewards/{reward_id}", holding(ADMINS), "/rewards/{reward}",
        body={"name": "香皂{n}"}, scopeless=True,
    ),
    Row("GET", "/rewards/{reward_id}/image", everyone, "/rewards/{reward}/image", scopeless=True),
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
    Row("GET", "/supermarkets/{supermarket_id}/catalogue", everyone, "/supermarkets/{shop}/catalogue"),
    Row("GET", "/supermarkets/{supermarket_id}/stock", in_scope(COUNTER), "/supermarkets/{shop}/stock"),
    Row(
        "PUT", "/supermarkets/{supermarket_id}/stock/{reward_id}", in_scope(COUNTER),
        "/supermarkets/{shop}/stock/{reward}", body={"quantity": 450, "reason": "月底盘点"},
    ),
    Row(
        "POST", "/supermarkets/{supermarket_id}/stock/{reward_id}/receipts", in_scope(COUNTER),
        "/supermarkets/{shop}/stock/{reward}/receipts", 201, body={"quantity": 5},
    ),
    Row(
        "GET", "/supermarkets/{supermarket_id}/settlements/{month}", in_scope(COUNTER),
        "/supermarkets/{shop}/settlements/{fresh_month}",
    ),
    Row(
        "POST", "/supermarkets/{supermarket_id}/settlements/{month}/confirm", in_scope(ADMINS),
        "/supermarkets/{shop}/settlements/{fresh_month}/confirm",
    ),
    Row("GET", "/vouchers", everyone, "/vouchers", scopeless=True),
    Row(
        "POST", "/vouchers", everyone, "/vouchers", 201,
        body={"supermarket_id": "{shop}", "items": [{"reward_id": "{reward}", "quantity": 1}]},
    ),
    Row("POST", "/vouchers/scan", at_counter, "/vouchers/scan", body={"payload": "{voucher_code}"}),
    Row("GET", "/vouchers/{voucher_id}", at_counter, "/vouchers/{voucher}", variant="someone's"),
    Row("GET", "/vouchers/{voucher_id}", everyone, "/vouchers/{own_fresh_voucher}", variant="one's own"),
    Row(
        "POST",
        "/vouchers/{voucher_id}/fulfil",
        at_counter,
        lambda s, _r, scope: (
            lambda voucher: Call(f"/vouchers/{voucher}/fulfil", {"payload": s.voucher_code(voucher)})
        )(s.fresh_voucher(s.owner(scope), scope)),
    ),
    Row("POST", "/vouchers/{voucher_id}/cancel", at_counter, "/vouchers/{fresh_voucher}/cancel", variant="someone's"),
    Row(
        "POST", "/vouchers/{voucher_id}/cancel", everyone, "/vouchers/{own_fresh_voucher}/cancel", variant="one's own"
    ),
    Row("GET", "/vouchers/{voucher_id}/qr.svg", owner_only, "/vouchers/{voucher}/qr.svg"),
    Row("GET", "/vouchers/{voucher_id}/qr.png", owner_only, "/vouchers/{voucher}/qr.png"),
    # --- the counter: cards, PINs, pay codes, sales, offline ------------------------------------
    Row(
        "GET", "/members/{member_id}/card", in_scope(ORGANISERS),
        lambda s, _r, scope: _card_of(s, s.owner(scope)),
    ),
    Row(
        "GET", "/members/{member_id}/card", everyone, lambda s, role, _: _card_of(s, s.world.people[role]),
        variant="one's own", scopeless=True,
    ),
    Row("POST", "/members/{member_id}/card", in_scope(ORGANISERS), "/members/{owner}/card", 201),
    Row(
        "POST", "/members/{member_id}/card", everyone, "/members/{own}/card", 201,
        variant="one's own", scopeless=True,
    ),
    Row("PUT", "/members/{member_id}/pin", in_scope(ORGANISERS), "/members/{owner}/pin", 204, body={"pin": "284615"}),
    Row(
        "PUT", "/members/{member_id}/pin", everyone, "/members/{own}/pin", 204,
        body={"pin": "284615", "password": PASSWORD}, variant="one's own", scopeless=True,
    ),
    Row("GET", "/members/cards.pdf", in_scope(ORGANISERS), "/members/cards.pdf?org_unit_id={grid}"),
    Row("GET", "/me/pay-code", everyone, "/me/pay-code", scopeless=True),
    Row(
        "POST", "/counter/holders", at_counter, "/counter/holders",
        body={"supermarket_id": "{shop}", "card": "{fresh_card}"},
    ),
    Row(
        "POST", "/counter/sales", at_counter, "/counter/sales", 201,
        body={
            "supermarket_id": "{shop}",
            "pay_code": "{fresh_pay_code}",
            "items": [{"reward_id": "{reward}", "quantity": 1}],
        },
    ),
    Row(
        "GET", "/supermarkets/{supermarket_id}/offline-bundle", in_scope(COUNTER), "/supermarkets/{shop}/offline-bundle"
    ),
    Row(
        "POST", "/supermarkets/{supermarket_id}/offline-fulfilments", in_scope(COUNTER),
        "/supermarkets/{shop}/offline-fulfilments", body={"fulfilments": ["{fresh_offline_scan}"]},
    ),
    Row(
        "GET", "/supermarkets/{supermarket_id}/offline-conflicts", in_scope(ADMINS),
        "/supermarkets/{shop}/offline-conflicts",
    ),
    Row(
        "POST", "/offline-conflicts/{conflict_id}/resolve", in_scope(ADMINS),
        "/offline-conflicts/{fresh_conflict}/resolve", body={"note": "已核实"},
    ),
    # --- the public notice (积分公示), objections and notifications --------------------------------
    Row("GET", "/notices", everyone, "/notices?page_size=100", listed="notice", sees=reads_notice),
    Row(
        "POST", "/notices", in_scope(ORGANISERS), "/notices", 201,
        body={"org_unit_id": "{fresh_notice_unit}", "month": "{last_month}"},
    ),
    Row("GET", "/notices/{notice_id}", reads_notice, "/notices/{notice}"),
    Row(
        "POST", "/notices/{notice_id}/objections", lives_there, "/notices/{notice}/objections", 201,
        body={"contribution_id": "{fresh_entry}", "reason": "那天没有见到他"},
    ),
    Row(
        "GET", "/objections", everyone, "/objections?page_size=100", listed="objection", sees=in_scope(ORGANISERS)
    ),
    Row(
        "POST", "/objections/{objection_id}/uphold", in_scope(ORGANISERS),
        "/objections/{fresh_objection}/uphold", body={"reason": "核实属实"},
    ),
    Row(
        "POST", "/objections/{objection_id}/dismiss", in_scope(ORGANISERS),
        "/objections/{fresh_objection}/dismiss", body={"reason": "核实不成立"},
    ),
    Row("GET", "/me/notifications", everyone, "/me/notifications", scopeless=True),
    Row("POST", "/me/notifications/read", everyone, "/me/notifications/read", 204, body={"all": True}, scopeless=True),
]
# fmt: on


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
        return row.make_call(scene, role, scope)


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
