"""Peak memory of reading hostile rolls and of a normal 20,000-row import, each in a fresh process.

    .venv/bin/python -m bench.import_memory

Each case runs in its own Python process, so the kernel's high-water mark of resident memory
(``VmHWM`` in ``/proc/self/status``) is that case's alone. The table shows it before the work
(the interpreter, Flask and the file in memory) and after, in MiB:

- the 1.6 kB XLSX declaring A1:CV1048576 (a reader that believed it built a million rows);
- a 19 MB CSV of nothing but blank lines;
- a 20,000-row CSV and XLSX roll with opening balances, dry run and import through the console
  (``bench.import_bench``) on SQLite.

Not part of the test run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CASES = {
    "XLSX declaring A1:CV1048576 (read)": "declared_dimension_bomb:roll.xlsx",
    "CSV of 19 MB blank lines (read)": "blank_lines_csv:roll.csv",
    "20,000-row CSV roll (dry run + import, SQLite)": "import:csv",
    "20,000-row XLSX roll (dry run + import, SQLite)": "import:xlsx",
}


def high_water_mib() -> float:
    """This process's peak resident memory so far, in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def run_case(case: str) -> dict:
    """Run one case in this process; answer the file's size, the memory before and the peak after."""
    kind, _sep, argument = case.partition(":")
    if kind == "import":
        import bench.import_bench as import_bench

        before = high_water_mib()
        [(_engine, _fmt, size, dry_run, imported)] = import_bench.run_engine("sqlite", formats=(argument,))
        return {"bytes": size, "before": before, "peak": high_water_mib(), "seconds": dry_run + imported}
    import time

    from admin.services.roll_import import read_roll
    from tests.support import rolls

    data = getattr(rolls, kind)()
    before = high_water_mib()
    started = time.perf_counter()
    roll = read_roll(argument, data)
    return {
        "bytes": len(data),
        "before": before,
        "peak": high_water_mib(),
        "seconds": time.perf_counter() - started,
        "rows": len(roll.rows),
        "problems": [str(message) for _line, _column, message in roll.problems],
    }


def main() -> None:
    """Run every case in its own process and print the table."""
    print(f"{'case':<50}{'file':>10}{'before':>9}{'peak':>9}{'added':>9}{'s':>7}")
    for label, case in CASES.items():
        result = subprocess.run(
            [sys.executable, "-m", "bench.import_memory", case],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        figures = json.loads(result.stdout.strip().splitlines()[-1])
        print(
            f"{label:<50}{figures['bytes'] / 1024:>8.0f}kB{figures['before']:>7.0f}MiB"
            f"{figures['peak']:>6.0f}MiB{figures['peak'] - figures['before']:>6.0f}MiB{figures['seconds']:>7.2f}"
        )
        if figures.get("problems"):
            print(f"{'':<4}refused: {figures['problems'][0][:90]}")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        print(json.dumps(run_case(sys.argv[1])))
    else:
        main()
