"""Operations: a request id, one JSON log line per request, and Prometheus metrics at ``/metrics``.

Log lines name the route's rule (``/V/<token>``), never the raw path, so signed QR payloads and
other secrets in URLs stay out of the logs. Metrics are per process; under gunicorn set
``PROMETHEUS_MULTIPROC_DIR`` (an empty directory, see docs/deploy.md) and every worker's
figures are summed at scrape time.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import sys
import time
import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

from core.errors import AppError

REQUEST_ID_HEADER = "X-Request-ID"
#: A caller's request id is kept only when it looks like one (ids end up in logs).
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

ACCESS_LOGGER = "pingan.access"

REQUESTS = Counter("pingan_http_requests_total", "HTTP requests answered.", ["method", "endpoint", "status"])
LATENCY = Histogram(
    "pingan_http_request_duration_seconds",
    "Time to answer a request.",
    ["method", "endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

bp = Blueprint("observability", __name__)


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object per line, with the request's fields when present."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(app: Flask) -> None:
    """Send the access log (and the app's own log) to stderr as JSON lines, once per process."""
    access = logging.getLogger(ACCESS_LOGGER)
    if not any(getattr(handler, "pingan_json", False) for handler in access.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        handler.pingan_json = True
        access.addHandler(handler)
        access.propagate = False
        app.logger.handlers[:] = [handler]
    access.setLevel(logging.INFO if app.config["ACCESS_LOG"] else logging.WARNING)


def start_request() -> None:
    """Give the request an id (the caller's when sane) and start its clock."""
    given = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
    g.request_started = time.perf_counter()


def finish_request(response: Response) -> Response:
    """Log the request as one JSON line, count it, and return its id to the caller."""
    started = g.get("request_started")
    if started is None:  # a request that failed before start_request ran
        return response
    elapsed = time.perf_counter() - started
    endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
    REQUESTS.labels(request.method, endpoint, str(response.status_code)).inc()
    LATENCY.labels(request.method, endpoint).observe(elapsed)
    member = getattr(request.environ.get("pingan.auth"), "member", None)
    logging.getLogger(ACCESS_LOGGER).info(
        "request",
        extra={
            "fields": {
                "request_id": g.request_id,
                "method": request.method,
                "route": endpoint,
                "status": response.status_code,
                "latency_ms": round(elapsed * 1000, 1),
                "member_id": member_id(member),
                "remote_addr": request.remote_addr,
            }
        },
    )
    response.headers[REQUEST_ID_HEADER] = g.request_id
    return response


def member_id(member) -> int | None:
    """The member's id from the identity map: never a query (the database may be the problem)."""
    if member is None:
        return None
    identity = sa.inspect(member).identity
    return identity[0] if identity else None


@bp.get("/metrics")
def metrics():
    """Serve Prometheus metrics to a scraper holding ``METRICS_TOKEN``; 404 when none is set."""
    expected = current_app.config.get("METRICS_TOKEN")
    if not expected:
        raise AppError(404)
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {expected}".encode()):
        raise AppError(401, headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    if current_app.config["PROMETHEUS_MULTIPROC_DIR"]:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest()
    return Response(body, content_type=CONTENT_TYPE_LATEST)


def init_observability(app: Flask) -> None:
    """Bind request ids, the JSON access log and ``/metrics`` to the app."""
    configure_logging(app)
    # First in line, so the clock covers the other hooks (sign-in, transactions).
    app.before_request_funcs.setdefault(None, []).insert(0, start_request)
    app.after_request(finish_request)
    app.register_blueprint(bp)
