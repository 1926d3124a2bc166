"""A throwaway redis-server on 127.0.0.1 and a free port, for tests of shared state."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time

from tests.support.postgres import free_port


class RedisServer:
    """Start and stop one redis-server that keeps nothing on disk."""

    def __init__(self, binary: str):
        self.binary = binary
        self.port = free_port()
        self.directory = tempfile.mkdtemp(prefix="pingan-redis-")
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """The server's URL."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        """Start the server and wait until it accepts connections."""
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.directory,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        """Stop the server and remove its folder."""
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
        shutil.rmtree(self.directory, ignore_errors=True)


def find_redis() -> str | None:
    """Return the path of redis-server, if installed."""
    return shutil.which("redis-server") or (
        "/usr/bin/redis-server" if shutil.which("/usr/bin/redis-server") else None
    )
