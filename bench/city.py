"""``python -m bench.city`` (``make bench-city``): the city layout under load, beside one app server.

On the city's dataset (``bench.city_data``: 2,000,000 residents and ~20,000,000 ledger
transactions by default; ``BENCH_MEMBERS`` for a smaller one), with PostgreSQL durable as in
production, its streaming replica, PgBouncer in transaction mode and Redis:

1. the bare Flask floor (one gunicorn), then ``/me``, the board, the award and the fulfil through
   **one** app server straight on the primary (the county's layout);
2. the same scenarios through **nginx over three app servers** reaching the primary through
   PgBouncer, the boards reading from the replica — the replica's lag sampled all along
   (``pg_stat_replication`` on the primary);
3. **the drill**: awards (each with its ``Idempotency-Key``, also kept as its note) and board
   reads through nginx from ``BENCH_CONNECTIONS`` clients (at most 16) for ``BENCH_SECONDS``;
   a third of the way in, one app server is killed (SIGKILL) and the replica stopped. A client
   sends an award that got a 502 again with its key. Then the awards in the database are matched
   with the answers: every one answered 201 posted once, none posted twice, none left unknown
   beyond the requests the killed server had in flight, every board read answered;
   ``flask ledger verify`` runs, and the replica is started again and timed catching up.

Prints one table (the ``% floor`` column as ``make bench`` has it), the replica's lag and the
drill's figures, and keeps everything in ``bench/results/<timestamp>.json``. ``BENCH_SECONDS``,
``BENCH_WARMUP``, ``BENCH_CONNECTIONS``, ``BENCH_WORKERS`` (per app server), ``BENCH_THREADS``
and ``BENCH_SCENARIOS`` (of me, leaderboard, award, fulfil) tune it as they tune ``make bench``.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path

import psycopg
import requests

from bench import city_data
from bench.__main__ import _wrk_version
from bench.databases import _plain, _server_env
from bench.report import header, table, write_json
from bench.runner import Run, compare_with_floor, say, verify_ledger
from bench.scenarios import FLOOR, SCENARIOS, call
from bench.settings import Settings
from bench.wrk import write_data
from tests.support.city import Nginx, PgBouncer, behind_nginx, find_binary, kill, post_until_answered
from tests.support.gunicorn import Gunicorn
from tests.support.redis import RedisServer, find_redis

#: The scenarios the city is measured by (a subset of ``make bench``'s).
CITY_SCENARIOS = ("me", "leaderboard", "award", "fulfil")
APP_SERVERS = 3
#: Server connections PgBouncer lends per database: a few per core of the database machine.
POOL_SIZE = 8
#: The drill's awards carry notes starting with this (then the run's id and the award's key).
DRILL_NOTE = "drill"
#: Seconds between two samples of the replica's lag.
LAG_EVERY = 0.25
_LAG = (
    "SELECT coalesce(extract(epoch FROM max(replay_lag)), 0), "
    "coalesce(max(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)), 0) FROM pg_stat_replication"
)


class LagSampler:
    """Sample the replica's replay lag (seconds and bytes, as the primary sees it) in a thread."""

    def __init__(self, server_url: str):
        self.server_url = server_url
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> LagSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        with psycopg.connect(_plain(f"{self.server_url}/postgres"), autocommit=True) as connection:
            while not self._stop.wait(LAG_EVERY):
                seconds, behind = connection.execute(_LAG).fetchone()
                self.samples.append((float(seconds), int(behind)))

    def summary(self) -> dict:
        """p50, p95 and max of the lag in seconds, and the most bytes it trailed by."""
        if not self.samples:
            return {"samples": 0}
        seconds = sorted(sample[0] for sample in self.samples)
        return {
            "samples": len(seconds),
            "p50_s": round(statistics.median(seconds), 3),
            "p95_s": round(seconds[max(int(len(seconds) * 0.95) - 1, 0)], 3),
            "max_s": round(seconds[-1], 3),
            "max_bytes": max(sample[1] for sample in self.samples),
        }


def _used_vouchers_path(facts: dict) -> Path:
    return city_data.DATA_DIR / f"{facts['database']}.vouchers-used.json"


def _drill_notes(database_url: str, run_id: str) -> Counter:
    """How many contributions carry each note of this drill."""
    with psycopg.connect(_plain(database_url), autocommit=True) as connection:
        return Counter(
            note
            for (note,) in connection.execute(
                "SELECT note FROM contribution WHERE note LIKE %s", (f"{DRILL_NOTE}-{run_id}-%",)
            )
        )


def drill(
    settings: Settings, fixture: dict, nginx: Nginx, servers: list[Gunicorn], replica, database_url: str
) -> dict:
    """Awards and board reads through nginx from ``BENCH_CONNECTIONS`` clients; a third of the way
    in, kill one app server and stop the replica. A client sends a failed award again with its
    ``Idempotency-Key`` (as the contract asks), a few times; each award's key is its note too, so
    the awards posted can be matched with the answers."""

    seconds = max(settings.seconds, 3.0)
    run_id = uuid.uuid4().hex[:8]
    answers: dict[str, int] = {}
    boards: Counter = Counter()
    retried = 0
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(number: int) -> None:
        nonlocal retried
        rng = random.Random(number)
        with requests.Session() as http:
            while time.monotonic() < deadline:
                key = f"{DRILL_NOTE}-{run_id}-{uuid.uuid4().hex}"
                member_id, _phone, token = rng.choice(fixture["residents"])
                headers = {
                    "Authorization": f"Bearer {rng.choice(fixture['grid_workers'])[1]}",
                    "Idempotency-Key": key,
                }
                body = {
                    "member_id": member_id,
                    "activity_code": "bench_award",
                    "quantity": 1,
                    "occurred_at": datetime.now().astimezone().isoformat(),
                    "note": key,
                }
                status, again = post_until_answered(http, f"{nginx.url}/api/v1/contributions", body, headers)
                try:
                    board = http.get(
                        f"{nginx.url}/api/v1/leaderboards/members",
                        timeout=30,
                        headers={"Authorization": f"Bearer {token}"},
                        params={"org_unit_id": fixture["county_id"], "period": "month"},
                    ).status_code
                except requests.RequestException as error:
                    board = type(error).__name__
                with lock:
                    answers[key] = status
                    retried += bool(again)
                    boards[board] += 1

    def strike() -> None:
        time.sleep(seconds / 3)
        kill(servers[1])
        replica.pause()

    clients = min(settings.connections, 16)
    say(
        f"[drill] awards and boards through nginx from {clients} clients for {seconds:g} s; one app server "
        f"killed and the replica stopped at {seconds / 3:.0f} s"
    )
    with ThreadPoolExecutor(clients + 1) as pool:
        running = [pool.submit(client, number) for number in range(clients)] + [pool.submit(strike)]
        for future in running:
            future.result()
    notes = _drill_notes(database_url, run_id)
    statuses = Counter(answers.values())
    acknowledged = {key for key, status in answers.items() if status == 201}
    unknown = {key for key, status in answers.items() if status != 201}
    in_flight = settings.workers * settings.threads
    started = time.perf_counter()
    replica.resume()
    replica.catch_up(timeout=3600)
    result = {
        "seconds": seconds,
        "clients": clients,
        "awards": len(answers),
        "statuses": dict(statuses),
        "retried": retried,
        "acknowledged": len(acknowledged),
        "posted": len(notes),
        "acknowledged_missing": len(acknowledged - set(notes)),
        "posted_twice": sum(n > 1 for n in notes.values()),
        "unknown": len(unknown),
        "unknown_posted": len(unknown & set(notes)),
        "in_flight_at_most": in_flight,
        "boards": dict(boards),
        "replica_caught_up_s": round(time.perf_counter() - started, 1),
    }
    result["ok"] = (
        result["acknowledged_missing"] == 0
        and result["posted_twice"] == 0
        and set(notes) <= set(answers)
        and len(unknown) <= in_flight
        and set(boards) == {200}
    )
    return result


def main() -> int:
    """Build the dataset if missing, run both layouts and the drill, print the table."""
    if {"-h", "--help"} & set(sys.argv[1:]):
        print(__doc__)
        return 0
    sys.stdout.reconfigure(line_buffering=True)
    settings = city_data.city_settings(Settings.from_env())
    scenarios = settings.selected(tuple(scenario for scenario in SCENARIOS if scenario.key in CITY_SCENARIOS))
    missing = [name for name in ("nginx", "pgbouncer", "wrk") if find_binary(name) is None]
    if missing or find_redis() is None:
        raise SystemExit(
            f"missing: {', '.join(missing + ([] if find_redis() else ['redis-server']))} "
            "(apt-get install nginx-light pgbouncer wrk redis-server)"
        )
    results = {
        "started_at": datetime.now().astimezone().isoformat(timespec="seconds"),
        "settings": settings.as_dict(),
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_at_start": round(os.getloadavg()[0], 2),
            "load_generator": _wrk_version(),
        },
        "engines": {},
    }
    say(f"[city] the dataset: {settings.members:,} members (built once into bench/data/)")
    facts = city_data.build(settings)
    fixture = json.loads((city_data.DATA_DIR / f"{facts['database']}.fixture.json").read_text())
    used = _used_vouchers_path(facts)
    workers, threads = settings.workers, settings.threads
    with ExitStack() as stack, tempfile.TemporaryDirectory() as scratch:
        cluster = city_data.primary_cluster()
        cluster.durable = True  # every commit waits for the disk, as in production
        cluster.open()
        stack.callback(cluster.pause)
        replica = city_data.replica_of(cluster, facts)
        replica.resume()
        stack.callback(lambda: replica.pause() if replica.answers() else None)
        replica.catch_up(timeout=3600)
        redis = RedisServer(find_redis()).start()
        stack.callback(redis.stop)
        pooler = PgBouncer(find_binary("pgbouncer"), cluster.port, pool_size=POOL_SIZE).start()
        stack.callback(pooler.stop)

        primary_url = f"{cluster.url}/{facts['database']}"
        direct = {**_server_env(_plain(primary_url), facts), "RATELIMIT_STORAGE_URI": redis.url}
        city = {
            **direct,
            "DATABASE_URL": _plain(f"{pooler.url}/{facts['database']}"),
            "DATABASE_TRANSACTION_POOLING": "1",
            "TRUSTED_PROXIES": "1",
            "DATABASE_REPLICA_URL": _plain(f"{replica.url}/{facts['database']}"),
        }
        data = write_data(Path(scratch) / "data.tsv", fixture)
        run = Run(settings, data, cluster.postmaster_pid())
        run.offsets["fulfil"] = json.loads(used.read_text())["next"] if used.exists() else 0
        left = len(fixture["vouchers"]) - run.offsets["fulfil"]
        if any(scenario.key == "fulfil" for scenario in scenarios) and left < 2000:
            say(
                f"[city] only {left} unused vouchers are left: fulfil is not measured "
                f"(delete bench/data/{facts['database']}.json to build the dataset again)"
            )
            scenarios = tuple(scenario for scenario in scenarios if scenario.key != "fulfil")

        say(f"[one server] floor, then wsgi:app on the primary: {workers} workers × {threads} threads")
        with Gunicorn("bench.floor:app", direct, workers, threads, "/floor") as floor:
            one = [run.measure(scenario, floor) for scenario in FLOOR]
        with Gunicorn("wsgi:app", direct, workers, threads, "/healthz") as service:
            one += [run.measure(scenario, service) for scenario in scenarios]

        say(f"[nginx × {APP_SERVERS}] through PgBouncer, boards from the replica")
        servers, nginx = stack.enter_context(
            behind_nginx(find_binary("nginx"), city, APP_SERVERS, workers, threads)
        )
        app_pids = [nginx.process.pid] + [server.process.pid for server in servers]
        with LagSampler(cluster.url) as lag:
            three = [run.measure(scenario, nginx, app_pids=app_pids) for scenario in scenarios]
        replica_state = call(nginx.port, "GET", "/healthz")[1]["replica"]
        used.write_text(json.dumps({"next": run.offsets.get("fulfil", 0)}))

        compare_with_floor(one + three)
        results["engines"] = {"one server": {"rows": one}, f"nginx × {APP_SERVERS}": {"rows": three}}
        results["replica_lag"] = {**lag.summary(), "state_after": replica_state}
        results["drill"] = drill(settings, fixture, nginx, servers, replica, primary_url)
        results["ledger"] = verify_ledger(direct)

    lag, drilled, ledger = results["replica_lag"], results["drill"], results["ledger"]
    print()
    print(
        header(results).replace("benchmark", "city benchmark") + f", {APP_SERVERS} app servers behind nginx"
    )
    print(table(results))
    print()
    print(
        f"replica lag under the nginx × {APP_SERVERS} scenarios ({lag.get('samples', 0)} samples): "
        f"p50 {lag.get('p50_s')} s, p95 {lag.get('p95_s')} s, max {lag.get('max_s')} s, "
        f"at most {lag.get('max_bytes', 0):,} bytes behind; state after: {lag['state_after']['state']}"
    )
    print(
        f"drill ({drilled['clients']} clients, {drilled['seconds']:g} s): {drilled['awards']} awards sent, "
        f"{drilled['retried']} sent again after a 502, {drilled['acknowledged']} answered 201, "
        f"{drilled['posted']} posted; acknowledged and missing: {drilled['acknowledged_missing']}, "
        f"posted twice: {drilled['posted_twice']}, left unknown: {drilled['unknown']} "
        f"({drilled['unknown_posted']} of them posted; in flight at most {drilled['in_flight_at_most']}); "
        f"boards {drilled['boards']}; the replica caught up in {drilled['replica_caught_up_s']} s "
        f"— {'OK' if drilled['ok'] else 'FAILED'}"
    )
    print(f"flask ledger verify: {'OK' if ledger['ok'] else 'FAILED'} — {ledger['verdict']}")
    print(
        f"load average (1 min): {results['machine']['load_average_at_start']} at the start, "
        f"{os.getloadavg()[0]:.2f} at the end, on {os.cpu_count()} CPUs"
    )
    print(f"\nresults: {write_json(results)}")
    return 0 if drilled["ok"] and ledger["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
