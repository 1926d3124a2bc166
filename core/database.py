"""The declarative base, column types and engine settings shared by every package."""

from __future__ import annotations

from contextvars import ContextVar
from datetime import UTC, datetime

import sqlalchemy as sa
from flask_sqlalchemy.session import Session
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
        return value.astimezone(UTC)

    def process_result_value(self, value, dialect):
        """Mark values read back as UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    """Return the current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """The base of every model: one metadata with the naming convention."""

    registry = registry(
        metadata=sa.MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={datetime: UTCDateTime},
    )


#: How SQLite begins a transaction: "deferred" (BEGIN: one read snapshot), "immediate" (BEGIN
#: IMMEDIATE: the write lock, set by ``begin_writing``) or "none" (no BEGIN: each read sees the
#: latest commit, as PostgreSQL's READ COMMITTED does; writes are refused until ``begin_writing``).
_begin_mode: ContextVar[str] = ContextVar("sqlite_begin_mode", default="deferred")
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLAC")


def configure_sqlite(engine: sa.Engine, busy_timeout_ms: int, synchronous: str = "FULL") -> None:
    """Put every SQLite connection in WAL mode with a busy timeout and foreign keys on.

    SQLAlchemy, not the driver, starts transactions (the documented pysqlite recipe), as
    ``_begin_mode`` says, so that a writer begins with ``BEGIN IMMEDIATE`` (``begin_writing``):
    it then waits for the write lock up front instead of failing with "database is locked" when
    it upgrades a read snapshot that another writer has since changed.
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
        mode = _begin_mode.get()
        if mode != "none":
            connection.exec_driver_sql("BEGIN IMMEDIATE" if mode == "immediate" else "BEGIN")
        connection.info.update(immediate=mode == "immediate", unbegun=mode == "none", wrote=False)

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _on_execute(connection, _cursor, statement, _parameters, _context, _executemany):
        if statement.lstrip()[:6].upper() not in _WRITES:
            return
        if connection.info.get("unbegun"):  # it would commit on its own, outside any transaction
            raise RuntimeError("a write outside begin_writing(): the service must begin writing first")
        connection.info["wrote"] = True


def begin_writing(session) -> None:
    """Begin writing in the session's transaction: the one way every write service starts to write.

    Call it after the checks that need no lock, right before the first locked read or write. On
    SQLite it takes the write lock (``BEGIN IMMEDIATE``), ending the read snapshot the session
    had, if any, without forgetting what it loaded: rows that must be current are read again
    under the lock (``populate_existing``), as on PostgreSQL, where it does nothing (services lock
    rows with ``FOR UPDATE``). The CLI and the API begin the same way.
    """
    if isinstance(session, scoped_session):
        session = session()
    if session.get_bind().dialect.name != "sqlite":
        return
    if not session.in_transaction():
        token = _begin_mode.set("immediate")
        try:
            session.connection()
        finally:
            _begin_mode.reset(token)
        return
    connection = session.connection()
    if connection.info.get("immediate"):
        return
    if session.new or session.dirty or session.deleted or connection.info.get("wrote"):
        raise RuntimeError("begin_writing() must come before the first change")
    if not connection.info.get("unbegun"):
        connection.exec_driver_sql("COMMIT")  # the read snapshot: it wrote nothing
    connection.exec_driver_sql("BEGIN IMMEDIATE")
    connection.info.update(immediate=True, unbegun=False)


#: Where the reads of a view marked ``@reads_replica`` go (``core.replica``): the replica's
#: engine while such a view runs and the replica is fit; None otherwise (the primary).
reading_from: ContextVar[sa.Engine | None] = ContextVar("reading_from", default=None)


class RoutedSession(Session):
    """The app's session: while ``reading_from`` names the replica, every read goes there.

    A write or a locking read (``FOR UPDATE``) then is a mistake in the view's marker, not
    something to send anywhere quietly: it raises.
    """

    def get_bind(self, mapper=None, clause=None, bind=None, **kwargs):
        """The replica for reads under ``@reads_replica``; else the primary, as Flask-SQLAlchemy chooses."""
        replica = reading_from.get()
        if replica is None or bind is not None:
            return super().get_bind(mapper=mapper, clause=clause, bind=bind, **kwargs)
        if (
            self._flushing
            or isinstance(clause, sa.sql.dml.UpdateBase)
            or (getattr(clause, "_for_update_arg", None) is not None)
        ):
            raise RuntimeError(
                "a view marked @reads_replica wrote or locked rows: "
                "writes and locks need the primary, drop the marker"
            )
        return replica


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def write_requests_begin_late(app) -> None:
    """On SQLite, let a POST, PUT, PATCH or DELETE read without a transaction until it writes.

    Signing in, loading and checking hold no lock and no snapshot; the service's
    ``begin_writing`` takes the write lock for the writes alone, so two workers' requests
    overlap everywhere but there. Reads of a GET keep one snapshot (``BEGIN``).
    """
    from flask import g, request

    @app.before_request
    def _reads_without_a_transaction():
        if request.method not in SAFE_METHODS:
            g.sqlite_begin_token = _begin_mode.set("none")

    @app.teardown_request
    def _reset_begin_mode(_error=None):
        token = g.pop("sqlite_begin_token", None)
        if token is not None:
            _begin_mode.reset(token)


def insert_unique(session, build, attempts: int = 5):
    """Insert the row ``build()`` makes, drawing again while a unique value it drew is taken.

    For random codes and numbers (short codes, card numbers): each attempt is a savepoint, so
    a collision refused by the unique index costs only that attempt. Answers the row inserted.
    """
    from sqlalchemy.exc import IntegrityError

    for _attempt in range(attempts):
        row = build()
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
            return row
        except IntegrityError:
            continue
    raise RuntimeError(f"no free unique value after {attempts} attempts")


def insert_missing(table: sa.Table, columns: tuple[str, ...], keys: tuple[str, ...]) -> sa.TextClause:
    """An INSERT of ``columns`` into ``table`` that leaves alone a row whose ``keys`` exist already
    (``ON CONFLICT … DO NOTHING``): the same SQL on SQLite and PostgreSQL, built once, each value a
    bound parameter of its column's type. Execute it with one row or a list of rows."""
    statement = (
        f"INSERT INTO {table.name} ({', '.join(columns)}) "  # nosec B608: the table's own names
        f"VALUES ({', '.join(':' + name for name in columns)}) ON CONFLICT ({', '.join(keys)}) DO NOTHING"
    )
    return sa.text(statement).bindparams(*(sa.bindparam(name, type_=table.c[name].type) for name in columns))


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
