"""Demo data for identity: a county, towns, communities, grids, a supermarket and one member per role."""

from __future__ import annotations

import sqlalchemy as sa

from core.extensions import db
from core.identity import cards
from core.identity.models import Member, MemberPin, OrgUnit, RoleGrant, Supermarket
from core.identity.passwords import HASHER, hash_password

DEMO_PASSWORD = "pingan2026"  # nosec B105: the published demo login that `make run` prints
COUNTY = "平安县"
#: town → community → grids
TREE = {
    "城关镇": {"东街社区": ["东街一网格", "东街二网格"], "西街社区": ["西街一网格"]},
    "河口镇": {"河口村": ["河口一网格", "河口二网格"]},
}
#: (phone, name, role, where: an org unit name, a supermarket name, or None for everywhere, grid)
PEOPLE = [
    ("13800000001", "陈志国", "admin", None, None),
    ("13800000002", "李秀英", "organiser", "城关镇", None),
    ("13800000003", "王建军", "grid_worker", "东街一网格", "东街一网格"),
    ("13800000004", "赵丽华", "clerk", "城关镇平安超市", None),
    ("13800000005", "张晓明", None, None, "东街一网格"),
    ("13800000006", "刘桂芳", None, None, "东街二网格"),
    ("13800000007", "孙德胜", None, None, "河口一网格"),
]
#: The demo resident who also has a member card, and its published PIN.
CARD_HOLDER = "13800000005"
DEMO_PIN = "135790"  # nosec B105: the published demo PIN that `make run` prints
ROLE_LABELS = {
    "admin": "管理员 admin",
    "organiser": "组织者 organiser",
    "grid_worker": "网格员 grid worker",
    "clerk": "超市店员 clerk",
    None: "居民 resident",
}


def _unit(name: str, kind: str, parent: OrgUnit | None) -> OrgUnit:
    unit = db.session.scalar(sa.select(OrgUnit).where(OrgUnit.name == name, OrgUnit.kind == kind))
    if unit is None:
        unit = OrgUnit(name=name, kind=kind, parent=parent, path="")
        db.session.add(unit)
        db.session.flush()
        unit.path = (parent.path if parent else "/") + f"{unit.id}/"
    return unit


def seed_identity_demo() -> list[str]:
    """Add the demo org tree, supermarket and members that are missing; list the logins."""
    county = _unit(COUNTY, "county", None)
    units = {COUNTY: county}
    for town_name, communities in TREE.items():
        town = units[town_name] = _unit(town_name, "town", county)
        for community_name, grids in communities.items():
            community = units[community_name] = _unit(community_name, "community", town)
            for grid_name in grids:
                units[grid_name] = _unit(grid_name, "grid", community)
    shop_name = "城关镇平安超市"
    shop = db.session.scalar(sa.select(Supermarket).where(Supermarket.name == shop_name))
    if shop is None:
        shop = Supermarket(
            name=shop_name,
            org_unit=units["城关镇"],
            address="城关镇人民路 18 号",
            opening_hours="08:30–18:00",
        )
        db.session.add(shop)
        db.session.flush()
    password_hash = None
    lines = ["", f"Demo logins (password {DEMO_PASSWORD} for all):"]
    for phone, name, role, where, grid in PEOPLE:
        member = db.session.scalar(sa.select(Member).where(Member.phone == phone))
        if member is None:
            password_hash = password_hash or hash_password(DEMO_PASSWORD)
            member = Member(
                name=name,
                phone=phone,
                password_hash=password_hash,
                org_unit=units.get(grid) if grid else None,
            )
            db.session.add(member)
            db.session.flush()
            if role is not None:
                db.session.add(RoleGrant.on(member, role, shop if role == "clerk" else units.get(where)))
        lines.append(f"  {phone}  {name}  {ROLE_LABELS[role]}" + (f" · {where}" if where else ""))
    lines.append(_demo_card())
    db.session.commit()
    return lines


def _demo_card() -> str:
    """Give the demo resident a member card and a PIN, where missing; describe them."""
    member = db.session.scalar(sa.select(Member).where(Member.phone == CARD_HOLDER))
    card = cards.live_card(member.id) or cards.add_card(None, member)
    if db.session.get(MemberPin, member.id) is None:
        db.session.add(MemberPin(member_id=member.id, pin_hash=HASHER.hash(DEMO_PIN)))
    return (
        f"Member card of {member.name} (no smartphone needed; clerks sell at /counter/sell): "
        f"{cards.group_digits(card.number)}, PIN {DEMO_PIN}"
    )
