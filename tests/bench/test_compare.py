"""The benchmark's pure parts: settings, targets and the comparison of two runs' JSON."""

from __future__ import annotations

import json

import pytest

from bench import compare
from bench.report import targets
from bench.scenarios import (
    AWARD_SCENARIO,
    FLOOR,
    FULFIL_SCENARIO,
    LEADERBOARD_SCENARIO,
    ME_SCENARIO,
    SCENARIOS,
)
from bench.settings import Settings


def row(
    scenario: str,
    rate: float,
    p99: float,
    *,
    p95: float = 5.0,
    floor: float | None = 50.0,
    errors: int = 0,
    statements: float | None = None,
) -> dict:
    """A result row as ``python -m bench`` writes it."""
    return {
        "scenario": scenario,
        "floor": "POST",
        "unit": "req",
        "rate": rate,
        "request_rate": rate,
        "p50_ms": p99 / 2,
        "p95_ms": p95,
        "p99_ms": p99,
        "errors": {"409": errors} if errors else {},
        "error_count": errors,
        "floor_percent": floor,
        "client_cpu_percent": 3.0,
        "app_cpu_ms": 2.0,
        "db_cpu_ms": None,
        "statements": statements,
    }


def run(started_at: str, rows: list[dict], peak_mib: float, connections: int = 32) -> dict:
    """A whole run's results with one engine."""
    return {
        "started_at": started_at,
        "settings": {"connections": connections, "seconds": 10.0},
        "engines": {
            "sqlite": {"rows": rows, "workers": [{"pid": 1, "rss_mib": peak_mib - 1, "peak_mib": peak_mib}]}
        },
    }


def test_compare_prints_the_change_of_each_scenario_between_two_runs(tmp_path, capsys):
    old = tmp_path / "old.json"
    new = tmp_path / "new.json"
    old.write_text(
        json.dumps(
            run(
                "2026-11-28T10:00:00+00:00",
                [row(AWARD_SCENARIO, 40, 800.0, statements=23.0), row("GET /me", 200, 150.0)],
                120,
                connections=1,
            )
        )
    )
    new.write_text(
        json.dumps(
            run(
                "2026-11-29T10:00:00+00:00",
                [
                    row(AWARD_SCENARIO, 60, 400.0, errors=2, statements=11.0),
                    row(LEADERBOARD_SCENARIO, 90, 30.0),
                ],
                132,
            )
        )
    )

    assert compare.main([str(old), str(new)]) == 0

    lines = capsys.readouterr().out.splitlines()
    award = next(line for line in lines if AWARD_SCENARIO in line)
    assert "40 → 60" in award and "+50 %" in award
    assert "800.0 → 400.0" in award and "-50 %" in award
    assert "0 → 2" in award and "23.0 → 11.0" in award
    assert "only in the old run" in next(line for line in lines if "GET /me" in line)
    assert "only in the new run" in next(line for line in lines if LEADERBOARD_SCENARIO in line)
    assert "120 → 132" in next(line for line in lines if "worker RSS" in line)
    assert "settings differ: connections 1 → 32" in lines


def test_compare_refuses_anything_but_two_files(capsys):
    assert compare.main(["only-one.json"]) == 2
    assert "usage" in capsys.readouterr().err


def test_change_is_blank_without_a_baseline():
    assert compare.change(0, 10) == "—"
    assert compare.change(None, 10) == "—"
    assert compare.change(10, 12.5) == "+25 %"


def test_targets_judge_each_goal_per_engine():
    outcome = {
        "rows": [
            row(AWARD_SCENARIO, 100, 900.0, floor=17.0, statements=11.0),
            row(ME_SCENARIO, 900, 60.0, floor=38.0),
            row(LEADERBOARD_SCENARIO, 300, 40.0, floor=31.0, errors=1),
        ],
        "workers": [{"pid": 1, "rss_mib": 140.0, "peak_mib": 151.0}],
    }

    def verdicts(engine):
        return {what.split(" ")[0] + " " + goal: met for what, goal, met in targets(engine, outcome)}

    assert verdicts("sqlite") == {
        "GET ≥ 40 %": False,
        "leaderboard ≥ 30 %": True,
        "award ≥ 15 %": True,
        "statements ≤ 12": True,
        "1 0": False,
        "worker < 150 MiB": False,
    }
    assert verdicts("postgresql") == {
        "GET ≥ 35 %": True,
        "leaderboard ≥ 25 %": True,
        "award ≥ 20 %": False,
        "statements ≤ 12": True,
        "1 0": False,
        "worker < 150 MiB": False,
    }


def test_targets_leave_out_the_scenarios_a_run_skipped():
    outcome = {"rows": [row(FULFIL_SCENARIO, 200, 100.0)], "workers": []}

    assert [goal for _what, goal, _met in targets("sqlite", outcome)] == ["0", "< 150 MiB"]


def test_bench_scenarios_selects_scenarios_by_key(monkeypatch):
    monkeypatch.setenv("BENCH_SCENARIOS", "fulfil, leaderboard")

    chosen = Settings.from_env().selected(SCENARIOS)

    assert [scenario.key for scenario in chosen] == ["leaderboard", "fulfil"]


def test_the_dataset_is_county_sized_by_default(monkeypatch):
    monkeypatch.delenv("BENCH_MEMBERS", raising=False)
    monkeypatch.delenv("BENCH_SCENARIOS", raising=False)

    settings = Settings.from_env()

    assert settings.members == 200_000
    assert settings.selected(SCENARIOS) == SCENARIOS


def test_bench_scenarios_refuses_an_unknown_key(monkeypatch):
    monkeypatch.setenv("BENCH_SCENARIOS", "award,teleport")

    with pytest.raises(SystemExit, match="teleport"):
        Settings.from_env().selected(SCENARIOS)


def test_every_scenario_has_its_own_key():
    keys = [scenario.key for scenario in (*FLOOR, *SCENARIOS)]

    assert len(keys) == len(set(keys))
    assert {"login", "award", "claim", "checkin", "reserve", "fulfil", "leaderboard", "me"} <= set(keys)


def test_bench_help_explains_the_variables_without_running(capsys, monkeypatch):
    from bench.__main__ import main

    monkeypatch.setattr("sys.argv", ["bench", "--help"])

    assert main() == 0
    assert "BENCH_SCENARIOS" in capsys.readouterr().out
