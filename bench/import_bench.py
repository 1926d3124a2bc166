"""Time the bulk import of a 20,000-row village roll through the console, on SQLite and PostgreSQL.

    .venv/bin/python -m bench.import_bench            # both engines
    IMPORT_ROWS=5000 .venv/bin/python -m bench.import_bench sqlite

Each run migrates a throwaway database, adds a county with 50 grids and a global admin,
signs in through the sign-in page and posts a CSV and an XLSX roll (every row with an
opening balance, the worst case): first the dry run, then the import of the same file.
It prints one row per engine and format with the seconds each request took, then checks
the ledger (``verify_ledger``). Not part of the test run.
"""

from __future__ import annotations

import io
import os
import re
import sys
import time
from types import SimpleNamespace

import sqlalchemy as sa

from bench.databases import EMPTY_DATABASES, migrated_app, run_on_engines
from core.extensions import db
from core.identity.models import Member
from points.ledger import verify_ledger
from tests.factories import make_member, make_unit
from tests.support.pages import csrf_token, signed_in
from tests.support.rolls import as_csv, as_xlsx, roll_rows

ROWS = int(os.environ.get("IMPORT_ROWS", "20000"))
GRIDS = 50


def run_engine(engine: str, formats: tuple[str, ...] = ("csv", "xlsx")) -> list[tuple]:
    """Import a CSV and an XLSX roll on one engine; answer (engine, format, dry run s, import s, members)."""
    results = []
    with migrated_app(engine, SQLITE_SYNCHRONOUS="FULL") as app:
        with app.app_context():
            county = make_unit("平安县", "county")
            town = make_unit("城关镇", "town", county)
            village = make_unit("东街村", "community", town)
            for index in range(GRIDS):
                make_unit(f"网格{index}", "grid", village)
            admin = make_member("县管理员", role="admin", on=None)
            world = SimpleNamespace(phones={"admin": admin.phone})
        client = signed_in(app, world, "admin")
        token = csrf_token(client.get("/admin/import").get_data(as_text=True))
        for fmt, first_phone, write in (("csv", 15000000000, as_csv), ("xlsx", 16000000000, as_xlsx)):
            if fmt not in formats:
                continue
            data = write(roll_rows(ROWS, first_phone, GRIDS))
            started = time.perf_counter()
            report = client.post(
                "/admin/import",
                content_type="multipart/form-data",
                data={"csrf_token": token, "roll": (io.BytesIO(data), f"roll.{fmt}")},
            )
            dry_run = time.perf_counter() - started
            assert report.status_code == 200, report.get_data(as_text=True)[:2000]
            checked = re.search(r'name="checked"[^>]*value="([^"]+)"', report.get_data(as_text=True)).group(1)
            started = time.perf_counter()
            slips = client.post(
                "/admin/import/confirm",
                content_type="multipart/form-data",
                data={"csrf_token": token, "checked": checked, "roll": (io.BytesIO(data), f"roll.{fmt}")},
            )
            imported = time.perf_counter() - started
            assert slips.status_code == 200, slips.get_data(as_text=True)[:2000]
            results.append((engine, fmt, len(data), dry_run, imported))
        with app.app_context():
            members = db.session.scalar(sa.select(sa.func.count()).select_from(Member))
            problems = verify_ledger()
    print(f"{engine}: {members} members in the database; ledger verify: {problems or 'clean'}")
    return results


def main(engines: list[str]) -> None:
    """Run the engines asked for and print the table."""
    rows = run_on_engines(engines, run_engine)
    print(f"\n{ROWS} rows, every one with an opening balance")
    print(f"{'engine':<11}{'format':<7}{'file':>10}{'dry run s':>11}{'import s':>10}")
    for engine, fmt, size, dry_run, imported in rows:
        print(f"{engine:<11}{fmt:<7}{size / 1024:>8.0f}kB{dry_run:>11.2f}{imported:>10.2f}")


if __name__ == "__main__":
    main(sys.argv[1:] or list(EMPTY_DATABASES))
