"""The one authorisation check: may this member do this action, here, to this target?

The "who may do what" table (README.md, docs/domain.md) is the specification: each action
names the roles that may do it; a role reaches the subtree of the org unit it is granted on
(an admin grant with no org unit reaches everywhere), a clerk only their supermarket.

An action on a member's account (``ACCOUNT_ACTIONS``: edit, move, suspend, hide, reset the
password, re-issue the activation code, unlock sign-in) also asks about the target: the
actor's grants must reach above every grant the target holds (``outranks``), so nobody
takes over an account that can do more than their own.

What every member may do for themselves (their own balance, claims, vouchers) is checked
by the services as "is this mine?", not here.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from core.errors import AppError
from core.identity.models import Member, OrgUnit, RoleGrant, Supermarket

GRID = frozenset({"grid_worker", "organiser", "admin"})
ORGANISERS = frozenset({"organiser", "admin"})
ADMINS = frozenset({"admin"})
COUNTER = frozenset({"admin", "clerk"})
#: Roles that open the organisers' console.
CONSOLE = frozenset({"organiser", "admin", "clerk"})

#: Action → the roles that may do it, inside their scope.
PERMISSIONS: dict[str, frozenset[str]] = {
    "member.read": GRID,  # list and read members in scope, and their ledgers
    "contribution.record": GRID,  # record a contribution for someone in scope
    "claim.review": GRID,  # approve or reject claims in scope (never one's own)
    "contribution.reverse": ORGANISERS,
    "event.manage": ORGANISERS,
    "member.manage": ORGANISERS,  # create, edit, move, suspend, reset passwords, unlock
    "activity.manage": ORGANISERS,
    "org_unit.manage": ADMINS,
    "role.manage": ADMINS,  # grant and revoke roles
    "member.hide": ADMINS,
    "supermarket.manage": ADMINS,
    "reward.manage": ADMINS,
    "voucher.handle": COUNTER,  # scan, fulfil and cancel vouchers
    "stock.receive": COUNTER,
    "stock.correct": COUNTER,
    "contribution.force_reverse": ADMINS,
    "balance.open": ADMINS,  # opening balances carried over from paper books
    "audit.read": ADMINS,
    "wish.vet": GRID,  # vet residents' micro-wishes in scope (never one's own)
    "wish.manage": ORGANISERS,  # publish wishes with points, cancel them, confirm late ones
    "patrol.manage": ORGANISERS,  # patrol routes, their posters and rounds
    "notice.publish": ORGANISERS,  # publish a month's public notice (积分公示)
    "notice.read": GRID,  # read notices in scope (members read their own areas' anyway)
    "objection.decide": ORGANISERS,  # uphold or dismiss an objection (never on one's own act)
    "fairness.review": ORGANISERS,  # see and decide the fairness watch's flags in scope
    "fairness.scan": ADMINS,  # run the fairness watch now
    "settlement.read": COUNTER,  # a supermarket's monthly settlements: its clerks, admins in scope
    "settlement.confirm": ADMINS,
    "budget.read": ORGANISERS,  # the points budgets of org units in scope, and their use
    "budget.manage": ADMINS,
}

#: Actions on a member's account: the actor must also outrank every grant the member holds.
ACCOUNT_ACTIONS = frozenset({"member.manage", "member.hide"})

#: How far each org-unit role reaches down the ladder of rights (clerks stand apart).
RANK = {"grid_worker": 1, "organiser": 2, "admin": 3}

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


def grant_outranks(mine: RoleGrant, theirs: RoleGrant) -> bool:
    """Tell whether one grant reaches above another: a higher role over the same or a smaller
    subtree, or the same role over a subtree strictly above. A clerk is outranked only by an
    admin whose scope covers the clerk's supermarket; a clerk outranks nobody."""
    if theirs.role == "clerk":
        return mine.role == "admin" and grant_reaches(mine, theirs.supermarket)
    if mine.role not in RANK or RANK[mine.role] < RANK[theirs.role]:
        return False
    if theirs.is_global:
        return False
    if not grant_reaches(mine, theirs.org_unit):
        return False
    return RANK[mine.role] > RANK[theirs.role] or mine.is_global or mine.org_unit_id != theirs.org_unit_id


def outranks(actor: Member, target: Member) -> bool:
    """Tell whether the actor's grants reach above every grant ``target`` holds (a member
    holding none is a plain resident: anyone may be above them)."""
    return all(any(grant_outranks(mine, theirs) for mine in actor.grants) for theirs in target.grants)


def _in_scope(member: Member | None, action: str, target: Target) -> bool:
    """Tell whether an active member holds a role for ``action`` whose scope covers ``target``."""
    if member is None or not member.is_active:
        return False
    roles = PERMISSIONS[action]
    return any(grant.role in roles and grant_reaches(grant, target) for grant in member.grants)


def _outranks_if_account(member: Member, action: str, target: Target) -> bool:
    """Tell whether the target rule lets ``member`` do ``action`` (it asks only about accounts)."""
    return action not in ACCOUNT_ACTIONS or not isinstance(target, Member) or outranks(member, target)


def can(member: Member | None, action: str, target: Target = None) -> bool:
    """Tell whether ``member`` may do ``action`` on ``target``."""
    return _in_scope(member, action, target) and _outranks_if_account(member, action, target)


def require(member: Member | None, action: str, target: Target = None) -> None:
    """Refuse with 401 when nobody is signed in and 403 when the member may not do this."""
    if member is None:
        raise AppError(401)
    if not _in_scope(member, action, target):
        raise AppError(403)
    if not _outranks_if_account(member, action, target):
        raise _held_above()


def _held_above() -> AppError:
    return AppError(
        403, message=_l("This member holds a role at or above yours: ask someone above you both.")
    )


def require_may_change_roles(actor: Member, target: Member) -> None:
    """Refuse with 403 unless the actor's grants reach above every grant ``target`` holds (the target
    rule, applied to granting and revoking the target's roles); a global admin may also change
    another global admin's roles, as nobody in the application is above them."""
    if not (outranks(actor, target) or any(grant.is_global for grant in actor.grants)):
        raise _held_above()


def holds_role(member: Member | None, roles: frozenset[str]) -> bool:
    """Tell whether an active member holds one of ``roles`` anywhere."""
    return member is not None and member.is_active and any(grant.role in roles for grant in member.grants)


def can_somewhere(member: Member | None, action: str) -> bool:
    """Tell whether ``member`` may do ``action`` anywhere (an org unit or, for clerks, their supermarket)."""
    return holds_role(member, PERMISSIONS[action])


def require_somewhere(member: Member | None, action: str) -> None:
    """Refuse with 401 signed out and 403 when the member may do ``action`` nowhere."""
    if member is None:
        raise AppError(401)
    if not can_somewhere(member, action):
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


def clerk_supermarket_ids(member: Member, action: str) -> list[int]:
    """The supermarkets where ``member`` may do ``action`` as their clerk (none when clerks may not)."""
    if "clerk" not in PERMISSIONS[action]:
        return []
    return [grant.supermarket_id for grant in member.grants if grant.role == "clerk"]


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
