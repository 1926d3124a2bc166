"""``python -m bench.accountability``: the fairness watch's scan and the notification on the award path,
at a county's scale, in-process, on SQLite and PostgreSQL.

The county of ``bench.leaderboards`` (``BENCH_MEMBERS`` members, ~10 awards each: ~2,000,000 ledger
transactions, with their leaderboard totals) is copied once more and completed for the watch:

* a grid worker per grid (the recorders), and an activity approved at once;
* one contribution per award, recorded by the grid worker of the member's grid at a daytime hour of
  the award's day (the bulk load spreads awards over all 24 hours, which no county does); one in five
  is a member's claim approved by that grid worker a few minutes later, with its audit entry;
* planted patterns, one of each rule: a recorder favouring three members, a burst of 40 awards in
  five minutes, awards at 03:00, claims approved within seconds, a grid and a member far above the rest.

The completed copy is kept in ``bench/data/`` (``accountability_<members>_<revision>``, a SQLite file
and a template database on the kept PostgreSQL cluster); each run measures a fresh copy of it:

* ``flask fairness scan``'s work (``points.fairness.scan``): each rule's reading alone, then the whole
  scan (reading, dressing and storing the flags), twice (the second finds and refreshes the same flags);
* one award (``record_contribution`` by a grid worker: the whole service, contribution, ledger,
  subscribers, audit, commit) with the notification subscriber, without it, and with it again.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

from bench import leaderboards
from bench.databases import DATASET_AWARDS, EngineMissing, schema_revision
from bench.leaderboards import DATA_DIR, percentiles, say, timed
from bench.settings import ROOT
from tests.support.postgres import execute_autocommit

SAMPLES = int(os.environ.get("BENCH_ACCOUNTABILITY_SAMPLES", "300"))
CLAIM_SHARE = 5  # one contribution in five is a claim approved later
BENCH_SECRET = "bench-" + "x" * 40


def _members() -> int:
    return int(os.environ.get("BENCH_MEMBERS", "200000"))


# --- completing the dataset --------------------------------------------------------------------


def _daytime(dialect: str, column: str) -> str:
    """SQL moving a UTC timestamp to the same UTC day at 00:00–12:00 UTC (08:00–20:00 Shanghai)."""
    if dialect == "sqlite":
        return (
            f"datetime(date({column}), '+' || (CAST(strftime('%s', {column}) AS INTEGER) % 43200) || "
            f"' seconds')"
        )
    return (
        f"(date_trunc('day', {column} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' + "
        f"make_interval(secs => (extract(epoch FROM {column})::bigint % 43200)))"
    )


def _seconds_later(dialect: str, column: str, seconds: str) -> str:
    if dialect == "sqlite":
        return f"datetime({column}, '+' || ({seconds}) || ' seconds')"
    return f"({column} + make_interval(secs => ({seconds})))"


def complete(app, members: int) -> dict:
    """Add recorders, contributions, claims' approvals and planted patterns; answer what was planted."""
    from core.clock import SHANGHAI, period_key, shanghai_date
    from core.database import begin_writing, utcnow
    from core.extensions import db
    from core.identity.models import Member, OrgUnit, RoleGrant
    from tests.factories import make_activity

    with app.app_context():
        dialect = db.engine.dialect.name
        now = utcnow()
        begin_writing(db.session)
        grids = list(
            db.session.execute(
                sa.select(OrgUnit.id, OrgUnit.path).where(OrgUnit.kind == "grid").order_by(OrgUnit.id)
            )
        )
        first_recorder = members + 1
        db.session.execute(
            sa.insert(Member.__table__),
            [
                {
                    "id": first_recorder + index,
                    "name": f"网格员{index + 1}",
                    "phone": str(16_000_000_000 + index),
                    "org_unit_id": grid.id,
                    "status": "active",
                    "hidden": False,
                    "anonymous": False,
                    "session_version": 1,
                    "created_at": now,
                }
                for index, grid in enumerate(grids)
            ],
        )
        db.session.execute(
            sa.insert(RoleGrant.__table__),
            [
                {
                    "member_id": first_recorder + index,
                    "role": "grid_worker",
                    "org_unit_id": grid.id,
                    "granted_at": now,
                }
                for index, grid in enumerate(grids)
            ],
        )
        activity = make_activity(
            "bench_fair",
            name="平安宣传",
            category="publicity",
            points=5,
            needs_review=False,
            created_at=now,
            commit=False,
        )
        grid_count = len(grids)
        # Members live in grid (id % grids) of the ordered grids, as bench.leaderboards made them.
        recorder = f"({first_recorder} + (t.member_id % {grid_count}))"
        claim = f"(t.id % {CLAIM_SHARE} = 0)"
        occurred = _daytime(dialect, "t.occurred_at")
        recorded = _seconds_later(dialect, occurred, "t.id % 7200")
        db.session.execute(
            sa.text(f"""
            INSERT INTO contribution (id, member_id, activity_id, quantity, points, status, occurred_at,
                recorded_by_id, reviewed_by_id, reviewed_at, created_at)
            SELECT t.id, t.member_id, :activity, 1, t.available_change, 'approved', {occurred},
                CASE WHEN {claim} THEN t.member_id ELSE {recorder} END, {recorder},
                {_seconds_later(dialect, recorded, "60 + t.id % 3600")}, {recorded}
            FROM ledger_transaction t WHERE t.kind = 'award'"""),
            {"activity": activity.id},
        )  # nosec B608
        db.session.execute(
            sa.text("""
            INSERT INTO audit_entry (at, actor_id, action, subject_type, subject_id)
            SELECT c.reviewed_at, c.reviewed_by_id, 'contribution.approve', 'contribution', c.id
            FROM contribution c WHERE c.recorded_by_id = c.member_id""")
        )
        if dialect == "postgresql":  # rows were given their ids: the sequences go on after them
            for table in ("member", "contribution"):
                db.session.execute(
                    sa.text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )  # nosec B608
        planted = _plant(
            db, activity.id, first_recorder, grids, now, period_key("month", shanghai_date(now)), SHANGHAI
        )
        db.session.commit()
        return planted


def _plant(db, activity_id: int, first_recorder: int, grids: list, now: datetime, month: str, zone) -> dict:
    """One pattern per rule, on top of the ordinary awards (members are 1 … first_recorder − 1)."""
    from core.audit import AuditEntry
    from points.models import Contribution, LeaderboardTotal

    rng = random.Random(17)
    grid_count = len(grids)
    rows = []
    yesterday = (now.astimezone(zone) - timedelta(days=1)).replace(hour=10, minute=0, second=0, microsecond=0)

    def add(member_id, recorder_id, points, occurred_at, created_at, claim=False):
        rows.append(
            {
                "member_id": member_id,
                "activity_id": activity_id,
                "quantity": Decimal(1),
                "points": points,
                "status": "approved",
                "occurred_at": occurred_at,
                "recorded_by_id": member_id if claim else recorder_id,
                "reviewed_by_id": recorder_id,
                "reviewed_at": created_at + timedelta(seconds=3 if claim else 0),
                "created_at": created_at,
            }
        )

    favouring, bursting, at_night, quick = (first_recorder + offset for offset in (0, 1, 2, 3))
    members = first_recorder - 1

    def member(offset: int, index: int) -> int:
        return (offset + grid_count * index - 1) % members + 1

    favoured = [member(0, k) for k in (1, 2, 3)]  # members of the first grid: the favouring recorder's
    for index in range(150):  # over ten days, in the daytime
        day = yesterday - timedelta(days=index % 10)
        add(favoured[index % 3], favouring, 50, day, day + timedelta(minutes=20 * (index // 10)))
    for index in range(40):  # 40 awards in under five minutes
        add(member(2, index), bursting, 5, yesterday, yesterday + timedelta(seconds=7 * index))
    for index in range(10):  # work done at 03:00 on ten nights
        night = yesterday.replace(hour=3) - timedelta(days=index)
        add(member(3, index), at_night, 5, night, night + timedelta(hours=6))
    for index in range(10):  # claims approved three seconds after they were sent
        add(member(4, index), quick, 5, yesterday, yesterday + timedelta(hours=index), claim=True)
    db.session.execute(sa.insert(Contribution.__table__), rows)
    db.session.execute(
        sa.insert(AuditEntry.__table__),
        [
            {
                "at": contribution.reviewed_at,
                "actor_id": quick,
                "action": "contribution.approve",
                "subject_type": "contribution",
                "subject_id": contribution.id,
            }
            for contribution in db.session.scalars(
                sa.select(Contribution).where(
                    Contribution.reviewed_by_id == quick, Contribution.recorded_by_id != quick
                )
            )
        ],
    )
    # A grid far above its siblings and a member far above the county: their month's totals raised.
    outlier_grid = grids[rng.randrange(grid_count)]
    db.session.execute(
        sa.update(LeaderboardTotal)
        .where(LeaderboardTotal.scope3_id == outlier_grid.id, LeaderboardTotal.period_key == month)
        .values(score=LeaderboardTotal.score + 2000)
    )
    star = db.session.scalar(
        sa.select(LeaderboardTotal.member_id)
        .where(
            LeaderboardTotal.period_key == month,
            LeaderboardTotal.eligible.is_(True),
            LeaderboardTotal.scope3_id != outlier_grid.id,
        )
        .order_by(LeaderboardTotal.member_id)
        .limit(1)
    )
    db.session.execute(
        sa.update(LeaderboardTotal)
        .where(LeaderboardTotal.member_id == star, LeaderboardTotal.period_key == month)
        .values(score=LeaderboardTotal.score + 20000)
    )
    return {
        "favouring_recorder": favouring,
        "bursting_recorder": bursting,
        "night_recorder": at_night,
        "quick_reviewer": quick,
        "outlier_grid": outlier_grid.id,
        "outlier_member": star,
    }


def _config(url: str) -> dict:
    return {
        "APP_ENV": "production",
        "SECRET_KEY": BENCH_SECRET,
        "SQLALCHEMY_DATABASE_URI": url,
        "PUBLIC_BASE_URL": "http://127.0.0.1/",
        "ACCESS_LOG": False,
    }


def prepared(engine: str, members: int):
    """The completed dataset's URL (built the first time), the cluster to pause, and what was planted."""
    from app import create_app

    base_url, cluster, _facts = leaderboards.prepared(engine, members, DATASET_AWARDS)
    name = f"accountability_{members}_{schema_revision()}"
    marker = DATA_DIR / f"{name}.{engine}.json"
    if engine == "sqlite":
        path = DATA_DIR / f"{name}.sqlite"
        url = f"sqlite:///{path}"
        if not marker.exists():
            shutil.copyfile(base_url.removeprefix("sqlite:///"), path)
    else:
        url = f"{cluster.url}/{name}"
        if not marker.exists():
            execute_autocommit(
                cluster.url,
                f"DROP DATABASE IF EXISTS {name}",
                f"CREATE DATABASE {name} TEMPLATE {base_url.rsplit('/', 1)[1]}",
            )
    if not marker.exists():
        started = time.perf_counter()
        app = create_app(_config(url))
        planted = complete(app, members)
        _analyse(app)
        marker.write_text(json.dumps({"planted": planted, "seconds": round(time.perf_counter() - started)}))
    return url, cluster, json.loads(marker.read_text())


def _analyse(app) -> None:
    """Refresh the planner's statistics after the bulk changes."""
    from core.extensions import db

    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            with db.engine.connect() as connection:
                connection.exec_driver_sql("ANALYZE")
        else:
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.exec_driver_sql("VACUUM ANALYZE")
        db.engine.dispose()


def fresh_copy(engine: str, url: str, cluster):
    """A throwaway copy of the completed dataset (the scan writes flags); answer its URL and a cleaner."""
    if engine == "sqlite":
        directory = Path(tempfile.mkdtemp(prefix="pingan-bench-accountability-"))
        shutil.copyfile(url.removeprefix("sqlite:///"), directory / "run.db")
        return f"sqlite:///{directory / 'run.db'}", lambda: shutil.rmtree(directory, ignore_errors=True)
    name = url.rsplit("/", 1)[1]
    execute_autocommit(
        cluster.url,
        "DROP DATABASE IF EXISTS accountability_run",
        f"CREATE DATABASE accountability_run TEMPLATE {name}",
    )
    return f"{cluster.url}/accountability_run", lambda: execute_autocommit(
        cluster.url, "DROP DATABASE IF EXISTS accountability_run"
    )


# --- measuring -----------------------------------------------------------------------------------


def measure_scan(app) -> dict:
    """Each rule's reading alone, then the whole scan twice."""
    from core.clock import period_bounds, shanghai_date
    from core.database import utcnow
    from core.extensions import db
    from points import fairness

    results = {}
    with app.app_context():
        now = utcnow()
        since = now - timedelta(days=fairness.setting("FAIRNESS_WINDOW_DAYS"))
        today = shanghai_date(now)
        months = [today, period_bounds("month", today)[0].date() - timedelta(days=1)]
        parts = {  # each answers how many patterns it found
            "favoured members, bursts, odd hours (one pass)": lambda: sum(
                map(len, fairness.recorder_findings(since, now))
            ),
            "quick approvals": lambda: len(fairness.quick_approvals(since, now)),
            "grid outliers (2 months)": lambda: sum(len(fairness.grid_outliers(day)) for day in months),
            "member outliers (2 months)": lambda: sum(len(fairness.member_outliers(day)) for day in months),
        }
        for name, part in parts.items():
            answer = {}
            seconds = timed(lambda answer=answer, part=part: answer.update(found=part()))
            results[name] = {"seconds": round(seconds, 2), "found": answer["found"]}
            db.session.rollback()
        for label in ("whole scan, first", "whole scan, again"):
            counts = {}
            seconds = timed(lambda counts=counts: counts.update(fairness.scan()))
            results[label] = {
                "seconds": round(seconds, 2),
                "found": counts["found"],
                "new": counts["new"],
                "refreshed": counts["refreshed"],
            }
        results["rules"] = dict(
            db.session.execute(
                sa.select(sa.literal_column("rule"), sa.func.count())
                .select_from(sa.table("fairness_flag"))
                .group_by(sa.literal_column("rule"))
            ).all()
        )
    return results


def measure_awards(app, members: int) -> dict:
    """One award through the whole service, with the notification subscriber and without it."""
    from core.database import utcnow
    from core.extensions import db
    from core.identity.models import Member
    from points import contributions
    from points.alerts import notify_posting
    from points.ledger import SUBSCRIBERS

    rng = random.Random(23)
    results = {}
    with app.app_context():
        grid_count = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(sa.table("org_unit"))
            .where(sa.literal_column("kind") == "grid")
        )
        subscribers = app.extensions[SUBSCRIBERS]
        without = [subscriber for subscriber in subscribers if subscriber is not notify_posting]
        for label, chosen in (
            ("with the notification", list(subscribers)),
            ("without it", without),
            ("with it again", list(subscribers)),
        ):
            app.extensions[SUBSCRIBERS] = chosen
            samples = []
            for _ in range(SAMPLES):
                member_id = rng.randint(1, members)
                recorder = db.session.get(Member, members + 1 + member_id % grid_count)
                occurred_at = utcnow() - timedelta(hours=1)
                samples.append(
                    timed(
                        lambda recorder=recorder, member_id=member_id, occurred_at=occurred_at: (
                            contributions.record_contribution(
                                recorder, member_id, "bench_fair", Decimal(1), occurred_at
                            )
                        )
                    )
                )
                db.session.remove()
            results[label] = percentiles(samples)
        app.extensions[SUBSCRIBERS] = subscribers
    return results


def bench_engine(engine: str, members: int) -> dict:
    """Build (once) and measure one engine."""
    from app import create_app
    from core.extensions import db

    started = time.perf_counter()
    url, cluster, facts = prepared(engine, members)
    say(
        f"{engine}: data ready in {time.perf_counter() - started:.0f} s (completed once in {facts['seconds']} s)"
    )
    if cluster is not None:
        cluster.pause()
        cluster.durable = True
        cluster.resume()
    run_url, clean = fresh_copy(engine, url, cluster)
    try:
        app = create_app(_config(run_url))
        with app.app_context():
            contributions = db.session.scalar(sa.text("SELECT count(*) FROM contribution"))
            transactions = db.session.scalar(sa.text("SELECT count(*) FROM ledger_transaction"))
        result = {
            "contributions": contributions,
            "transactions": transactions,
            "planted": facts["planted"],
            "scan": measure_scan(app),
            "awards": measure_awards(app, members),
        }
        with app.app_context():
            db.engine.dispose()
        return result
    finally:
        clean()
        if cluster is not None:
            cluster.pause()


def table(results: dict) -> str:
    """The figures as plain-text tables."""
    lines = []
    for engine, result in results["engines"].items():
        if "skipped" in result:
            lines.append(f"{engine}: skipped: {result['skipped']}")
            continue
        lines.append(
            f"{engine}: {result['transactions']:,} ledger transactions, {result['contributions']:,} "
            f"contributions"
        )
        lines.append(f"  {'fairness scan':<52}{'seconds':>9}{'found':>8}")
        for name, figures in result["scan"].items():
            if name != "rules":
                lines.append(f"  {name:<52}{figures['seconds']:>9}{figures['found']:>8}")
        lines.append(f"  flags by rule: {result['scan']['rules']}")
        lines.append(
            f"  {'award (record_contribution, whole service)':<52}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}"
        )
        for name, figures in result["awards"].items():
            lines.append(f"  {name:<52}{figures['p50_ms']:>9}{figures['p95_ms']:>9}{figures['max_ms']:>9}")
    return "\n".join(lines)


def main() -> int:
    """Measure every engine in ``BENCH_ENGINES``; print the tables; keep JSON."""
    sys.stdout.reconfigure(line_buffering=True)
    members = _members()
    engines = os.environ.get("BENCH_ENGINES", "sqlite postgresql").replace(",", " ").split()
    results = {
        "members": members,
        "samples": SAMPLES,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average_at_start": round(os.getloadavg()[0], 2),
        "engines": {},
    }
    for engine in engines:
        try:
            results["engines"][engine] = bench_engine(engine, members)
        except EngineMissing as missing:
            results["engines"][engine] = {"skipped": str(missing)}
    print(f"\nAccountability: {members:,} members, {SAMPLES} awards a row")
    print(table(results))
    print(
        f"load average (1 min): {results['load_average_at_start']} at the start, "
        f"{os.getloadavg()[0]:.2f} at the end, on {os.cpu_count()} CPUs"
    )
    out = ROOT / "bench" / "results" / f"accountability-{datetime.now():%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str))
    print(f"\nresults: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
