"""Stock: receipts add, stocktakes set the count (never below what is reserved), history tells all."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from core.audit import AuditEntry
from core.errors import AppError
from core.extensions import db
from rewards import services, stock, vouchers
from tests.rewards.conftest import person, reserve_at_shop_a, state


def test_a_stocktake_below_what_is_reserved_is_refused(app, stocked):
    with app.app_context():
        soap = stocked.rewards["soap"]
        reserve_at_shop_a(stocked, soap, 4)
        before = state()
        with pytest.raises(AppError) as caught:
            stock.correct_stock(person(stocked, "clerk"), stocked.shops["a"], soap, 3, "盘点")
        assert (caught.value.status, caught.value.code) == (409, "invalid_state")
        assert "quantity" in caught.value.errors
        assert state() == before
        row = stock.correct_stock(person(stocked, "clerk"), stocked.shops["a"], soap, 4, "盘点少了 6 件")
        assert (row.on_hand, row.reserved, row.available) == (4, 4, 0)


def test_stock_history_lists_every_movement_with_who_and_why(app, stocked):
    with app.app_context():
        soap, shop = stocked.rewards["soap"], stocked.shops["a"]
        clerk = person(stocked, "clerk")
        stock.receive_stock(clerk, shop, soap, 5, reason="到货")
        stock.correct_stock(clerk, shop, soap, 12, "破损 3 件")
        vouchers.reserve_voucher(person(stocked, "resident"), shop, [{"reward_id": soap, "quantity": 2}])
        page = stock.stock_history(clerk, shop, soap, 1, 20)
        kinds = [
            (m.kind, m.on_hand_change, m.reserved_change, m.on_hand_after, m.reserved_after, m.reason)
            for m in page["items"]
        ]
        assert kinds == [
            ("reserved", 0, 2, 12, 2, None),
            ("corrected", -3, 0, 12, 0, "破损 3 件"),
            ("received", 5, 0, 15, 0, "到货"),
            ("received", 10, 0, 10, 0, None),
        ]
        assert all(m.actor_id is not None for m in page["items"])
        actions = db.session.scalars(sa.select(AuditEntry.action).where(AuditEntry.action.like("stock.%")))
        assert sorted(actions) == ["stock.correct", "stock.receive", "stock.receive", "stock.receive"]


def test_only_the_supermarkets_clerks_and_admins_in_scope_handle_stock(app, stocked):
    with app.app_context():
        soap = stocked.rewards["soap"]
        for key in ("resident", "organiser"):
            with pytest.raises(AppError) as caught:
                stock.receive_stock(person(stocked, key), stocked.shops["a"], soap, 1)
            assert caught.value.status == 403
        with pytest.raises(AppError):
            stock.receive_stock(person(stocked, "clerk"), stocked.shops["b"], soap, 1)
        db.session.rollback()
        assert stock.receive_stock(person(stocked, "admin"), stocked.shops["a"], soap, 1).on_hand == 11


def test_the_catalogue_shows_active_rewards_with_available_units(app, stocked):
    with app.app_context():
        reserve_at_shop_a(stocked, stocked.rewards["oil"])
        items = {item["name"]: item["available"] for item in services.catalogue(stocked.shops["a"])}
        assert items == {"肥皂": 10, "食用油": 2}
        services.update_reward(person(stocked, "admin"), stocked.rewards["soap"], {"active": False})
        assert [item["name"] for item in services.catalogue(stocked.shops["a"])] == ["食用油"]
        assert services.catalogue(stocked.shops["b"]) == []


def test_stock_and_rewards_through_the_api(client, stocked):
    admin, clerk = stocked.headers["admin"], stocked.headers["clerk"]
    created = client.post(
        "/api/v1/rewards", json={"name": "大米", "points_cost": 200, "per_member_limit": 1}, headers=admin
    )
    assert created.status_code == 201, created.json
    rice = created.json["id"]
    assert (
        client.post(
            "/api/v1/rewards", json={"name": "x", "points_cost": 1, "per_member_limit": None}, headers=clerk
        ).status_code
        == 403
    )
    assert (
        client.patch(f"/api/v1/rewards/{rice}", json={"points_cost": 180}, headers=admin).json["points_cost"]
        == 180
    )
    url = f"/api/v1/supermarkets/{stocked.shops['a']}/stock/{rice}"
    received = client.post(
        url + "/receipts", json={"quantity": 5}, headers={**clerk, "Idempotency-Key": "r1"}
    )
    assert received.status_code == 201 and received.json["on_hand"] == 5
    again = client.post(url + "/receipts", json={"quantity": 5}, headers={**clerk, "Idempotency-Key": "r1"})
    assert again.json["on_hand"] == 5
    counted = client.put(url, json={"quantity": 4, "reason": "盘点"}, headers=clerk)
    assert counted.status_code == 200 and counted.json["available"] == 4
    assert client.put(url, json={"quantity": 4}, headers=clerk).status_code == 422
    history = client.get(f"/api/v1/supermarkets/{stocked.shops['a']}/stock", headers=clerk)
    assert history.status_code == 200 and history.json["total"] == 4
    assert (
        client.get(
            f"/api/v1/supermarkets/{stocked.shops['a']}/stock", headers=stocked.headers["resident"]
        ).status_code
        == 403
    )
    catalogue = client.get(
        f"/api/v1/supermarkets/{stocked.shops['a']}/catalogue", headers=stocked.headers["resident"]
    )
    assert {item["name"]: item["available"] for item in catalogue.json["items"]}["大米"] == 4
    assert client.get("/api/v1/rewards", headers=stocked.headers["resident"]).json["total"] == 3
