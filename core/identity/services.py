"""Identity services: org units, members, roles, supermarkets, sign-in. One public call, one transaction."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_ngettext
from limits import parse as parse_limit
from sqlalchemy.exc import IntegrityError

from core.api import paginate
from core.audit import record_audit
from core.database import begin_writing, utcnow
from core.errors import AppError
from core.extensions import db
from core.identity.access import require, require_may_change_roles, scope_condition
from core.identity.hooks import members_changed, units_moved
from core.identity.models import (
    ORG_UNIT_KINDS,
    STAFF_ROLES,
    ApiToken,
    Member,
    OrgUnit,
    RoleGrant,
    Supermarket,
)
from core.identity.passwords import hash_password, needs_rehash, password_problem, verify_password
from core.identity.phones import normalise_phone
from core.throttle import Throttle

TOKEN_PREFIX = "pa_"  # nosec B105: a marker in front of every token, not a secret


def mask_name(name: str) -> str:
    """Mask a name wherever others see it (boards, the counter): 张三明 → 张*明, 张三 → 张*, 王 → *."""
    if len(name) <= 1:
        return "*"
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def _get(model, object_id: int | None, field: str):
    """Load a row by id or refuse with 404 naming the field that pointed at it."""
    row = db.session.get(model, object_id) if object_id is not None else None
    if row is None:
        raise AppError(
            404,
            message=_l("Nothing was found with this id."),
            errors={field: [f"no such {model.__tablename__}: {object_id}"]},
        )
    return row


def get_org_unit(unit_id: int, field: str = "org_unit_id") -> OrgUnit:
    """Return an org unit or refuse with 404."""
    return _get(OrgUnit, unit_id, field)


def get_member(member_id: int, field: str = "member_id") -> Member:
    """Return a member or refuse with 404."""
    return _get(Member, member_id, field)


def get_supermarket(supermarket_id: int, field: str = "supermarket_id") -> Supermarket:
    """Return a supermarket or refuse with 404."""
    return _get(Supermarket, supermarket_id, field)


def _commit(duplicate_field: str | None = None, *, flush_only: bool = False) -> None:
    """Commit (or only flush), turning a unique-constraint race into 409 ``duplicate``."""
    try:
        db.session.flush() if flush_only else db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise AppError(
            409,
            "duplicate",
            _l("This already exists."),
            {duplicate_field: ["already used"]} if duplicate_field else None,
        ) from None


# --- org units -----------------------------------------------------------------------------


def _check_kind(kind: str, parent: OrgUnit | None) -> None:
    """Refuse a unit whose kind is not below its parent's (a grid has no children)."""
    if parent is not None and ORG_UNIT_KINDS.index(kind) <= ORG_UNIT_KINDS.index(parent.kind):
        raise AppError(
            422,
            "validation_error",
            _l("A unit must be of a lower kind than its parent."),
            {"kind": [f"a {kind} cannot be placed under a {parent.kind}"]},
        )


def create_org_unit(actor: Member, name: str, kind: str, parent_id: int | None) -> OrgUnit:
    """Add an org unit under ``parent_id`` (None: a root, global admins only)."""
    parent = get_org_unit(parent_id, "parent_id") if parent_id is not None else None
    require(actor, "org_unit.manage", parent)
    _check_kind(kind, parent)
    begin_writing(db.session)
    unit = OrgUnit(name=name, kind=kind, parent=parent, path="")
    db.session.add(unit)
    _commit("name", flush_only=True)
    unit.path = (parent.path if parent else "/") + f"{unit.id}/"
    record_audit(actor, "org_unit.create", unit, after={"name": name, "kind": kind, "parent_id": parent_id})
    _commit("name")
    return unit


def update_org_unit(
    actor: Member, unit: OrgUnit, *, name: str | None = None, parent_id: int | None = None, move: bool = False
) -> OrgUnit:
    """Rename a unit, or move it (with its subtree) under another parent."""
    require(actor, "org_unit.manage", unit)
    begin_writing(db.session)
    before = {"name": unit.name, "parent_id": unit.parent_id}
    if name is not None:
        unit.name = name
    if move and parent_id != unit.parent_id:
        new_parent = get_org_unit(parent_id, "parent_id") if parent_id is not None else None
        require(actor, "org_unit.manage", new_parent)
        if new_parent is not None and unit.contains(new_parent):
            raise AppError(
                422,
                "validation_error",
                _l("A unit cannot move under itself."),
                {"parent_id": ["is this unit or one below it"]},
            )
        _check_kind(unit.kind, new_parent)
        old_path = unit.path
        new_path = (new_parent.path if new_parent else "/") + f"{unit.id}/"
        unit.parent = new_parent
        unit.parent_id = parent_id
        db.session.execute(
            sa.update(OrgUnit)
            .where(OrgUnit.path.startswith(old_path, autoescape=True))
            .values(path=new_path + sa.func.substr(OrgUnit.path, len(old_path) + 1))
            .execution_options(synchronize_session=False)
        )
        db.session.flush()
        units_moved([unit.id])
    after = {"name": unit.name, "parent_id": unit.parent_id}
    if after != before:
        record_audit(actor, "org_unit.update", unit, before=before, after=after)
    _commit("name")
    db.session.refresh(unit)
    return unit


def list_org_units(actor: Member, parent_id: int | None, page: int, page_size: int) -> dict:
    """List the children of a unit (the roots when None) that the member may see."""
    statement = sa.select(OrgUnit).order_by(OrgUnit.id)
    statement = statement.where(
        OrgUnit.parent_id == parent_id if parent_id is not None else OrgUnit.parent_id.is_(None)
    )
    return paginate(statement, page, page_size)


def list_units_in_scope(actor: Member, action: str, kind: str | None = None) -> list[OrgUnit]:
    """The org units (of one kind, if given) where the actor may do ``action``, in tree order."""
    statement = sa.select(OrgUnit).where(scope_condition(actor, action)).order_by(OrgUnit.path)
    if kind is not None:
        statement = statement.where(OrgUnit.kind == kind)
    return list(db.session.scalars(statement))


# --- members -------------------------------------------------------------------------------


def _check_phone(phone: str, member: Member | None = None) -> str:
    """Answer the canonical form of a phone, refusing a malformed one or one another member uses."""
    canonical = normalise_phone(phone)
    if canonical is None:
        raise AppError(
            422,
            "validation_error",
            _l("Enter an 11-digit mobile number."),
            {"phone": ["must be a mainland mobile number"]},
        )
    taken = db.session.scalar(sa.select(Member.id).where(Member.phone == canonical))
    if taken is not None and (member is None or taken != member.id):
        raise AppError(
            409, "duplicate", _l("This phone number is already used."), {"phone": ["already used"]}
        )
    return canonical


def _check_password(password: str, field: str = "password") -> None:
    """Refuse a password that is too short, blank or one of the commonest (``password_problem``)."""
    problem = password_problem(password)
    if problem is not None:
        raise AppError(
            422,
            "validation_error",
            _l("This password is too short, too simple or too common: choose another."),
            {field: [problem]},
        )


def create_member(actor: Member, name: str, phone: str, password: str, org_unit_id: int | None) -> Member:
    """Create a member in a grid of the actor's scope (no grid: staff, global admins only)."""
    unit = get_org_unit(org_unit_id) if org_unit_id is not None else None
    require(actor, "member.manage", unit)
    if unit is not None and unit.kind != "grid":
        raise AppError(422, "validation_error", errors={"org_unit_id": ["must be a grid"]})
    phone = _check_phone(phone)
    _check_password(password)
    password_hash = hash_password(password)  # slow: before the write lock
    begin_writing(db.session)
    member = Member(name=name, phone=phone, password_hash=password_hash, org_unit=unit)
    db.session.add(member)
    record_audit(
        actor, "member.create", member, after={"name": name, "phone": phone, "org_unit_id": org_unit_id}
    )
    _commit("phone")
    return member


def read_member(actor: Member, member: Member) -> Member:
    """Return a member the actor may read: themselves, or someone in their scope."""
    if actor.id != member.id:
        require(actor, "member.read", member)
    return member


def update_member(actor: Member, member: Member, changes: dict) -> Member:
    """Change name, phone, grid, status or hidden flag of a member in the actor's scope."""
    if actor.id == member.id and changes.get("status") == "suspended":
        raise AppError(422, "validation_error", errors={"status": ["you cannot suspend yourself"]})
    require(actor, "member.manage", member)
    if "hidden" in changes:
        require(actor, "member.hide", member)
    begin_writing(db.session)
    fields = ("name", "phone", "org_unit_id", "status", "hidden")
    before = {field: getattr(member, field) for field in fields}
    if "phone" in changes:
        changes = {**changes, "phone": _check_phone(changes["phone"], member)}
    if "org_unit_id" in changes and changes["org_unit_id"] != member.org_unit_id:
        unit = get_org_unit(changes["org_unit_id"]) if changes["org_unit_id"] is not None else None
        require(actor, "member.manage", unit)
        if unit is not None and unit.kind != "grid":
            raise AppError(422, "validation_error", errors={"org_unit_id": ["must be a grid"]})
        member.org_unit = unit
    for field in ("name", "phone", "status", "hidden"):
        if field in changes:
            setattr(member, field, changes[field])
    if before["status"] == "active" and member.status == "suspended":
        _end_sessions(member)
    _commit("phone", flush_only=True)  # so org_unit_id follows the relationship set above
    after = {field: getattr(member, field) for field in fields}
    changed = {k for k in fields if before[k] != after[k]}
    if changed:
        record_audit(
            actor,
            "member.update",
            member,
            before={k: before[k] for k in changed},
            after={k: after[k] for k in changed},
        )
    if changed & {"org_unit_id", "status", "hidden"}:
        members_changed([member.id])
    _commit("phone")
    return member


def update_own_profile(member: Member, changes: dict) -> Member:
    """Let a member change their own display choices (anonymous on boards)."""
    begin_writing(db.session)
    if "anonymous" in changes and changes["anonymous"] != member.anonymous:
        record_audit(
            member,
            "member.update",
            member,
            before={"anonymous": member.anonymous},
            after={"anonymous": changes["anonymous"]},
        )
        member.anonymous = changes["anonymous"]
    _commit()
    return member


def reset_password(actor: Member, member: Member, new_password: str) -> Member:
    """Set a new password for a member in scope; their sessions and tokens end."""
    require(actor, "member.manage", member)
    return _set_password(actor, member, new_password, "member.reset_password")


def change_own_password(member: Member, current_password: str, new_password: str) -> Member:
    """Change one's own password after checking the current one; other sessions end."""
    if not verify_password(member.password_hash, current_password):
        raise AppError(422, "validation_error", errors={"current_password": ["is not correct"]})
    return _set_password(member, member, new_password, "member.change_password", "new_password")


def _set_password(
    actor: Member, member: Member, new_password: str, action: str, field: str = "password"
) -> Member:
    """Hash and store a new password, end every other session and token, audit it."""
    _check_password(new_password, field)
    password_hash = hash_password(new_password)  # slow: before the write lock
    begin_writing(db.session)
    member.password_hash = password_hash
    _end_sessions(member)
    record_audit(actor, action, member)
    _commit()
    return member


def _end_sessions(member: Member) -> None:
    """Revoke every token and page session of a member."""
    member.session_version += 1
    db.session.execute(
        sa.update(ApiToken)
        .where(ApiToken.member_id == member.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def list_members(
    actor: Member, *, org_unit_id: int | None, query: str | None, page: int, page_size: int
) -> dict:
    """List the members the actor may read, optionally within one unit or matching a name or phone."""
    statement = (
        sa.select(Member)
        .outerjoin(OrgUnit, Member.org_unit_id == OrgUnit.id)
        .where(scope_condition(actor, "member.read"))
    )
    if org_unit_id is not None:
        unit = get_org_unit(org_unit_id)
        statement = statement.where(OrgUnit.path.startswith(unit.path))
    if query:
        pattern = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        statement = statement.where(
            sa.or_(Member.name.like(pattern, escape="\\"), Member.phone.like(pattern, escape="\\"))
        )
    return paginate(statement.order_by(Member.id), page, page_size)


# --- roles ---------------------------------------------------------------------------------


def grant_role(
    actor: Member, member: Member, role: str, org_unit_id: int | None, supermarket_id: int | None
) -> RoleGrant:
    """Grant a role on an org unit's subtree, or clerk at a supermarket."""
    if role == "clerk":
        if supermarket_id is None or org_unit_id is not None:
            raise AppError(
                422, "validation_error", errors={"supermarket_id": ["a clerk is granted on a supermarket"]}
            )
        target = get_supermarket(supermarket_id)
    else:
        if supermarket_id is not None:
            raise AppError(
                422,
                "validation_error",
                errors={"supermarket_id": ["only a clerk is granted on a supermarket"]},
            )
        if org_unit_id is None and role != "admin":
            raise AppError(422, "validation_error", errors={"org_unit_id": ["required for this role"]})
        target = get_org_unit(org_unit_id) if org_unit_id is not None else None
    require(actor, "role.manage", target)
    require_may_change_roles(actor, member)
    for grant in member.grants:
        if (grant.role, grant.org_unit_id, grant.supermarket_id) == (role, org_unit_id, supermarket_id):
            raise AppError(
                409, "duplicate", _l("The member already has this role here."), {"role": ["already granted"]}
            )
    begin_writing(db.session)
    grant = RoleGrant(
        member=member,
        role=role,
        org_unit_id=org_unit_id,
        supermarket_id=supermarket_id,
        granted_by_id=actor.id,
    )
    db.session.add(grant)
    record_audit(
        actor,
        "role.grant",
        member,
        after={"role": role, "org_unit_id": org_unit_id, "supermarket_id": supermarket_id},
    )
    _commit_grants(member, role)
    return grant


def _commit_grants(member: Member, role: str) -> None:
    """Commit a grant or revocation of ``role``; a staff role changes whether the member counts on
    the boards. The member's grants are read afresh next time."""
    if role in STAFF_ROLES:
        db.session.flush()
        members_changed([member.id])
    _commit()
    db.session.expire(member, ["grants"])


def revoke_role(actor: Member, member: Member, grant_id: int, reason: str | None = None) -> RoleGrant:
    """Revoke one of a member's active grants."""
    grant = db.session.get(RoleGrant, grant_id)
    if grant is None or grant.member_id != member.id or grant.revoked_at is not None:
        raise AppError(404, errors={"grant_id": ["no such active grant for this member"]})
    require(actor, "role.manage", grant.supermarket or grant.org_unit)
    require_may_change_roles(actor, member)
    begin_writing(db.session)
    grant.revoked_at = utcnow()
    grant.revoked_by_id = actor.id
    record_audit(
        actor,
        "role.revoke",
        member,
        before={"role": grant.role, "org_unit_id": grant.org_unit_id, "supermarket_id": grant.supermarket_id},
        reason=reason,
    )
    _commit_grants(member, grant.role)
    return grant


def list_grants(actor: Member, member: Member) -> list[RoleGrant]:
    """List a member's active grants (their own, or anyone's in the actor's scope)."""
    read_member(actor, member)
    return list(member.grants)


# --- supermarkets --------------------------------------------------------------------------


def create_supermarket(
    actor: Member, name: str, org_unit_id: int, address: str, opening_hours: str | None = None
) -> Supermarket:
    """Open a safety supermarket in an org unit of the admin's scope."""
    unit = get_org_unit(org_unit_id)
    require(actor, "supermarket.manage", unit)
    begin_writing(db.session)
    supermarket = Supermarket(name=name, org_unit=unit, address=address, opening_hours=opening_hours)
    db.session.add(supermarket)
    record_audit(
        actor,
        "supermarket.create",
        supermarket,
        after={"name": name, "org_unit_id": org_unit_id, "address": address},
    )
    _commit()
    return supermarket


def update_supermarket(actor: Member, supermarket: Supermarket, changes: dict) -> Supermarket:
    """Rename a supermarket, move it to another org unit, or change its address or hours (admins
    in scope of where it is and of where it goes)."""
    require(actor, "supermarket.manage", supermarket)
    fields = ("name", "org_unit_id", "address", "opening_hours")
    before = {key: getattr(supermarket, key) for key in fields}
    if "org_unit_id" in changes and changes["org_unit_id"] != supermarket.org_unit_id:
        require(actor, "supermarket.manage", get_org_unit(changes["org_unit_id"]))
    begin_writing(db.session)
    for key in fields:
        if key in changes:
            setattr(supermarket, key, changes[key])
    db.session.flush()
    db.session.expire(supermarket, ["org_unit"])
    after = {key: getattr(supermarket, key) for key in fields}
    if after != before:
        record_audit(actor, "supermarket.update", supermarket, before=before, after=after)
    _commit()
    return supermarket


def list_supermarkets(page: int, page_size: int) -> dict:
    """List the supermarkets (every member may see where to redeem)."""
    return paginate(sa.select(Supermarket).order_by(Supermarket.id), page, page_size)


# --- sign-in -------------------------------------------------------------------------------


def sign_in_throttle() -> Throttle:
    """Failed sign-ins and activations per phone number (``LOGIN_FAILURE_LIMIT``, e.g. "5 per 15
    minutes"): that many failures within the period lock the number for the same period."""
    limit = parse_limit(current_app.config["LOGIN_FAILURE_LIMIT"])
    period = timedelta(seconds=limit.get_expiry())
    return Throttle("sign_in", limit.amount, period, period)


def refuse_while_locked(phone: str | None) -> None:
    """Refuse with 429 (and how long to wait) while a phone number is locked after failed sign-ins."""
    wait = sign_in_throttle().wait(phone) if phone is not None else 0
    if wait:
        minutes = -(-wait // 60)
        raise AppError(
            429,
            "rate_limited",
            lazy_ngettext(
                "Too many failed attempts with this phone number. Try again in %(num)d minute.",
                "Too many failed attempts with this phone number. Try again in %(num)d minutes.",
                minutes,
            ),
            {"phone": [f"locked for {wait} more seconds"]},
            headers={"Retry-After": str(wait)},
        )


def count_failed_sign_in(phone: str | None) -> None:
    """Count a failed sign-in or activation against the phone number (in the shared store)."""
    if phone is not None:
        sign_in_throttle().fail(phone)


def authenticate(phone: str, password: str) -> Member:
    """Check a phone and password; a wrong pair and an unknown phone look and take the same.

    Failures count per phone number in the store every worker shares; a locked number is
    refused before anything is checked. The slow hash is checked before anything is written,
    so that on SQLite sign-ins do not hold the write lock while they hash.
    """
    phone = normalise_phone(phone)
    refuse_while_locked(phone)
    member = db.session.scalar(sa.select(Member).where(Member.phone == phone)) if phone else None
    verified = verify_password(member.password_hash if member else None, password)
    if not verified:
        count_failed_sign_in(phone)
        raise AppError(401, "unauthorized", _l("The phone number or password is not correct."))
    begin_writing(db.session)
    if not member.is_active:
        raise AppError(403, "forbidden", _l("This account is suspended."))
    if needs_rehash(member.password_hash):
        member.password_hash = hash_password(password)
        db.session.commit()
    return member


def sign_in_lock(member: Member) -> int:
    """Seconds the member's phone number stays locked after failed sign-ins (0: not locked)."""
    return sign_in_throttle().wait(member.phone)


def unlock_sign_in(actor: Member, member: Member) -> None:
    """Lift the lock failed sign-ins put on a member's phone number (someone who outranks them)."""
    require(actor, "member.manage", member)
    locked_for = sign_in_lock(member)
    begin_writing(db.session)
    record_audit(actor, "member.unlock", member, before={"locked_for_seconds": locked_for})
    _commit()  # audited first; the store then changes in its own transaction (SQLite: one writer)
    sign_in_throttle().clear(member.phone)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(member: Member, ttl: timedelta) -> tuple[str, ApiToken]:
    """Create a bearer token for a signed-in member; only its hash is stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    begin_writing(db.session)
    row = ApiToken(member=member, token_hash=_token_hash(token), expires_at=utcnow() + ttl)
    db.session.add(row)
    db.session.commit()
    return token, row


#: A token with its member, their grid and their live grants (with the grants' units): one query.
_TOKEN = (
    sa.select(ApiToken)
    .where(ApiToken.token_hash == sa.bindparam("token_hash"))
    .options(
        sa.orm.joinedload(ApiToken.member).options(
            sa.orm.joinedload(Member.org_unit), sa.orm.joinedload(Member.grants)
        )
    )
)


def find_token(token: str, now: datetime | None = None) -> ApiToken | None:
    """Return the live token row for a bearer token, or None when unknown, expired or revoked."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = db.session.scalars(_TOKEN, {"token_hash": _token_hash(token)}).unique().first()
    now = now or utcnow()
    if row is None or row.revoked_at is not None or row.expires_at <= now or not row.member.is_active:
        return None
    return row


def revoke_token(row: ApiToken) -> None:
    """Revoke one token (signing out of one device)."""
    begin_writing(db.session)
    row.revoked_at = utcnow()
    db.session.commit()


def ensure_global_admin(phone: str, password: str, name: str) -> tuple[Member, bool]:
    """Create or update a global administrator; answer the member and whether anything changed."""
    phone = normalise_phone(phone)
    if phone is None:
        raise AppError(422, "validation_error", errors={"phone": ["must be a mainland mobile number"]})
    _check_password(password)
    begin_writing(db.session)
    changed = False
    member = db.session.scalar(sa.select(Member).where(Member.phone == phone))
    if member is None:
        member = Member(name=name, phone=phone, password_hash=hash_password(password))
        db.session.add(member)
        record_audit(None, "member.create", member, after={"name": name, "phone": phone})
        changed = True
    elif (
        not verify_password(member.password_hash, password)
        or member.name != name
        or member.status != "active"
    ):
        member.password_hash = hash_password(password)
        member.name = name
        member.status = "active"
        record_audit(
            None,
            "member.update",
            member,
            after={"name": name, "status": "active"},
            reason="flask create-admin",
        )
        changed = True
    if not any(grant.is_global for grant in member.grants):
        db.session.add(RoleGrant(member=member, role="admin"))
        record_audit(
            None,
            "role.grant",
            member,
            after={"role": "admin", "org_unit_id": None},
            reason="flask create-admin",
        )
        changed = True
    if changed:
        db.session.flush()
        members_changed([member.id])
    db.session.commit()
    db.session.expire(member, ["grants"])
    return member, changed
