"""Vouchers: reserve, scan, fulfil once, cancel, expire — and every refusal writes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.database import utcnow
from core.errors import AppError
from core.extensions import db
from core.identity.models import Supermarket
from core.qr.keys import current_signing_key
from core.qr.render import qr_version
from core.qr.signing import code_url, encode_payload
from points import ledger
from rewards import vouchers
from rewards.cli import init_rewards_cli
from rewards.models import Stock, Voucher
from tests.factories import make_member
from tests.rewards.conftest import RESIDENT_POINTS, give_points, person, state

BASE_URL = "https://points.example.gov.cn"


def reserve(world, *lines, key="resident", shop="a", **kwargs):
    items = [{"reward_id": world.rewards[name], "quantity": quantity} for name, quantity in lines]
    return vouchers.reserve_voucher(person(world, key), world.shops[shop], items, **kwargs)


def refused(call) -> AppError:
    with pytest.raises(AppError) as caught:
        call()
    db.session.rollback()
    return caught.value


def stock_of(world, name, shop="a"):
    row = db.session.get(Stock, (world.shops[shop], world.rewards[name]))
    db.session.refresh(row)
    return row.on_hand, row.reserved


def test_reserving_holds_the_points_and_reserves_the_stock(app, stocked):
    with app.app_context():
        voucher = reserve(stocked, ("soap", 2), ("oil", 1), ("soap", 1))
        assert voucher.status == "reserved" and voucher.points == 3 * 30 + 100
        assert [(item.reward_id, item.quantity) for item in voucher.items] == sorted(
            [(stocked.rewards["soap"], 3), (stocked.rewards["oil"], 1)]
        )
        assert len(voucher.short_code) == 8 and set(voucher.short_code) <= set(vouchers.SHORT_CODE_ALPHABET)
        assert timedelta(days=6, hours=23) < voucher.expires_at - utcnow() <= timedelta(days=7)
        balance = ledger.balance_of(stocked.people["resident"])
        assert (balance.available, balance.held) == (RESIDENT_POINTS - 190, 190)
        assert stock_of(stocked, "soap") == (10, 3) and stock_of(stocked, "oil") == (3, 1)
        assert ledger.verify_ledger() == []


@pytest.mark.parametrize(
    "lines, code",
    [
        ((("oil", 3),), "limit_reached"),
        ((("soap", 11),), "out_of_stock"),
        ((("soap", 10), ("oil", 2)), "insufficient_points"),
    ],
)
def test_a_refused_reservation_writes_nothing(app, stocked, lines, code):
    with app.app_context():
        before = state()
        assert refused(lambda: reserve(stocked, *lines)).code == code
        assert state() == before


def test_the_monthly_limit_counts_earlier_vouchers(app, stocked):
    with app.app_context():
        reserve(stocked, ("oil", 1))
        reserve(stocked, ("oil", 1))
        assert refused(lambda: reserve(stocked, ("oil", 1))).code == "limit_reached"


def test_a_reservation_needs_items_and_sane_quantities(app, stocked):
    with app.app_context():
        assert refused(lambda: reserve(stocked)).status == 422
        assert refused(lambda: reserve(stocked, ("soap", 0))).status == 422
        assert refused(lambda: reserve(stocked, ("soap", 60), ("soap", 60))).status == 422


def test_scanning_shows_the_items_and_changes_nothing(app, stocked):
    with app.app_context():
        voucher = reserve(stocked, ("soap", 2))
        payload = vouchers.voucher_payload(voucher, BASE_URL)
        before = state()
        seen = vouchers.scan_voucher(person(stocked, "clerk"), payload=payload)
        assert vouchers.owner_display_name(seen) == "张*民"
        assert [(item.reward.name, item.quantity) for item in seen.items] == [("肥皂", 2)]
        assert seen.points == 60 and seen.status == "reserved"
        assert (
            vouchers.scan_voucher(person(stocked, "clerk"), short_code=voucher.short_code.lower()).id
            == voucher.id
        )
        assert state() == before


def test_fulfilling_spends_the_points_once_and_a_replay_is_refused(app, stocked):
    with app.app_context():
        voucher = reserve(stocked, ("soap", 2))
        payload = vouchers.voucher_payload(voucher, BASE_URL)
        done = vouchers.fulfil_voucher(person(stocked, "clerk"), voucher.id, payload=payload)
        assert done.status == "fulfilled" and done.fulfilled_by_id == stocked.people["clerk"]
        balance = ledger.balance_of(stocked.people["resident"])
        assert (balance.available, balance.held) == (RESIDENT_POINTS - 60, 0)
        assert stock_of(stocked, "soap") == (8, 0)
        before = state()
        again = refused(
            lambda: vouchers.fulfil_voucher(person(stocked, "clerk"), voucher.id, payload=payload)
        )
        assert again.code == "already_fulfilled" and again.errors["fulfilled_by"] == ["赵店员"]
        scanned = refused(lambda: vouchers.scan_voucher(person(stocked, "clerk"), payload=payload))
        assert scanned.code == "already_fulfilled" and scanned.status == 409
        assert state() == before
        assert ledger.verify_ledger() == []


def test_fulfilling_needs_the_code_of_this_voucher(app, stocked):
    with app.app_context():
        first, second = reserve(stocked, ("soap", 1)), reserve(stocked, ("soap", 1))
        error = refused(
            lambda: vouchers.fulfil_voucher(person(stocked, "clerk"), first.id, short_code=second.short_code)
        )
        assert error.code == "invalid_code"


def test_a_clerk_of_another_supermarket_is_refused(app, stocked):
    with app.app_context():
        other_clerk = make_member("何店员", role="clerk", on=db.session.get(Supermarket, stocked.shops["b"]))
        voucher = reserve(stocked, ("soap", 1))
        payload = vouchers.voucher_payload(voucher, BASE_URL)
        assert (
            refused(lambda: vouchers.scan_voucher(other_clerk, payload=payload)).code == "wrong_supermarket"
        )
        assert (
            refused(lambda: vouchers.fulfil_voucher(other_clerk, voucher.id, payload=payload)).code
            == "wrong_supermarket"
        )
        assert (
            refused(lambda: vouchers.scan_voucher(person(stocked, "villager"), payload=payload)).code
            == "forbidden"
        )
        admin_of_a = person(stocked, "admin")
        assert vouchers.scan_voucher(admin_of_a, payload=payload).id == voucher.id


def _flip(text: str, position: int) -> str:
    replacement = "A" if text[position] != "A" else "B"
    return text[:position] + replacement + text[position + 1 :]


def test_altered_foreign_and_garbage_codes_are_invalid(app, stocked):
    with app.app_context():
        voucher = reserve(stocked, ("soap", 1))
        payload = vouchers.voucher_payload(voucher, BASE_URL)
        key = current_signing_key()
        values = {
            "voucher_id": voucher.id,
            "supermarket_id": voucher.supermarket_id,
            "points": voucher.points,
            "expires": int(voucher.expires_at.timestamp()),
        }
        foreign = code_url(
            BASE_URL,
            "V",
            encode_payload(vouchers.VOUCHER, values, key_id=key.id, private_key=Ed25519PrivateKey.generate()),
        )
        cheaper = code_url(
            BASE_URL,
            "V",
            encode_payload(
                vouchers.VOUCHER, {**values, "points": 1}, key_id=key.id, private_key=key.private_key
            ),
        )
        clerk = person(stocked, "clerk")
        before = state()
        for text in [
            _flip(payload, -10),
            _flip(payload, -60),
            _flip(payload, -120),
            foreign,
            cheaper,
            "hello",
            "",
            "https://evil.example/V/AAAA",
        ]:
            error = refused(lambda text=text: vouchers.scan_voucher(clerk, payload=text))
            assert (error.status, error.code) == (400, "invalid_code"), text
            error = refused(lambda text=text: vouchers.fulfil_voucher(clerk, voucher.id, payload=text))
            assert error.code == "invalid_code", text
        for code in ["ABCDEFG", "AAAAAAAA", "0O1IL2Z5"]:
            assert (
                refused(lambda code=code: vouchers.scan_voucher(clerk, short_code=code)).code
                == "invalid_code"
            )
        assert state() == before


def test_an_expired_voucher_is_refused_and_a_scan_writes_nothing(app, stocked):
    with app.app_context():
        voucher = reserve(stocked, ("soap", 2), now=utcnow() - timedelta(days=8))
        payload = vouchers.voucher_payload(voucher, BASE_URL)
        before = state()
        error = refused(lambda: vouchers.scan_voucher(person(stocked, "clerk"), payload=payload))
        assert (error.status, error.code) == (410, "expired")
        assert (
            refused(
                lambda: vouchers.fulfil_voucher(person(stocked, "clerk"), voucher.id, payload=payload)
            ).code
            == "expired"
        )
        assert state() == before


def test_cancelling_gives_points_and_stock_back(app, stocked):
    with app.app_context():
        voucher = reserve(stocked, ("oil", 2))
        assert (
            refused(lambda: vouchers.cancel_voucher(person(stocked, "villager"), voucher.id)).code
            == "forbidden"
        )
        done = vouchers.cancel_voucher(person(stocked, "resident"), voucher.id)
        assert done.status == "cancelled" and done.cancelled_by_id == stocked.people["resident"]
        balance = ledger.balance_of(stocked.people["resident"])
        assert (balance.available, balance.held) == (RESIDENT_POINTS, 0)
        assert stock_of(stocked, "oil") == (3, 0)
        assert (
            refused(lambda: vouchers.cancel_voucher(person(stocked, "resident"), voucher.id)).code
            == "invalid_state"
        )
        reserve(stocked, ("oil", 2))  # a cancelled voucher no longer counts against the limit
        assert ledger.verify_ledger() == []


def test_cancelling_a_fulfilled_voucher_says_so(app, stocked):
    with app.app_context():
        voucher = reserve(stocked, ("soap", 1))
        vouchers.fulfil_voucher(person(stocked, "clerk"), voucher.id, short_code=voucher.short_code)
        assert (
            refused(lambda: vouchers.cancel_voucher(person(stocked, "clerk"), voucher.id)).code
            == "already_fulfilled"
        )


def test_flask_vouchers_expire_releases_what_is_due(app, stocked):
    with app.app_context():
        old = reserve(stocked, ("soap", 2), now=utcnow() - timedelta(days=8)).id
        fresh = reserve(stocked, ("soap", 1)).id
    if "vouchers" not in app.cli.commands:  # until app.py registers it
        init_rewards_cli(app)
    result = app.test_cli_runner().invoke(args=["vouchers", "expire"])
    assert result.exit_code == 0 and "1 voucher(s) expired" in result.output
    with app.app_context():
        assert db.session.get(Voucher, old).status == "expired"
        assert db.session.get(Voucher, fresh).status == "reserved"
        balance = ledger.balance_of(stocked.people["resident"])
        assert (balance.available, balance.held) == (RESIDENT_POINTS - 30, 30)
        assert stock_of(stocked, "soap") == (10, 1)
        assert vouchers.expire_vouchers() == 0
        assert ledger.verify_ledger() == []


def test_reading_my_vouchers_expires_those_that_are_due(app, stocked):
    with app.app_context():
        old = reserve(stocked, ("soap", 2), now=utcnow() - timedelta(days=8)).id
        page = vouchers.list_vouchers(person(stocked, "resident"))
        assert [(v.id, v.status) for v in page["items"]] == [(old, "expired")]
        assert ledger.balance_of(stocked.people["resident"]).held == 0


def test_the_voucher_code_fits_a_version_8_qr_code(app, stocked):
    with app.app_context():
        give_points(stocked.people["resident"], 10_000)
        voucher = reserve(stocked, ("soap", 10))
        payload = vouchers.voucher_payload(voucher, "https://jifen.pingan-county.example.gov.cn/app")
        assert qr_version(payload) <= 8


def test_the_voucher_api_end_to_end(app, client, stocked):
    resident, clerk = stocked.headers["resident"], stocked.headers["clerk"]
    body = {
        "supermarket_id": stocked.shops["a"],
        "items": [{"reward_id": stocked.rewards["soap"], "quantity": 2}],
    }
    created = client.post("/api/v1/vouchers", json=body, headers={**resident, "Idempotency-Key": "k1"})
    assert created.status_code == 201, created.json
    voucher = created.json
    assert {"id", "short_code", "payload", "points", "status", "expires_at", "items"} <= set(voucher)
    assert voucher["status"] == "reserved" and voucher["payload"].startswith("HTTP")
    replay = client.post("/api/v1/vouchers", json=body, headers={**resident, "Idempotency-Key": "k1"})
    assert replay.json["id"] == voucher["id"]
    assert client.get("/api/v1/vouchers", headers=resident).json["total"] == 1
    as_clerk = client.get(f"/api/v1/vouchers/{voucher['id']}", headers=clerk)
    assert (
        as_clerk.status_code == 200
        and as_clerk.json["payload"] is None
        and as_clerk.json["short_code"] is None
    )
    assert (
        client.get(f"/api/v1/vouchers/{voucher['id']}", headers=stocked.headers["villager"]).status_code
        == 403
    )
    svg = client.get(f"/api/v1/vouchers/{voucher['id']}/qr.svg", headers=resident)
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
    png = client.get(f"/api/v1/vouchers/{voucher['id']}/qr.png", headers=resident)
    assert png.status_code == 200 and png.data.startswith(b"\x89PNG")
    for image in ("qr.png", "qr.svg"):  # the code spends the points: only its owner sees it
        assert client.get(f"/api/v1/vouchers/{voucher['id']}/{image}", headers=clerk).status_code == 403
    scan = client.post("/api/v1/vouchers/scan", json={"payload": voucher["payload"]}, headers=clerk)
    assert scan.status_code == 200 and scan.json["member"]["display_name"] == "张*民"
    assert client.post("/api/v1/vouchers/scan", json={}, headers=clerk).status_code == 422
    fulfil = client.post(
        f"/api/v1/vouchers/{voucher['id']}/fulfil", json={"short_code": voucher["short_code"]}, headers=clerk
    )
    assert fulfil.status_code == 200 and fulfil.json["status"] == "fulfilled"
    again = client.post(
        f"/api/v1/vouchers/{voucher['id']}/fulfil", json={"payload": voucher["payload"]}, headers=clerk
    )
    assert (again.status_code, again.json["code"]) == (409, "already_fulfilled")
    empty = client.post("/api/v1/vouchers", json={**body, "items": []}, headers=resident)
    assert empty.status_code == 422


def test_a_reserved_voucher_can_be_cancelled_through_the_api(app, client, stocked):
    body = {
        "supermarket_id": stocked.shops["a"],
        "items": [{"reward_id": stocked.rewards["oil"], "quantity": 1}],
    }
    voucher = client.post("/api/v1/vouchers", json=body, headers=stocked.headers["resident"]).json
    cancelled = client.post(f"/api/v1/vouchers/{voucher['id']}/cancel", headers=stocked.headers["resident"])
    assert cancelled.status_code == 200 and cancelled.json["status"] == "cancelled"
