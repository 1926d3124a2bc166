"""What the benchmark asks of the service, and of the bare floor it is compared with.

Each scenario builds operations (generators of requests, see ``bench.load``) from the
fixture the dataset loader wrote. Tokens are spread over many members, as real traffic is:
the service limits each signed-in member to 300 calls a minute, so one grid worker cannot
carry the award traffic alone (``BENCH_GRID_WORKERS`` of them share it).
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from bench.load import Operation, Request, call

API = "/api/v1"
#: A ceiling on any scenario's rate here, to make enough events for distinct check-ins.
MAX_CHECKINS_PER_SECOND = 3000
#: The scenarios the design targets are about.
AWARD_SCENARIO = "award POST /contributions"
FULFIL_SCENARIO = "scan + fulfil a voucher"
LEADERBOARD_SCENARIO = "leaderboard top 50 + me"


@dataclass(frozen=True)
class Context:
    """What a scenario may use: the fixture, the server's port and the run's length."""

    fixture: dict
    port: int
    seconds: float


@dataclass(frozen=True)
class Scenario:
    """A named load: its operations, what one operation is, and the floor it is compared with."""

    key: str  # what BENCH_SCENARIOS selects it by
    name: str
    floor: str  # the floor row it is compared with: "GET" or "POST"
    unit: str  # what one operation is: "req", or "pair" for two requests
    requests_per_operation: int
    operations: Callable[[Context], Callable[[], Operation]]


def now_iso() -> str:
    """The current time as ISO 8601 with offset."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _floor_get(_context: Context) -> Callable[[], Operation]:
    def operation():
        yield Request("GET", "/floor")
    return operation


def _floor_post(_context: Context) -> Callable[[], Operation]:
    rng = random.Random(1)

    def operation():
        yield Request("POST", "/floor", {"member_id": rng.randrange(1, 20_000), "activity_code": "bench_award",
                                         "quantity": 1, "occurred_at": now_iso()})
    return operation


def _me(context: Context) -> Callable[[], Operation]:
    rng, residents = random.Random(2), context.fixture["residents"]

    def operation():
        _member_id, _phone, token = rng.choice(residents)
        yield Request("GET", f"{API}/me", token=token)
    return operation


def _award(context: Context) -> Callable[[], Operation]:
    rng, residents, staff = random.Random(3), context.fixture["residents"], context.fixture["grid_workers"]

    def operation():
        member_id, _phone, _token = rng.choice(residents)
        _staff_id, staff_token = rng.choice(staff)
        yield Request("POST", f"{API}/contributions", {"member_id": member_id, "activity_code": "bench_award",
                                                      "quantity": 1, "occurred_at": now_iso()}, staff_token)
    return operation


def _claim_and_approve(context: Context) -> Callable[[], Operation]:
    rng, residents, staff = random.Random(4), context.fixture["residents"], context.fixture["grid_workers"]

    def operation():
        member_id, _phone, token = rng.choice(residents)
        claim = yield Request("POST", f"{API}/contributions", {
            "member_id": member_id, "activity_code": "bench_claim", "quantity": 1, "occurred_at": now_iso(),
            "note": "benchmark claim"}, token)
        _staff_id, staff_token = rng.choice(staff)
        yield Request("POST", f"{API}/contributions/{claim.json()['id']}/approve", {}, staff_token)
    return operation


def _login(context: Context) -> Callable[[], Operation]:
    rng, residents, password = random.Random(5), context.fixture["residents"], context.fixture["password"]

    def operation():
        _member_id, phone, _token = rng.choice(residents)
        yield Request("POST", f"{API}/auth/tokens", {"phone": phone, "password": password})
    return operation


def create_events(context: Context, count: int) -> list[str]:
    """Create open events through the API as the organiser; answer their check-in codes."""
    _organiser_id, token = context.fixture["organiser"]
    now = datetime.now(timezone.utc)
    codes = []
    for number in range(count):
        answer = call(context.port, Request("POST", f"{API}/events", {
            "title": f"基准巡逻 {number + 1}", "activity_code": "bench_checkin",
            "org_unit_id": context.fixture["county_id"], "starts_at": (now - timedelta(hours=1)).isoformat(),
            "ends_at": (now + timedelta(hours=3)).isoformat()}, token))
        if answer.status != 201:
            raise RuntimeError(f"could not create an event: {answer.status} {answer.body[:300]!r}")
        codes.append(answer.json()["checkin_url"])
    return codes


def _checkin(context: Context) -> Callable[[], Operation]:
    residents = context.fixture["residents"]
    # Each member checks in once per event: enough events that members never repeat one.
    events = create_events(context, math.ceil(MAX_CHECKINS_PER_SECOND * context.seconds / len(residents)))
    turns = itertools.count()

    def operation():
        turn = next(turns)
        _member_id, _phone, token = residents[turn % len(residents)]
        yield Request("POST", f"{API}/checkins", {"payload": events[turn // len(residents) % len(events)]}, token)
    return operation


def _scan_and_fulfil(context: Context) -> Callable[[], Operation]:
    # Each pre-reserved voucher once, in order; a run that outlasts them shows already_fulfilled errors.
    codes, clerks, rng = itertools.cycle(context.fixture["vouchers"]), context.fixture["clerks"], random.Random(6)

    def operation():
        voucher_id, payload = next(codes)
        _clerk_id, token = rng.choice(clerks)
        yield Request("POST", f"{API}/vouchers/scan", {"payload": payload}, token)
        yield Request("POST", f"{API}/vouchers/{voucher_id}/fulfil", {"payload": payload}, token)
    return operation


def _reserve(context: Context) -> Callable[[], Operation]:
    rng, residents, fixture = random.Random(7), context.fixture["residents"], context.fixture

    def operation():
        _member_id, _phone, token = rng.choice(residents)
        yield Request("POST", f"{API}/vouchers", {"supermarket_id": fixture["supermarket_id"],
                                                 "items": [{"reward_id": fixture["reward_id"], "quantity": 1}]}, token)
    return operation


def _leaderboard(context: Context) -> Callable[[], Operation]:
    # A random resident's month board, top 50 + me, at their county, town or grid (the scope is random).
    rng, residents, scopes = random.Random(8), context.fixture["residents"], context.fixture["scopes"]

    def operation():
        index = rng.randrange(len(residents))
        yield Request("GET", f"{API}/leaderboards/members?org_unit_id={rng.choice(scopes[index])}&period=month"
                             f"&limit=50", token=residents[index][2])
    return operation


FLOOR = (Scenario("floor_get", "floor GET /floor", "GET", "req", 1, _floor_get),
         Scenario("floor_post", "floor POST /floor", "POST", "req", 1, _floor_post))
#: The POST floor once more after the scenarios: how far the machine drifted meanwhile.
FLOOR_AGAIN = Scenario("floor_again", "floor POST /floor, again after", "POST", "req", 1, _floor_post)
SCENARIOS = (
    Scenario("me", "GET /me", "GET", "req", 1, _me),
    Scenario("leaderboard", LEADERBOARD_SCENARIO, "GET", "req", 1, _leaderboard),
    Scenario("award", AWARD_SCENARIO, "POST", "req", 1, _award),
    Scenario("claim", "claim + approve", "POST", "pair", 2, _claim_and_approve),
    Scenario("login", "login POST /auth/tokens", "POST", "req", 1, _login),
    Scenario("checkin", "check-in POST /checkins", "POST", "req", 1, _checkin),
    Scenario("reserve", "voucher reserve POST /vouchers", "POST", "req", 1, _reserve),
    Scenario("fulfil", FULFIL_SCENARIO, "POST", "pair", 2, _scan_and_fulfil),
)
