"""One engine's run: a pristine copy of the dataset, the floor, the scenarios, memory, ledger check."""

from __future__ import annotations

import sys

from bench.databases import DATABASES
from bench.load import run_load
from bench.scenarios import FLOOR, FLOOR_AGAIN, SCENARIOS, Context, Scenario
from bench.settings import Settings
from tests.support.gunicorn import Gunicorn, run_flask


def say(message: str) -> None:
    """Report progress on stderr (the table goes to stdout)."""
    print(message, file=sys.stderr, flush=True)


def measure(scenario: Scenario, server: Gunicorn, fixture: dict, settings: Settings) -> dict:
    """Run one scenario against a server; answer its row (without the floor comparison)."""
    context = Context(fixture=fixture, port=server.port, seconds=settings.seconds + settings.warmup)
    result = run_load(server.port, scenario.operations(context), connections=settings.connections,
                      seconds=settings.seconds, warmup=settings.warmup)
    row = {"scenario": scenario.name, "floor": scenario.floor, "unit": scenario.unit,
           "rate": result.rate, "request_rate": result.request_rate, "operations": result.operations,
           "seconds": result.seconds, "p50_ms": result.percentile(0.50), "p95_ms": result.percentile(0.95),
           "p99_ms": result.percentile(0.99), "errors": dict(result.errors),
           "error_count": sum(result.errors.values()), "client_cpu_percent": result.client_cpu_percent}
    say(f"  {scenario.name:<28} {row['rate']:8.0f} {scenario.unit}/s  p99 {row['p99_ms'] or 0:6.1f} ms"
        f"  errors {row['error_count']}")
    return row


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
    return {"ok": verified.returncode == 0, "exit_code": verified.returncode,
            "verdict": output[-1] if verified.returncode == 0 and output else "\n".join(output[-10:])}


def bench_engine(engine: str, settings: Settings) -> dict:
    """Benchmark the service on one engine, with the floor measured right before it."""
    say(f"[{engine}] preparing {settings.members:,} members (built once, then copied)")
    scenarios = settings.selected(SCENARIOS)
    with DATABASES[engine](settings) as (env, fixture):
        rows = []
        say(f"[{engine}] floor: bench.floor:app, {settings.workers} workers × {settings.threads} threads")
        with Gunicorn("bench.floor:app", env, settings.workers, settings.threads, "/floor") as floor:
            rows += [measure(scenario, floor, fixture, settings) for scenario in FLOOR]
            floor_memory = floor.worker_memory()
            say(f"[{engine}] service: wsgi:app")
            with Gunicorn("wsgi:app", env, settings.workers, settings.threads, "/healthz") as service:
                rows += [measure(scenario, service, fixture, settings) for scenario in scenarios]
                service_memory = service.worker_memory()
                # The whole log: the JSON access log writes a line per request, so a tail would
                # hide the warnings of all but the last scenario.
                service_log = service.log.read_text(errors="replace").splitlines()
            # The idle floor server waited meanwhile: measure it again to show how much the
            # machine drifted during the scenarios (its "% floor" is the drift).
            rows.append(measure(FLOOR_AGAIN, floor, fixture, settings))
        compare_with_floor(rows)
        ledger = verify_ledger(env)
        say(f"[{engine}] flask ledger verify: {ledger['verdict']}")
    return {"rows": rows, "workers": service_memory, "floor_workers": floor_memory, "ledger": ledger,
            "server_log": {"lines": len(service_log), "busy": sum("database busy" in line for line in service_log),
                           "tail": service_log[-5:]}}
