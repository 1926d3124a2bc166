"""The city's dataset: 2,000,000 residents and ~20,000,000 ledger transactions, built once.

Kept in ``bench/data/city-pg`` (a PostgreSQL cluster) as one database named after its size and
the schema revision (``city_2000000_256gw_6000v_<revision>``), with a fixture and a marker
beside it, like the county's (``bench.databases``). It is built by the same steps: the bulk
load with ``COPY`` (``bench.leaderboards``: ten towns' worth of the county's tree per county,
the ledger partitioned by month), then ``bench.data`` in its own process (passwords, staff,
tokens, the counter). Unlike the county's, runs write into the kept database itself: a copy
of 20 GB per run would cost minutes and as much disk again (a replica already takes as much).
What a run uses once (vouchers) it reserves anew at its start; what it adds (a few thousand
awards) is noise beside twenty million.

The streaming replica is kept beside it in ``bench/data/city-replica``, made once from a base
backup of the dataset with a replication slot: between runs both are stopped, and at the start
of a run the replica catches up from the WAL the slot kept.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import replace
from datetime import UTC, datetime

from bench import leaderboards
from bench.databases import (
    DATA_DIR,
    DATASET_AWARDS,
    EngineMissing,
    _new_facts,
    _plain,
    _server_env,
    _vacuum,
    complete,
    schema_revision,
)
from bench.settings import Settings
from tests.support.postgres import Standby, execute_autocommit, find_bin_dir

PRIMARY_DIR, REPLICA_DIR = DATA_DIR / "city-pg", DATA_DIR / "city-replica"
SLOT = "city_replica"
#: The primary's settings beyond the tests' cluster: more memory for a 20 GB database on a
#: shared 24 GiB machine, and checkpoints spaced out for the bulk load.
PRIMARY_SETTINGS = (
    "shared_buffers=1GB",
    "effective_cache_size=8GB",
    "maintenance_work_mem=512MB",
    "max_wal_size=4GB",
    "checkpoint_timeout=15min",
)


def say(message: str) -> None:
    """Report progress on stderr."""
    leaderboards.say(message)


def dataset_name(settings: Settings) -> str:
    """The kept database's name: its size, its staff, its vouchers and its schema revision."""
    from bench.data import VOUCHERS

    return f"city_{settings.members}_{settings.grid_workers}gw_{VOUCHERS}v_{schema_revision()}"


def primary_cluster() -> leaderboards.KeptCluster:
    """The kept primary (not started)."""
    bin_dir = find_bin_dir()
    if bin_dir is None or not (bin_dir / "initdb").exists():
        raise EngineMissing("PostgreSQL (initdb) is not installed")
    cluster = leaderboards.KeptCluster(bin_dir, PRIMARY_DIR)
    cluster.settings = PRIMARY_SETTINGS
    return cluster


def build(settings: Settings) -> dict:
    """Build the dataset if it is missing (about an hour at 2,000,000); answer its facts.

    Leaves the primary stopped. A dataset of another size or schema in the same cluster is
    dropped first, and the replica made from it is thrown away.
    """
    name = dataset_name(settings)
    marker = DATA_DIR / f"{name}.json"
    if marker.exists():
        return json.loads(marker.read_text())
    cluster = primary_cluster().open()
    try:
        started = time.perf_counter()
        url = f"{cluster.url}/{name}"
        import psycopg

        with psycopg.connect(_plain(cluster.url) + "/postgres", autocommit=True) as connection:
            for (old,) in connection.execute("SELECT datname FROM pg_database WHERE datname LIKE 'city\\_%'"):
                connection.execute(f"DROP DATABASE {old}")
            connection.execute(
                f"SELECT pg_drop_replication_slot('{SLOT}') FROM pg_replication_slots "
                f"WHERE slot_name = '{SLOT}'"
            )
        shutil.rmtree(REPLICA_DIR, ignore_errors=True)
        execute_autocommit(cluster.url, f"CREATE DATABASE {name}")
        leaderboards.migrate(url)
        say(f"city: loading {settings.members:,} members with COPY")
        leaderboards.load_postgresql(
            url, settings.members, DATASET_AWARDS, datetime.now(UTC).replace(microsecond=0)
        )
        loaded = time.perf_counter() - started
        say(f"city: loaded in {loaded:.0f} s; completing (staff, tokens, the counter)")
        facts = _new_facts()
        complete(_server_env(_plain(url), facts), DATA_DIR / f"{name}.fixture.json", settings)
        _vacuum(url)
        facts.update(seconds=round(time.perf_counter() - started), load_seconds=round(loaded), database=name)
        marker.write_text(json.dumps(facts))
        say(f"city: dataset built in {facts['seconds']} s")
        return facts
    finally:
        cluster.pause()


def replica_of(cluster, facts: dict) -> Standby:
    """The kept replica of the running primary ``cluster`` (made from a base backup the first time),
    stopped; start it with ``resume()``."""
    standby = Standby(cluster.bin_dir, cluster.port, slot=SLOT, root=REPLICA_DIR)
    standby.settings, standby.durable = cluster.settings, cluster.durable
    marker = REPLICA_DIR / "made-from.json"
    if marker.exists() and json.loads(marker.read_text()).get("database") == facts["database"]:
        return standby
    shutil.rmtree(standby.data, ignore_errors=True)
    say("city: making the replica (pg_basebackup)")
    started = time.perf_counter()
    standby.start()
    standby.pause()
    marker.write_text(
        json.dumps({"database": facts["database"], "seconds": round(time.perf_counter() - started)})
    )
    return standby


def city_settings(settings: Settings) -> Settings:
    """The run's settings with the city's size unless ``BENCH_MEMBERS`` asked for another."""
    return settings if os.environ.get("BENCH_MEMBERS") else replace(settings, members=2_000_000)
