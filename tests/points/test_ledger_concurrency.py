"""Many awards and reversals for one member at once: balances exact, caps exact, ledger clean."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import sqlalchemy as sa

from core.database import utcnow
from core.errors import AppError
from core.extensions import db
from core.identity.models import Member
from points import contributions
from points.ledger import verify_ledger
from points.models import Contribution, MemberBalance
from tests.factories import make_activity

THREADS = 50


def run_at_once(app, jobs):
    """Run each job in its own thread and app context, all released together; answer outcomes."""
    barrier = threading.Barrier(len(jobs))
    outcomes = []
    lock = threading.Lock()

    def worker(job):
        with app.app_context():
            barrier.wait()
            try:
                job()
                outcome = "ok"
            except AppError as error:
                db.session.rollback()
                outcome = error.code
            except Exception as error:  # noqa: BLE001 - reported by the assertion below
                db.session.rollback()
                outcome = f"unexpected {type(error).__name__}: {error}"
            finally:
                db.session.remove()
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=worker, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return Counter(outcomes)


def test_concurrent_awards_never_slip_past_the_daily_cap(app, world):
    with app.app_context():
        make_activity("patrol_each", points=5, daily_cap=100, needs_review=False)
    occurred_at = utcnow() - timedelta(hours=1)
    resident, staff = world.people["resident"], world.people["grid_worker"]

    def award():
        actor = db.session.get(Member, staff)
        contributions.record_contribution(actor, resident, "patrol_each", 1, occurred_at)

    outcomes = run_at_once(app, [award] * THREADS)
    assert outcomes == Counter({"ok": 20, "daily_cap_reached": THREADS - 20})
    with app.app_context():
        balance = db.session.get(MemberBalance, resident)
        assert (balance.available, balance.lifetime_earned) == (100, 100)
        assert verify_ledger() == []


def test_concurrent_awards_and_reversals_keep_the_balance_exact(app, world):
    with app.app_context():
        make_activity("mediation_each", points=7, needs_review=False)
    occurred_at = utcnow() - timedelta(hours=1)
    resident, staff, organiser = (world.people[k] for k in ("resident", "grid_worker", "organiser"))
    with app.app_context():
        actor = db.session.get(Member, staff)
        earlier = [
            contributions.record_contribution(actor, resident, "mediation_each", 1, occurred_at).id
            for _ in range(20)
        ]

    def award():
        contributions.record_contribution(
            db.session.get(Member, staff), resident, "mediation_each", 1, occurred_at
        )

    def reverser(contribution_id):
        def reverse():
            contributions.reverse_contribution(db.session.get(Member, organiser), contribution_id, "记错了")

        return reverse

    jobs = [award] * 30 + [reverser(cid) for cid in earlier] + [reverser(earlier[0])] * 5
    outcomes = run_at_once(app, jobs)
    assert outcomes == Counter({"ok": 50, "invalid_state": 5}), outcomes
    with app.app_context():
        balance = db.session.get(MemberBalance, resident)
        approved = db.session.scalar(
            sa.select(sa.func.count()).select_from(Contribution).where(Contribution.status == "approved")
        )
        assert approved == 30
        assert (balance.available, balance.lifetime_earned) == (30 * 7, 30 * 7)
        assert verify_ledger() == []


AWARD_FROM_ANOTHER_PROCESS = """
import sys
from datetime import datetime
from app import create_app
from core.errors import AppError
from core.extensions import db
from core.identity.models import Member
from points import contributions

url, staff, member, occurred_at, times = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
app = create_app({"APP_ENV": "test", "SQLALCHEMY_DATABASE_URI": url})
outcomes = []
with app.app_context():
    for _ in range(times):
        try:
            contributions.record_contribution(db.session.get(Member, staff), member, "patrol_each", 1,
                                         datetime.fromisoformat(occurred_at))
            outcomes.append("ok")
        except AppError as error:
            db.session.rollback()
            outcomes.append(error.code)
print(" ".join(outcomes))
"""


def test_separate_processes_awarding_at_once_respect_the_cap(app, world, database_url):
    """Four app processes (as four gunicorn workers would be) award to one member at once."""
    import subprocess
    import sys
    from pathlib import Path

    with app.app_context():
        make_activity("patrol_each", points=5, daily_cap=100, needs_review=False)
    occurred_at = (utcnow() - timedelta(hours=1)).isoformat()
    args = [database_url, str(world.people["grid_worker"]), str(world.people["resident"]), occurred_at, "10"]
    root = Path(__file__).resolve().parents[2]
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", AWARD_FROM_ANOTHER_PROCESS, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=root,
        )
        for _ in range(4)
    ]
    outcomes = Counter()
    for process in processes:
        out, err = process.communicate(timeout=180)
        assert process.returncode == 0, err
        outcomes.update(out.split())
    assert outcomes == Counter({"ok": 20, "daily_cap_reached": 20})
    with app.app_context():
        assert db.session.get(MemberBalance, world.people["resident"]).available == 100
        assert verify_ledger() == []
