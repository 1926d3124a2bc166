"""The one table a run prints, the design targets beneath it, and the JSON it keeps."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from bench.scenarios import AWARD_SCENARIO, LEADERBOARD_SCENARIO, ME_SCENARIO
from bench.settings import RESULTS_DIR

#: Targets, each as % of the same run's floor (GET rows against GET, POST rows against POST), per engine.
FLOOR_TARGETS = {
    ME_SCENARIO: {"sqlite": 40.0, "postgresql": 35.0},
    LEADERBOARD_SCENARIO: {"sqlite": 30.0, "postgresql": 25.0},
    AWARD_SCENARIO: {"sqlite": 15.0, "postgresql": 20.0},
}
#: SQL statements one award may run, whole request included (sign-in, checks, posting, answer).
AWARD_STATEMENTS_TARGET = 12
RSS_TARGET_MIB = 150.0

COLUMNS = (
    ("engine", "<"),
    ("scenario", "<"),
    ("rate/s", ">"),
    ("unit", "<"),
    ("p50 ms", ">"),
    ("p95 ms", ">"),
    ("p99 ms", ">"),
    ("errors", ">"),
    ("% floor", ">"),
    ("app CPU ms", ">"),
    ("db CPU ms", ">"),
    ("SQL/op", ">"),
    ("client CPU", ">"),
)


def _number(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _cells(engine: str, row: dict) -> list[str]:
    errors = str(row["error_count"])
    if row["errors"]:
        errors += " (" + ", ".join(f"{code}×{count}" for code, count in sorted(row["errors"].items())) + ")"
    return [
        engine,
        row["scenario"],
        _number(row["rate"], 0),
        row["unit"],
        _number(row["p50_ms"]),
        _number(row["p95_ms"]),
        _number(row["p99_ms"]),
        errors,
        _number(row["floor_percent"], 0) + " %",
        _number(row["app_cpu_ms"], 2),
        _number(row["db_cpu_ms"], 2),
        _number(row["statements"], 1),
        _number(row["client_cpu_percent"], 0) + " %",
    ]


def table(results: dict) -> str:
    """The rows of every engine as one aligned plain-text table."""
    lines = [[name for name, _align in COLUMNS]]
    for engine, outcome in results["engines"].items():
        if "skipped" in outcome:
            lines.append([engine, f"skipped: {outcome['skipped']}"] + [""] * (len(COLUMNS) - 2))
            continue
        lines += [_cells(engine, row) for row in outcome["rows"]]
    widths = [max(len(line[index]) for line in lines) for index in range(len(COLUMNS))]
    rendered = [
        "  ".join(
            f"{cell:{align}{width}}" for cell, (_name, align), width in zip(line, COLUMNS, widths)
        ).rstrip()
        for line in lines
    ]
    rendered.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(rendered)


def _memory(workers: list[dict]) -> str:
    return ", ".join(f"{worker['rss_mib']:.0f} MiB (peak {worker['peak_mib']:.0f})" for worker in workers)


def targets(engine: str, outcome: dict) -> list[tuple[str, str, bool]]:
    """(what was measured, the goal, whether it was met) for each target whose scenario ran."""
    rows = {row["scenario"]: row for row in outcome["rows"]}
    checks = []
    for scenario, goals in FLOOR_TARGETS.items():
        if scenario in rows:
            share = rows[scenario]["floor_percent"] or 0
            checks.append(
                (f"{scenario} {share:.0f} % of the floor", f"≥ {goals[engine]:.0f} %", share >= goals[engine])
            )
    if AWARD_SCENARIO in rows and rows[AWARD_SCENARIO]["statements"] is not None:
        statements = rows[AWARD_SCENARIO]["statements"]
        checks.append(
            (
                f"statements per award {statements:.1f}",
                f"≤ {AWARD_STATEMENTS_TARGET}",
                statements <= AWARD_STATEMENTS_TARGET,
            )
        )
    errors = sum(row["error_count"] for row in outcome["rows"])
    checks.append((f"{errors} errors", "0", errors == 0))
    rss = max((worker["peak_mib"] or 0 for worker in outcome["workers"]), default=0)
    checks.append((f"worker RSS peak {rss:.0f} MiB", f"< {RSS_TARGET_MIB:.0f} MiB", rss < RSS_TARGET_MIB))
    return checks


def summary(results: dict) -> str:
    """Memory, the ledger's verdict and the design targets, per engine."""
    lines = []
    for engine, outcome in results["engines"].items():
        if "skipped" in outcome:
            lines.append(f"{engine}: the {engine} rows were skipped — {outcome['skipped']}")
            continue
        lines += [
            f"{engine}: gunicorn workers RSS after the run: {_memory(outcome['workers'])}"
            f" (floor app: {_memory(outcome['floor_workers'])})",
            f"{engine}: flask ledger verify: {'OK' if outcome['ledger']['ok'] else 'FAILED'} — "
            f"{outcome['ledger']['verdict']}",
            f"{engine}: gunicorn log: {outcome['server_log']['lines']} lines, "
            f"{outcome['server_log']['busy']} 'database busy' warnings",
            f"{engine}: targets: "
            + "; ".join(
                f"{what} ({goal}: {'met' if met else 'MISSED'})"
                for what, goal, met in targets(engine, outcome)
            ),
        ]
    return "\n".join(lines)


def header(results: dict) -> str:
    """One line saying how the figures were taken."""
    settings = results["settings"]
    return (
        f"Ping'an Points benchmark {results['started_at']} — {settings['connections']} connections, "
        f"{settings['seconds']:g} s per scenario after {settings['warmup']:g} s warm-up, "
        f"gunicorn {settings['workers']} workers × {settings['threads']} threads, "
        f"{settings['members']:,} members, {results['machine']['cpus']} CPUs, "
        f"load generator: {results['machine']['load_generator']}"
    )


def write_json(results: dict) -> Path:
    """Keep the results in ``bench/results/<timestamp>.json``; answer the path."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.fromisoformat(results["started_at"]).strftime("%Y%m%dT%H%M%S")
    path = RESULTS_DIR / f"{stamp}.json"
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    return path
