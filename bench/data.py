"""Make a bulk-loaded county usable by the scenarios, through SQLAlchemy and the real services.

Run as its own process with the server's environment (``python -m bench.data FIXTURE.json
GRID_WORKERS``) on a database that ``bench.leaderboards`` bulk-loaded (org tree, residents,
ledger, balances, leaderboard totals): it gives every member the one shared argon2 hash, adds
grid workers, an organiser and an admin with roles on the county, the scenarios' activities, a safety
supermarket with as many clerks as grid workers, vouchers reserved there for the counter's
scenario and stock for more, ``WISHES`` micro-wishes spread over the grids (most of them open), and a bearer token for the staff and for ``SIGNED_IN`` residents
(stored as SHA-256, as sign-in would). The tokens, ids, scopes and voucher codes the load
generator needs are written to FIXTURE.json.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sys
import time
from datetime import timedelta

import sqlalchemy as sa

from core.database import utcnow
from core.extensions import db
from core.identity.models import ApiToken, Member, OrgUnit, RoleGrant, Supermarket
from core.identity.passwords import hash_password
from core.identity.services import TOKEN_PREFIX
from points.models import Activity, MemberBalance
from points.wishes.models import Wish
from rewards import vouchers
from rewards.models import Reward, Stock

PASSWORD = "bench-password-2026"
STAFF_PHONES, CLERK_PHONES = 13_700_000_000, 13_800_000_000
#: code → (points, needs_review): no daily cap, so every award in a run is accepted.
ACTIVITIES = {"bench_award": (10, False), "bench_claim": (5, True), "bench_checkin": (2, False)}
#: Residents who get a bearer token: the ones the load generator acts as (the rest only make
#: the boards and the ledger county-sized). They hold enough points for a few vouchers.
SIGNED_IN = 20_000
SIGNED_IN_MIN_POINTS = 60
#: Vouchers reserved for the counter's scenario (one per resident, at most this many): enough for
#: the warm-up, the measured run and the counting pass at up to ~400 pairs a second.
VOUCHERS = 6000
VOUCHER_POINTS = 10
#: Units on hand beyond the reserved vouchers, for the reserve scenario.
SPARE_STOCK = 1_000_000
#: Micro-wishes over the county's grids (a county's worth, as the seed articles count them): of every ten,
#: six open (due within 30 days), two waiting to be vetted, one completed and one cancelled.
WISHES = 10_000
WISH_STEPS = ("open",) * 6 + ("submitted",) * 2 + ("completed", "cancelled")
#: Where the vouchers' QR codes point; the service verifies the signed token, not the host.
VOUCHER_BASE_URL = "http://127.0.0.1"


def add_members(rows: list[dict]) -> list[int]:
    """Insert members in one statement; answer their ids in the order given."""
    return list(
        db.session.scalars(sa.insert(Member).returning(Member.id, sort_by_parameter_order=True), rows)
    )


def issue_tokens(member_ids: list[int]) -> list[str]:
    """Insert a 30-day bearer token for each member; answer the tokens in the same order."""
    tokens = [TOKEN_PREFIX + secrets.token_urlsafe(32) for _ in member_ids]
    expires_at = utcnow() + timedelta(days=30)
    db.session.execute(
        sa.insert(ApiToken),
        [
            {
                "member_id": member_id,
                "token_hash": hashlib.sha256(token.encode()).hexdigest(),
                "expires_at": expires_at,
            }
            for member_id, token in zip(member_ids, tokens)
        ],
    )
    return tokens


def pick_residents() -> list[tuple[int, str, list[int]]]:
    """(id, phone, [county, town, grid]) of the residents the load generator signs in as."""
    rows = db.session.execute(
        sa.select(Member.id, Member.phone, OrgUnit.path)
        .join(OrgUnit, OrgUnit.id == Member.org_unit_id)
        .join(MemberBalance, MemberBalance.member_id == Member.id)
        .where(MemberBalance.available >= SIGNED_IN_MIN_POINTS, Member.hidden.is_(False))
        .order_by(Member.id)
        .limit(SIGNED_IN)
    ).all()
    scopes = [[int(part) for part in path.strip("/").split("/")] for _id, _phone, path in rows]
    return [
        (member_id, phone, [units[0], units[1], units[-1]])
        for (member_id, phone, _path), units in zip(rows, scopes)
    ]


def build_counter(county: OrgUnit, owner_ids: list[int], clerks: int, password_hash: str) -> dict:
    """A supermarket with ``clerks`` clerks, and vouchers reserved there through the real service.

    Each owner already holds the voucher's points; reserving holds them and one unit of stock,
    and signs the QR payload, exactly as a resident's reservation does.
    """
    shop = Supermarket(name="基准平安超市", org_unit_id=county.id, address="基准路1号")
    reward = Reward(name="基准肥皂", points_cost=VOUCHER_POINTS, per_member_limit=None)
    db.session.add_all([shop, reward])
    db.session.flush()
    owners = owner_ids[:VOUCHERS]
    db.session.add(
        Stock(supermarket_id=shop.id, reward_id=reward.id, on_hand=len(owners) + SPARE_STOCK, reserved=0)
    )
    clerk_ids = add_members(
        [
            {
                "name": f"店员{index}",
                "phone": str(CLERK_PHONES + index),
                "password_hash": password_hash,
                "org_unit_id": None,
            }
            for index in range(clerks)
        ]
    )
    db.session.execute(
        sa.insert(RoleGrant),
        [{"member_id": member_id, "role": "clerk", "supermarket_id": shop.id} for member_id in clerk_ids],
    )
    clerk_tokens = issue_tokens(clerk_ids)
    db.session.commit()
    codes = []
    for owner in db.session.scalars(sa.select(Member).where(Member.id.in_(owners)).order_by(Member.id)):
        voucher = vouchers.reserve_voucher(owner, shop.id, [{"reward_id": reward.id, "quantity": 1}])
        codes.append([voucher.id, vouchers.voucher_payload(voucher, VOUCHER_BASE_URL)])
    return {
        "supermarket_id": shop.id,
        "reward_id": reward.id,
        "clerks": [[member_id, token] for member_id, token in zip(clerk_ids, clerk_tokens)],
        "vouchers": codes,
    }


def add_wishes(residents: list[tuple[int, str, list[int]]], organiser_id: int) -> None:
    """Insert ``WISHES`` micro-wishes, each of a resident in their grid, at the steps of ``WISH_STEPS``.

    Completed ones carry no contribution: they only have to be there for the listing to pass them by.
    """
    now = utcnow()
    rows = []
    for number in range(WISHES):
        requester_id, _phone, (_county, _town, grid) = residents[(number * 7919) % len(residents)]
        status = WISH_STEPS[number % len(WISH_STEPS)]
        published = status in ("open", "completed")
        rows.append(
            {
                "title": f"基准心愿 {number + 1}",
                "description": "帮忙搬运蜂窝煤",
                "requester_id": requester_id,
                "org_unit_id": grid,
                "status": status,
                "created_at": now - timedelta(days=number % 30),
                "points": 20 if published else None,
                "due_at": now + timedelta(days=1 + number % 30) if published else None,
                "published_by_id": organiser_id if published else None,
            }
        )
    db.session.execute(sa.insert(Wish), rows)


def build_dataset(grid_workers: int) -> dict:
    """Add the scenarios' staff, activities, tokens and counter to the loaded county; answer the fixture."""
    password_hash = hash_password(PASSWORD)  # once: argon2 per member would take hours
    db.session.execute(
        sa.update(Member).where(Member.password_hash.is_(None)).values(password_hash=password_hash),
        execution_options={"synchronize_session": False},
    )
    county = db.session.scalars(sa.select(OrgUnit).where(OrgUnit.parent_id.is_(None))).one()
    grids = list(db.session.scalars(sa.select(OrgUnit.id).where(OrgUnit.kind == "grid").order_by(OrgUnit.id)))
    residents = pick_residents()
    staff = (
        [("organiser", "组织者")]
        + [("grid_worker", f"网格员{index}") for index in range(grid_workers)]
        + [("admin", "县管理员")]
    )
    staff_ids = add_members(
        [
            {
                "name": name,
                "phone": str(STAFF_PHONES + index),
                "password_hash": password_hash,
                "org_unit_id": grids[index % len(grids)],
            }
            for index, (_role, name) in enumerate(staff)
        ]
    )
    db.session.execute(
        sa.insert(RoleGrant),
        [
            {"member_id": member_id, "role": role, "org_unit_id": county.id}
            for member_id, (role, _name) in zip(staff_ids, staff)
        ],
    )
    for code, (points, needs_review) in ACTIVITIES.items():
        db.session.add(
            Activity(
                code=code,
                name=code,
                category="other",
                points=points,
                unit="each",
                daily_cap=None,
                needs_review=needs_review,
            )
        )
    resident_tokens = issue_tokens([member_id for member_id, _phone, _scopes in residents])
    staff_tokens = issue_tokens(staff_ids)
    add_wishes(residents, staff_ids[0])
    db.session.commit()
    counter = build_counter(
        county, [member_id for member_id, _phone, _scopes in residents], grid_workers, password_hash
    )
    return {
        **counter,
        "county_id": county.id,
        "password": PASSWORD,
        "residents": [
            [member_id, phone, token]
            for (member_id, phone, _scopes), token in zip(residents, resident_tokens)
        ],
        "scopes": [scopes for _member_id, _phone, scopes in residents],
        "organiser": [staff_ids[0], staff_tokens[0]],
        "grid_workers": [[member_id, token] for member_id, token in zip(staff_ids[1:-1], staff_tokens[1:-1])],
        "admin": [staff_ids[-1], staff_tokens[-1]],
    }


def main(fixture_path: str, grid_workers: str) -> None:
    """Complete the dataset in ``DATABASE_URL`` and write the fixture file."""
    from app import create_app

    started = time.perf_counter()
    # The loader's own commits skip SQLite's fsync (the copy is rebuilt if lost); the server keeps FULL.
    with create_app({"SQLITE_SYNCHRONOUS": "NORMAL"}).app_context():
        fixture = build_dataset(int(grid_workers))
        db.engine.dispose()
    with open(fixture_path, "w") as handle:
        json.dump(fixture, handle)
    print(
        f"dataset completed: {len(fixture['residents'])} residents signed in, {grid_workers} grid workers, "
        f"{len(fixture['vouchers'])} vouchers, {WISHES} wishes in {time.perf_counter() - started:.1f} s"
    )


if __name__ == "__main__":
    main(*sys.argv[1:])
