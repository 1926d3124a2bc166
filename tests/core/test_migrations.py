"""Migrations: one linear history that builds each engine from empty and matches the models."""

import flask_migrate
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from core.extensions import db
from tests.conftest import dispose, make_app


def test_upgrade_builds_an_empty_database_that_matches_the_models(empty_database_url):
    app = make_app(empty_database_url)
    try:
        with app.app_context():
            flask_migrate.upgrade()
            with db.engine.connect() as connection:
                context = MigrationContext.configure(
                    connection, opts={"compare_type": True, "render_as_batch": True}
                )
                differences = compare_metadata(context, db.metadata)
    finally:
        dispose(app)
    assert differences == [], f"models and migrations disagree: {differences}"


def test_the_history_is_one_line_with_one_head(app):
    with app.app_context():
        config = app.extensions["migrate"].migrate.get_config()
    script = ScriptDirectory.from_config(config)
    assert len(script.get_heads()) == 1
    assert len(script.get_bases()) == 1
    for revision in script.walk_revisions():
        assert not revision.is_merge_point, f"{revision.revision} merges branches"
