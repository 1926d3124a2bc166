"""One engine's run: a pristine copy of the dataset, the floor, the scenarios, memory, ledger check."""

from __future__ import annotations

import math
import sys
import tempfile
from pathlib import Path

from bench.cpu import tree_cpu_seconds
from bench.databases import DATABASES
from bench.scenarios import (
    FLOOR,
    FLOOR_AGAIN,
    SCENARIOS,
    USED_ONCE,
    Scenario,
    checkin_events_needed,
    create_events,
    set_county_budget,
)
from bench.settings import Settings
from bench.wrk import run_wrk, write_data
from tests.support.gunicorn import Gunicorn, run_flask

#: Seconds of the counting pass after each scenario (one connection, statements per answer).
COUNTING_SECONDS = 2


def say(message: str) -> None:
    """Report progress on stderr (the table goes to stdout)."""
    print(message, file=sys.stderr, flush=True)


class Run:
    """One engine's servers and data: where each scenario's items used once have got to."""

    def __init__(self, settings: Settings, data: Path, db_pid: int | None):
        self.settings, self.data, self.db_pid = settings, data, db_pid
        self.offsets: dict[str, int] = {}

    def _wrk(self, port: int, scenario: Scenario, seconds: int, connections: int):
        result = run_wrk(
            port,
            scenario.key,
            self.data,
            connections=connections,
            seconds=seconds,
            offset=self.offsets.get(scenario.key, 0),
        )
        if scenario.key in USED_ONCE and result.last_index >= 0:
            self.offsets[scenario.key] = result.last_index + connections
        return result

    def measure(
        self,
        scenario: Scenario,
        server: Gunicorn,
        counting: Gunicorn | None = None,
        app_pids: list[int] | None = None,
    ) -> dict:
        """Warm up, run one scenario, then count its statements; answer its row (no floor comparison).

        ``server`` is what the load generator calls (a gunicorn, or nginx in front of several);
        ``app_pids`` the processes whose CPU is the app's (the server's own by default).
        """
        settings = self.settings
        pids = app_pids or [server.process.pid]
        if settings.warmup > 0:
            self._wrk(server.port, scenario, math.ceil(settings.warmup), settings.connections)
        app_before, db_before = sum(map(tree_cpu_seconds, pids)), self._db_cpu()
        result = self._wrk(server.port, scenario, round(settings.seconds), settings.connections)
        app_cpu = sum(map(tree_cpu_seconds, pids)) - app_before
        db_cpu = None if db_before is None else self._db_cpu() - db_before
        requests = max(result.requests, 1)
        row = {
            "scenario": scenario.name,
            "floor": scenario.floor,
            "unit": scenario.unit,
            "rate": result.rate,
            "request_rate": result.request_rate,
            "operations": result.operations,
            "seconds": result.seconds,
            "p50_ms": result.p50_ms,
            "p95_ms": result.p95_ms,
            "p99_ms": result.p99_ms,
            "errors": result.errors,
            "error_count": sum(result.errors.values()),
            "client_cpu_percent": result.client_cpu_percent,
            # CPU per operation: every request the servers answered in the window, failed ones too.
            "app_cpu_ms": 1000 * app_cpu * scenario.requests_per_operation / requests,
            "db_cpu_ms": None
            if db_cpu is None
            else 1000 * db_cpu * scenario.requests_per_operation / requests,
            "statements": None,
        }
        if counting is not None:
            counted = self._wrk(counting.port, scenario, COUNTING_SECONDS, 1)
            if counted.operations:
                row["statements"] = counted.statements / counted.operations
        say(
            f"  {scenario.name:<32} {row['rate']:8.0f} {scenario.unit}/s  p99 {row['p99_ms'] or 0:7.1f} ms  "
            f"errors {row['error_count']}  app CPU {row['app_cpu_ms']:.2f} ms/op  statements {row['statements']}"
        )
        return row

    def _db_cpu(self) -> float | None:
        return None if self.db_pid is None else tree_cpu_seconds(self.db_pid)


def compare_with_floor(rows: list[dict]) -> None:
    """Add each row's requests/s as a % of the first floor row of the same method (GET or POST)."""
    floors = {}
    for row in rows:
        if row["scenario"].startswith("floor"):
            floors.setdefault(row["floor"], row["request_rate"])  # the floor measured first
    for row in rows:
        floor = floors.get(row["floor"])
        row["floor_percent"] = 100 * row["request_rate"] / floor if floor else None


def verify_ledger(env: dict[str, str]) -> dict:
    """Run ``flask ledger verify``; answer whether it passed and what it said."""
    verified = run_flask(env, "ledger", "verify")
    output = (verified.stdout + verified.stderr).strip().splitlines()
    return {
        "ok": verified.returncode == 0,
        "exit_code": verified.returncode,
        "verdict": output[-1] if verified.returncode == 0 and output else "\n".join(output[-10:]),
    }


def bench_engine(engine: str, settings: Settings) -> dict:
    """Benchmark the service on one engine, with the floor measured right before it."""
    say(f"[{engine}] preparing {settings.members:,} members (built once, then copied)")
    scenarios = settings.selected(SCENARIOS)
    workers, threads = settings.workers, settings.threads
    with DATABASES[engine](settings) as (env, fixture, db_pid), tempfile.TemporaryDirectory() as scratch:
        data = Path(scratch) / "data.tsv"
        write_data(data, fixture)
        run = Run(settings, data, db_pid)
        rows = []
        say(f"[{engine}] floor: bench.floor:app, {workers} workers × {threads} threads")
        with Gunicorn("bench.floor:app", env, workers, threads, "/floor") as floor:
            rows += [run.measure(scenario, floor) for scenario in FLOOR]
            floor_memory = floor.worker_memory()
            say(f"[{engine}] service: wsgi:app, and bench.counting:app (1 worker) for the statements")
            with (
                Gunicorn("wsgi:app", env, workers, threads, "/healthz") as service,
                Gunicorn("bench.counting:app", env, 1, 1, "/healthz") as counting,
            ):
                if any(scenario.key == "checkin" for scenario in scenarios):
                    seconds = settings.warmup + settings.seconds + COUNTING_SECONDS
                    codes = create_events(service.port, fixture, checkin_events_needed(fixture, seconds))
                    write_data(data, fixture, codes)
                for scenario in scenarios:
                    if scenario.key == "award_budget":
                        budget = set_county_budget(service.port, fixture)
                        say(
                            f"[{engine}] county budget set: {budget['points']:,} points, "
                            f"{budget['awarded']:,} awarded this year"
                        )
                    rows.append(run.measure(scenario, service, counting))
                service_memory = service.worker_memory()
                # The whole log: the JSON access log writes a line per request, so a tail would
                # hide the warnings of all but the last scenario.
                service_log = service.log.read_text(errors="replace").splitlines()
            # The idle floor server waited meanwhile: measure it again to show how much the
            # machine drifted during the scenarios (its "% floor" is the drift).
            rows.append(run.measure(FLOOR_AGAIN, floor))
        compare_with_floor(rows)
        ledger = verify_ledger(env)
        say(f"[{engine}] flask ledger verify: {ledger['verdict']}")
    return {
        "rows": rows,
        "workers": service_memory,
        "floor_workers": floor_memory,
        "ledger": ledger,
        "server_log": {
            "lines": len(service_log),
            "busy": sum("database busy" in line for line in service_log),
            "tail": service_log[-5:],
        },
    }
