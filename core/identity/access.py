"""The one authorisation check: may this member do this action on this object?

DESIGN.md's "who may do what" table is the specification: each action names the
roles that may do it; a role reaches the subtree of the org unit it is granted on
(an admin grant with no org unit reaches everywhere), a clerk only their supermarket.
What every member may do for themselves (their own balance, claims, vouchers) is
checked by the services as "is this mine?", not here.
"""

from __future__ import annotations

import sqlalchemy as sa

from core.errors import AppError
from core.identity.models import Member, OrgUnit, RoleGrant, Supermarket

GRID = frozenset({"grid_worker", "organiser", "admin"})
ORGANISERS = frozenset({"organiser", "admin"})
ADMINS = frozenset({"admin"})
COUNTER = frozenset({"admin", "clerk"})

#: Action → the roles that may do it, inside their scope.
PERMISSIONS: dict[str, frozenset[str]] = {
    "member.read": GRID,                 # list and read members in scope, and their ledgers
    "contribution.record": GRID,         # record a contribution for someone in scope
    "claim.review": GRID,                # approve or reject claims in scope (never one's own)
    "contribution.reverse": ORGANISERS,
    "event.manage": ORGANISERS,
    "member.manage": ORGANISERS,         # create, edit, move, suspend, reset passwords
    "activity.manage": ORGANISERS,
    "org_unit.manage": ADMINS,
    "role.manage": ADMINS,               # grant and revoke roles
    "member.hide": ADMINS,
    "supermarket.manage": ADMINS,
    "reward.manage": ADMINS,
    "voucher.handle": COUNTER,           # scan, fulfil and cancel vouchers
    "stock.receive": COUNTER,
    "stock.correct": COUNTER,
    "contribution.force_reverse": ADMINS,
    "balance.open": ADMINS,              # opening balances carried over from paper books
    "audit.read": ADMINS,
}

Target = OrgUnit | Supermarket | Member | None


def _target_unit(target: Target) -> OrgUnit | None:
    """Return the org unit whose subtree decides access to ``target``."""
    if isinstance(target, OrgUnit):
        return target
    if isinstance(target, (Supermarket, Member)):
        return target.org_unit
    return None


def grant_reaches(grant: RoleGrant, target: Target) -> bool:
    """Tell whether one grant's scope covers ``target`` (None means "everywhere")."""
    if grant.is_global:
        return True
    if grant.role == "clerk":
        return isinstance(target, Supermarket) and target.id == grant.supermarket_id
    unit = _target_unit(target)
    return grant.org_unit is not None and grant.org_unit.contains(unit)


def can(member: Member | None, action: str, target: Target = None) -> bool:
    """Tell whether ``member`` may do ``action`` on ``target``."""
    if member is None or not member.is_active:
        return False
    roles = PERMISSIONS[action]
    return any(grant.role in roles and grant_reaches(grant, target) for grant in member.grants)


def require(member: Member | None, action: str, target: Target = None) -> None:
    """Refuse with 401 when nobody is signed in and 403 when the member may not do this."""
    if member is None:
        raise AppError(401)
    if not can(member, action, target):
        raise AppError(403)


def scope_units(member: Member, action: str) -> list[OrgUnit] | None:
    """Return the org units whose subtrees ``member`` may do ``action`` in; None means everywhere."""
    units = []
    for grant in member.grants:
        if grant.role not in PERMISSIONS[action]:
            continue
        if grant.is_global:
            return None
        if grant.org_unit is not None:
            units.append(grant.org_unit)
    return units


def scope_condition(member: Member, action: str):
    """A WHERE condition on ``OrgUnit.path`` for the units ``member`` may do ``action`` in.

    Answers ``sa.true()`` for everywhere; refuses with 403 when the member may do it nowhere.
    The caller joins ``OrgUnit`` to the rows it lists.
    """
    units = scope_units(member, action)
    if units == []:
        raise AppError(403)
    if units is None:
        return sa.true()
    return sa.or_(*[OrgUnit.path.startswith(unit.path) for unit in units])
