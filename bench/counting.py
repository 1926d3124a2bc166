"""The service in the benchmark's counting mode: each answer says how many SQL statements it ran.

Served beside the measured service (``gunicorn bench.counting:app``, one worker) and driven by
a short single-connection pass after each scenario: the statement counter is a listener on the
engine, which the measured service never carries.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import g, has_request_context

from app import create_app
from core.extensions import db

HEADER = "X-Bench-Statements"

app = create_app()


def _start_counting() -> None:
    g.bench_statements = 0


def _count(*_args) -> None:
    if has_request_context():  # statements at start-up are no operation's
        g.bench_statements = g.get("bench_statements", 0) + 1


def _report(response):
    response.headers[HEADER] = str(g.get("bench_statements", 0))
    return response


with app.app_context():
    sa.event.listen(db.engine, "before_cursor_execute", _count)
app.before_request_funcs.setdefault(None, []).insert(0, _start_counting)
app.after_request(_report)
