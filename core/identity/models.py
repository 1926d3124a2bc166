"""Org units, supermarkets (the row clerks point at), members, role grants and API tokens."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.database import utcnow
from core.extensions import db

#: Org unit kinds from the top of the tree down; a child is always of a lower kind.
ORG_UNIT_KINDS = ("county", "town", "community", "grid")
ROLES = ("grid_worker", "organiser", "admin", "clerk")
#: Roles that are left out of member leaderboards.
STAFF_ROLES = frozenset({"organiser", "admin", "clerk"})
MEMBER_STATUSES = ("active", "suspended")


class OrgUnit(db.Model):
    """A county, town or street, community or village, or grid; ``path`` makes subtrees one query."""

    __tablename__ = "org_unit"
    __table_args__ = (sa.UniqueConstraint("parent_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    kind: Mapped[str] = mapped_column(sa.String(20))
    parent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("org_unit.id"), index=True)
    #: Materialised path of ids, "/1/4/9/": the subtree of a unit is every path starting with its own.
    path: Mapped[str] = mapped_column(sa.String(255), index=True, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    parent: Mapped[OrgUnit | None] = relationship(remote_side=[id])

    @property
    def depth(self) -> int:
        """Return 0 for a root, 1 for its children, and so on."""
        return self.path.count("/") - 2

    def contains(self, other: OrgUnit | None) -> bool:
        """Tell whether ``other`` is this unit or lies below it."""
        return other is not None and other.path.startswith(self.path)


class Supermarket(db.Model):
    """A safety supermarket; ``rewards`` owns its rewards, stock and vouchers."""

    __tablename__ = "supermarket"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    org_unit_id: Mapped[int] = mapped_column(sa.ForeignKey("org_unit.id"), index=True)
    address: Mapped[str] = mapped_column(sa.String(255))
    opening_hours: Mapped[str | None] = mapped_column(sa.String(100))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    org_unit: Mapped[OrgUnit] = relationship()


class Member(db.Model):
    """A resident, volunteer, grid worker or staff account; the phone number is the login."""

    __tablename__ = "member"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(50))
    phone: Mapped[str] = mapped_column(sa.String(11), unique=True)
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    org_unit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("org_unit.id"), index=True)
    status: Mapped[str] = mapped_column(sa.String(20), default="active")
    #: Set by an admin: left out of every public board (test accounts, members at risk).
    hidden: Mapped[bool] = mapped_column(default=False)
    #: The member's own choice: shown as 匿名 on boards but still ranked.
    anonymous: Mapped[bool] = mapped_column(default=False)
    #: Raised when the password changes or the member is suspended: older sessions end.
    session_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    org_unit: Mapped[OrgUnit | None] = relationship()
    grants: Mapped[list[RoleGrant]] = relationship(
        primaryjoin="and_(RoleGrant.member_id == Member.id, RoleGrant.revoked_at.is_(None))",
        viewonly=True,
        lazy="selectin",
    )

    @property
    def is_active(self) -> bool:
        """Tell whether the member may sign in (Flask-Login reads this too)."""
        return self.status == "active"

    @property
    def is_staff(self) -> bool:
        """Tell whether the member holds a staff role (admin, organiser, clerk)."""
        return any(grant.role in STAFF_ROLES for grant in self.grants)

    # Flask-Login's user interface, for pages signed in with a session cookie.
    is_authenticated = True
    is_anonymous = False

    def get_id(self) -> str:
        """Return the session's user id; a new session version ends older sessions."""
        return f"{self.id}.{self.session_version}"


class RoleGrant(db.Model):
    """A role on an org unit's subtree (or, for clerks, at one supermarket); revoked, never deleted."""

    __tablename__ = "role_grant"
    __table_args__ = (
        sa.CheckConstraint(
            "(role = 'clerk' AND supermarket_id IS NOT NULL AND org_unit_id IS NULL)"
            " OR (role <> 'clerk' AND supermarket_id IS NULL"
            " AND (org_unit_id IS NOT NULL OR role = 'admin'))",
            name="target",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("member.id"), index=True)
    role: Mapped[str] = mapped_column(sa.String(20))
    #: The subtree the role reaches; NULL on an admin grant means everywhere.
    org_unit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("org_unit.id"))
    supermarket_id: Mapped[int | None] = mapped_column(sa.ForeignKey("supermarket.id"))
    granted_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("member.id"))
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    revoked_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("member.id"))

    member: Mapped[Member] = relationship(foreign_keys=[member_id])
    org_unit: Mapped[OrgUnit | None] = relationship(lazy="joined")
    supermarket: Mapped[Supermarket | None] = relationship(lazy="joined")

    @classmethod
    def on(cls, member: Member, role: str, place: OrgUnit | Supermarket | None) -> RoleGrant:
        """A grant of ``role`` to ``member`` on a place: an org unit's subtree, a supermarket (clerks),
        or None (an admin everywhere)."""
        return cls(
            member=member,
            role=role,
            org_unit=place if isinstance(place, OrgUnit) else None,
            supermarket=place if isinstance(place, Supermarket) else None,
        )

    @property
    def is_global(self) -> bool:
        """Tell whether this is an admin grant that reaches everywhere."""
        return self.role == "admin" and self.org_unit_id is None


class ApiToken(db.Model):
    """A bearer token: only its SHA-256 is stored; revocable; expires."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("member.id"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]

    member: Mapped[Member] = relationship()


class ActivationCode(db.Model):
    """A one-time code that lets a member imported in bulk set their first password.

    Only the SHA-256 of the member's id and the code is stored: the code itself is shown
    once, on the printed slip. A new code for the same member revokes the older ones.
    """

    __tablename__ = "activation_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("member.id"), index=True)
    code_hash: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("member.id"))
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class MemberCard(db.Model):
    """A member card for the counter: a 12-digit number (Luhn check digit) and a signed QR code.

    A member has at most one live card: issuing a new one revokes the old (its number and
    code are refused from then on). Rows are never deleted.
    """

    __tablename__ = "member_card"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("member.id"), index=True)
    number: Mapped[str] = mapped_column(sa.String(12), unique=True)
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    issued_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("member.id"))
    revoked_at: Mapped[datetime | None]
    revoked_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("member.id"))

    member: Mapped[Member] = relationship(foreign_keys=[member_id])


class MemberPin(db.Model):
    """A member's 6-digit PIN for the counter, as an argon2id hash."""

    __tablename__ = "member_pin"

    member_id: Mapped[int] = mapped_column(sa.ForeignKey("member.id"), primary_key=True)
    pin_hash: Mapped[str] = mapped_column(sa.String(255))
    set_at: Mapped[datetime] = mapped_column(default=utcnow)
    set_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("member.id"))


class PayCode(db.Model):
    """A pay code (付款码) the member's phone shows: valid for a minute, used once.

    Only the SHA-256 of its digits is kept; the signed QR text names the row.
    """

    __tablename__ = "pay_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("member.id"), index=True)
    digits_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


def on_boards() -> sa.ColumnElement[bool]:
    """Who appears on the boards, as a condition on ``Member``: the one definition the leaderboards'
    ``eligible`` flag, the org-unit boards' resident counts and the monthly report's top members
    read. Active, not hidden, and holding no live staff grant (``STAFF_ROLES``)."""
    staff = sa.exists().where(
        RoleGrant.member_id == Member.id,
        RoleGrant.revoked_at.is_(None),
        RoleGrant.role.in_(sorted(STAFF_ROLES)),
    )
    return sa.and_(Member.status == "active", Member.hidden == sa.false(), ~staff)
