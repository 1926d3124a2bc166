"""The declarative base, column types and engine settings shared by every package."""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, registry, scoped_session

#: Stable constraint names, so Alembic revisions agree across SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(sa.types.TypeDecorator):
    """A timestamp stored in UTC and always returned timezone-aware.

    SQLite has no time zones: without this, values would come back naive there
    and aware on PostgreSQL.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        """Refuse naive datetimes and store everything in UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: give a timezone-aware value")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value, dialect):
        """Mark values read back as UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def utcnow() -> datetime:
    """Return the current time, timezone-aware in UTC."""
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    """The base of every model: one metadata with the naming convention."""

    registry = registry(
        metadata=sa.MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={datetime: UTCDateTime},
    )


#: Set while a writing transaction begins, so SQLite starts it with BEGIN IMMEDIATE.
_begin_immediate: ContextVar[bool] = ContextVar("begin_immediate", default=False)


def configure_sqlite(engine: sa.Engine, busy_timeout_ms: int, synchronous: str = "FULL") -> None:
    """Put every SQLite connection in WAL mode with a busy timeout and foreign keys on.

    SQLAlchemy, not the driver, starts transactions (the documented pysqlite
    recipe), so that a writer can begin with ``BEGIN IMMEDIATE``: it then waits
    for the write lock up front instead of failing with "database is locked"
    when it upgrades a read snapshot that another writer has since changed.
    """
    if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
        raise ValueError(f"SQLITE_SYNCHRONOUS must be OFF, NORMAL, FULL or EXTRA, not {synchronous!r}")

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA synchronous={synchronous.upper()}")
        cursor.close()
        dbapi_connection.isolation_level = None  # the driver must not BEGIN by itself

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection):
        immediate = _begin_immediate.get()
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
        connection.info["immediate"] = immediate


def begin_writing(session) -> None:
    """Start the session's transaction as a writer: BEGIN IMMEDIATE on SQLite.

    Call it first in a service that writes, before reading what it will change.
    On PostgreSQL it does nothing (services lock rows with ``FOR UPDATE``). On
    SQLite, a transaction that has only read so far is rolled back and begun
    again as a writer (the session reloads what it had read).
    """
    if isinstance(session, scoped_session):
        session = session()
    if session.get_bind().dialect.name != "sqlite":
        return
    if session.in_transaction():
        if session.connection().info.get("immediate"):
            return
        if session.new or session.dirty or session.deleted:
            raise RuntimeError("begin_writing() must come before the first change")
        session.rollback()
    token = _begin_immediate.set(True)
    try:
        session.connection()
    finally:
        _begin_immediate.reset(token)


@contextmanager
def deferred_reads():
    """Begin transactions inside the block as readers, even in a write request.

    For a second session that only reads while the request's own session holds
    SQLite's write lock: a reader never waits for it (WAL).
    """
    token = _begin_immediate.set(False)
    try:
        yield
    finally:
        _begin_immediate.reset(token)


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def write_requests_begin_immediate(app) -> None:
    """On SQLite, begin every transaction of a POST, PUT, PATCH or DELETE as a writer.

    A request that reads, spends time (argon2, say) and then writes would otherwise
    fail at once with "database is locked" whenever another writer committed in
    between; beginning as a writer makes it wait its turn (up to the busy timeout).
    Reads keep deferred transactions, so they never wait for writers (WAL).
    """
    from flask import g, request

    @app.before_request
    def _writer_transactions():
        if request.method not in SAFE_METHODS:
            g.begin_immediate_token = _begin_immediate.set(True)

    @app.teardown_request
    def _reset_writer_transactions(_error=None):
        token = g.pop("begin_immediate_token", None)
        if token is not None:
            _begin_immediate.reset(token)


def insert_rows(session, table: sa.Table, rows: list[dict]) -> None:
    """Insert many rows into ``table`` in the session's transaction, in one go.

    PostgreSQL gets them through COPY (a bulk import of 20,000 members would otherwise spend
    seconds in per-row statements); other engines through one executemany.
    """
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        connection.execute(sa.insert(table), rows)
        return
    columns = list(rows[0])
    names = ", ".join(connection.dialect.identifier_preparer.quote(name) for name in columns)
    statement = f"COPY {table.name} ({names}) FROM STDIN"
    dbapi = connection.dialect.loaded_dbapi
    try:
        with connection.connection.dbapi_connection.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row([row[name] for name in columns])
    except dbapi.Error as error:  # as SQLAlchemy's own statements raise it (IntegrityError, …)
        raise sa.exc.DBAPIError.instance(statement, None, error, dbapi.Error) from error
