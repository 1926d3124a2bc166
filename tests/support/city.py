"""The city layout on this machine, with real servers: PgBouncer, nginx over several app servers.

Each server renders its configuration from ``deploy/`` (the files production starts from),
runs on 127.0.0.1 and a free port in a folder of its own, and stops with ``stop()``. Shared by
the tests (``tests/scale``) and the city benchmark (``bench.city``); the PostgreSQL primary and
its hot standby are ``tests.support.postgres``'s ``Cluster`` and ``Standby``, the app servers
``tests.support.gunicorn.Gunicorn``.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import requests

from tests.support.gunicorn import Gunicorn
from tests.support.postgres import SERVER_USER, free_port

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def render(template: str, directory: Path, **values) -> Path:
    """Fill the ``@name@`` places of ``deploy/<template>`` and write it into ``directory``."""
    text = (DEPLOY / template).read_text()
    for name, value in values.items():
        text = text.replace(f"@{name}@", str(value))
    path = directory / template
    path.write_text(text)
    return path


def wait_for_port(port: int, process: subprocess.Popen, what: str, log: Path, seconds: float = 30) -> None:
    """Wait until something accepts connections on ``port``; raise with the log if it does not."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    raise RuntimeError(f"{what} did not start: {tail}")


class Server:
    """A server process of this machine in a folder of its own, on a free loopback port."""

    name = "server"

    def __init__(self, binary: str):
        self.binary = binary
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix=f"pingan-{self.name}-"))
        self.process: subprocess.Popen | None = None

    def launch(self, command: list[str], log: Path) -> None:
        """Start ``command`` and wait until the port accepts connections."""
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port, self.process, self.name, log)

    def stop(self) -> None:
        """Stop the server (SIGTERM) and remove its folder."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        shutil.rmtree(self.directory, ignore_errors=True)


class PgBouncer(Server):
    """PgBouncer in transaction mode in front of the PostgreSQL server on ``server_port``."""

    name = "pgbouncer"

    def __init__(self, binary: str, server_port: int, pool_size: int = 4):
        super().__init__(binary)
        self.server_port, self.pool_size = server_port, pool_size

    @property
    def url(self) -> str:
        """The pooler's URL for the ``postgres`` user, without a database."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}"

    def start(self) -> PgBouncer:
        """Write the configuration and start; as root, run as the postgres user (it refuses root)."""
        config = render(
            "pgbouncer.ini",
            self.directory,
            server_port=self.server_port,
            port=self.port,
            dir=self.directory,
            pool_size=self.pool_size,
        )
        (self.directory / "userlist.txt").write_text(f'"{SERVER_USER}" ""\n')
        command = [self.binary, str(config)]
        if os.geteuid() == 0:
            user = pwd.getpwnam(SERVER_USER)
            for path in (self.directory, *self.directory.iterdir()):
                os.chown(path, user.pw_uid, user.pw_gid)
            command[1:1] = ["-u", SERVER_USER]
        self.launch(command, self.directory / "pgbouncer.log")
        return self


class Nginx(Server):
    """nginx balancing over the app servers listening on ``upstream_ports``."""

    name = "nginx"

    def __init__(self, binary: str, upstream_ports: list[int], workers: int = 1):
        super().__init__(binary)
        self.upstream_ports, self.workers = upstream_ports, workers

    @property
    def url(self) -> str:
        """Where clients reach the app servers."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Nginx:
        """Write the configuration and start nginx in the foreground."""
        servers = "\n".join(
            f"        server 127.0.0.1:{port} max_fails=1 fail_timeout=5s;" for port in self.upstream_ports
        )
        # As root, the workers too run as root here: the scratch folder is root's.
        config = render(
            "nginx.conf",
            self.directory,
            workers=self.workers,
            dir=self.directory,
            user="user root;" if os.geteuid() == 0 else "",
            servers=servers,
            port=self.port,
        )
        self.launch([self.binary, "-c", str(config), "-p", str(self.directory)], self.directory / "error.log")
        return self


#: Answers that mean "not done, send it again": nginx lost the server, or found none.
RETRY = frozenset({502, 503, 504})


def post_until_answered(
    http: requests.Session, url: str, body: dict, headers: dict, attempts: int = 5
) -> tuple[int, int]:
    """POST an award (its ``Idempotency-Key`` in ``headers``) and send it again, as a client
    should, while the connection fails or nginx answers 502–504; answer the last status and how
    many times it was sent again."""
    for again in range(attempts):  # noqa: B007 - the count is answered after the loop
        try:
            status = http.post(url, json=body, headers=headers, timeout=30).status_code
        except requests.RequestException:
            status = 502
        if status not in RETRY:
            break
        time.sleep(0.2)
    return status, again


@contextmanager
def behind_nginx(
    nginx_binary: str, env: dict[str, str], count: int, workers: int = 1, threads: int = 1
) -> Iterator[tuple[list[Gunicorn], Nginx]]:
    """``count`` app servers (``gunicorn wsgi:app`` with ``env``) started side by side and nginx in
    front of them; all stopped afterwards."""
    servers = [
        Gunicorn("wsgi:app", env, workers, threads, "/healthz", ready_seconds=180) for _ in range(count)
    ]
    nginx = None
    try:
        with ThreadPoolExecutor(count) as pool:
            list(pool.map(Gunicorn.start, servers))
        nginx = Nginx(nginx_binary, [server.port for server in servers]).start()
        yield servers, nginx
    finally:
        if nginx is not None:
            nginx.stop()
        for server in servers:
            server.__exit__()


def kill(server: Gunicorn) -> None:
    """Kill an app server's master and workers at once, as a crash or a pulled plug would."""
    workers = server.worker_pids()
    os.kill(server.process.pid, signal.SIGKILL)
    for pid in workers:
        os.kill(pid, signal.SIGKILL)
    server.process.wait()


def find_binary(name: str) -> str | None:
    """The path of a server installed by Debian (under /usr/sbin, often off a user's PATH)."""
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")
