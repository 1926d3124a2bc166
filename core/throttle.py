"""Failure counts that every worker and server shares: lock a key after too many failures.

A ``Throttle`` counts failures per key (a phone number's sign-ins, later a card's PINs):
``limit`` failures within ``window`` of the first lock the key for ``lock``; while locked,
callers refuse at once and say how long to wait. The counts live in a store every worker
shares, chosen once per app by ``init_throttle``:

- Redis, when ``RATELIMIT_STORAGE_URI`` is a ``redis://``, ``rediss://`` or ``redis+unix://``
  URL (the store Flask-Limiter uses for the other limits);
- otherwise the database: one small ``throttle`` row per key with failures, pruned when they
  no longer count.

Usage::

    throttle = Throttle("sign_in", limit=5, window=timedelta(minutes=15), lock=timedelta(minutes=15))
    if wait := throttle.wait(phone):     # refuse before checking anything
        ...answer 429 with Retry-After: wait
    if wrong:
        throttle.fail(phone)            # recorded at once, in its own transaction
    throttle.clear(phone)               # an organiser's unlock

The database store writes in its own connection and transaction, so a failure stays counted
whatever the caller's transaction does. On SQLite, call ``fail`` and ``clear`` while the
caller holds no write transaction (roll it back first): SQLite has one writer at a time.
Concurrent attempts checked at the same instant may each pass ``wait`` before the first
failure is counted; a burst gets at most as many extra tries as requests run at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import Flask, current_app
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.database import begin_writing, utcnow
from core.extensions import db

REDIS_SCHEMES = ("redis://", "rediss://", "redis+unix://")
KEY_LENGTH = 120


class ThrottleEntry(db.Model):
    """One key's failures in its current window, and the end of its lock."""

    __tablename__ = "throttle"

    key: Mapped[str] = mapped_column(sa.String(KEY_LENGTH), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    window_ends_at: Mapped[datetime]
    locked_until: Mapped[datetime | None]
    #: When the row no longer counts for anything (window over and lock ended): then it is pruned.
    expires_at: Mapped[datetime] = mapped_column(index=True)


@dataclass(frozen=True)
class Throttle:
    """``limit`` failures of one key within ``window`` lock it for ``lock``."""

    name: str
    limit: int
    window: timedelta
    lock: timedelta

    def _key(self, key: str) -> str:
        return f"{self.name}:{key}"[:KEY_LENGTH]

    def wait(self, key: str) -> int:
        """Seconds the key must still wait before it may try again (0: it may try now)."""
        return _store().wait(self._key(key))

    def fail(self, key: str) -> int:
        """Count one failure of the key; answer the seconds it must now wait (0 unless locked)."""
        return _store().fail(self._key(key), self.limit, self.window, self.lock)

    def clear(self, key: str) -> None:
        """Forget the key's failures and lift its lock."""
        _store().clear(self._key(key))


def _seconds(delta: timedelta) -> int:
    """Whole seconds, rounded up: a wait of 0.2 s is still a wait."""
    return max(math.ceil(delta.total_seconds()), 0)


class DatabaseStore:
    """Failures in the ``throttle`` table, each change in its own short writing transaction."""

    table = ThrottleEntry.__table__

    def wait(self, key: str) -> int:
        with Session(db.engine) as session:
            locked_until = session.scalar(sa.select(self.table.c.locked_until).where(self.table.c.key == key))
        now = utcnow()
        return _seconds(locked_until - now) if locked_until is not None and locked_until > now else 0

    def fail(self, key: str, limit: int, window: timedelta, lock: timedelta) -> int:
        with Session(db.engine) as session:
            begin_writing(session)
            now = utcnow()
            session.execute(sa.delete(self.table).where(self.table.c.expires_at < now))
            row = self._locked_row(session, key, now + window)
            if row.locked_until is not None and row.locked_until > now:
                return _seconds(row.locked_until - now)
            failures = row.failures + 1 if row.window_ends_at > now else 1
            window_ends_at = row.window_ends_at if failures > 1 else now + window
            locked_until = now + lock if failures >= limit else None
            session.execute(
                sa.update(self.table)
                .where(self.table.c.key == key)
                .values(
                    failures=0 if locked_until else failures,
                    window_ends_at=window_ends_at,
                    locked_until=locked_until,
                    expires_at=max(window_ends_at, locked_until or window_ends_at),
                )
            )
            session.commit()
        return _seconds(lock) if locked_until else 0

    def _locked_row(self, session: Session, key: str, window_ends_at: datetime):
        """The key's row, locked for this transaction; made first when there is none."""
        select = sa.select(self.table).where(self.table.c.key == key).with_for_update()
        row = session.execute(select).first()
        if row is not None:
            return row
        try:
            with session.begin_nested():
                session.execute(
                    sa.insert(self.table).values(
                        key=key,
                        failures=0,
                        window_ends_at=window_ends_at,
                        locked_until=None,
                        expires_at=window_ends_at,
                    )
                )
        except IntegrityError:  # another worker made it first: use theirs
            pass
        return session.execute(select).first()

    def clear(self, key: str) -> None:
        with Session(db.engine) as session:
            begin_writing(session)
            session.execute(sa.delete(self.table).where(self.table.c.key == key))
            session.commit()

    def ping(self) -> None:
        """Nothing to check beyond the database itself."""


class RedisStore:
    """Failures in Redis: a counter that expires with its window, and a lock key that expires with the lock."""

    def __init__(self, url: str):
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)

    @staticmethod
    def _names(key: str) -> tuple[str, str]:
        return f"pingan:throttle:{key}:failures", f"pingan:throttle:{key}:locked"

    def wait(self, key: str) -> int:
        milliseconds = self.client.pttl(self._names(key)[1])
        return math.ceil(milliseconds / 1000) if milliseconds > 0 else 0

    def fail(self, key: str, limit: int, window: timedelta, lock: timedelta) -> int:
        failures_name, lock_name = self._names(key)
        if wait := self.wait(key):
            return wait
        pipeline = self.client.pipeline(transaction=True)
        pipeline.set(failures_name, 0, px=_milliseconds(window), nx=True)
        pipeline.incr(failures_name)
        failures = pipeline.execute()[1]
        if failures < limit:
            return 0
        pipeline.set(lock_name, 1, px=_milliseconds(lock))
        pipeline.delete(failures_name)
        pipeline.execute()
        return _seconds(lock)

    def clear(self, key: str) -> None:
        self.client.delete(*self._names(key))

    def ping(self) -> None:
        """Raise when Redis does not answer."""
        self.client.ping()


def _milliseconds(delta: timedelta) -> int:
    return max(int(delta.total_seconds() * 1000), 1)


def _store() -> DatabaseStore | RedisStore:
    return current_app.extensions["throttle"]


def throttle_store_name(app: Flask) -> str:
    """Which store the app counts failures in: ``redis`` or ``database``."""
    return "redis" if isinstance(app.extensions["throttle"], RedisStore) else "database"


def check_throttle_store() -> None:
    """Raise when the failure store does not answer (the health check asks)."""
    _store().ping()


def init_throttle(app: Flask) -> None:
    """Choose the app's failure store: Redis when ``RATELIMIT_STORAGE_URI`` points at it, else the database."""
    uri = app.config.get("RATELIMIT_STORAGE_URI") or ""
    app.extensions["throttle"] = RedisStore(uri) if uri.startswith(REDIS_SCHEMES) else DatabaseStore()
