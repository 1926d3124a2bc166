"""Fixtures for every test: an app on a fresh database, once on SQLite and once on PostgreSQL.

One PostgreSQL cluster serves the whole run (started by the controlling process
before pytest-xdist starts its workers); each worker gets its own migrated
database, emptied after every test. Each SQLite test gets a copy of a migrated
template file. Where PostgreSQL or Chromium is missing, their tests skip with a
loud message, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import os
import shutil

import pytest
from hypothesis import HealthCheck, settings

from app import create_app
from core.extensions import db
from tests.support.postgres import Cluster, execute_autocommit, find_bin_dir

ENGINES = [name for name in os.environ.get("TEST_ENGINES", "sqlite,postgresql").split(",") if name]
PG_URL_ENV = "PINGAN_TEST_PG_URL"
PG_PROBLEM_ENV = "PINGAN_TEST_PG_PROBLEM"
MISSING = "MISSING"  # every skip for a missing server or browser starts with this word

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    max_examples=100,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
settings.register_profile(
    "dev", deadline=None, max_examples=50, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") == "true" else "dev")
)


def in_ci() -> bool:
    """Tell whether this run is CI's, where nothing may be skipped for a missing tool."""
    return os.environ.get("CI") == "true"


def unavailable(what: str) -> None:
    """Fail under CI, else skip loudly, when a server or browser the test needs is missing."""
    if in_ci():
        pytest.fail(f"{what} (CI=true: install it; .ci/run does)", pytrace=False)
    pytest.skip(f"{MISSING}: {what}")


def pytest_configure(config):
    """Start the run's PostgreSQL cluster in the controlling process."""
    if hasattr(config, "workerinput") or "postgresql" not in ENGINES or os.environ.get(PG_URL_ENV):
        return
    bin_dir = find_bin_dir()
    if bin_dir is None or not (bin_dir / "initdb").exists():
        os.environ[PG_PROBLEM_ENV] = "PostgreSQL is not installed (no initdb; apt-get install postgresql)"
        return
    try:
        cluster = Cluster(bin_dir).start()
    except Exception as error:  # noqa: BLE001 - reported through every PostgreSQL test
        os.environ[PG_PROBLEM_ENV] = f"PostgreSQL did not start: {error}"
        return
    config.pingan_pg_cluster = cluster
    os.environ[PG_URL_ENV] = cluster.url


def pytest_unconfigure(config):
    """Stop the cluster this process started."""
    cluster = getattr(config, "pingan_pg_cluster", None)
    if cluster is not None:
        cluster.stop()
        os.environ.pop(PG_URL_ENV, None)


def pytest_terminal_summary(terminalreporter):
    """Say loudly which tests did not run because a server or browser is missing."""
    reasons = set()
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = getattr(report, "longrepr", None)
        if isinstance(longrepr, tuple) and MISSING in str(longrepr[2]):
            reasons.add(str(longrepr[2]).removeprefix("Skipped: "))
    if reasons:
        terminalreporter.write_sep("!", "SOME TESTS DID NOT RUN", red=True, bold=True)
        for reason in sorted(reasons):
            terminalreporter.write_line(f"  {reason}", red=True, bold=True)
        terminalreporter.write_line("  CI runs them all (.ci/run installs what they need).", red=True)


def migrate_database(url: str) -> None:
    """Build the schema at ``url`` with the project's migrations."""
    import flask_migrate

    app = create_app({"APP_ENV": "test", "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        flask_migrate.upgrade()
        db.engine.dispose()


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    """The run's PostgreSQL server URL (no database), or a loud skip."""
    url = os.environ.get(PG_URL_ENV)
    if not url:
        unavailable(os.environ.get(PG_PROBLEM_ENV, "PostgreSQL server not started"))
    return url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    """A migrated SQLite file that each test copies."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    migrate_database(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_database(postgres_server_url, worker_id):
    """This worker's migrated PostgreSQL database."""
    name = f"pingan_test_{worker_id}"
    execute_autocommit(postgres_server_url, f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}")
    url = f"{postgres_server_url}/{name}"
    migrate_database(url)
    remember_migrated_rows(url)
    return url


#: Rows the migrations themselves add (the built-in ``wish`` activity), by database URL and table:
#: emptying a database after a test puts them back, as a fresh copy of the SQLite template has them.
MIGRATED_ROWS: dict[str, dict[str, tuple[list[str], list[tuple]]]] = {}


def _dsn(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def remember_migrated_rows(url: str) -> None:
    """Keep the rows a freshly migrated database holds, to put back whenever it is emptied."""
    import psycopg

    kept = {}
    with psycopg.connect(_dsn(url), autocommit=True) as connection:
        for table in db.metadata.sorted_tables:
            cursor = connection.execute(f'SELECT * FROM "{table.name}"')
            rows = cursor.fetchall()
            if rows:
                kept[table.name] = ([column.name for column in cursor.description], rows)
    MIGRATED_ROWS[url] = kept


def empty_postgres_database(url: str) -> None:
    """Remove every row a test left, keeping the schema and the rows the migrations added."""
    import psycopg

    tables = [table.name for table in db.metadata.sorted_tables]
    if not tables:
        return
    with psycopg.connect(_dsn(url), autocommit=True) as connection:
        connection.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE")
        for table, (columns, rows) in MIGRATED_ROWS.get(url, {}).items():
            names = ", ".join(f'"{column}"' for column in columns)
            marks = ", ".join(["%s"] * len(columns))
            with connection.cursor() as cursor:
                cursor.executemany(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', rows)
            if "id" in columns:  # the next id follows the rows put back
                connection.execute(
                    f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                    f'(SELECT max(id) FROM "{table}"))'
                )


@pytest.fixture(params=ENGINES)
def database_url(request, tmp_path):
    """A fresh, migrated database on each engine in turn."""
    if request.param == "sqlite":
        path = tmp_path / "app.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("postgres_database")
        yield url
        empty_postgres_database(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request, tmp_path, worker_id):
    """A database with nothing in it, not even the schema, on each engine."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/empty.db"
        return
    server = request.getfixturevalue("postgres_server_url")
    name = f"pingan_empty_{worker_id}"
    execute_autocommit(server, f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}")
    yield f"{server}/{name}"
    execute_autocommit(server, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def make_app(database_url: str, **config):
    """Create a test app on ``database_url`` with extra settings."""
    return create_app({"APP_ENV": "test", "SQLALCHEMY_DATABASE_URI": database_url, **config})


def dispose(app) -> None:
    """Close every database connection an app holds."""
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def app(database_url):
    """The application on a fresh database."""
    application = make_app(database_url)
    yield application
    dispose(application)


@pytest.fixture
def postgres_app(postgres_database):
    """The application on this worker's PostgreSQL database, emptied afterwards: for what only
    PostgreSQL does (row locks, partitions)."""
    application = make_app(postgres_database)
    yield application
    dispose(application)
    empty_postgres_database(postgres_database)


@pytest.fixture
def client(app):
    """A test client for ``app``."""
    return app.test_client()


@pytest.fixture
def runner(app):
    """A runner for ``app``'s command-line interface."""
    return app.test_cli_runner()


@pytest.fixture
def ctx(app):
    """An application context for tests that call services and factories directly."""
    with app.app_context():
        yield


@pytest.fixture
def world(app):
    """Two towns, their grids and supermarkets, and one member per role (tests/factories.py)."""
    from tests.factories import build_world

    with app.app_context():
        return build_world()


@pytest.fixture(scope="session")
def redis_url():
    """A redis-server of this worker's own, or a loud skip (a failure under CI)."""
    from tests.support.redis import RedisServer, find_redis

    binary = find_redis()
    if binary is None:
        unavailable("redis-server is not installed (apt-get install redis-server)")
    server = RedisServer(binary).start()
    yield server.url
    server.stop()
