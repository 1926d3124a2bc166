"""``python -m bench``: benchmark each engine beside the bare floor; print one table, keep JSON.

Tuned by ``BENCH_*`` environment variables (see bench/README.md): BENCH_SECONDS, BENCH_WARMUP,
BENCH_MEMBERS (default 200000), BENCH_SCENARIOS (e.g. "award,fulfil"; keys: me, leaderboard,
award, claim, login, checkin, reserve, fulfil, wishes, award_budget), BENCH_CONNECTIONS, BENCH_WORKERS, BENCH_THREADS,
BENCH_GRID_WORKERS, BENCH_ENGINES. The first run for a size and schema builds the dataset into
bench/data/ once. Compare two runs with ``python -m bench.compare OLD.json NEW.json``.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from datetime import datetime

from bench.databases import EngineMissing
from bench.report import header, summary, table, write_json
from bench.runner import bench_engine, say
from bench.settings import Settings
from bench.wrk import WrkMissing


def _wrk_version() -> str:
    """wrk's version line, or why there is none."""
    if shutil.which("wrk") is None:
        return "wrk is not installed"
    completed = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    return (completed.stdout or completed.stderr).splitlines()[0].split(" Copyright")[0]


def main() -> int:
    """Run every engine in ``BENCH_ENGINES``; answer 1 if the ledger check failed anywhere."""
    if {"-h", "--help"} & set(sys.argv[1:]):
        print(__doc__)
        return 0
    sys.stdout.reconfigure(line_buffering=True)  # keep the table after the progress lines
    settings = Settings.from_env()
    results = {
        "started_at": datetime.now().astimezone().isoformat(timespec="seconds"),
        "settings": settings.as_dict(),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_start": round(os.getloadavg()[0], 2),
            "load_generator": _wrk_version(),
        },
        "engines": {},
    }
    for engine in settings.engines:
        try:
            results["engines"][engine] = bench_engine(engine, settings)
        except (EngineMissing, WrkMissing) as missing:
            say(f"[{engine}] skipped: {missing}")
            results["engines"][engine] = {"skipped": str(missing)}
    print()
    print(header(results))
    print(table(results))
    print()
    print(summary(results))
    print(
        f"load average (1 min): {results['machine']['load_average_at_start']} at the start, "
        f"{os.getloadavg()[0]:.2f} at the end, on {os.cpu_count()} CPUs"
    )
    print(f"\nresults: {write_json(results)}")
    ledgers = [outcome["ledger"]["ok"] for outcome in results["engines"].values() if "ledger" in outcome]
    if int(os.environ.get("BENCH_LEADERBOARD_MEMBERS") or 0) > 0:
        from bench import leaderboards

        leaderboards.main()  # its own table: boards at county scale, loaded once into bench/data/
    return 0 if all(ledgers) else 1


if __name__ == "__main__":
    sys.exit(main())
