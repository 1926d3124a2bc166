"""Reads that may be seconds old, from a streaming replica of PostgreSQL (off by default).

With ``DATABASE_REPLICA_URL`` set (a hot standby streaming from ``DATABASE_URL``), the views
marked ``@reads_replica`` read there: pages and endpoints that only read, and whose figures may
trail the last write by a few seconds — boards, honour rolls, monthly reports, dashboards.
Everything else (every write, and every read that must see its own writes: ``/me``, balances,
vouchers, review queues, sign-in) stays on the primary; the marker is the only way a read
reaches the replica. Who calls is always resolved on the primary first, so a token issued or
revoked a moment ago counts at once.

The replica is used only while it is fit. Each worker measures, at most once every
``DATABASE_REPLICA_CHECK_SECONDS``, how far it trails: it notes the primary's WAL position with
the time it saw it, and the replica's lag is the age of the oldest position noted that the
replica has not replayed yet (zero when it has replayed them all, so an idle primary does not
look lagging, and a replica cut off from the primary shows its lag growing). Further behind
than ``DATABASE_REPLICA_MAX_LAG_SECONDS``, not answering, or no longer a standby (promoted, or
another server), the marked views read from the primary until a later check finds it fit. A
replica that fails in the middle of a view (stopped, a query cancelled by recovery) is left
aside the same way and the view runs again on the primary: it only reads, so running it twice
is safe.

SQLite has no replica: the setting is refused there, and the marker does nothing.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from functools import wraps

import sqlalchemy as sa
from flask import Flask, current_app

from core.config import REPLICA_BIND
from core.database import reading_from
from core.extensions import db

#: The replica's state as ``state()`` names it (and ``/healthz`` shows it).
FIT, BEHIND, DOWN = "in use", "behind", "down"
#: Positions kept per worker while the replica trails: the oldest decides the lag.
MAX_SAMPLES = 1000

_PRIMARY_POSITION = sa.text("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')")
_REPLICA_POSITION = sa.text("SELECT pg_is_in_recovery(), pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0')")


@dataclass
class Reading:
    """What one check found."""

    state: str
    lag_seconds: float | None = None
    problem: str | None = None


class Replica:
    """One worker's view of the replica: whether it is fit, measured at most once per interval."""

    def __init__(self, max_lag: float, interval: float):
        self.max_lag, self.interval = max_lag, interval
        self._lock = threading.Lock()
        self._checked_at = float("-inf")
        self._reading = Reading(DOWN, problem="not checked yet")
        #: (monotonic time, primary WAL position) noted and not yet replayed by the replica.
        self._samples: list[tuple[float, int]] = []

    def reading(self) -> Reading:
        """The latest check's finding, checking again first when the last one is older than the interval."""
        with self._lock:
            if time.monotonic() - self._checked_at >= self.interval:
                self._reading = self._check()
                self._checked_at = time.monotonic()
            return self._reading

    def fit(self) -> bool:
        """Whether the marked views may read from the replica now."""
        return self.reading().state == FIT

    def left_aside(self, error: BaseException) -> None:
        """The replica failed under a view: read from the primary until the next check."""
        with self._lock:
            self._reading = Reading(DOWN, problem=f"failed under a view: {type(error).__name__}")
            self._checked_at = time.monotonic()

    def _check(self) -> Reading:
        try:
            with db.engines[None].connect() as connection:
                primary = int(connection.scalar(_PRIMARY_POSITION))
            noted_at = time.monotonic()
            with db.engines[REPLICA_BIND].connect() as connection:
                in_recovery, replayed = connection.execute(_REPLICA_POSITION).one()
        except sa.exc.SQLAlchemyError as error:
            self._samples.clear()
            return Reading(DOWN, problem=f"does not answer: {type(getattr(error, 'orig', error)).__name__}")
        if not in_recovery or replayed is None:
            self._samples.clear()
            return Reading(DOWN, problem="is not a standby")
        if not self._samples or primary > self._samples[-1][1]:
            self._samples.append((noted_at, primary))
        while self._samples and self._samples[0][1] <= int(replayed):
            self._samples.pop(0)
        if len(self._samples) > MAX_SAMPLES:
            del self._samples[1 : -MAX_SAMPLES + 1]  # the oldest stays: it is the lag
        lag = time.monotonic() - self._samples[0][0] if self._samples else 0.0
        return Reading(FIT if lag <= self.max_lag else BEHIND, lag_seconds=round(lag, 3))


def init_replica(app: Flask) -> None:
    """Watch the replica when ``DATABASE_REPLICA_URL`` names one."""
    if app.config.get("DATABASE_REPLICA_URL"):
        app.extensions["replica"] = Replica(
            float(app.config["DATABASE_REPLICA_MAX_LAG_SECONDS"]),
            float(app.config["DATABASE_REPLICA_CHECK_SECONDS"]),
        )


def replica_state(app: Flask) -> dict | None:
    """The replica's state for ``/healthz`` (None: no replica configured)."""
    replica = app.extensions.get("replica")
    if replica is None:
        return None
    reading = replica.reading()
    return {"state": reading.state, "lag_seconds": reading.lag_seconds, "problem": reading.problem}


def reads_replica(view):
    """Mark a view that only reads and may show data seconds old: it reads from the replica when fit.

    On a page view put it right below ``@login_required`` (the sign-in check runs first, on the
    primary); on an API method put it above flask-smorest's decorators, so the answer is dumped
    from the replica's rows too.
    """

    @wraps(view)
    def wrapper(*args, **kwargs):
        replica = current_app.extensions.get("replica")
        if replica is None:
            return view(*args, **kwargs)
        from core.identity.auth import current_member

        current_member(required=False)  # who calls, on the primary: a new or revoked token counts at once
        if not replica.fit():
            return view(*args, **kwargs)
        db.session.commit()  # end the primary's read transaction (nothing was written); what it loaded stays
        token = reading_from.set(db.engines[REPLICA_BIND])
        try:
            return view(*args, **kwargs)
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as error:
            failed = error
        finally:
            reading_from.reset(token)
        replica.left_aside(failed)
        current_app.logger.warning(
            "replica failed under %s (%s): reading from the primary",
            view.__name__,
            type(getattr(failed, "orig", failed)).__name__,
        )
        db.session.rollback()
        return view(*args, **kwargs)

    wrapper.reads_replica = True  # lets a test list the views that read from the replica
    return wrapper
