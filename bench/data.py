"""The benchmark's dataset, written straight into the database with SQLAlchemy, in seconds.

Run as its own process with the server's environment (``python -m bench.data FIXTURE.json
MEMBERS GRID_WORKERS``): a county tree, residents in its grids (all sharing one argon2 hash),
grid workers and an organiser with roles on the county, the scenarios' activities, a
safety supermarket with as many clerks as grid workers and vouchers reserved there for the
counter's scenario, and a bearer token for everyone (stored as SHA-256, as sign-in would). The
tokens, ids and voucher codes the load generator needs are written to FIXTURE.json.
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
from points import ledger
from points.models import Activity
from rewards import vouchers
from rewards.models import Reward, Stock

PASSWORD = "bench-password-2026"
TOWNS, COMMUNITIES_PER_TOWN, GRIDS_PER_COMMUNITY = 5, 10, 10
RESIDENT_PHONES, STAFF_PHONES = 15_000_000_000, 13_700_000_000
#: code → (points, needs_review): no daily cap, so every award in a run is accepted.
ACTIVITIES = {"bench_award": (10, False), "bench_claim": (5, True), "bench_checkin": (2, False)}
#: Vouchers reserved for the counter's scenario (one per resident, at most this many): enough for
#: a default run (11 s) at up to 180 pairs a second; the runs here reach 15–20.
VOUCHERS = 2000
VOUCHER_POINTS = 10
#: Where the vouchers' QR codes point; the service verifies the signed token, not the host.
VOUCHER_BASE_URL = "http://127.0.0.1"
CLERK_PHONES = 13_800_000_000


def add_units(name: str, kind: str, parents: list[OrgUnit | None], per_parent: int) -> list[OrgUnit]:
    """Add ``per_parent`` org units under each parent, with their materialised paths."""
    units = [OrgUnit(name=f"{name}{index + 1}", kind=kind, parent=parent, path="")
             for parent in parents for index in range(per_parent)]
    db.session.add_all(units)
    db.session.flush()
    for unit in units:
        unit.path = (unit.parent.path if unit.parent else "/") + f"{unit.id}/"
    return units


def build_tree() -> tuple[OrgUnit, list[OrgUnit]]:
    """The county → towns → communities → grids tree; answer the county and its grids."""
    county = add_units("基准县", "county", [None], 1)[0]
    towns = add_units("镇", "town", [county], TOWNS)
    communities = add_units("社区", "community", towns, COMMUNITIES_PER_TOWN)
    return county, add_units("网格", "grid", communities, GRIDS_PER_COMMUNITY)


def add_members(rows: list[dict]) -> list[int]:
    """Insert members in one statement; answer their ids in the order given."""
    return list(db.session.scalars(sa.insert(Member).returning(Member.id, sort_by_parameter_order=True),
                                   rows))


def issue_tokens(member_ids: list[int]) -> list[str]:
    """Insert a 30-day bearer token for each member; answer the tokens in the same order."""
    tokens = [TOKEN_PREFIX + secrets.token_urlsafe(32) for _ in member_ids]
    expires_at = utcnow() + timedelta(days=30)
    db.session.execute(sa.insert(ApiToken), [
        {"member_id": member_id, "token_hash": hashlib.sha256(token.encode()).hexdigest(),
         "expires_at": expires_at} for member_id, token in zip(member_ids, tokens)])
    return tokens


def build_counter(county: OrgUnit, resident_ids: list[int], clerks: int, password_hash: str) -> dict:
    """A supermarket with ``clerks`` clerks, and vouchers reserved there through the real service.

    Each voucher's owner gets an opening balance for it (no leaderboard counts it); reserving
    holds those points and one unit of stock, exactly as a resident's reservation does.
    """
    shop = Supermarket(name="基准平安超市", org_unit_id=county.id, address="基准路1号")
    reward = Reward(name="基准肥皂", points_cost=VOUCHER_POINTS, per_member_limit=None)
    db.session.add_all([shop, reward])
    db.session.flush()
    owners = resident_ids[:VOUCHERS]
    db.session.add(Stock(supermarket_id=shop.id, reward_id=reward.id, on_hand=len(owners), reserved=0))
    clerk_ids = add_members([{"name": f"店员{index}", "phone": str(CLERK_PHONES + index),
                              "password_hash": password_hash, "org_unit_id": None} for index in range(clerks)])
    db.session.execute(sa.insert(RoleGrant), [{"member_id": member_id, "role": "clerk", "supermarket_id": shop.id}
                                              for member_id in clerk_ids])
    ledger.open_new_balances({member_id: VOUCHER_POINTS for member_id in owners}, actor_id=None,
                             memo="benchmark vouchers")
    clerk_tokens = issue_tokens(clerk_ids)
    db.session.commit()
    codes = []
    for owner in db.session.scalars(sa.select(Member).where(Member.id.in_(owners)).order_by(Member.id)):
        voucher = vouchers.reserve_voucher(owner, shop.id, [{"reward_id": reward.id, "quantity": 1}])
        codes.append([voucher.id, vouchers.voucher_payload(voucher, VOUCHER_BASE_URL)])
    return {"supermarket_id": shop.id, "clerks": [[member_id, token] for member_id, token
                                                  in zip(clerk_ids, clerk_tokens)], "vouchers": codes}


def build_dataset(residents: int, grid_workers: int) -> dict:
    """Write the whole dataset in one transaction; answer the fixture the scenarios use."""
    password_hash = hash_password(PASSWORD)  # once: argon2 per member would take minutes
    county, grids = build_tree()
    resident_ids = add_members([
        {"name": f"居民{index}", "phone": str(RESIDENT_PHONES + index), "password_hash": password_hash,
         "org_unit_id": grids[index % len(grids)].id} for index in range(residents)])
    staff = [("organiser", "组织者")] + [("grid_worker", f"网格员{index}") for index in range(grid_workers)]
    staff_ids = add_members([
        {"name": name, "phone": str(STAFF_PHONES + index), "password_hash": password_hash,
         "org_unit_id": grids[index % len(grids)].id} for index, (_role, name) in enumerate(staff)])
    db.session.execute(sa.insert(RoleGrant), [
        {"member_id": member_id, "role": role, "org_unit_id": county.id}
        for member_id, (role, _name) in zip(staff_ids, staff)])
    for code, (points, needs_review) in ACTIVITIES.items():
        db.session.add(Activity(code=code, name=code, category="other", points=points, unit="each",
                                daily_cap=None, needs_review=needs_review))
    resident_tokens = issue_tokens(resident_ids)
    staff_tokens = issue_tokens(staff_ids)
    db.session.commit()
    counter = build_counter(county, resident_ids, grid_workers, password_hash)
    return {
        **counter,
        "county_id": county.id,
        "password": PASSWORD,
        "residents": [[member_id, str(RESIDENT_PHONES + index), token]
                      for index, (member_id, token) in enumerate(zip(resident_ids, resident_tokens))],
        "organiser": [staff_ids[0], staff_tokens[0]],
        "grid_workers": [[member_id, token] for member_id, token in zip(staff_ids[1:], staff_tokens[1:])],
    }


def main(fixture_path: str, residents: str, grid_workers: str) -> None:
    """Load the dataset into ``DATABASE_URL`` and write the fixture file."""
    from app import create_app

    started = time.perf_counter()
    # The loader's own commits skip SQLite's fsync (the dataset is thrown away); the server keeps FULL.
    with create_app({"SQLITE_SYNCHRONOUS": "NORMAL"}).app_context():
        fixture = build_dataset(int(residents), int(grid_workers))
    with open(fixture_path, "w") as handle:
        json.dump(fixture, handle)
    print(f"dataset: {residents} residents, {grid_workers} grid workers, {len(fixture['vouchers'])} vouchers, "
          f"{TOWNS * COMMUNITIES_PER_TOWN * GRIDS_PER_COMMUNITY} grids in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main(*sys.argv[1:])
