"""In-app notifications: what happened to a member's points, vouchers, objections and wishes.

A service reports an event with ``notify(member_id, kind, key, **params)`` inside its own
transaction: one ``INSERT … ON CONFLICT DO NOTHING`` on (member, key), so an event is written
once however often it is reported — a retried transaction rolled back the first row, and a
replay (an idempotent retry, a cron job run twice, a rebuild) finds the key taken. Each caller
names its event with a key that says what happened to what (``award:<transaction id>``,
``voucher_expiring:<voucher id>``).

A notification keeps its kind and parameters, not its text: the text is written when it is
read, in the reader's language (``KINDS``: one English text per kind, translated in core's
catalogue). A parameter that must read differently per language is a ``{"zh": …, "en": …}``
pair; one whose name ends in ``_at`` (an ISO moment) or ``_on`` (an ISO date) is shown in the
reader's format, Asia/Shanghai time. ``link=(endpoint, values)`` names the page it leads to.

``flask notifications prune`` removes the ones older than ``NOTIFICATION_KEEP_DAYS``.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask import current_app, url_for
from flask_babel import format_date, format_datetime, get_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.routing import BuildError

from core.api import paginate
from core.database import UTCDateTime, begin_writing, utcnow
from core.errors import AppError
from core.extensions import db

#: Every kind a service may send, with its text (English here; Chinese in core's catalogue).
KINDS = {
    "points_awarded": _l("You earned %(points)s points: %(activity)s."),
    "claim_approved": _l("Your claim was approved: %(activity)s, %(points)s points."),
    "claim_rejected": _l("Your claim was rejected: %(activity)s. Reason: %(reason)s"),
    "contribution_reversed": _l("%(points)s points were taken back: %(activity)s. Reason: %(reason)s"),
    "level_reached": _l("You reached a new level: %(level)s."),
    "badge_earned": _l("You earned a badge: %(badge)s."),
    "voucher_expiring": _l(
        "Your voucher %(short_code)s at %(supermarket)s expires at %(expires_at)s: "
        "collect it before then, or its points go back to you."
    ),
    "objection_upheld": _l(
        "Your objection to %(name)s's %(activity)s (%(points)s points) was upheld: "
        "the points were taken back. %(reason)s"
    ),
    "objection_dismissed": _l(
        "Your objection to %(name)s's %(activity)s (%(points)s points) was dismissed. Reason: %(reason)s"
    ),
    "entry_objection_upheld": _l(
        "An objection to your %(activity)s on the %(month)s notice was upheld: "
        "%(points)s points were taken back. Reason: %(reason)s"
    ),
    "entry_objection_dismissed": _l(
        "An objection to your %(activity)s on the %(month)s notice was "
        "dismissed: your %(points)s points stand. Reason: %(reason)s"
    ),
    "wish_taken": _l("%(taker)s took your wish “%(title)s” and will do it."),
    "wish_done": _l("%(taker)s has done your wish “%(title)s”: please confirm it."),
    "wish_completed": _l("Your wish work “%(title)s” was confirmed: you earned %(points)s points."),
    "points_expiring": _l("%(points)s of your points expire on %(expires_on)s: spend them before then."),
}


class Notification(db.Model):
    """One event told to one member: its kind and parameters (the text is written when read)."""

    __tablename__ = "notification"
    __table_args__ = (
        sa.UniqueConstraint("member_id", "key"),
        sa.Index("ix_notification_member_id_id", "member_id", "id"),
        sa.Index("ix_notification_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("member.id"))
    kind: Mapped[str] = mapped_column(sa.String(40))
    #: What happened to what ("award:42"): the same event reported again writes nothing.
    key: Mapped[str] = mapped_column(sa.String(120))
    params: Mapped[dict] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]


_NOTIFY = sa.text(
    "INSERT INTO notification (member_id, kind, key, params, created_at) "
    "VALUES (:member_id, :kind, :key, :params, :created_at) ON CONFLICT (member_id, key) DO NOTHING"
).bindparams(sa.bindparam("params", type_=sa.JSON), sa.bindparam("created_at", type_=UTCDateTime))


def notify(member_id: int, kind: str, key: str, *, link: tuple[str, dict] | None = None, **params) -> bool:
    """Tell a member about an event, in the caller's transaction, once per (member, key);
    answer whether this call wrote it. ``params`` fill the kind's text; ``link`` is the page
    (endpoint, URL values) it leads to."""
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    if link is not None:
        params["_link"] = [link[0], link[1]]
    result = db.session.execute(
        _NOTIFY,
        {"member_id": member_id, "kind": kind, "key": key[:120], "params": params, "created_at": utcnow()},
    )
    return result.rowcount == 1


def localised(zh: str, en: str | None) -> dict:
    """A parameter that reads differently per language (English falls back to the Chinese)."""
    return {"zh": zh, "en": en or zh}


class _Params(dict):
    """Parameters as the text reads them: missing ones print as "?" rather than failing."""

    def __missing__(self, name: str) -> str:
        return "?"


def _shown(name: str, value, english: bool):
    """One parameter in the reader's language and format."""
    if isinstance(value, dict) and "zh" in value:
        return value["en"] if english and value.get("en") else value["zh"]
    if isinstance(value, str) and name.endswith("_at"):
        return format_datetime(datetime.fromisoformat(value), "short")
    if isinstance(value, str) and name.endswith("_on"):
        return format_date(date.fromisoformat(value), "medium")
    return value


def render_text(kind: str, params: dict) -> str:
    """The notification's sentence in the reader's language."""
    text = KINDS.get(kind)
    if text is None:
        return kind
    english = str(get_locale() or "zh") == "en"
    return str(text) % _Params(
        {name: _shown(name, value, english) for name, value in params.items() if not name.startswith("_")}
    )


def link_of(params: dict) -> str | None:
    """The page the notification leads to, if it names one that still exists."""
    link = params.get("_link")
    if not link:
        return None
    try:
        return url_for(link[0], **link[1])
    except (BuildError, TypeError, ValueError):
        return None


def shown(notification: Notification) -> dict:
    """A notification as members read it: id, kind, text, created_at, read, url."""
    return {
        "id": notification.id,
        "kind": notification.kind,
        "text": render_text(notification.kind, notification.params or {}),
        "created_at": notification.created_at,
        "read": notification.read_at is not None,
        "url": link_of(notification.params or {}),
    }


def unread_count(member_id: int) -> int:
    """How many of the member's notifications are unread."""
    return (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Notification)
            .where(Notification.member_id == member_id, Notification.read_at.is_(None))
        )
        or 0
    )


def list_notifications(member, page: int, page_size: int) -> dict:
    """The member's notifications, newest first, with the unread count."""
    listing = paginate(
        sa.select(Notification).where(Notification.member_id == member.id).order_by(Notification.id.desc()),
        page,
        page_size,
    )
    return {**listing, "items": [shown(item) for item in listing["items"]], "unread": unread_count(member.id)}


def mark_read(member, ids: list[int] | None = None, everything: bool = False) -> int:
    """Mark some of the member's notifications read (all with ``everything``); answer how many
    changed. Ids that are not the member's are refused with 404 and nothing is marked."""
    if not everything and not ids:
        raise AppError(422, errors={"ids": ["give ids, or all: true"]})
    condition = [Notification.member_id == member.id, Notification.read_at.is_(None)]
    if not everything:
        wanted = set(ids)
        mine = set(
            db.session.scalars(
                sa.select(Notification.id).where(
                    Notification.member_id == member.id, Notification.id.in_(wanted)
                )
            )
        )
        if wanted - mine:
            raise AppError(404, errors={"ids": [f"no such notification: {sorted(wanted - mine)[0]}"]})
        condition.append(Notification.id.in_(wanted))
    begin_writing(db.session)
    changed = db.session.execute(sa.update(Notification).where(*condition).values(read_at=utcnow())).rowcount
    db.session.commit()
    return changed


def prune_notifications(now: datetime | None = None, keep_days: int | None = None) -> int:
    """Remove the notifications older than ``keep_days`` (default ``NOTIFICATION_KEEP_DAYS``); answer how many."""
    days = keep_days if keep_days is not None else current_app.config["NOTIFICATION_KEEP_DAYS"]
    before = (now or utcnow()) - timedelta(days=days)
    begin_writing(db.session)
    removed = db.session.execute(sa.delete(Notification).where(Notification.created_at < before)).rowcount
    db.session.commit()
    return removed
