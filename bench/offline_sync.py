"""Time a counter's offline batch of 500 scans arriving at once, on SQLite and PostgreSQL.

    .venv/bin/python -m bench.offline_sync            # both engines
    OFFLINE_SCANS=200 .venv/bin/python -m bench.offline_sync sqlite

Each run migrates a throwaway database, reserves one voucher for each of 500 residents at one
supermarket, and posts their scans (as a counter sends them: payloads, ``scanned_at`` a few
minutes back) to ``POST /supermarkets/{id}/offline-fulfilments`` as the clerk: first the
batch, then the same batch again (a retry after a lost answer). It prints the seconds and
the SQL statements each request took (executemany counts once), then checks the ledger. The
machine is shared: the CPU seconds of this process are steadier than the wall clock.
Not part of the test run.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from datetime import timedelta

import sqlalchemy as sa

from bench.databases import EMPTY_DATABASES, migrated_app, run_on_engines
from core.database import begin_writing, utcnow
from core.extensions import db
from core.identity.models import Member
from points import ledger
from points.ledger import verify_ledger
from rewards import stock, vouchers
from rewards.services import create_reward
from tests.factories import auth, make_member, make_supermarket, make_unit

SCANS = int(os.environ.get("OFFLINE_SCANS", "500"))
BASE = "http://localhost"


def _prepare() -> tuple[int, dict, list[dict]]:
    """A shop, a clerk, SCANS residents each with a reserved voucher; answer the shop, the clerk's
    headers and the scans."""
    county = make_unit("平安县", "county")
    grid = make_unit(
        "东街一网格", "grid", make_unit("东街社区", "community", make_unit("城关镇", "town", county))
    )
    shop = make_supermarket("城关镇平安超市", county)
    admin = make_member("县管理员", role="admin", on=None)
    clerk = make_member("店员", role="clerk", on=shop)
    soap = create_reward(admin, {"name": "肥皂", "points_cost": 20, "per_member_limit": None})
    stock.receive_stock(admin, shop.id, soap.id, SCANS * 2)
    residents = [make_member(f"居民{index}", grid, commit=False) for index in range(SCANS)]
    db.session.commit()
    begin_writing(db.session)
    for resident in residents:
        ledger.award(resident.id, 100, occurred_at=utcnow(), actor_id=None)
    db.session.commit()
    scans = []
    scanned_at = (utcnow() - timedelta(minutes=10)).isoformat()
    for resident_id in [resident.id for resident in residents]:
        voucher = vouchers.reserve_voucher(
            db.session.get(Member, resident_id), shop.id, [{"reward_id": soap.id, "quantity": 1}]
        )
        scans.append(
            {
                "scan_id": str(uuid.uuid4()),
                "voucher_id": voucher.id,
                "code": vouchers.voucher_payload(voucher, BASE),
                "scanned_at": scanned_at,
            }
        )
    return shop.id, auth(clerk), scans


def run_engine(engine: str) -> list[tuple]:
    """Send the batch twice on one engine; answer (engine, pass, seconds, CPU seconds of this process,
    statements, results)."""
    rows = []
    with migrated_app(engine, SQLITE_SYNCHRONOUS="FULL") as app:
        with app.app_context():
            shop_id, headers, scans = _prepare()
            counted = [0]
            sa.event.listen(
                db.engine, "before_cursor_execute", lambda *_args: counted.__setitem__(0, counted[0] + 1)
            )
        client = app.test_client()
        for label in ("first", "again"):
            counted[0] = 0
            cpu = time.process_time()
            started = time.perf_counter()
            answer = client.post(
                f"/api/v1/supermarkets/{shop_id}/offline-fulfilments",
                json={"fulfilments": scans},
                headers=headers,
            )
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
            assert answer.status_code == 200, answer.get_data(as_text=True)[:500]
            outcome = {}
            for result in answer.get_json()["results"]:
                outcome[result["result"]] = outcome.get(result["result"], 0) + 1
            rows.append((engine, label, seconds, cpu, counted[0], outcome))
        with app.app_context():
            problems = verify_ledger()
    print(f"{engine}: ledger verify: {problems or 'clean'}")
    return rows


def main(engines: list[str]) -> None:
    """Run the engines asked for and print the table."""
    rows = run_on_engines(engines, run_engine)
    print(f"\nOne request of {SCANS} offline scans (50 to a transaction); CPU: this process (the app)")
    print(
        f"{'engine':<11}{'pass':<7}{'seconds':>9}{'ms/scan':>9}{'CPU s':>7}{'statements':>12}{'per scan':>10}  results"
    )
    for engine, label, seconds, cpu, statements, outcome in rows:
        print(
            f"{engine:<11}{label:<7}{seconds:>9.2f}{seconds * 1000 / SCANS:>9.2f}{cpu:>7.2f}{statements:>12}"
            f"{statements / SCANS:>10.1f}  {outcome}"
        )


if __name__ == "__main__":
    main(sys.argv[1:] or list(EMPTY_DATABASES))
