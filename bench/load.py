"""A closed-loop HTTP/1.1 load generator: N connections, each starting its next operation at once.

wrk is not installed here, so this is the load generator: one process, one ``selectors`` loop,
non-blocking sockets and pre-encoded requests — no threads, no ``http.client`` — so that it
costs the 2-core machine as little CPU as Python allows. It reports its own CPU time, and the
bare floor is measured with it in the same run: if it were the bottleneck, the floor would show it.

An *operation* is a generator that yields :class:`Request` objects and receives a
:class:`Response` for each (so claim + approve is one operation of two requests). Any answer
outside 2xx ends the operation as an error. Gunicorn's sync workers close the connection
after every response, so connections are opened again as needed, as wrk does.
"""

from __future__ import annotations

import errno
import json
import resource
import selectors
import socket
import time
from collections import Counter
from collections.abc import Callable, Generator
from dataclasses import dataclass, field

#: Seconds the operations still running when the measured time ends may take to finish.
GRACE_SECONDS = 10.0


@dataclass(frozen=True)
class Request:
    """One HTTP request: method, path, an optional JSON body and bearer token."""

    method: str
    path: str
    body: object = None
    token: str | None = None

    def encode(self, host: str) -> bytes:
        """Return the request's bytes on the wire."""
        payload = b"" if self.body is None else json.dumps(self.body).encode()
        lines = [f"{self.method} {self.path} HTTP/1.1", f"Host: {host}", "Accept: application/json"]
        if self.token:
            lines.append(f"Authorization: Bearer {self.token}")
        if payload or self.method in ("POST", "PUT", "PATCH"):
            lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


@dataclass(frozen=True)
class Response:
    """The status and body of an answer."""

    status: int
    body: bytes

    def json(self):
        """Decode the body as JSON."""
        return json.loads(self.body)


Operation = Generator[Request, Response, None]


@dataclass
class LoadResult:
    """What one run measured: the operations, requests, latencies and errors that ended in the window."""

    seconds: float
    operations: int
    requests: int
    latencies_ms: list[float]
    errors: Counter = field(default_factory=Counter)
    #: The load generator's own CPU time over the whole run, as % of one core (100 = one core busy).
    client_cpu_percent: float = 0.0

    def percentile(self, fraction: float) -> float | None:
        """The latency (ms) below which ``fraction`` of the successful operations finished."""
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    @property
    def rate(self) -> float:
        """Successful operations per second."""
        return self.operations / self.seconds if self.seconds else 0.0

    @property
    def request_rate(self) -> float:
        """Requests per second (successful operations' requests)."""
        return self.requests / self.seconds if self.seconds else 0.0


class _Connection:
    """One client connection: its socket, the operation it runs and the answer it is reading."""

    __slots__ = ("sock", "connecting", "operation", "op_started", "op_requests", "out", "buffer",
                 "header_end", "length", "closes", "status")

    def __init__(self):
        self.sock = None
        self.connecting = False
        self.operation = None
        self.op_started = 0.0
        self.op_requests = 0
        self.out = b""
        self.buffer = bytearray()
        self.header_end = -1
        self.length = 0
        self.closes = False
        self.status = 0


class LoadGenerator:
    """Drive ``connections`` concurrent operations against one address for a bounded time."""

    def __init__(self, host: str, port: int, new_operation: Callable[[], Operation], *,
                 connections: int, seconds: float, warmup: float):
        self.address = (host, port)
        self.host_header = f"{host}:{port}"
        self.new_operation = new_operation
        self.connections = [_Connection() for _ in range(connections)]
        self.seconds, self.warmup = seconds, warmup
        self.selector = selectors.DefaultSelector()
        self.measure_from = self.stop_at = 0.0
        self.operations = 0
        self.requests = 0
        self.latencies: list[float] = []
        self.errors: Counter = Counter()

    def run(self) -> LoadResult:
        """Run the warm-up and the measured time; answer what the measured part saw."""
        cpu_before = _cpu_seconds()
        started = time.perf_counter()
        self.measure_from = started + self.warmup
        self.stop_at = self.measure_from + self.seconds
        for connection in self.connections:
            self._start_operation(connection)
        abandon_at = self.stop_at + GRACE_SECONDS
        while self.selector.get_map():
            for key, _mask in self.selector.select(timeout=0.5):
                self._on_ready(key.data)
            if time.perf_counter() > abandon_at:
                self._abandon()
        cpu = _cpu_seconds() - cpu_before
        return LoadResult(seconds=self.seconds, operations=self.operations, requests=self.requests,
                          latencies_ms=self.latencies, errors=self.errors,
                          client_cpu_percent=100 * cpu / (time.perf_counter() - started))

    # --- operations --------------------------------------------------------------------------

    def _start_operation(self, connection: _Connection) -> None:
        now = time.perf_counter()
        if now >= self.stop_at:
            self._close(connection)
            return
        connection.operation = self.new_operation()
        connection.op_started, connection.op_requests = now, 0
        self._advance(connection, None)

    def _advance(self, connection: _Connection, response: Response | None) -> None:
        """Feed the answer to the operation and send its next request, or finish it."""
        try:
            request = next(connection.operation) if response is None else connection.operation.send(response)
        except StopIteration:
            self._finish(connection, None)
            return
        except Exception as problem:  # a scenario that cannot read an answer: count, go on
            self._finish(connection, f"client:{type(problem).__name__}")
            return
        self._send(connection, request.encode(self.host_header))

    def _finish(self, connection: _Connection, error: str | None) -> None:
        end = time.perf_counter()
        # Count what finishes inside the window: operations still running at its end are
        # drained (so the next scenario starts on an idle server) but not counted.
        if self.measure_from <= end < self.stop_at:
            if error is None:
                self.operations += 1
                self.requests += connection.op_requests
                self.latencies.append((end - connection.op_started) * 1000)
            else:
                self.errors[error] += 1
        if connection.operation is not None:
            connection.operation.close()
            connection.operation = None
        self._start_operation(connection)

    def _abandon(self) -> None:
        """Give up on operations still running long after the measured time."""
        for connection in self.connections:
            if connection.operation is not None:
                self.errors["timeout"] += 1  # still unanswered GRACE_SECONDS after the window
                connection.operation.close()
                connection.operation = None
            self._close(connection)

    # --- the wire ----------------------------------------------------------------------------

    def _send(self, connection: _Connection, data: bytes) -> None:
        connection.out, connection.buffer, connection.header_end = data, bytearray(), -1
        connection.op_requests += 1
        if connection.sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            code = sock.connect_ex(self.address)
            if code not in (0, errno.EINPROGRESS):
                sock.close()
                self._finish(connection, f"connect:{errno.errorcode.get(code, code)}")
                return
            connection.sock, connection.connecting = sock, True
            self.selector.register(sock, selectors.EVENT_WRITE, connection)
        else:
            self.selector.modify(connection.sock, selectors.EVENT_WRITE, connection)

    def _on_ready(self, connection: _Connection) -> None:
        try:
            if connection.out:
                self._write(connection)
            else:
                self._read(connection)
        except OSError as problem:
            self._close(connection)
            self._finish(connection, f"socket:{errno.errorcode.get(problem.errno, problem.errno)}")

    def _write(self, connection: _Connection) -> None:
        if connection.connecting:
            code = connection.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                raise OSError(code, "connect")
            connection.connecting = False
        sent = connection.sock.send(connection.out)
        connection.out = connection.out[sent:]
        if not connection.out:
            self.selector.modify(connection.sock, selectors.EVENT_READ, connection)

    def _read(self, connection: _Connection) -> None:
        chunk = connection.sock.recv(65536)
        if not chunk:
            self._close(connection)
            self._finish(connection, "socket:closed_early")
            return
        connection.buffer += chunk
        if connection.header_end < 0 and not self._parse_head(connection):
            return
        if len(connection.buffer) - connection.header_end < connection.length:
            return
        body = bytes(connection.buffer[connection.header_end:connection.header_end + connection.length])
        if connection.closes:
            self._close(connection)
        if 200 <= connection.status < 300:
            self._advance(connection, Response(connection.status, body))
        else:
            self._finish(connection, str(connection.status))

    @staticmethod
    def _parse_head(connection: _Connection) -> bool:
        """Read the status line and headers once they have all arrived."""
        end = connection.buffer.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = bytes(connection.buffer[:end]).decode("latin-1").split("\r\n")
        connection.status = int(head[0].split(" ", 2)[1])
        connection.length, connection.closes = 0, head[0].startswith("HTTP/1.0")
        for line in head[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                connection.length = int(value)
            elif name == "connection":
                connection.closes = value.strip().lower() == "close"
        connection.header_end = end + 4
        return True

    def _close(self, connection: _Connection) -> None:
        if connection.sock is not None:
            self.selector.unregister(connection.sock)
            connection.sock.close()
            connection.sock = None


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_load(port: int, new_operation: Callable[[], Operation], *, connections: int,
             seconds: float, warmup: float) -> LoadResult:
    """Drive operations against 127.0.0.1:``port``; answer what the measured window saw."""
    return LoadGenerator("127.0.0.1", port, new_operation, connections=connections,
                         seconds=seconds, warmup=warmup).run()


def call(port: int, request: Request) -> Response:
    """Send one request and wait for its answer (for set-up, not for measuring)."""
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        wire = request.encode(f"127.0.0.1:{port}")
        head, _, body = wire.partition(b"\r\n\r\n")
        headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n")[1:])
        headers.pop("Host")
        connection.request(request.method, request.path, body=body or None, headers=headers)
        answer = connection.getresponse()
        return Response(answer.status, answer.read())
    finally:
        connection.close()
