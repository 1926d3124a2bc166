"""Throwaway databases for a run: a SQLite file in a temp directory, a PostgreSQL cluster."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.postgres import Cluster, execute_autocommit, find_bin_dir


class EngineMissing(RuntimeError):
    """Raised when an engine cannot run on this machine (its rows are skipped)."""


@contextmanager
def sqlite_database() -> Iterator[str]:
    """A fresh SQLite file (the app puts it in WAL mode); deleted afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="pingan-bench-sqlite-"))
    try:
        yield f"sqlite:///{directory / 'bench.db'}"
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@contextmanager
def postgresql_database() -> Iterator[str]:
    """A fresh database on a throwaway cluster (the tests' helper); stopped afterwards.

    The cluster is tuned for tests (``fsync=off``, ``synchronous_commit=off``): commits never
    wait for the disk, which flatters PostgreSQL against SQLite's ``synchronous=FULL``.
    """
    bin_dir = find_bin_dir()
    if bin_dir is None or not (bin_dir / "initdb").exists():
        raise EngineMissing("PostgreSQL (initdb) is not installed")
    cluster = Cluster(bin_dir).start()
    try:
        execute_autocommit(cluster.url, "CREATE DATABASE bench")
        yield cluster.url.replace("postgresql+psycopg://", "postgresql://") + "/bench"
    finally:
        cluster.stop()


DATABASES = {"sqlite": sqlite_database, "postgresql": postgresql_database}
