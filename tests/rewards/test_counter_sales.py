"""Counter sales by member card and PIN, or by pay code: one transaction, every voucher rule, once."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from core.audit import AuditEntry
from core.database import utcnow
from core.errors import AppError
from core.extensions import db
from core.identity import cards
from core.identity.models import MemberCard
from points import ledger
from points.models import LedgerTransaction
from rewards import counter
from rewards.models import Stock, StockMovement, Voucher
from tests.rewards.conftest import RESIDENT_POINTS, give_points, person, reserve_at_shop_a, state

PIN = "204816"


def issue_card_with_pin(world, key="resident") -> MemberCard:
    """Issue a card and set a PIN for one of the world's people (by the organiser)."""
    organiser, member = person(world, "organiser"), person(world, key)
    card = cards.issue_card(organiser, member)
    cards.set_pin(organiser, member, PIN)
    return card


def sale_body(world, card_number, pin=PIN, **lines):
    return {
        "supermarket_id": world.shops["a"],
        "card": card_number,
        "pin": pin,
        "items": [
            {"reward_id": world.rewards[name], "quantity": quantity} for name, quantity in lines.items()
        ],
    }


def stock_of(world, name):
    row = db.session.get(Stock, (world.shops["a"], world.rewards[name]))
    db.session.refresh(row)
    return row.on_hand, row.reserved


def test_a_card_sale_spends_available_points_hands_stock_out_and_keeps_a_fulfilled_voucher(app, stocked):
    client = app.test_client()
    with app.app_context():
        card = issue_card_with_pin(stocked)
        number = card.number
    answer = client.post(
        "/api/v1/counter/sales",
        json=sale_body(stocked, number, soap=2, oil=1),
        headers=stocked.headers["clerk"],
    )
    assert answer.status_code == 201, answer.get_json()
    sold = answer.get_json()
    assert sold["status"] == "fulfilled" and sold["points"] == 160
    assert sold["member"] == {"display_name": "张*民"}
    assert sold["payload"] is None and sold["short_code"] is None  # the clerk never gets a code
    with app.app_context():
        voucher = db.session.get(Voucher, sold["id"])
        assert voucher.fulfilled_by_id == stocked.people["clerk"] and voucher.fulfilled_at is not None
        assert sorted((item.reward_id, item.quantity, item.points_each) for item in voucher.items) == sorted(
            [(stocked.rewards["soap"], 2, 30), (stocked.rewards["oil"], 1, 100)]
        )
        balance = ledger.balance_of(stocked.people["resident"])
        assert (balance.available, balance.held) == (RESIDENT_POINTS - 160, 0)
        spend = db.session.scalar(
            sa.select(LedgerTransaction).where(LedgerTransaction.reference == f"voucher:{voucher.id}")
        )
        assert (spend.kind, spend.available_change) == ("spend", -160)
        assert stock_of(stocked, "soap") == (8, 0) and stock_of(stocked, "oil") == (2, 0)
        assert {
            movement.kind
            for movement in db.session.scalars(
                sa.select(StockMovement).where(StockMovement.voucher_id == voucher.id)
            )
        } == {"handed_over"}
        audit = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "voucher.sell"))
        assert audit.actor_id == stocked.people["clerk"] and audit.after["via"] == "card"
        assert ledger.verify_ledger() == []


def test_a_card_sale_counts_towards_the_monthly_limit_like_a_voucher(app, stocked):
    with app.app_context():
        number = issue_card_with_pin(stocked).number
        clerk = person(stocked, "clerk")
        counter.sell_at_counter(
            clerk,
            stocked.shops["a"],
            [{"reward_id": stocked.rewards["oil"], "quantity": 2}],
            card=number,
            pin=PIN,
        )
        with pytest.raises(AppError) as caught:
            reserve_at_shop_a(stocked, stocked.rewards["oil"])
        assert (caught.value.status, caught.value.code) == (409, "limit_reached")


@pytest.mark.parametrize(
    "lines, code, status",
    [
        ({"oil": 3}, "limit_reached", 409),
        ({"soap": 11}, "out_of_stock", 409),
        ({"soap": 10, "oil": 2}, "insufficient_points", 409),
    ],
)
def test_a_card_sale_obeys_every_voucher_rule_and_writes_nothing_when_refused(
    app, stocked, lines, code, status
):
    client = app.test_client()
    with app.app_context():
        number = issue_card_with_pin(stocked).number
        before = state()
    answer = client.post(
        "/api/v1/counter/sales", json=sale_body(stocked, number, **lines), headers=stocked.headers["clerk"]
    )
    assert (answer.status_code, answer.get_json()["code"]) == (status, code)
    with app.app_context():
        assert state() == before


def test_a_wrong_pin_is_refused_and_five_lock_the_card_not_the_address(app, stocked):
    client = app.test_client()
    with app.app_context():
        number = issue_card_with_pin(stocked).number
        other = issue_card_with_pin(stocked, "villager").number
        ledger_before = state()
    for attempt in range(4):
        answer = client.post(
            "/api/v1/counter/sales",
            json=sale_body(stocked, number, pin="111112", soap=1),
            headers=stocked.headers["clerk"],
        )
        assert (answer.status_code, answer.get_json()["code"]) == (403, "invalid_pin"), attempt
    fifth = client.post(
        "/api/v1/counter/sales",
        json=sale_body(stocked, number, pin="111112", soap=1),
        headers=stocked.headers["clerk"],
    )
    assert fifth.status_code == 429 and fifth.get_json()["code"] == "rate_limited"
    assert 0 < int(fifth.headers["Retry-After"]) <= 15 * 60
    # locked: even the right PIN waits; another card at the same counter and address does not
    right = client.post(
        "/api/v1/counter/sales", json=sale_body(stocked, number, soap=1), headers=stocked.headers["clerk"]
    )
    assert right.status_code == 429
    with app.app_context():
        assert state() == {**ledger_before, "audit": ledger_before["audit"] + 1}  # the lock, nothing else
        locks = db.session.scalars(
            sa.select(AuditEntry).where(AuditEntry.action == "member.pin_locked")
        ).all()
        assert [(entry.actor_id, entry.subject_id, entry.after["card_number"]) for entry in locks] == [
            (stocked.people["clerk"], stocked.people["resident"], number)
        ]
        give_points(stocked.people["villager"], 50)
    villager_sale = client.post(
        "/api/v1/counter/sales", json=sale_body(stocked, other, soap=1), headers=stocked.headers["clerk"]
    )
    assert villager_sale.status_code == 201
    # a new PIN, set by an organiser with the resident present, lifts the lock
    with app.app_context():
        cards.set_pin(person(stocked, "organiser"), person(stocked, "resident"), "737373")
    again = client.post(
        "/api/v1/counter/sales",
        json=sale_body(stocked, number, pin="737373", soap=1),
        headers=stocked.headers["clerk"],
    )
    assert again.status_code == 201


def test_a_reissued_card_revokes_the_old_number_and_code(app, stocked):
    client = app.test_client()
    with app.app_context():
        old = issue_card_with_pin(stocked)
        old_number, old_url = old.number, cards.card_url(old, "http://localhost")
    answer = client.post(
        f"/api/v1/members/{stocked.people['resident']}/card", headers=stocked.headers["organiser"]
    )
    assert answer.status_code == 201
    new = answer.get_json()
    assert cards.is_card_number(new["card_number"]) and new["card_number"] != old_number
    assert new["card_url"].startswith("HTTP://LOCALHOST/C/") and new["pin_set"] is True
    for code in (old_number, old_url):
        refused = client.post(
            "/api/v1/counter/sales", json=sale_body(stocked, code, soap=1), headers=stocked.headers["clerk"]
        )
        assert (refused.status_code, refused.get_json()["code"]) == (400, "invalid_code")
        assert refused.get_json()["errors"] == {"card": ["revoked"]}
    by_url = client.post(
        "/api/v1/counter/sales",
        json=sale_body(stocked, new["card_url"], soap=1),
        headers=stocked.headers["clerk"],
    )
    assert by_url.status_code == 201


def test_card_numbers_carry_a_luhn_check_digit_so_a_typo_is_caught():
    number = cards.new_card_number()
    assert len(number) == 12 and cards.is_card_number(number)
    typo = number[:5] + str((int(number[5]) + 1) % 10) + number[6:]
    assert not cards.is_card_number(typo)
    assert cards.luhn_digit("7992739871") == "3"  # the textbook example


def test_a_card_number_already_taken_is_drawn_again(app, stocked, monkeypatch):
    with app.app_context():
        taken = issue_card_with_pin(stocked).number
        fresh = iter([taken, taken, "123456789015"])
        monkeypatch.setattr(cards, "new_card_number", lambda: next(fresh))
        card = cards.issue_card(person(stocked, "organiser"), person(stocked, "villager"))
        assert card.number == "123456789015" and cards.is_card_number(card.number)
        monkeypatch.setattr(cards, "new_card_number", lambda: taken)
        with pytest.raises(RuntimeError):
            cards.issue_card(person(stocked, "organiser"), person(stocked, "neighbour"))


def test_a_pay_code_works_once_within_a_minute(app, stocked):
    client = app.test_client()
    issued = client.get("/api/v1/me/pay-code", headers=stocked.headers["resident"])
    assert issued.status_code == 200 and issued.headers["Cache-Control"] == "no-store"
    code = issued.get_json()
    assert len(code["code"]) == 18 and code["code"].isdigit() and "/P/" in code["payload"]
    body = {
        "supermarket_id": stocked.shops["a"],
        "pay_code": code["payload"],
        "items": [{"reward_id": stocked.rewards["soap"], "quantity": 1}],
    }
    looked = client.post(
        "/api/v1/counter/holders",
        json={"supermarket_id": stocked.shops["a"], "pay_code": code["code"]},
        headers=stocked.headers["clerk"],
    )
    assert looked.get_json() == {
        "member": {"display_name": "张*民"},
        "available": RESIDENT_POINTS,
        "via": "pay_code",
        "pin_required": False,
        "pin_set": False,
    }
    assert (
        client.post("/api/v1/counter/sales", json=body, headers=stocked.headers["clerk"]).status_code == 201
    )
    replayed = client.post(
        "/api/v1/counter/sales", json={**body, "pay_code": code["code"]}, headers=stocked.headers["clerk"]
    )
    assert (replayed.status_code, replayed.get_json()["errors"]) == (400, {"pay_code": ["used"]})


def test_an_expired_pay_code_is_refused(app, stocked):
    with app.app_context():
        code, digits = cards.issue_pay_code(person(stocked, "resident"), now=utcnow() - timedelta(seconds=61))
        with pytest.raises(AppError) as caught:
            counter.sell_at_counter(
                person(stocked, "clerk"),
                stocked.shops["a"],
                [{"reward_id": stocked.rewards["soap"], "quantity": 1}],
                pay_code=digits,
            )
        assert (caught.value.status, caught.value.code) == (410, "expired")


def test_a_sale_retried_with_the_same_idempotency_key_sells_once(app, stocked):
    client = app.test_client()
    with app.app_context():
        number = issue_card_with_pin(stocked).number
    headers = {**stocked.headers["clerk"], "Idempotency-Key": "sale-1"}
    first = client.post("/api/v1/counter/sales", json=sale_body(stocked, number, soap=1), headers=headers)
    second = client.post("/api/v1/counter/sales", json=sale_body(stocked, number, soap=1), headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.headers["Idempotent-Replayed"] == "true" and first.get_json() == second.get_json()
    with app.app_context():
        assert ledger.balance_of(stocked.people["resident"]).available == RESIDENT_POINTS - 30


def test_only_a_counter_of_that_supermarket_sells_there(app, stocked):
    client = app.test_client()
    with app.app_context():
        number = issue_card_with_pin(stocked).number
    body = {**sale_body(stocked, number, soap=1), "supermarket_id": stocked.shops["b"]}
    refused = client.post("/api/v1/counter/sales", json=body, headers=stocked.headers["clerk"])
    assert (refused.status_code, refused.get_json()["code"]) == (403, "wrong_supermarket")
    resident = client.post(
        "/api/v1/counter/sales", json=sale_body(stocked, number, soap=1), headers=stocked.headers["resident"]
    )
    assert (resident.status_code, resident.get_json()["code"]) == (403, "forbidden")


def test_pins_are_six_digits_not_easy_to_guess_and_members_set_theirs_with_their_password(app, stocked):
    client = app.test_client()
    url = f"/api/v1/members/{stocked.people['resident']}/pin"
    for pin in ("12345", "1234567", "12a456", "111111", "123456", "987654"):
        answer = client.put(url, json={"pin": pin}, headers=stocked.headers["organiser"])
        assert answer.status_code == 422, pin
    assert client.put(url, json={"pin": "284615"}, headers=stocked.headers["resident"]).status_code == 422
    assert (
        client.put(
            url, json={"pin": "284615", "password": "wrong"}, headers=stocked.headers["resident"]
        ).status_code
        == 422
    )
    from tests.factories import PASSWORD

    assert (
        client.put(
            url, json={"pin": "284615", "password": PASSWORD}, headers=stocked.headers["resident"]
        ).status_code
        == 204
    )
    assert client.put(url, json={"pin": "284615"}, headers=stocked.headers["neighbour"]).status_code == 403
    outside = f"/api/v1/members/{stocked.people['outsider']}/pin"
    assert (
        client.put(outside, json={"pin": "284615"}, headers=stocked.headers["organiser"]).status_code == 403
    )
    with app.app_context():
        actions = [entry.action for entry in db.session.scalars(sa.select(AuditEntry))]
        assert actions.count("member.pin_set") == 1
