"""The county dataset: built once into ``bench/data/``, restored as a pristine copy for every run.

The first run for a size and schema revision bulk-loads the county with ``bench.leaderboards``
(members, a ledger of ``DATASET_AWARDS`` awards a member over the last months, balances and
leaderboard totals), copies it, migrates the copy to the head revision and completes it with
``bench.data`` (passwords, staff, tokens, the counter). The completed copy is kept — a SQLite
file, and a template database on the PostgreSQL cluster kept in ``bench/data/`` — with the
fixture beside it; a ``….json`` marker says it is complete (delete it to build again). Each run
then gets a fresh copy in seconds: a file copy on SQLite, ``CREATE DATABASE … TEMPLATE`` on
PostgreSQL, so the scenarios' writes never reach the kept dataset. The kept cluster loads with
``fsync`` off; the runs restart it with PostgreSQL's default durability (every commit waits for
the disk), as production has it.
"""

from __future__ import annotations

import json
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.settings import ROOT, Settings
from tests.support.gunicorn import production_env, run_flask
from tests.support.postgres import Cluster, execute_autocommit, find_bin_dir

DATA_DIR = ROOT / "bench" / "data"
#: Awards per member on average: 200,000 members make about 2,000,000 ledger transactions.
DATASET_AWARDS = 10
RUN_DATABASE = "bench_run"


class EngineMissing(RuntimeError):
    """Raised when an engine cannot run on this machine (its rows are skipped)."""


def schema_revision() -> str:
    """The migrations' head revision(s): a dataset is kept per schema."""
    from alembic.script import ScriptDirectory

    return "+".join(sorted(ScriptDirectory(str(ROOT / "migrations")).get_heads()))


def dataset_name(settings: Settings) -> str:
    """The kept dataset's name: its size, its staff, its vouchers, its wishes and its schema revision."""
    from bench.data import VOUCHERS, WISHES

    return f"county_{settings.members}_{settings.grid_workers}gw_{VOUCHERS}v_{WISHES}w_{schema_revision()}"


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def complete(env: dict[str, str], fixture_path: Path, settings: Settings) -> None:
    """Migrate a copy of the bulk load to the head and add what the scenarios need (own processes)."""
    migrated = run_flask(env, "db", "upgrade")
    if migrated.returncode != 0:
        raise RuntimeError(f"flask db upgrade failed:\n{migrated.stderr[-2000:]}")
    completed = subprocess.run(
        [sys.executable, "-m", "bench.data", str(fixture_path), str(settings.grid_workers)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"completing the dataset failed:\n{completed.stderr[-2000:]}")
    _progress("  " + completed.stdout.strip())


def _server_env(url: str, facts: dict) -> dict[str, str]:
    """The production environment with the dataset's own secret (its QR signing key is sealed with it)."""
    return {**production_env(url), "SECRET_KEY": facts["secret_key"]}


def _new_facts() -> dict:
    """The kept dataset's marker: when it was built, and the secret its signing key is sealed with."""
    return {
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "secret_key": secrets.token_urlsafe(36),
    }


@contextmanager
def sqlite_dataset(settings: Settings) -> Iterator[tuple[dict[str, str], dict, None]]:
    """A fresh copy of the kept SQLite dataset (built the first time); answer its env and fixture.

    No database server: SQLite works inside the service's own processes.
    """
    from bench import leaderboards

    name = dataset_name(settings)
    kept, fixture, marker = (
        DATA_DIR / f"{name}.sqlite",
        DATA_DIR / f"{name}.sqlite.fixture.json",
        DATA_DIR / f"{name}.sqlite.json",
    )
    if not marker.exists():
        started = time.perf_counter()
        base_url, _cluster, _facts = leaderboards.prepared("sqlite", settings.members, DATASET_AWARDS)
        building = kept.with_suffix(".building")
        shutil.copyfile(base_url.removeprefix("sqlite:///"), building)
        facts = _new_facts()
        complete(_server_env(f"sqlite:///{building}", facts), fixture, settings)
        connection = sqlite3.connect(building)  # fold the WAL in: the kept file stands alone
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.close()
        building.replace(kept)
        facts["seconds"] = round(time.perf_counter() - started)
        marker.write_text(json.dumps(facts))
    facts = json.loads(marker.read_text())
    directory = Path(tempfile.mkdtemp(prefix="pingan-bench-sqlite-"))
    try:
        started = time.perf_counter()
        shutil.copyfile(kept, directory / "bench.db")
        _progress(f"  restored a pristine copy of {kept.name} in {time.perf_counter() - started:.1f} s")
        yield _server_env(f"sqlite:///{directory / 'bench.db'}", facts), json.loads(fixture.read_text()), None
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@contextmanager
def postgresql_dataset(settings: Settings) -> Iterator[tuple[dict[str, str], dict, int]]:
    """A fresh database cloned from the kept template (built the first time) on the cluster restarted
    with default durability; answer its env, fixture and the server's main process id."""
    from bench import leaderboards

    bin_dir = find_bin_dir()
    if bin_dir is None or not (bin_dir / "initdb").exists():
        raise EngineMissing("PostgreSQL (initdb) is not installed")
    name = dataset_name(settings)
    fixture, marker = DATA_DIR / f"{name}.postgresql.fixture.json", DATA_DIR / f"{name}.postgresql.json"
    cluster = None
    try:
        if not marker.exists():
            started = time.perf_counter()
            base_url, cluster, _facts = leaderboards.prepared("postgresql", settings.members, DATASET_AWARDS)
            execute_autocommit(
                cluster.url,
                f"DROP DATABASE IF EXISTS {name}",
                f"CREATE DATABASE {name} TEMPLATE {base_url.rsplit('/', 1)[1]}",
            )
            facts = _new_facts()
            complete(_server_env(_plain(f"{cluster.url}/{name}"), facts), fixture, settings)
            _vacuum(f"{cluster.url}/{name}")
            facts["seconds"] = round(time.perf_counter() - started)
            marker.write_text(json.dumps(facts))
        else:
            cluster = leaderboards.KeptCluster(bin_dir, leaderboards.DATA_DIR / "leaderboards-pg")
            cluster.durable = True
            cluster.open()
        facts = json.loads(marker.read_text())
        if not cluster.durable:
            cluster.pause()
            cluster.durable = True
            cluster.resume()
        started = time.perf_counter()
        execute_autocommit(
            cluster.url,
            f"DROP DATABASE IF EXISTS {RUN_DATABASE}",
            f"CREATE DATABASE {RUN_DATABASE} TEMPLATE {name}",
        )
        _progress(f"  cloned {name} in {time.perf_counter() - started:.1f} s")
        yield (
            _server_env(_plain(f"{cluster.url}/{RUN_DATABASE}"), facts),
            json.loads(fixture.read_text()),
            cluster.postmaster_pid(),
        )
        execute_autocommit(cluster.url, f"DROP DATABASE IF EXISTS {RUN_DATABASE}")
    finally:
        if cluster is not None:
            cluster.pause()


def _plain(url: str) -> str:
    """The URL as the service reads it from ``DATABASE_URL``."""
    return url.replace("postgresql+psycopg://", "postgresql://")


def _vacuum(url: str) -> None:
    """Refresh the planner's statistics and the visibility map after the bulk changes."""
    import psycopg

    with psycopg.connect(_plain(url), autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")


@contextmanager
def empty_sqlite() -> Iterator[str]:
    """A fresh, empty SQLite file (the app puts it in WAL mode); deleted afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="pingan-bench-sqlite-"))
    try:
        yield f"sqlite:///{directory / 'bench.db'}"
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@contextmanager
def empty_postgresql() -> Iterator[str]:
    """A fresh, empty database on a throwaway cluster (the tests' helper); stopped afterwards."""
    bin_dir = find_bin_dir()
    if bin_dir is None or not (bin_dir / "initdb").exists():
        raise EngineMissing("PostgreSQL (initdb) is not installed")
    cluster = Cluster(bin_dir).start()
    try:
        execute_autocommit(cluster.url, "CREATE DATABASE bench")
        yield _plain(f"{cluster.url}/bench")
    finally:
        cluster.stop()


#: The county dataset per engine: ``with DATABASES[engine](settings) as (env, fixture)``.
DATABASES = {"sqlite": sqlite_dataset, "postgresql": postgresql_dataset}
#: Empty throwaway databases per engine, for benchmarks that bring their own data.
EMPTY_DATABASES = {"sqlite": empty_sqlite, "postgresql": empty_postgresql}


@contextmanager
def migrated_app(engine: str, **config) -> Iterator:
    """The app in its test settings, rate limits off, on a fresh, empty database of one engine
    migrated to the head (``config`` adds settings); its connections are closed afterwards."""
    import flask_migrate

    from app import create_app
    from core.extensions import db

    with EMPTY_DATABASES[engine]() as url:
        app = create_app(
            {"APP_ENV": "test", "SQLALCHEMY_DATABASE_URI": url, "RATELIMIT_ENABLED": False, **config}
        )
        with app.app_context():
            flask_migrate.upgrade()
        try:
            yield app
        finally:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()


def run_on_engines(engines: list[str], run) -> list:
    """Run ``run(engine)`` (which answers a list of result rows) on each engine asked for, saying
    which are missing; answer every row."""
    rows = []
    for engine in engines:
        try:
            rows += run(engine)
        except EngineMissing as missing:
            print(f"{engine}: skipped ({missing})")
    return rows
