"""``python -m bench.compare OLD.json NEW.json``: the change per scenario between two benchmark runs.

For every engine and scenario in both runs: the rate, the p99 latency, the share of the floor,
the CPU and SQL statements per operation and the errors, old → new with the change in per cent;
then each engine's largest worker RSS.
Rows in only one of the runs are listed as such. Remember the machine: compare the "% floor"
column first, since absolute rates move with whatever else the two cores were doing.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

COLUMNS = (
    "engine",
    "scenario",
    "rate/s old → new",
    "change",
    "p99 ms old → new",
    "change",
    "% floor old → new",
    "app CPU ms/op old → new",
    "SQL/op old → new",
    "errors old → new",
)


def load(path: str | Path) -> dict:
    """Read one run's JSON (as ``python -m bench`` writes it)."""
    return json.loads(Path(path).read_text())


def change(old: float | None, new: float | None) -> str:
    """The relative change from ``old`` to ``new`` as a signed percentage, or "—"."""
    if old is None or new is None or old == 0:
        return "—"
    return f"{100 * (new - old) / old:+.0f} %"


def _pair(old: float | None, new: float | None, digits: int) -> str:
    def shown(value):
        return "—" if value is None else f"{value:,.{digits}f}"

    return f"{shown(old)} → {shown(new)}"


def _rows(run: dict, engine: str) -> dict[str, dict]:
    return {row["scenario"]: row for row in run["engines"].get(engine, {}).get("rows", [])}


def _peak_rss(run: dict, engine: str) -> float | None:
    workers = run["engines"].get(engine, {}).get("workers") or []
    peaks = [worker["peak_mib"] for worker in workers if worker.get("peak_mib") is not None]
    return max(peaks) if peaks else None


def _line(*cells: str) -> list[str]:
    """A table line of the first cells, left empty in the columns after them."""
    return [*cells, *[""] * (len(COLUMNS) - len(cells))]


def compare(old: dict, new: dict) -> list[list[str]]:
    """One line of cells per engine and scenario of either run."""
    lines = []
    for engine in dict.fromkeys([*old["engines"], *new["engines"]]):
        before, after = _rows(old, engine), _rows(new, engine)
        for scenario in dict.fromkeys([*before, *after]):
            if scenario not in before or scenario not in after:
                lines.append(
                    _line(engine, scenario, f"only in the {'new' if scenario in after else 'old'} run")
                )
                continue
            was, now = before[scenario], after[scenario]
            lines.append(
                [
                    engine,
                    scenario,
                    _pair(was["rate"], now["rate"], 0),
                    change(was["rate"], now["rate"]),
                    _pair(was["p99_ms"], now["p99_ms"], 1),
                    change(was["p99_ms"], now["p99_ms"]),
                    _pair(was.get("floor_percent"), now.get("floor_percent"), 0),
                    _pair(was.get("app_cpu_ms"), now.get("app_cpu_ms"), 2),
                    _pair(was.get("statements"), now.get("statements"), 1),
                    f"{was['error_count']} → {now['error_count']}",
                ]
            )
        rss_old, rss_new = _peak_rss(old, engine), _peak_rss(new, engine)
        if rss_old is not None or rss_new is not None:
            lines.append(
                _line(engine, "worker RSS peak (MiB)", _pair(rss_old, rss_new, 0), change(rss_old, rss_new))
            )
    return lines


def render(lines: list[list[str]]) -> str:
    """The lines as an aligned plain-text table under its header."""
    table = [list(COLUMNS), *lines]
    widths = [max(len(line[index]) for line in table) for index in range(len(COLUMNS))]
    rendered = ["  ".join(f"{cell:<{width}}" for cell, width in zip(line, widths)).rstrip() for line in table]
    rendered.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(rendered)


def differing_settings(old: dict, new: dict) -> list[str]:
    """The run settings that differ between the two runs, as "name old → new"."""
    before, after = old.get("settings", {}), new.get("settings", {})
    return [
        f"{name} {before.get(name)} → {after.get(name)}"
        for name in dict.fromkeys([*before, *after])
        if before.get(name) != after.get(name)
    ]


def main(argv: list[str]) -> int:
    """Print the comparison of the two runs named on the command line."""
    if len(argv) != 2:
        print("usage: python -m bench.compare OLD.json NEW.json", file=sys.stderr)
        return 2
    old, new = load(argv[0]), load(argv[1])
    print(f"old: {old['started_at']}  new: {new['started_at']}")
    differing = differing_settings(old, new)
    if differing:
        print("settings differ: " + ", ".join(differing))
    print(render(compare(old, new)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
