"""The counter without signal: the bundle it keeps, and the contract's rules for the scans it sends back."""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections import Counter
from datetime import timedelta

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from core.database import utcnow
from core.extensions import db
from core.qr.signing import token_from_text
from points import ledger
from rewards import offline, vouchers
from rewards.models import OfflineFulfilment, Stock, Voucher
from tests.points.test_ledger_concurrency import run_at_once
from tests.rewards.conftest import RESIDENT_POINTS, give_points, person, reserve_at_shop_a

BASE = "http://localhost"


def reserve(world, key="resident", soap=1, **kwargs):
    return vouchers.reserve_voucher(
        person(world, key),
        world.shops["a"],
        [{"reward_id": world.rewards["soap"], "quantity": soap}],
        **kwargs,
    )


def scan(voucher, *, code=None, scanned_at=None, scan_id=None):
    return {
        "scan_id": scan_id or str(uuid.uuid4()),
        "voucher_id": voucher.id,
        "code": code if code is not None else vouchers.voucher_payload(voucher, BASE),
        "scanned_at": scanned_at or utcnow() - timedelta(minutes=10),
    }


def send(world, scans, key="clerk", shop="a"):
    return offline.record_offline_fulfilments(person(world, key), world.shops[shop], scans)


def outcome(results):
    return [(result["result"], result["reason"]) for result in results]


def test_the_bundle_holds_the_keys_the_reserved_vouchers_and_the_catalogue(app, stocked):
    client = app.test_client()
    with app.app_context():
        voucher = reserve(stocked, soap=2)
        voucher_id, short_code, payload = (
            voucher.id,
            voucher.short_code,
            vouchers.voucher_payload(voucher, BASE),
        )
        vouchers.cancel_voucher(person(stocked, "resident"), reserve(stocked).id)
    answer = client.get(
        f"/api/v1/supermarkets/{stocked.shops['a']}/offline-bundle", headers=stocked.headers["clerk"]
    )
    assert answer.status_code == 200 and "no-store" in answer.headers["Cache-Control"]
    bundle = answer.get_json()
    assert [entry["id"] for entry in bundle["vouchers"]] == [voucher_id]  # the cancelled one is not there
    entry = bundle["vouchers"][0]
    assert entry["short_code_sha256"] == hashlib.sha256(short_code.encode()).hexdigest()
    assert short_code not in answer.get_data(as_text=True)
    assert (
        entry["points"] == 60
        and entry["items"][0]["quantity"] == 2
        and entry["member"]["display_name"] == "张*民"
    )
    assert {item["name"] for item in bundle["catalogue"]} == {"肥皂", "食用油"}
    # the bundle's key alone verifies the voucher's code, as the browser does it
    raw = base64.b32decode(token_from_text(payload) + "=" * (-len(token_from_text(payload)) % 8))
    kid = int.from_bytes(raw[1:3], "big")
    key = next(key for key in bundle["keys"] if key["kid"] == kid)
    Ed25519PublicKey.from_public_bytes(base64.b64decode(key["public_key"])).verify(raw[-64:], raw[:-64])
    for key, shop in (("resident", "a"), ("grid_worker", "a"), ("clerk", "b")):
        assert (
            client.get(
                f"/api/v1/supermarkets/{stocked.shops[shop]}/offline-bundle", headers=stocked.headers[key]
            ).status_code
            == 403
        )


def test_the_first_scan_fulfils_a_replay_answers_the_same_and_a_second_scan_is_a_conflict(app, stocked):
    with app.app_context():
        voucher = reserve(stocked, soap=2)
        first, second = scan(voucher), scan(voucher, code=voucher.short_code.lower())
        assert outcome(send(stocked, [first])) == [("fulfilled", None)]
        assert outcome(send(stocked, [first, second, first])) == [
            ("fulfilled", None),
            ("conflict", "already_fulfilled"),
            ("fulfilled", None),
        ]
        db.session.rollback()
        voucher = db.session.get(Voucher, voucher.id)
        assert voucher.status == "fulfilled" and voucher.fulfilled_at == first["scanned_at"]
        balance = ledger.balance_of(stocked.people["resident"])
        assert (balance.available, balance.held) == (RESIDENT_POINTS - 60, 0)
        row = db.session.get(Stock, (stocked.shops["a"], stocked.rewards["soap"]))
        assert (row.on_hand, row.reserved) == (8, 0)
        assert db.session.scalar(sa.select(sa.func.count()).select_from(OfflineFulfilment)) == 2
        assert ledger.verify_ledger() == []


def test_a_voucher_cancelled_after_its_scan_is_still_fulfilled_when_the_points_allow(app, stocked):
    with app.app_context():
        voucher = reserve(stocked, soap=2)
        taken = scan(voucher, scanned_at=utcnow() - timedelta(minutes=1))
        vouchers.cancel_voucher(person(stocked, "resident"), voucher.id)
        assert outcome(send(stocked, [taken])) == [("fulfilled", None)]
        db.session.rollback()
        assert db.session.get(Voucher, voucher.id).status == "fulfilled"
        balance = ledger.balance_of(stocked.people["resident"])
        assert (balance.available, balance.held) == (RESIDENT_POINTS - 60, 0)
        row = db.session.get(Stock, (stocked.shops["a"], stocked.rewards["soap"]))
        assert (row.on_hand, row.reserved) == (8, 0)
        assert ledger.verify_ledger() == []


def test_a_voucher_expired_after_its_scan_whose_points_are_spent_meanwhile_is_a_conflict_kept_for_an_admin(
    app, stocked
):
    client = app.test_client()
    with app.app_context():
        now = utcnow()
        voucher = reserve(stocked, soap=10, now=now - timedelta(days=2), ttl=timedelta(days=1))
        taken = scan(voucher, scanned_at=voucher.expires_at - timedelta(minutes=5))
        vouchers.expire_vouchers()
        everything = ledger.balance_of(stocked.people["resident"]).available
        reserve(stocked, soap=1)  # spends meanwhile…
        reserve_at_shop_a(stocked, stocked.rewards["oil"], 2)
        assert ledger.balance_of(stocked.people["resident"]).available < 300 <= everything
        assert outcome(send(stocked, [taken])) == [("conflict", "insufficient_points")]
        assert outcome(send(stocked, [taken])) == [("conflict", "insufficient_points")]
        db.session.rollback()
        assert db.session.get(Voucher, voucher.id).status == "expired"
        assert ledger.verify_ledger() == []
    listed = client.get(
        f"/api/v1/supermarkets/{stocked.shops['a']}/offline-conflicts", headers=stocked.headers["admin"]
    )
    assert listed.status_code == 200
    conflict = listed.get_json()["items"][0]
    assert (conflict["voucher_id"], conflict["reason"], conflict["scan_id"]) == (
        voucher.id,
        "insufficient_points",
        taken["scan_id"],
    )
    assert (
        client.get(
            f"/api/v1/supermarkets/{stocked.shops['a']}/offline-conflicts", headers=stocked.headers["clerk"]
        ).status_code
        == 403
    )
    resolved = client.post(
        f"/api/v1/offline-conflicts/{conflict['id']}/resolve",
        json={"note": "居民补交积分"},
        headers=stocked.headers["admin"],
    )
    assert resolved.status_code == 200 and resolved.get_json()["resolution"] == "居民补交积分"
    assert (
        client.get(
            f"/api/v1/supermarkets/{stocked.shops['a']}/offline-conflicts", headers=stocked.headers["admin"]
        ).get_json()["total"]
        == 0
    )


def test_scans_after_a_cancellation_or_expiry_are_conflicts(app, stocked):
    with app.app_context():
        cancelled = reserve(stocked)
        vouchers.cancel_voucher(person(stocked, "resident"), cancelled.id)
        overdue = reserve(stocked, now=utcnow() - timedelta(days=2), ttl=timedelta(days=1))
        assert outcome(send(stocked, [scan(cancelled, scanned_at=utcnow()), scan(overdue)])) == [
            ("conflict", "invalid_state"),
            ("conflict", "expired"),
        ]


def test_forged_foreign_future_and_stale_scans_are_rejected(app, stocked):
    with app.app_context():
        voucher = reserve(stocked)
        payload = vouchers.voucher_payload(voucher, BASE)
        forged = payload[:-3] + ("AAA" if not payload.endswith("AAA") else "BBB")
        other = reserve(stocked)
        results = send(
            stocked,
            [
                scan(voucher, code=forged),
                scan(voucher, code=vouchers.voucher_payload(other, BASE)),  # another voucher's code
                scan(voucher, scanned_at=utcnow() + timedelta(hours=1)),
                scan(voucher, scanned_at=utcnow() - timedelta(days=8)),
            ],
        )
        assert outcome(results) == [
            ("rejected", "invalid_code"),
            ("rejected", "invalid_code"),
            ("rejected", "validation_error"),
            ("rejected", "validation_error"),
        ]
        db.session.rollback()
        assert db.session.get(Voucher, voucher.id).status == "reserved"
        # the same scan sent to another shop's counter (its admin) is refused: not their voucher
        assert outcome(
            offline.record_offline_fulfilments(
                person(stocked, "global_admin"), stocked.shops["b"], [scan(voucher)]
            )
        ) == [("rejected", "wrong_supermarket")]


def test_the_api_refuses_a_malformed_batch_whole(app, stocked):
    client = app.test_client()
    url = f"/api/v1/supermarkets/{stocked.shops['a']}/offline-fulfilments"
    good = {
        "scan_id": str(uuid.uuid4()),
        "voucher_id": 1,
        "code": "ABCDEFGH",
        "scanned_at": utcnow().isoformat(),
    }
    for body in (
        {"fulfilments": [{**good, "scan_id": "not-a-uuid"}]},
        {"fulfilments": [{**good, "scanned_at": "2026-12-01T10:00:00"}]},  # no offset
        {"fulfilments": [good] * 501},
    ):
        answer = client.post(url, json=body, headers=stocked.headers["clerk"])
        assert (answer.status_code, answer.get_json()["code"]) == (422, "validation_error")
    answer = client.post(url, json={"fulfilments": [good]}, headers=stocked.headers["clerk"])
    assert answer.status_code == 200
    assert answer.get_json()["results"] == [
        {"scan_id": good["scan_id"], "result": "rejected", "reason": "invalid_code"}
    ]
    assert client.post(url, json={"fulfilments": []}, headers=stocked.headers["resident"]).status_code == 403


def test_the_same_batch_sent_by_two_devices_at_once_posts_once(app, stocked):
    with app.app_context():
        give_points(stocked.people["villager"], RESIDENT_POINTS)
        batch = [scan(reserve(stocked, key)) for key in ("resident", "villager", "resident")]
        batch.append(scan(db.session.get(Voucher, batch[0]["voucher_id"]), code=None))  # a second scan of one
    answers = []

    def device():
        with app.app_context():
            answers.append(outcome(send(stocked, batch)))

    assert run_at_once(app, [device, device]) == Counter({"ok": 2})
    expected = [("fulfilled", None)] * 3 + [("conflict", "already_fulfilled")]
    assert answers == [expected, expected]
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(OfflineFulfilment)) == 4
        spends = Counter(
            reference
            for (reference,) in db.session.execute(
                sa.text("SELECT reference FROM ledger_transaction WHERE kind = 'spend'")
            )
        )
        assert set(spends.values()) == {1} and len(spends) == 3
        assert ledger.verify_ledger() == []
