"""What a benchmark run measures, read from ``BENCH_*`` environment variables."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

#: The repository root: gunicorn and ``flask`` run from here.
ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
ENGINES = ("sqlite", "postgresql")


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def _float(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    return float(value) if value else default


def _names(name: str) -> tuple[str, ...]:
    return tuple(os.environ.get(name, "").replace(",", " ").split())


@dataclass(frozen=True)
class Settings:
    """One run's knobs; every one has an environment variable and a default."""

    seconds: float = 10.0  # BENCH_SECONDS: measured time per scenario
    warmup: float = 1.0  # BENCH_WARMUP: seconds run first and not counted
    members: int = 200_000  # BENCH_MEMBERS: residents in the dataset
    connections: int = 32  # BENCH_CONNECTIONS: concurrent connections of the load generator
    workers: int = 2  # BENCH_WORKERS: gunicorn worker processes
    threads: int = 1  # BENCH_THREADS: threads per worker (1: the sync worker)
    grid_workers: int = 256  # BENCH_GRID_WORKERS: staff sharing the award and approve traffic
    engines: tuple[str, ...] = ENGINES  # BENCH_ENGINES: e.g. "sqlite" or "sqlite postgresql"
    # BENCH_SCENARIOS: scenario keys to run, e.g. "award,fulfil"; all if empty
    scenarios: tuple[str, ...] = ()

    @classmethod
    def from_env(cls) -> Settings:
        """Read the settings from the environment."""
        engines = _names("BENCH_ENGINES") or ENGINES
        unknown = set(engines) - set(ENGINES)
        if unknown:
            raise SystemExit(f"BENCH_ENGINES: unknown engine(s) {', '.join(sorted(unknown))}")
        scenarios = _names("BENCH_SCENARIOS")
        return cls(
            seconds=_float("BENCH_SECONDS", cls.seconds),
            warmup=_float("BENCH_WARMUP", cls.warmup),
            members=_int("BENCH_MEMBERS", cls.members),
            connections=_int("BENCH_CONNECTIONS", cls.connections),
            workers=_int("BENCH_WORKERS", cls.workers),
            threads=_int("BENCH_THREADS", cls.threads),
            grid_workers=_int("BENCH_GRID_WORKERS", cls.grid_workers),
            engines=engines,
            scenarios=scenarios,
        )

    def selected(self, scenarios: tuple) -> tuple:
        """The scenarios this run measures, in their order; refuse a key no scenario has."""
        if not self.scenarios:
            return scenarios
        unknown = set(self.scenarios) - {scenario.key for scenario in scenarios}
        if unknown:
            raise SystemExit(
                f"BENCH_SCENARIOS: unknown scenario(s) {', '.join(sorted(unknown))}; "
                f"choose from {', '.join(scenario.key for scenario in scenarios)}"
            )
        return tuple(scenario for scenario in scenarios if scenario.key in self.scenarios)

    def as_dict(self) -> dict:
        """The settings as plain JSON values."""
        return {**asdict(self), "engines": list(self.engines), "scenarios": list(self.scenarios)}
