"""Schemas of identity: what the API reads and what it answers."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from core.api import PageQuerySchema
from core.identity.hooks import me_details
from core.identity.models import MEMBER_STATUSES, ORG_UNIT_KINDS, ROLES
from core.identity.passwords import MAX_LENGTH, MIN_LENGTH
from core.identity.phones import MAX_TYPED_LENGTH, normalise_phone


class PhoneNumber(fields.String):
    """A mainland mobile number as people type it ("+86 139-0000-0016"), loaded as its 11 digits."""

    default_error_messages = {"phone": "must be a mainland mobile number (11 digits, 1[3-9]…)"}

    def _deserialize(self, value, attr, data, **kwargs):
        phone = normalise_phone(super()._deserialize(value, attr, data, **kwargs))
        if phone is None:
            raise self.make_error("phone")
        return phone


def not_blank(value: str) -> None:
    """Refuse a text that is only spaces."""
    if not value.strip():
        raise ma.ValidationError("must not be blank")


def name_field(length: int, **kwargs) -> fields.String:
    """A required human-readable name of at most ``length`` characters."""
    return fields.String(validate=[validate.Length(min=1, max=length), not_blank], **kwargs)


class RefSchema(ma.Schema):
    """A short reference to another object: its id and name."""

    id = fields.Integer()
    name = fields.String()


class OrgUnitSchema(ma.Schema):
    """An org unit."""

    id = fields.Integer()
    name = fields.String()
    kind = fields.String()
    parent_id = fields.Integer(allow_none=True)
    depth = fields.Integer()
    created_at = fields.DateTime()


class CreateOrgUnitSchema(ma.Schema):
    """Add an org unit; ``parent_id`` null makes a root."""

    name = name_field(100, required=True)
    kind = fields.String(required=True, validate=validate.OneOf(ORG_UNIT_KINDS))
    parent_id = fields.Integer(load_default=None, allow_none=True)


class UpdateOrgUnitSchema(ma.Schema):
    """Rename an org unit or move it under another parent."""

    name = name_field(100)
    parent_id = fields.Integer(allow_none=True)


class OrgUnitQuerySchema(PageQuerySchema):
    """Children of ``parent_id`` (the roots when absent)."""

    parent_id = fields.Integer(load_default=None)


class RoleGrantSchema(ma.Schema):
    """An active role grant."""

    id = fields.Integer()
    role = fields.String()
    org_unit = fields.Nested(RefSchema, allow_none=True)
    supermarket = fields.Nested(RefSchema, allow_none=True)
    granted_at = fields.DateTime()
    revoked_at = fields.DateTime(allow_none=True)


class GrantRoleSchema(ma.Schema):
    """Grant a role: on an org unit (an admin with none: everywhere), or clerk at a supermarket."""

    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    org_unit_id = fields.Integer(load_default=None, allow_none=True)
    supermarket_id = fields.Integer(load_default=None, allow_none=True)


class RevokeRoleQuerySchema(ma.Schema):
    """Why a role is revoked (kept in the audit log)."""

    reason = fields.String(load_default=None, validate=validate.Length(max=500))


class MemberSchema(ma.Schema):
    """A member as staff in scope (and the member themselves) see them."""

    id = fields.Integer()
    name = fields.String()
    phone = fields.String()
    org_unit = fields.Nested(RefSchema, allow_none=True)
    status = fields.String()
    hidden = fields.Boolean()
    anonymous = fields.Boolean()
    created_at = fields.DateTime()
    roles = fields.List(fields.Nested(RoleGrantSchema), attribute="grants")


class MeSchema(MemberSchema):
    """The signed-in member, with what the packages registered for ``GET /me`` add (points: balance,
    level, stars, badges, streak)."""

    balance = fields.Dict(
        keys=fields.String(), values=fields.Integer(), metadata={"description": "available and held points"}
    )
    lifetime_earned = fields.Integer()
    level = fields.Dict(metadata={"description": "code, name, min_points, next_at, to_next"})
    stars = fields.Dict(metadata={"description": "volunteer stars: count, hours, next_at, to_next"})
    badges = fields.List(fields.Dict(), metadata={"description": "each with code, name, awarded_at"})
    streak = fields.Dict(metadata={"description": "daily check-in streak: days, checked_in_today"})

    @ma.pre_dump
    def with_details(self, member, **_kwargs):
        """The member's own fields, then what every registered package adds."""
        details = me_details(member)
        own = {field.attribute or name for name, field in self.fields.items() if name not in details}
        return {**{key: getattr(member, key, ma.missing) for key in own}, **details}


class CreateMemberSchema(ma.Schema):
    """Create a member in a grid (no grid: a staff account, global admins only)."""

    name = name_field(50, required=True)
    phone = PhoneNumber(required=True)
    password = fields.String(
        required=True, load_only=True, validate=validate.Length(min=MIN_LENGTH, max=MAX_LENGTH)
    )
    org_unit_id = fields.Integer(load_default=None, allow_none=True)


class UpdateMemberSchema(ma.Schema):
    """Change a member: name, phone, grid, suspension, hidden (admins)."""

    name = name_field(50)
    phone = PhoneNumber()
    org_unit_id = fields.Integer(allow_none=True)
    status = fields.String(validate=validate.OneOf(MEMBER_STATUSES))
    hidden = fields.Boolean()


class UpdateMeSchema(ma.Schema):
    """What members choose for themselves."""

    anonymous = fields.Boolean()


class MemberQuerySchema(PageQuerySchema):
    """Members within ``org_unit_id``'s subtree, matching ``q`` (name or phone)."""

    org_unit_id = fields.Integer(load_default=None)
    q = fields.String(load_default=None, validate=validate.Length(max=50))


class ResetPasswordSchema(ma.Schema):
    """A new password set by an organiser."""

    password = fields.String(
        required=True, load_only=True, validate=validate.Length(min=MIN_LENGTH, max=MAX_LENGTH)
    )


class ChangePasswordSchema(ma.Schema):
    """Change one's own password."""

    current_password = fields.String(required=True, load_only=True, validate=validate.Length(max=MAX_LENGTH))
    new_password = fields.String(
        required=True, load_only=True, validate=validate.Length(min=MIN_LENGTH, max=MAX_LENGTH)
    )


class SignInSchema(ma.Schema):
    """Sign in with a phone number and password."""

    phone = fields.String(required=True, validate=validate.Length(max=MAX_TYPED_LENGTH))
    password = fields.String(required=True, load_only=True, validate=validate.Length(max=MAX_LENGTH))


class ActivateSchema(ma.Schema):
    """Set one's first password with the activation code from the printed slip."""

    phone = fields.String(required=True, validate=validate.Length(max=MAX_TYPED_LENGTH))
    code = fields.String(required=True, load_only=True, validate=validate.Length(max=20))
    password = fields.String(
        required=True, load_only=True, validate=validate.Length(min=MIN_LENGTH, max=MAX_LENGTH)
    )


class TokenSchema(ma.Schema):
    """A new bearer token."""

    token = fields.String()
    expires_at = fields.DateTime()
    member = fields.Nested(MemberSchema)


class SupermarketSchema(ma.Schema):
    """A safety supermarket."""

    id = fields.Integer()
    name = fields.String()
    org_unit = fields.Nested(RefSchema)
    address = fields.String()
    opening_hours = fields.String(allow_none=True)
    active = fields.Boolean()


class CreateSupermarketSchema(ma.Schema):
    """Open a safety supermarket in an org unit."""

    name = name_field(100, required=True)
    org_unit_id = fields.Integer(required=True)
    address = name_field(255, required=True)
    opening_hours = fields.String(load_default=None, validate=validate.Length(max=100))
