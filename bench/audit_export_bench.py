"""Time the audit log's CSV export of 300,000 entries, on SQLite and PostgreSQL.

    .venv/bin/python -m bench.audit_export_bench            # both engines
    AUDIT_ROWS=50000 .venv/bin/python -m bench.audit_export_bench sqlite

Each run migrates a throwaway database, writes AUDIT_ROWS audit entries in bulk (a mix of
members' and organisers' actions with before/after values), signs a global administrator in
through the sign-in page and downloads ``/admin/audit.csv``, reading the streamed answer to its
end. It prints the seconds, the entries a second, the size and whether the file ends with its
completeness line. gunicorn's worker timeout (30 s, ``gunicorn.conf.py``) is the bound a
download must stay well under. Not part of the test run.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import timedelta
from types import SimpleNamespace

import sqlalchemy as sa

from bench.databases import EMPTY_DATABASES, migrated_app, run_on_engines
from core.audit import AuditEntry
from core.database import utcnow
from core.extensions import db
from tests.factories import make_member
from tests.support.pages import signed_in

ROWS = int(os.environ.get("AUDIT_ROWS", "300000"))
BATCH = 20_000


def fill_audit_log(actor_id: int) -> None:
    """Write ROWS entries straight into the table, in batches, oldest first."""
    start = utcnow() - timedelta(days=90)
    for first in range(0, ROWS, BATCH):
        rows = [
            {
                "at": start + timedelta(seconds=index),
                "actor_id": actor_id if index % 3 else None,
                "action": ("member.update", "contribution.record", "stock.receive")[index % 3],
                "subject_type": "member",
                "subject_id": index % 5000,
                "before": {"name": f"居民{index}"},
                "after": {"name": f"居民{index}号", "points": index % 90},
                "reason": "批量导入" if index % 7 == 0 else None,
            }
            for index in range(first, min(first + BATCH, ROWS))
        ]
        db.session.execute(sa.insert(AuditEntry.__table__), rows)
        db.session.commit()


def run_engine(engine: str) -> list[tuple]:
    """Fill one engine's audit log and download it; answer [(engine, seconds, bytes, lines, complete)]."""
    with migrated_app(engine) as app:
        with app.app_context():
            admin = make_member("县管理员", role="admin", on=None)
            world = SimpleNamespace(phones={"admin": admin.phone})
            fill_audit_log(admin.id)
        browser = signed_in(app, world, "admin")
        started = time.perf_counter()
        response = browser.get("/admin/audit.csv", buffered=False)
        size, lines, last = 0, 0, b""
        for chunk in response.response:
            size += len(chunk)
            lines += chunk.count(b"\n")
            last = (last + chunk)[-200:]
        seconds = time.perf_counter() - started
        response.close()
    return [
        (engine, seconds, size, lines, last.strip().endswith(f"# end of export: {ROWS} entries".encode()))
    ]


def main(engines: list[str]) -> None:
    """Run the engines asked for and print the table."""
    rows = run_on_engines(engines, run_engine)
    print(f"\n{ROWS} audit entries, exported by a global administrator")
    print(f"{'engine':<11}{'seconds':>9}{'entries/s':>11}{'size':>10}{'lines':>9}  complete")
    for engine, seconds, size, lines, complete in rows:
        print(
            f"{engine:<11}{seconds:>9.1f}{ROWS / seconds:>11.0f}{size / 1024 / 1024:>8.1f}MB{lines:>9}  {complete}"
        )


if __name__ == "__main__":
    main(sys.argv[1:] or list(EMPTY_DATABASES))
