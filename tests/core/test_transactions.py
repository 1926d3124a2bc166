"""One way to write: ``begin_writing`` takes SQLite's write lock, after the reads of a write request."""

from __future__ import annotations

import shutil
import sqlite3

import pytest
import sqlalchemy as sa

from core.audit import AuditEntry, record_audit
from core.database import begin_writing
from core.extensions import db
from tests.conftest import dispose, make_app


@pytest.fixture
def sqlite_app(tmp_path, sqlite_template):
    """The app on a fresh SQLite file; answers it and the file's path."""
    path = tmp_path / "app.db"
    shutil.copyfile(sqlite_template, path)
    application = make_app(f"sqlite:///{path}")
    yield application, path
    dispose(application)


def write_lock_is_free(path) -> bool:
    """Whether another connection could take the write lock right now."""
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        other.close()


def test_a_write_request_reads_without_a_lock_until_its_service_begins_writing(sqlite_app):
    app, path = sqlite_app
    with app.test_request_context("/api/v1/anything", method="POST"):
        app.preprocess_request()
        db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry))
        assert write_lock_is_free(path)
        begin_writing(db.session)
        assert not write_lock_is_free(path)
        record_audit(None, "probe.write", None)
        db.session.commit()
        assert write_lock_is_free(path)


def test_a_write_before_begin_writing_is_refused_and_leaves_nothing(sqlite_app):
    app, _path = sqlite_app
    with app.test_request_context("/api/v1/anything", method="POST"):
        app.preprocess_request()
        record_audit(None, "probe.unbegun", None)
        with pytest.raises(RuntimeError, match="begin_writing"):
            db.session.flush()
        db.session.rollback()
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) == 0


def test_begin_writing_ends_a_read_snapshot_without_forgetting_what_it_loaded(sqlite_app):
    app, path = sqlite_app
    with app.app_context():
        begin_writing(db.session)
        record_audit(None, "probe.first", None)
        db.session.commit()
    with app.app_context():  # as on the command line: reads begin a snapshot (BEGIN)
        entry = db.session.scalar(sa.select(AuditEntry))
        begin_writing(db.session)
        assert not write_lock_is_free(path)
        assert "action" in entry.__dict__  # still loaded: nothing was expired
        db.session.rollback()


def test_begin_writing_after_a_write_is_refused(sqlite_app):
    app, _path = sqlite_app
    with app.app_context():
        record_audit(None, "probe.early", None)
        db.session.flush()
        with pytest.raises(RuntimeError, match="before the first change"):
            begin_writing(db.session)
        db.session.rollback()
