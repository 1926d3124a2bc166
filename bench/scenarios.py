"""What the benchmark asks of the service, and of the bare floor it is compared with.

Each scenario is a key of ``bench/wrk/scenario.lua`` (which builds its requests from the
fixture the dataset loader wrote) with what one operation is and which floor it is compared
with. Tokens are spread over many members, as real traffic is: the service limits each
signed-in member to 300 calls a minute, so one grid worker cannot carry the award traffic alone
(``BENCH_GRID_WORKERS`` of them share it).
"""

from __future__ import annotations

import http.client
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

API = "/api/v1"
#: A ceiling on any scenario's rate here, to make enough events for distinct check-ins.
MAX_CHECKINS_PER_SECOND = 3000
#: The scenarios the targets are about.
ME_SCENARIO = "GET /me"
AWARD_SCENARIO = "award POST /contributions"
AWARD_BUDGET_SCENARIO = "award, county budget set"
#: The county budget the budget scenario sets: far more than any run awards.
COUNTY_BUDGET = 1_000_000_000
LEADERBOARD_SCENARIO = "leaderboard top 50 + me"
RESERVE_SCENARIO = "voucher reserve POST /vouchers"
FULFIL_SCENARIO = "scan + fulfil a voucher"


@dataclass(frozen=True)
class Scenario:
    """A named load: its key in the Lua script, what one operation is, the floor it is compared with."""

    key: str  # what BENCH_SCENARIOS selects it by, and the Lua script's scenario
    name: str
    floor: str  # the floor row it is compared with: "GET" or "POST"
    unit: str  # what one operation is: "req", or "pair" for two requests
    requests_per_operation: int


def call(port: int, method: str, path: str, body: dict | None = None, token: str | None = None):
    """Send one request and answer (status, decoded JSON) (for set-up, not for measuring)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Accept": "application/json", "Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        answer = connection.getresponse()
        return answer.status, json.loads(answer.read() or b"null")
    finally:
        connection.close()


def create_events(port: int, fixture: dict, count: int) -> list[str]:
    """Create open events through the API as the organiser; answer their check-in codes."""
    _organiser_id, token = fixture["organiser"]
    now = datetime.now(UTC)
    codes = []
    for number in range(count):
        status, answer = call(
            port,
            "POST",
            f"{API}/events",
            {
                "title": f"基准巡逻 {number + 1}",
                "activity_code": "bench_checkin",
                "org_unit_id": fixture["county_id"],
                "starts_at": (now - timedelta(hours=1)).isoformat(),
                "ends_at": (now + timedelta(hours=3)).isoformat(),
            },
            token,
        )
        if status != 201:
            raise RuntimeError(f"could not create an event: {status} {str(answer)[:300]}")
        codes.append(answer["checkin_url"])
    return codes


def set_county_budget(port: int, fixture: dict) -> dict:
    """Set this year's points budget of the county through the API as the admin; answer it."""
    _admin_id, token = fixture["admin"]
    year = datetime.now(timezone(timedelta(hours=8))).year
    status, answer = call(
        port,
        "PUT",
        f"{API}/org-units/{fixture['county_id']}/budgets/{year}",
        {"points": COUNTY_BUDGET},
        token,
    )
    if status != 200:
        raise RuntimeError(f"could not set the county budget: {status} {str(answer)[:300]}")
    return answer


def checkin_events_needed(fixture: dict, seconds: float) -> int:
    """Events enough that no resident checks in to one twice over ``seconds`` of check-ins."""
    return math.ceil(MAX_CHECKINS_PER_SECOND * seconds / len(fixture["residents"]))


FLOOR = (
    Scenario("floor_get", "floor GET /floor", "GET", "req", 1),
    Scenario("floor_post", "floor POST /floor", "POST", "req", 1),
)
#: The POST floor once more after the scenarios: how far the machine drifted meanwhile.
FLOOR_AGAIN = Scenario("floor_post", "floor POST /floor, again after", "POST", "req", 1)
SCENARIOS = (
    Scenario("me", ME_SCENARIO, "GET", "req", 1),
    Scenario("leaderboard", LEADERBOARD_SCENARIO, "GET", "req", 1),
    Scenario("award", AWARD_SCENARIO, "POST", "req", 1),
    Scenario("claim", "claim + approve", "POST", "pair", 2),
    Scenario("login", "login POST /auth/tokens", "POST", "req", 1),
    Scenario("checkin", "check-in POST /checkins", "POST", "req", 1),
    Scenario("reserve", RESERVE_SCENARIO, "POST", "req", 1),
    Scenario("fulfil", FULFIL_SCENARIO, "POST", "pair", 2),
    Scenario("wishes", "open wishes GET /wishes", "GET", "req", 1),
    # Last: the budget it sets stays set (every award after it would draw on it).
    Scenario("award_budget", AWARD_BUDGET_SCENARIO, "POST", "req", 1),
)
#: Scenarios that use each of their items once (a resident's check-in to an event, a voucher).
USED_ONCE = frozenset({"checkin", "fulfil"})
