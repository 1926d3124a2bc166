"""Wrong PINs are counted per card in the store every app server shares: two processes, one count."""

from __future__ import annotations

import json

from core.extensions import db
from core.throttle import ThrottleEntry
from tests.rewards.test_counter_sales import issue_card_with_pin
from tests.support.gunicorn import run_python

WRONG_PINS_FROM_ANOTHER_PROCESS = """
import json, sys
from app import create_app
app = create_app({"APP_ENV": "test", "SQLALCHEMY_DATABASE_URI": sys.argv[1]})
body, headers = json.loads(sys.argv[2]), json.loads(sys.argv[3])
client = app.test_client()
for pin in sys.argv[4].split(","):
    print(client.post("/api/v1/counter/sales", json={**body, "pin": pin}, headers=headers).status_code)
"""


def sell_from_another_process(database_url, body, headers, pins):
    """Try counter sales with these PINs from a separate app server process; answer the statuses."""
    result = run_python(
        WRONG_PINS_FROM_ANOTHER_PROCESS, database_url, json.dumps(body), json.dumps(headers), ",".join(pins)
    )
    return [int(line) for line in result.stdout.split()]


def test_two_app_servers_count_wrong_pins_of_one_card_together(app, database_url, stocked):
    with app.app_context():
        card = issue_card_with_pin(stocked)
        number = card.number
    body = {
        "supermarket_id": stocked.shops["a"],
        "card": number,
        "items": [{"reward_id": stocked.rewards["soap"], "quantity": 1}],
    }
    headers = stocked.headers["clerk"]
    client = app.test_client()
    for _ in range(3):  # this server
        assert (
            client.post("/api/v1/counter/sales", json={**body, "pin": "000001"}, headers=headers).status_code
            == 403
        )
    # another server: two more wrong PINs lock the card; then even the right one waits
    assert sell_from_another_process(database_url, body, headers, ["000001", "000001", "204816"]) == [
        403,
        429,
        429,
    ]
    with app.app_context():
        assert db.session.get(ThrottleEntry, f"card_pin:{number}").locked_until is not None
    # and this server knows it too
    assert (
        client.post("/api/v1/counter/sales", json={**body, "pin": "204816"}, headers=headers).status_code
        == 429
    )
