"""Drive one scenario with wrk (``bench/wrk/scenario.lua``) and read back what it measured.

wrk is a C load generator with one event loop per thread; here every thread holds one
connection (``-t N -c N``), so a pair of requests (claim + approve, scan + fulfil) stays in
order on one connection. The Lua script reads the scenario's data (tokens, ids, codes) from a
tab-separated file this module writes, and prints one ``BENCH {json}`` line at the end.
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent / "wrk" / "scenario.lua"
#: Seconds an answer may take before wrk counts a timeout.
TIMEOUT_SECONDS = 10


class WrkMissing(RuntimeError):
    """Raised when the wrk binary is not installed (Debian package ``wrk``)."""


@dataclass
class WrkResult:
    """What one wrk run measured."""

    seconds: float
    operations: int
    requests: int
    requests_ok: int
    statements: int
    last_index: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    errors: dict = field(default_factory=dict)
    #: wrk's own CPU time over the run, as % of one core.
    client_cpu_percent: float = 0.0

    @property
    def rate(self) -> float:
        """Successful operations per second."""
        return self.operations / self.seconds if self.seconds else 0.0

    @property
    def request_rate(self) -> float:
        """Successful requests per second."""
        return self.requests_ok / self.seconds if self.seconds else 0.0


def write_data(path: Path, fixture: dict, checkin_codes: list[str] = ()) -> Path:
    """Write what the Lua script reads: residents, staff tokens, vouchers, check-in codes, settings."""
    lines = [
        f"K\tpassword\t{fixture['password']}",
        f"K\tsupermarket_id\t{fixture['supermarket_id']}",
        f"K\treward_id\t{fixture['reward_id']}",
    ]
    lines += [
        f"R\t{member_id}\t{phone}\t{token}\t" + "\t".join(str(unit) for unit in scopes)
        for (member_id, phone, token), scopes in zip(fixture["residents"], fixture["scopes"])
    ]
    lines += [f"G\t{token}" for _member_id, token in fixture["grid_workers"]]
    lines += [f"C\t{token}" for _member_id, token in fixture["clerks"]]
    lines += [f"V\t{voucher_id}\t{payload}" for voucher_id, payload in fixture["vouchers"]]
    lines += [f"E\t{code}" for code in checkin_codes]
    path.write_text("\n".join(lines) + "\n")
    return path


def run_wrk(port: int, key: str, data: Path, *, connections: int, seconds: int, offset: int = 0) -> WrkResult:
    """Run scenario ``key`` against 127.0.0.1:``port`` for ``seconds``; answer what wrk measured."""
    binary = shutil.which("wrk")
    if binary is None:
        raise WrkMissing("wrk is not installed (apt-get install wrk)")
    command = [
        binary,
        "-t",
        str(connections),
        "-c",
        str(connections),
        "-d",
        f"{seconds}s",
        "--timeout",
        f"{TIMEOUT_SECONDS}s",
        "-s",
        str(SCRIPT),
        f"http://127.0.0.1:{port}",
        "--",
        str(data),
        key,
        str(offset),
        str(connections),
    ]
    before = _children_cpu()
    finished = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120)
    cpu = _children_cpu() - before
    lines = [line for line in finished.stdout.splitlines() if line.startswith("BENCH ")]
    if finished.returncode != 0 or not lines:
        raise RuntimeError(
            f"wrk failed ({finished.returncode}): {finished.stderr[-2000:] or finished.stdout[-2000:]}"
        )
    measured = json.loads(lines[-1].removeprefix("BENCH "))
    elapsed = measured["duration_us"] / 1e6

    def ms(microseconds: int) -> float | None:
        return microseconds / 1000 if measured["requests"] else None

    return WrkResult(
        seconds=elapsed,
        operations=measured["ops"],
        requests=measured["requests"],
        requests_ok=measured["requests_ok"],
        statements=measured["statements"],
        last_index=measured["last_index"],
        p50_ms=ms(measured["p50_us"]),
        p95_ms=ms(measured["p95_us"]),
        p99_ms=ms(measured["p99_us"]),
        errors=measured["errors"],
        client_cpu_percent=100 * cpu / elapsed if elapsed else 0.0,
    )


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
