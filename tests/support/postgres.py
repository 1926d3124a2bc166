"""A throwaway PostgreSQL cluster for one test run, on 127.0.0.1 and a free port."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

SERVER_USER = "postgres"


def find_bin_dir() -> Path | None:
    """Find ``initdb`` and ``pg_ctl``: ``PG_BIN``, else Debian's newest version, else PATH."""
    if os.environ.get("PG_BIN"):
        return Path(os.environ["PG_BIN"])
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parent.parent.name)
    )
    if versions:
        return Path(versions[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def free_port() -> int:
    """Ask the kernel for a free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Cluster:
    """Start, use and stop one cluster; ``initdb`` refuses root, so root runs it as postgres.

    Tuned for tests (no fsync: data is thrown away) unless ``durable``: then every commit waits
    for the disk, as PostgreSQL's defaults have it.
    """

    durable = False
    #: More ``name=value`` server settings, e.g. a larger ``shared_buffers``.
    settings: tuple[str, ...] = ()

    def __init__(self, bin_dir: Path, root: Path | None = None):
        """A cluster in ``root`` (kept), or in a new temporary folder."""
        self.bin_dir = bin_dir
        self.port = free_port()
        if root is None:
            root = Path(tempfile.mkdtemp(prefix="pingan-pg-"))
        root.mkdir(parents=True, exist_ok=True)
        self.root, self.data = root, root / "data"
        self.as_root = os.geteuid() == 0
        if self.as_root:
            user = pwd.getpwnam(SERVER_USER)
            os.chown(self.root, user.pw_uid, user.pw_gid)

    @property
    def url(self) -> str:
        """The server's URL for the ``postgres`` superuser, without a database."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}"

    def _run(self, *args: str, timeout: float = 120) -> None:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self.as_root:
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        subprocess.run(
            command,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=self.root,
            timeout=timeout,
        )

    def start(self) -> Cluster:
        """Create the cluster and start it."""
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        self.resume()
        return self

    def resume(self) -> None:
        """Start the server (again) on the same port with the same settings, and wait for it."""
        fast = (
            [] if self.durable else ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        )
        options = " ".join(
            [
                f"-p {self.port}",
                "-c listen_addresses=127.0.0.1",
                f"-c unix_socket_directories={self.root}",
                *fast,
                "-c max_connections=300",
                "-c shared_buffers=128MB",
                *(f"-c {item}" for item in self.settings),
            ]
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.root / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )
        self._wait_ready()

    def pause(self) -> None:
        """Stop the server with a fast shutdown (sessions cut, as in a crash), keeping its data."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")

    def answers(self) -> bool:
        """Whether the server accepts connections now."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("PostgreSQL did not start; see " + str(self.root / "server.log"))

    def postmaster_pid(self) -> int:
        """The server's main process (its backends are its children)."""
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def stop(self) -> None:
        """Stop the server and delete its files."""
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


class Standby(Cluster):
    """A hot standby of the server on ``primary_port``: a base backup of it, started in recovery,
    kept up to date by streaming replication (read-only queries answer meanwhile). With ``slot``,
    the primary keeps the WAL the standby has not received yet, so it can be stopped and catch
    up when it starts again."""

    def __init__(
        self, bin_dir: Path, primary_port: int, *, slot: str | None = None, root: Path | None = None
    ):
        super().__init__(bin_dir, root)
        self.primary_port, self.slot = primary_port, slot

    def start(self) -> Standby:
        """Copy the primary with ``pg_basebackup`` (it writes the standby's connection settings) and start."""
        slot = ["--create-slot", f"--slot={self.slot}"] if self.slot else []
        self._run(
            "pg_basebackup",
            "-D",
            str(self.data),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.primary_port),
            "-U",
            "postgres",
            "--wal-method=stream",
            "--write-recovery-conf",
            "--checkpoint=fast",
            *slot,
            timeout=7200,
        )
        self.resume()
        return self

    def resume(self) -> None:
        """Start (again), streaming from the primary's current port (a kept primary may have moved)."""
        settings = self.data / "postgresql.auto.conf"
        lines = [
            line for line in settings.read_text().splitlines() if not line.startswith("primary_conninfo")
        ]
        lines.append(f"primary_conninfo = 'host=127.0.0.1 port={self.primary_port} user=postgres'")
        settings.write_text("\n".join(lines) + "\n")
        super().resume()

    def replay_position(self) -> int:
        """The WAL position the standby has replayed, in bytes."""
        return int(query_one(self.url, "SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0')"))

    def catch_up(self, timeout: float = 30) -> None:
        """Wait until the standby has replayed everything the primary had written when called."""
        primary = f"postgresql+psycopg://postgres@127.0.0.1:{self.primary_port}"
        target = int(query_one(primary, "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')"))
        deadline = time.monotonic() + timeout
        while self.replay_position() < target:
            if time.monotonic() > deadline:
                raise RuntimeError("the standby did not catch up")
            time.sleep(0.05)


def query_one(server_url: str, statement: str, database: str = "postgres"):
    """The first column of the first row ``statement`` answers."""
    import psycopg

    dsn = server_url.replace("postgresql+psycopg://", "postgresql://") + f"/{database}"
    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as connection:
        return connection.execute(statement).fetchone()[0]


def execute_autocommit(server_url: str, *statements: str) -> None:
    """Run statements outside a transaction (CREATE/DROP DATABASE need that)."""
    import psycopg

    dsn = server_url.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    with psycopg.connect(dsn, autocommit=True) as connection:
        for statement in statements:
            connection.execute(statement)
