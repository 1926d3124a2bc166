"""Factory functions that build rows directly (fast), for tests that need a world to act in."""

from __future__ import annotations

import hashlib
import itertools
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from functools import lru_cache

from core.database import utcnow
from core.extensions import db
from core.identity.models import ApiToken, Member, OrgUnit, RoleGrant, Supermarket
from core.identity.passwords import hash_password
from core.identity.services import TOKEN_PREFIX

PASSWORD = "correct horse"
_phones = itertools.count(13000000000)


@lru_cache(maxsize=1)
def password_hash() -> str:
    """One argon2 hash of ``PASSWORD``, computed once for the whole run."""
    return hash_password(PASSWORD)


def next_phone() -> str:
    """Return a phone number no other factory call has used."""
    return str(next(_phones))


def _done(commit: bool) -> None:
    """Commit, or only flush when the caller builds many rows in one transaction."""
    if commit:
        db.session.commit()
    else:
        db.session.flush()


def make_unit(name: str, kind: str, parent: OrgUnit | None = None, *, commit: bool = True) -> OrgUnit:
    """Add an org unit with its materialised path."""
    unit = OrgUnit(name=name, kind=kind, parent=parent, path="")
    db.session.add(unit)
    db.session.flush()
    unit.path = (parent.path if parent else "/") + f"{unit.id}/"
    _done(commit)
    return unit


def make_supermarket(name: str, unit: OrgUnit, *, commit: bool = True) -> Supermarket:
    """Add a supermarket in an org unit."""
    shop = Supermarket(name=name, org_unit=unit, address="人民路 1 号")
    db.session.add(shop)
    _done(commit)
    return shop


def make_member(
    name: str = "张三",
    unit: OrgUnit | None = None,
    *,
    role: str | None = None,
    on: OrgUnit | Supermarket | None = None,
    phone: str | None = None,
    commit: bool = True,
    **fields,
) -> Member:
    """Add a member (password ``PASSWORD``), optionally with one role on a unit or supermarket."""
    member = Member(
        name=name, phone=phone or next_phone(), password_hash=password_hash(), org_unit=unit, **fields
    )
    db.session.add(member)
    db.session.flush()
    if role is not None:
        db.session.add(RoleGrant.on(member, role, on))
    _done(commit)
    db.session.expire(member, ["grants"])
    return member


def auth(member: Member, ttl: timedelta = timedelta(days=1), *, commit: bool = True) -> dict:
    """Return request headers carrying a fresh bearer token of ``member``."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    db.session.add(
        ApiToken(
            member=member, token_hash=hashlib.sha256(token.encode()).hexdigest(), expires_at=utcnow() + ttl
        )
    )
    _done(commit)
    return {"Authorization": f"Bearer {token}"}


@dataclass
class World:
    """Two towns with a community and grids each, a supermarket each, and one member per role.

    Staff of town A act inside A; town B is "outside their scope". The world keeps
    plain ids and ready bearer headers, so tests can use it outside any app context.
    """

    units: dict[str, int] = field(default_factory=dict)
    shops: dict[str, int] = field(default_factory=dict)
    people: dict[str, int] = field(default_factory=dict)
    phones: dict[str, str] = field(default_factory=dict)
    headers: dict[str, dict] = field(default_factory=dict)


def build_world() -> World:
    """Build the standard world (call inside an app context)."""
    units: dict[str, OrgUnit] = {}
    units["county"] = make_unit("平安县", "county", commit=False)
    units["town_a"] = make_unit("城关镇", "town", units["county"], commit=False)
    units["town_b"] = make_unit("河口镇", "town", units["county"], commit=False)
    units["community_a"] = make_unit("东街社区", "community", units["town_a"], commit=False)
    units["community_b"] = make_unit("河口村", "community", units["town_b"], commit=False)
    units["grid_a"] = make_unit("东街一网格", "grid", units["community_a"], commit=False)
    units["grid_a2"] = make_unit("东街二网格", "grid", units["community_a"], commit=False)
    units["grid_b"] = make_unit("河口一网格", "grid", units["community_b"], commit=False)
    shops = {
        "a": make_supermarket("城关镇平安超市", units["town_a"], commit=False),
        "b": make_supermarket("河口镇平安超市", units["town_b"], commit=False),
    }
    people = {
        "global_admin": make_member("陈管理", role="admin", on=None, commit=False),
        "admin": make_member("周管理", role="admin", on=units["town_a"], commit=False),
        "organiser": make_member("李组织", role="organiser", on=units["town_a"], commit=False),
        "grid_worker": make_member(
            "王网格", units["grid_a"], role="grid_worker", on=units["grid_a"], commit=False
        ),
        "clerk": make_member("赵店员", role="clerk", on=shops["a"], commit=False),
        "resident": make_member("张居民", units["grid_a"], commit=False),
        "villager": make_member("钱村民", units["grid_a"], commit=False),
        "neighbour": make_member("刘邻居", units["grid_a2"], commit=False),
        "outsider": make_member("孙外镇", units["grid_b"], commit=False),
        "grid_worker_b": make_member(
            "吴网格", units["grid_b"], role="grid_worker", on=units["grid_b"], commit=False
        ),
    }
    headers = {key: auth(member, commit=False) for key, member in people.items()}
    db.session.commit()
    return World(
        units={key: unit.id for key, unit in units.items()},
        shops={key: shop.id for key, shop in shops.items()},
        people={key: member.id for key, member in people.items()},
        phones={key: member.phone for key, member in people.items()},
        headers=headers,
    )


def make_activity(
    code: str = "patrol",
    *,
    points: int = 10,
    unit: str = "each",
    daily_cap: int | None = None,
    needs_review: bool = True,
    category: str = "patrol",
    org_unit: OrgUnit | None = None,
    commit: bool = True,
    **fields,
):
    """Add an activity."""
    from points.models import Activity

    activity = Activity(
        code=code,
        name=fields.pop("name", code),
        category=category,
        points=points,
        unit=unit,
        daily_cap=daily_cap,
        needs_review=needs_review,
        org_unit=org_unit,
        **fields,
    )
    db.session.add(activity)
    _done(commit)
    return activity


def make_award(
    recorder: Member, member_id: int, *, activity: str, points: int, occurred_at, commit: bool = True
):
    """An approved contribution with its points posted, as staff record one for someone, through the
    points service (in a writing transaction, which ``commit=False`` leaves open)."""
    from core.database import begin_writing
    from points import activities, contributions

    begin_writing(db.session)
    contribution = contributions.settle_contribution(
        activities.get_activity(activity),
        recorder.id,
        utcnow(),
        member=db.session.get(Member, member_id),
        quantity=Decimal(1),
        points=points,
        occurred_at=occurred_at,
        recorded_by_id=recorder.id,
    )
    _done(commit)
    return contribution


def make_open_route(
    actor: Member, unit_id: int, activity: str, names, *, name: str = "夜巡东线", hours: int = 1
):
    """A patrol route whose window opens ``hours`` before now and closes as long after (Asia/Shanghai),
    with no wait between scans, drawn by ``actor`` through the patrol service."""
    from core.clock import SHANGHAI
    from points.patrols import services

    now = utcnow().astimezone(SHANGHAI)
    window = (now - timedelta(hours=hours)).time(), (now + timedelta(hours=hours)).time()
    return services.create_route(actor, name, unit_id, activity, list(names), *window, 0)
