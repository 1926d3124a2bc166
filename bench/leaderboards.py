"""``python -m bench.leaderboards``: leaderboards at a county's scale on SQLite and PostgreSQL.

Bulk-loads ``BENCH_LEADERBOARD_MEMBERS`` members (default 1,000,000) with
``BENCH_LEADERBOARD_AWARDS`` awards each on average (default 10: ledger transactions, each
with its two postings) ONCE into ``bench/data/`` (a SQLite file; a PostgreSQL cluster kept
there), with their balances and leaderboard totals, then measures in-process, through the
service functions:

* top 50 + ``me`` of random members on the month board at county, town and grid scope
  (p50/p95/max), with deep ranks read from the score histogram (the default) and with every
  rank counted exactly in the index (``LEADERBOARD_EXACT_COUNT`` unlimited), for comparison;
* the histogram refresh of the county board;
* one award (begin, lock, post, commit) with the read-model update and without it;
* the query plans (EXPLAIN) of the top N, "how many above" and the neighbour queries.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from bench.databases import DATA_DIR, EngineMissing, schema_revision
from bench.settings import ROOT
from tests.support.postgres import Cluster, execute_autocommit, find_bin_dir

TOWNS, COMMUNITIES, GRIDS = 20, 10, 5  # per parent: 1,000 grids
SURNAMES, GIVEN = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗", "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂"
DAYS_BACK = 90
SAMPLES = int(os.environ.get("BENCH_LEADERBOARD_SAMPLES", "300"))


def say(message: str) -> None:
    """Print a progress line."""
    print(f"[leaderboards] {message}", flush=True)


def sizes() -> tuple[int, int]:
    """Members and average awards per member of this run."""
    return (
        int(os.environ.get("BENCH_LEADERBOARD_MEMBERS", "1000000")),
        int(os.environ.get("BENCH_LEADERBOARD_AWARDS", "10")),
    )


# --- the dataset -----------------------------------------------------------------------------


def org_units() -> list[tuple[int, str, str, int | None, str]]:
    """(id, name, kind, parent id, path) of the county tree."""
    units, next_id = [(1, "基准县", "county", None, "/1/")], 2
    for kind, per_parent, name in (
        ("town", TOWNS, "镇"),
        ("community", COMMUNITIES, "社区"),
        ("grid", GRIDS, "网格"),
    ):
        parents = [
            unit
            for unit in units
            if unit[2] == {"town": "county", "community": "town", "grid": "community"}[kind]
        ]
        for parent in parents:
            for index in range(per_parent):
                units.append(
                    (next_id, f"{parent[1]}{name}{index + 1}", kind, parent[0], f"{parent[4]}{next_id}/")
                )
                next_id += 1
    return units


def generate(members: int, awards: int, now: datetime):
    """Yield the dataset table by table: (table, columns, rows) with rows as lists."""
    from core.clock import period_keys
    from points.leaderboards.totals import reach_key, scopes_of

    rng = random.Random(2026)
    units = org_units()
    grids = [unit for unit in units if unit[2] == "grid"]
    yield (
        "org_unit",
        ("id", "name", "kind", "parent_id", "path", "created_at"),
        [[*unit, now] for unit in units],
    )
    member_rows, balances, transactions, postings, totals = [], [], [], [], {}
    transaction_id = posting_id = 0
    for member_id in range(1, members + 1):
        grid = grids[member_id % len(grids)]
        name = rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN)
        hidden = rng.random() < 0.001
        member_rows.append(
            [
                member_id,
                name,
                str(15_000_000_000 + member_id),
                grid[0],
                "active",
                hidden,
                rng.random() < 0.02,
                1,
                now,
            ]
        )
        facts = {"eligible": not hidden, **scopes_of(grid[4])}
        balance = 0
        for _ in range(rng.randint(0, 2 * awards)):
            points = rng.choice((1, 2, 5, 5, 10, 10, 20))
            occurred_at = now - timedelta(seconds=rng.randint(0, DAYS_BACK * 86400))
            created_at = occurred_at + timedelta(seconds=rng.randint(0, 7200))
            balance += points
            transaction_id += 1
            transactions.append(
                [transaction_id, "award", member_id, points, balance, 0, occurred_at, created_at, grid[0]]
            )
            postings.append([posting_id + 1, transaction_id, None, "issued", -points, created_at])
            postings.append([posting_id + 2, transaction_id, member_id, "available", points, created_at])
            posting_id += 2
            for key in period_keys(occurred_at):
                row = totals.setdefault((member_id, key), [0, created_at, facts])
                row[0] += points
                row[1] = max(row[1], created_at)
        balances.append([member_id, balance, 0, balance])
        if len(member_rows) >= 100_000:
            yield from _flush(member_rows, balances, transactions, postings, totals, reach_key)
    yield from _flush(member_rows, balances, transactions, postings, totals, reach_key)


def _flush(member_rows, balances, transactions, postings, totals, reach_key):
    """Hand over one batch of every table and empty the buffers."""
    yield (
        "member",
        (
            "id",
            "name",
            "phone",
            "org_unit_id",
            "status",
            "hidden",
            "anonymous",
            "session_version",
            "created_at",
        ),
        member_rows,
    )
    yield "member_balance", ("member_id", "available", "held", "lifetime_earned"), balances
    yield (
        "ledger_transaction",
        (
            "id",
            "kind",
            "member_id",
            "available_change",
            "available_after",
            "held_after",
            "occurred_at",
            "created_at",
            "org_unit_id",
        ),
        transactions,
    )
    yield "ledger_posting", ("id", "transaction_id", "member_id", "account", "amount", "created_at"), postings
    yield (
        "leaderboard_total",
        (
            "member_id",
            "period_key",
            "score",
            "reached_at",
            "reach_key",
            "eligible",
            "scope0_id",
            "scope1_id",
            "scope2_id",
            "scope3_id",
        ),
        [
            [
                member_id,
                key,
                score,
                reached,
                reach_key(reached),
                facts["eligible"],
                facts["scope0_id"],
                facts["scope1_id"],
                facts["scope2_id"],
                facts["scope3_id"],
            ]
            for (member_id, key), (score, reached, facts) in totals.items()
        ],
    )
    for buffer in (member_rows, balances, transactions, postings):
        buffer.clear()
    totals.clear()


def _sqlite_value(value):
    """Store a value as SQLAlchemy stores it on SQLite (UTC timestamps as text)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


def _board_indexes():
    """The leaderboard's scope indexes (dropped while loading, built afterwards)."""
    from points.models import LeaderboardTotal

    return [index for index in LeaderboardTotal.__table__.indexes]


def _bulk_indexes():
    """The secondary indexes of the tables the load fills most (dropped while loading on PostgreSQL,
    where the ledger's are also built faster once than row by row)."""
    from points.models import LedgerPosting, LedgerTransaction

    return _board_indexes() + [
        index for model in (LedgerTransaction, LedgerPosting) for index in model.__table__.indexes
    ]


def load_sqlite(path: Path, members: int, awards: int, now: datetime) -> None:
    """Write the dataset into a migrated SQLite file: one big transaction, no journal."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=OFF")
    connection.execute("PRAGMA synchronous=OFF")
    for index in _board_indexes():
        connection.execute(f"DROP INDEX {index.name}")
    connection.execute("BEGIN")
    for table, columns, rows in generate(members, awards, now):
        connection.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
            ([_sqlite_value(value) for value in row] for row in rows),
        )
    connection.execute("COMMIT")
    say("sqlite: rows written; building indexes")
    engine = sa.create_engine(f"sqlite:///{path}")
    for index in _board_indexes():
        index.create(engine)
    engine.dispose()
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("ANALYZE")
    connection.close()


def load_postgresql(url: str, members: int, awards: int, now: datetime) -> None:
    """Write the dataset into a migrated PostgreSQL database with COPY."""
    import psycopg

    from core.clock import shanghai_date
    from points import partitions

    engine = sa.create_engine(url)
    with engine.begin() as connection:  # the months of the awards: none lands in the default partition
        partitions.ensure_months(
            connection,
            partitions.months_between(
                shanghai_date(now - timedelta(days=DAYS_BACK)), shanghai_date(now + timedelta(days=1))
            ),
        )
    engine.dispose()
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as connection:
        for index in _bulk_indexes():
            connection.execute(f"DROP INDEX {index.name}")
        for table, columns, rows in generate(members, awards, now):
            with connection.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        connection.commit()
        say("postgresql: rows written; building indexes")
        for table in ("org_unit", "member", "ledger_transaction", "ledger_posting"):
            connection.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
            )
        connection.commit()
    engine = sa.create_engine(url)
    for index in _bulk_indexes():
        index.create(engine)
    engine.dispose()
    with psycopg.connect(
        url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True
    ) as connection:
        connection.execute("VACUUM ANALYZE")


def migrate(url: str) -> None:
    """Build the schema with the project's migrations."""
    from tests.conftest import migrate_database

    migrate_database(url)


class KeptCluster(Cluster):
    """A PostgreSQL cluster whose files stay in ``bench/data/`` between runs."""

    def open(self) -> KeptCluster:
        """Start the kept cluster, creating it the first time."""
        return self.start() if not (self.data / "PG_VERSION").exists() else (self.resume() or self)


def prepared(engine: str, members: int, awards: int) -> tuple[str, KeptCluster | None, dict]:
    """The dataset's URL on ``engine`` (loaded the first time), the cluster to pause, and its facts."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    name = f"leaderboards_{members}_{awards}_{schema_revision()}"  # a schema change means a new load
    marker = DATA_DIR / f"{name}.{engine}.json"
    now = datetime.now(UTC).replace(microsecond=0)
    if engine == "sqlite":
        path = DATA_DIR / f"{name}.sqlite"
        url, cluster = f"sqlite:///{path}", None
        if not marker.exists():
            path.unlink(missing_ok=True)
            migrate(url)
            started = time.perf_counter()
            load_sqlite(path, members, awards, now)
            marker.write_text(
                json.dumps({"loaded_at": now.isoformat(), "seconds": time.perf_counter() - started})
            )
    else:
        bin_dir = find_bin_dir()
        if bin_dir is None or not (bin_dir / "initdb").exists():
            raise EngineMissing("PostgreSQL (initdb) is not installed")
        cluster = KeptCluster(bin_dir, DATA_DIR / "leaderboards-pg").open()
        url = f"{cluster.url}/{name}"
        if not marker.exists():
            execute_autocommit(cluster.url, f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}")
            migrate(url)
            started = time.perf_counter()
            load_postgresql(url, members, awards, now)
            marker.write_text(
                json.dumps({"loaded_at": now.isoformat(), "seconds": time.perf_counter() - started})
            )
    return url, cluster, json.loads(marker.read_text())


# --- measuring -------------------------------------------------------------------------------


def percentiles(samples: list[float]) -> dict:
    """p50, p95 and max of samples in seconds, as milliseconds."""
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1] * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
        "samples": len(ordered),
    }


def timed(call) -> float:
    """Seconds one call takes."""
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def scopes(units: list) -> dict:
    """One county, a random town and a random grid."""
    rng = random.Random(7)
    return {
        "county": units[0],
        "town": rng.choice([u for u in units if u[2] == "town"]),
        "grid": rng.choice([u for u in units if u[2] == "grid"]),
    }


def measure_boards(app, members: int, day) -> dict:
    """Top 50 + me for random members at each scope (the viewer lives in the scope)."""
    from core.extensions import db
    from core.identity.models import Member
    from points import leaderboards

    units = org_units()
    grids = [unit for unit in units if unit[2] == "grid"]
    rng = random.Random(11)
    results = {}
    with app.app_context():
        for scope_name, unit in scopes(units).items():
            inside = [grid for grid in grids if grid[4].startswith(unit[4])]
            grid_index = {grid[0]: index for index, grid in enumerate(grids)}
            viewers = []
            while len(viewers) < SAMPLES:  # members live in grid (id % grids): pick ids inside the scope
                grid = rng.choice(inside)
                member_id = rng.randrange(grid_index[grid[0]] or len(grids), members + 1, len(grids))
                viewers.append(member_id)
            leaderboards.member_board(db.session.get(Member, viewers[0]), unit[0], "month", day, 50)
            samples, cpu = [], []
            for member_id in viewers:
                viewer = db.session.get(Member, member_id)
                started = time.process_time()
                samples.append(
                    timed(
                        lambda viewer=viewer, unit=unit: leaderboards.member_board(
                            viewer, unit[0], "month", day, 50
                        )
                    )
                )
                cpu.append(time.process_time() - started)
                db.session.rollback()
            # Wall time includes waiting for a core on a shared machine; this process's CPU time does
            # not (on PostgreSQL it leaves out the server's share).
            results[scope_name] = {**percentiles(samples), "cpu": percentiles(cpu)}
            db.session.remove()
    return results


def measure_histogram(app, day) -> dict:
    """The refresh of the county board's histogram (once per worker every few seconds)."""
    from core.extensions import db
    from core.identity.models import OrgUnit
    from points.leaderboards.boards import Board, board_period

    with app.app_context():
        scope = Board(db.session.get(OrgUnit, 1), board_period("month", day)[0])
        return percentiles([timed(scope.histogram) for _ in range(5)])


def measure_awards(app, members: int, day) -> dict:
    """One award in its own transaction, with the read-model update and without it."""
    from core.database import begin_writing
    from core.extensions import db
    from points import ledger

    rng = random.Random(13)
    occurred_at = datetime.now(UTC) - timedelta(hours=1)
    counted = ledger._count_on_leaderboards
    results = {}
    with app.app_context():
        for label, hook in (
            ("with_read_model", counted),
            ("without_read_model", lambda *_: None),
            ("with_read_model_again", counted),
        ):
            ledger._count_on_leaderboards = hook
            samples = []
            try:
                for _ in range(SAMPLES):
                    member_id = rng.randint(1, members)

                    def award(member_id=member_id):
                        begin_writing(db.session)
                        ledger.award(member_id, 5, occurred_at=occurred_at, actor_id=None)
                        db.session.commit()

                    samples.append(timed(award))
            finally:
                ledger._count_on_leaderboards = counted
            results[label] = percentiles(samples)
    return results


def explain(app, day) -> dict:
    """The query plans of the board's statements at county scope."""
    from core.extensions import db
    from core.identity.models import OrgUnit
    from points.leaderboards.boards import Board, board_period
    from points.leaderboards.totals import ORDER
    from points.models import LeaderboardTotal

    with app.app_context():
        scope = Board(db.session.get(OrgUnit, 1), board_period("month", day)[0])
        row = scope.top(1000)[-1]
        statements = {
            "top_50": sa.select(LeaderboardTotal).where(*scope.where()).order_by(*ORDER).limit(50),
            "count_above": sa.select(sa.func.count()).select_from(
                sa.select(sa.literal(1))
                .where(*scope.where(LeaderboardTotal.score > row.score))
                .limit(10001)
                .subquery()
            ),
            "next_above": sa.select(LeaderboardTotal)
            .where(*scope.where(LeaderboardTotal.score > row.score))
            .order_by(LeaderboardTotal.score, LeaderboardTotal.reach_key, LeaderboardTotal.member_id)
            .limit(1),
        }
        dialect = db.session.get_bind().dialect
        prefix = "EXPLAIN QUERY PLAN " if dialect.name == "sqlite" else "EXPLAIN "
        plans = {}
        for name, statement in statements.items():
            sql = str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
            plans[name] = [
                " ".join(str(part) for part in line)
                for line in db.session.execute(sa.text(prefix + sql)).all()
            ]
        return plans


def bench_engine(engine: str, members: int, awards: int) -> dict:
    """Load (once) and measure one engine."""
    from app import create_app
    from core.clock import SHANGHAI
    from core.extensions import db

    started = time.perf_counter()
    url, cluster, facts = prepared(engine, members, awards)
    say(
        f"{engine}: data ready in {time.perf_counter() - started:.0f} s (loaded once in {facts['seconds']:.0f} s)"
    )
    day = datetime.fromisoformat(facts["loaded_at"]).astimezone(SHANGHAI).date()
    try:
        result = {"load_seconds": round(facts["seconds"]), "plans": None}
        for label, exact in (("histogram", None), ("exact_counts", 10**9)):
            config = {
                "APP_ENV": "production",
                "SECRET_KEY": "bench-" + "x" * 40,
                "SQLALCHEMY_DATABASE_URI": url,
                "PUBLIC_BASE_URL": "http://127.0.0.1/",
            }
            if exact:
                config["LEADERBOARD_EXACT_COUNT"] = exact
            app = create_app(config)
            result[f"boards_{label}"] = measure_boards(app, members, day)
            if label == "histogram":
                result["histogram_refresh"] = measure_histogram(app, day)
                result["plans"] = explain(app, day)
                result["awards"] = measure_awards(app, members, day)
            with app.app_context():
                db.engine.dispose()
        return result
    finally:
        if cluster is not None:
            cluster.pause()


def table(results: dict) -> str:
    """The figures as one plain-text table."""
    lines = [f"{'engine':<11}{'what':<40}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}"]
    for engine, result in results["engines"].items():
        if "skipped" in result:
            lines.append(f"{engine:<11}skipped: {result['skipped']}")
            continue
        rows = [
            (f"top 50 + me, {scope} (histogram)", figures)
            for scope, figures in result["boards_histogram"].items()
        ]
        rows += [
            (f"top 50 + me, {scope} (exact count)", figures)
            for scope, figures in result["boards_exact_counts"].items()
        ]
        rows += [("county histogram refresh", result["histogram_refresh"])]
        rows += [(f"award {label.replace('_', ' ')}", figures) for label, figures in result["awards"].items()]
        rows += [
            (f"  client CPU only, {scope} (histogram)", figures["cpu"])
            for scope, figures in result["boards_histogram"].items()
        ]
        for what, figures in rows:
            lines.append(
                f"{engine:<11}{what:<40}{figures['p50_ms']:>9}{figures['p95_ms']:>9}{figures['max_ms']:>9}"
            )
    return "\n".join(lines)


def main() -> int:
    """Measure every engine in ``BENCH_ENGINES``; print a table and the plans; keep JSON."""
    sys.stdout.reconfigure(line_buffering=True)
    members, awards = sizes()
    engines = os.environ.get("BENCH_ENGINES", "sqlite postgresql").replace(",", " ").split()
    results = {
        "members": members,
        "awards_per_member": awards,
        "samples": SAMPLES,
        "started_at": datetime.now().astimezone().isoformat(timespec="seconds"),
        "load_average_at_start": round(os.getloadavg()[0], 2),
        "engines": {},
    }
    for engine in engines:
        try:
            results["engines"][engine] = bench_engine(engine, members, awards)
        except EngineMissing as missing:
            results["engines"][engine] = {"skipped": str(missing)}
    print(
        f"\nLeaderboards: {members:,} members, ~{members * awards:,} awards, {SAMPLES} samples a row, "
        f"month board"
    )
    print(table(results))
    print(
        f"load average (1 min): {results['load_average_at_start']} at the start, "
        f"{os.getloadavg()[0]:.2f} at the end, on {os.cpu_count()} CPUs"
    )
    for engine, result in results["engines"].items():
        for name, plan in (result.get("plans") or {}).items():
            print(f"\n{engine} plan of {name}:\n  " + "\n  ".join(plan))
    out = ROOT / "bench" / "results" / f"leaderboards-{datetime.now():%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    print(f"\nresults: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
