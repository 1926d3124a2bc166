"""Start and stop gunicorn on 127.0.0.1, run ``flask`` commands and Python scripts, read the workers' memory.

Shared by the benchmarks and the fault tests (tests/reliability).
"""

from __future__ import annotations

import http.client
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.postgres import free_port

ROOT = Path(__file__).resolve().parents[2]


def production_env(database_url: str) -> dict[str, str]:
    """The environment of a production server: a random 48-character secret, the database and the
    loopback address as the public one."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("FLASK_", "RATELIMIT_", "TRUSTED_PROXIES", "TRUSTED_HOSTS"))
    }
    env.update(
        APP_ENV="production",
        SECRET_KEY=secrets.token_urlsafe(36),
        DATABASE_URL=database_url,
        PUBLIC_BASE_URL="http://127.0.0.1/",
        FLASK_APP="wsgi",
    )
    return env


def run_flask(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """Run ``flask …`` from the repository in its own process; answer its exit code and output."""
    return subprocess.run(
        [sys.executable, "-m", "flask", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )


def run_python(script: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run a Python script from the repository in its own process, ``args`` as its ``sys.argv[1:]``;
    answer its exit code and output (a failure raises unless ``check`` is false)."""
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=check,
    )


@dataclass
class Gunicorn:
    """One gunicorn master serving ``app`` on a free loopback port."""

    app: str
    env: dict[str, str]
    workers: int
    threads: int
    ready_path: str
    #: Seconds the server may take to answer ``ready_path`` (several starting at once take longer).
    ready_seconds: float = 60

    def __post_init__(self):
        self.port = free_port()
        self.log = Path(tempfile.mkstemp(prefix="pingan-gunicorn-", suffix=".log")[1])
        self.process: subprocess.Popen | None = None

    def command(self) -> list[str]:
        """The gunicorn command line (the sync worker unless threads > 1)."""
        return [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(self.workers),
            "--threads",
            str(self.threads),
            "--backlog",
            "2048",
            "--log-level",
            "warning",
            self.app,
        ]

    def start(self) -> Gunicorn:
        """Start the server and wait until ``ready_path`` answers 200 (at most ``ready_seconds``)."""
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                self.command(), cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + self.ready_seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn {self.app} exited: {self.log_tail()}")
            if self.answers(self.ready_path):
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(
            f"gunicorn {self.app} did not answer in {self.ready_seconds:g} s: {self.log_tail()}"
        )

    def answers(self, path: str) -> bool:
        """Whether ``GET path`` answers 200 now."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            connection.request("GET", path)
            return connection.getresponse().status == 200
        except OSError:
            return False
        finally:
            connection.close()

    def worker_pids(self) -> list[int]:
        """The pids of the master's worker processes."""
        pid = self.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children")
        if children.exists():
            return [int(child) for child in children.read_text().split()]
        return [
            int(stat.parent.name) for stat in Path("/proc").glob("[0-9]*/stat") if _parent_pid(stat) == pid
        ]

    def worker_memory(self) -> list[dict]:
        """Each worker's resident memory now and at its peak, in MiB (``/proc/<pid>/status``)."""
        return [_memory(pid) for pid in self.worker_pids()]

    def stop(self) -> None:
        """Stop gunicorn gracefully (SIGTERM), and kill it if it lingers."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log_tail(self, lines: int = 20) -> str:
        """The last lines gunicorn wrote."""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def __enter__(self) -> Gunicorn:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
        self.log.unlink(missing_ok=True)


def _parent_pid(stat: Path) -> int | None:
    try:
        return int(stat.read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _memory(pid: int) -> dict:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = round(int(value.split()[0]) / 1024, 1)
    return {"pid": pid, "rss_mib": fields.get("VmRSS"), "peak_mib": fields.get("VmHWM")}
