"""Unit costs and monthly settlements: costs in force at each fulfilment, drafts, confirmation,
late fulfilments as adjustments, order of months — and a brute-force check by hypothesis."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from core.audit import AuditEntry
from core.clock import SHANGHAI
from core.database import begin_writing
from core.errors import AppError
from core.extensions import db
from core.identity.models import Member, OrgUnit
from rewards import services, settlements, vouchers
from rewards.models import RewardCost, SettledVoucher, Settlement, Voucher, VoucherItem
from tests.factories import make_supermarket
from tests.rewards.conftest import make_reward, person, reserve_at_shop_a

UTC = UTC
#: Three finished months in Shanghai time: 2026-08, 2026-09, 2026-10.
MONTHS = ("2026-08", "2026-09", "2026-10")
NOW = datetime(2026, 11, 15, 4, tzinfo=UTC)


def at(month: str, day: int, hour: int = 10) -> datetime:
    """A moment in a month, Shanghai time."""
    year, number = map(int, month.split("-"))
    return datetime(year, number, day, hour, tzinfo=SHANGHAI).astimezone(UTC)


_codes = itertools.count(1)


def handed_over(shop_id: int, member_id: int, lines: list[tuple[int, int]], when: datetime) -> int:
    """A voucher fulfilled at a moment, as any path leaves one (online, offline sync, counter sale)."""
    begin_writing(db.session)
    voucher = Voucher(
        member_id=member_id,
        supermarket_id=shop_id,
        short_code=f"T{next(_codes):07d}",
        points=sum(quantity for _reward, quantity in lines),
        status="fulfilled",
        created_at=when,
        expires_at=when + timedelta(days=7),
        fulfilled_at=when,
        items=[
            VoucherItem(reward_id=reward_id, quantity=quantity, points_each=1)
            for reward_id, quantity in lines
        ],
    )
    db.session.add(voucher)
    db.session.commit()
    return voucher.id


def cost_change(reward_id: int, fen: int, when: datetime) -> None:
    """A unit cost in force from a moment."""
    begin_writing(db.session)
    db.session.add(RewardCost(reward_id=reward_id, unit_cost_fen=fen, effective_from=when))
    db.session.commit()


def lines_of(view) -> list[tuple]:
    return [
        (line.reward_name, line.quantity, line.unit_cost_fen, line.amount_fen, line.adjusts_month)
        for line in view.lines
    ]


# --- unit costs ----------------------------------------------------------------------------------


def test_a_reward_carries_its_unit_cost_audited_with_its_history(client, app, world):
    admin = world.headers["global_admin"]
    created = client.post(
        "/api/v1/rewards",
        json={"name": "大米", "points_cost": 100, "per_member_limit": 1, "unit_cost_fen": 3200},
        headers=admin,
    )
    assert created.status_code == 201 and created.get_json()["unit_cost_fen"] == 3200
    reward_id = created.get_json()["id"]
    assert (
        client.patch(f"/api/v1/rewards/{reward_id}", json={"unit_cost_fen": 3350}, headers=admin).get_json()[
            "unit_cost_fen"
        ]
        == 3350
    )
    client.patch(
        f"/api/v1/rewards/{reward_id}", json={"unit_cost_fen": 3350, "name": "大米 5 千克"}, headers=admin
    )
    assert (
        client.get(f"/api/v1/rewards/{reward_id}", headers=world.headers["resident"]).get_json()[
            "unit_cost_fen"
        ]
        is None
    )
    assert (
        client.get(f"/api/v1/rewards/{reward_id}", headers=world.headers["clerk"]).get_json()["unit_cost_fen"]
        == 3350
    )
    for bad in (-1, 1.5, "12", 10_000_001):
        answer = client.patch(f"/api/v1/rewards/{reward_id}", json={"unit_cost_fen": bad}, headers=admin)
        assert answer.status_code == 422 and answer.get_json()["code"] == "validation_error", bad
    with app.app_context():
        assert [cost.unit_cost_fen for cost in services.list_costs(reward_id)] == [3350, 3200]
        changes = [
            entry.after.get("unit_cost_fen")
            for entry in db.session.scalars(
                sa.select(AuditEntry).where(AuditEntry.subject_type == "reward").order_by(AuditEntry.id)
            )
        ]
        assert changes == [3200, 3350, None]


# --- settlements ---------------------------------------------------------------------------------


def test_a_month_is_priced_at_the_cost_in_force_at_each_fulfilment(app, world):
    with app.app_context():
        soap, oil = make_reward("肥皂", 30), make_reward("食用油", 100)
        shop, resident = world.shops["a"], world.people["resident"]
        cost_change(soap, 500, at("2026-09", 1))  # the first cost counts from the start
        cost_change(soap, 600, at("2026-09", 15))
        handed_over(shop, resident, [(soap, 2), (oil, 1)], at("2026-09", 3))
        handed_over(shop, resident, [(soap, 3)], at("2026-09", 20))
        handed_over(shop, resident, [(soap, 1)], at("2026-08", 31, 23))  # Shanghai: still August
        handed_over(world.shops["b"], resident, [(soap, 9)], at("2026-09", 4))  # another supermarket
        clerk = person(world, "clerk")
        view = settlements.read_settlement(clerk, shop, "2026-09", now=NOW)
        assert view.status == "draft" and view.finished
        assert lines_of(view) == [
            ("肥皂", 2, 500, 1000, None),
            ("肥皂", 3, 600, 1800, None),
            ("食用油", 1, 0, 0, None),
        ]
        assert view.total_fen == 2800
        assert settlements.read_settlement(clerk, shop, "2026-8", now=NOW).total_fen == 500


def test_a_confirmed_month_is_frozen_and_a_late_fulfilment_goes_into_the_next_month(app, world):
    with app.app_context():
        soap = make_reward("肥皂", 30)
        shop, resident = world.shops["a"], world.people["resident"]
        cost_change(soap, 500, at("2026-08", 1))
        handed_over(shop, resident, [(soap, 2)], at("2026-09", 3))
        admin = person(world, "admin")
        confirmed = settlements.confirm_settlement(admin, shop, "2026-09", now=NOW)
        assert (confirmed.status, confirmed.total_fen, confirmed.confirmed_by) == (
            "confirmed",
            1000,
            "周管理",
        )
        cost_change(soap, 900, at("2026-09", 2))  # a correction to history changes nothing confirmed
        handed_over(shop, resident, [(soap, 1)], at("2026-09", 28))  # synced from the offline counter late
        handed_over(shop, resident, [(soap, 4)], at("2026-10", 5))
        frozen = settlements.read_settlement(admin, shop, "2026-09", now=NOW)
        assert lines_of(frozen) == [("肥皂", 2, 500, 1000, None)]
        october = settlements.read_settlement(admin, shop, "2026-10", now=NOW)
        assert lines_of(october) == [("肥皂", 4, 900, 3600, None), ("肥皂", 1, 900, 900, "2026-09")]
        settlements.confirm_settlement(admin, shop, "2026-10", now=NOW)
        assert db.session.scalar(sa.select(sa.func.count()).select_from(SettledVoucher)) == 3


def test_a_month_is_confirmed_once_after_it_ends_and_after_the_months_before_it(client, app, world):
    with app.app_context():
        soap = make_reward("肥皂", 30)
        shop, resident = world.shops["a"], world.people["resident"]
        handed_over(shop, resident, [(soap, 1)], at("2026-08", 3))
        handed_over(shop, resident, [(soap, 1)], at("2026-10", 3))
        admin = person(world, "admin")
        refusals = []
        for month in ("2026-11", "2026-10"):
            with pytest.raises(AppError) as refused:
                settlements.confirm_settlement(admin, shop, month, now=NOW)
            db.session.rollback()
            refusals.append((refused.value.status, refused.value.code, refused.value.errors["month"][0]))
        assert refusals == [
            (409, "invalid_state", "2026-11 has not ended"),
            (409, "invalid_state", "2026-08 is not confirmed yet"),
        ]
        for month in MONTHS:
            settlements.confirm_settlement(admin, shop, month, now=NOW)
    url = f"/api/v1/supermarkets/{world.shops['a']}/settlements/2026-10"
    again = client.post(url + "/confirm", headers=world.headers["admin"])
    assert again.status_code == 409 and again.get_json()["code"] == "invalid_state"
    body = client.get(url, headers=world.headers["clerk"]).get_json()
    assert body["status"] == "confirmed" and body["total_fen"] == 0
    assert body["lines"] == [
        {
            "reward": {"id": body["lines"][0]["reward"]["id"], "name": "肥皂"},
            "quantity": 1,
            "unit_cost_fen": 0,
            "amount_fen": 0,
            "adjusts_month": None,
        }
    ]
    assert client.get(url.replace("2026-10", "2026-13"), headers=world.headers["admin"]).status_code == 422
    assert (
        client.get(
            f"/api/v1/supermarkets/{world.shops['b']}/settlements/2026-10", headers=world.headers["clerk"]
        ).status_code
        == 403
    )


def test_the_api_confirms_a_finished_month_once_even_when_sent_twice(client, app, world):
    with app.app_context():
        soap = make_reward("肥皂", 30)
        cost_change(soap, 250, at("2026-01", 1))
        last_month = datetime.now(UTC).astimezone(SHANGHAI).replace(day=1) - timedelta(days=1)
        handed_over(
            world.shops["a"],
            world.people["resident"],
            [(soap, 3)],
            last_month.replace(day=10, hour=10).astimezone(UTC),
        )
    month = last_month.strftime("%Y-%m")
    url = f"/api/v1/supermarkets/{world.shops['a']}/settlements/{month}/confirm"
    headers = {**world.headers["admin"], "Idempotency-Key": "confirm-once"}
    first, second = client.post(url, headers=headers), client.post(url, headers=headers)
    assert first.status_code == second.status_code == 200
    assert first.get_json() == second.get_json() and first.get_json()["total_fen"] == 750
    assert client.post(url, headers=world.headers["clerk"]).status_code == 403
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Settlement)) == 1


def test_a_voucher_fulfilled_at_the_counter_is_counted_like_any(app, stocked):
    world = stocked
    with app.app_context():
        soap = world.rewards["soap"]
        services.update_reward(person(world, "global_admin"), soap, {"unit_cost_fen": 450})
        voucher = reserve_at_shop_a(world, soap, 2)
        vouchers.fulfil_voucher(person(world, "clerk"), voucher.id, short_code=voucher.short_code)
        month = settlements.month_of(voucher.fulfilled_at)
        view = settlements.read_settlement(person(world, "clerk"), world.shops["a"], month)
        assert lines_of(view) == [("肥皂", 2, 450, 900, None)] and not view.finished


# --- hypothesis: totals equal a brute-force sum over fulfilments -----------------------------------


def brute_cost(changes: list[tuple[datetime, int]], moment: datetime) -> int:
    """The cost in force at a moment, by hand: the latest change at or before it, else the first, else 0."""
    ordered = sorted(changes, key=lambda change: change[0])
    before = [fen for when, fen in ordered if when <= moment]
    return before[-1] if before else (ordered[0][1] if ordered else 0)


moments = st.builds(
    lambda month, day, hour: at(month, day, hour),
    st.sampled_from(MONTHS),
    st.integers(1, 28),
    st.integers(0, 23),
)
costs = st.lists(st.tuples(moments, st.integers(0, 2), st.integers(0, 5000)), max_size=6)
events = st.lists(
    st.one_of(
        st.tuples(
            st.just("fulfil"),
            moments,
            st.lists(st.tuples(st.integers(0, 2), st.integers(1, 5)), min_size=1, max_size=3),
        ),
        st.tuples(st.just("confirm")),
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=25, deadline=None)
@given(costs=costs, events=events)
def test_settlement_totals_equal_a_brute_force_sum_over_fulfilments(app, world, costs, events):
    """Costs change at any moments; goods are handed over in any order, some after their month was
    confirmed; months are confirmed in turn. Each confirmed total is exactly what was handed over
    and not yet settled, at the cost in force then; what is still open adds up to the rest."""
    with app.app_context():
        admin = db.session.get(Member, world.people["global_admin"])
        shop = make_supermarket("测试超市", db.session.get(OrgUnit, world.units["town_a"])).id
        rewards = [make_reward(f"商品{index}", 10) for index in range(3)]
        changes: dict[int, list] = {reward: [] for reward in rewards}
        for when, index, fen in costs:
            cost_change(rewards[index], fen, when)
            changes[rewards[index]].append((when, fen))

        def worth(handed: list[tuple[datetime, int, int]]) -> int:
            return sum(units * brute_cost(changes[reward], when) for when, reward, units in handed)

        everything, unsettled, confirmed = [], [], 0
        for event in events:
            if event[0] == "fulfil":
                _kind, when, lines = event
                merged: dict[int, int] = {}
                for index, units in lines:
                    merged[rewards[index]] = merged.get(rewards[index], 0) + units
                handed_over(shop, world.people["resident"], list(merged.items()), when)
                everything += [(when, reward, units) for reward, units in merged.items()]
                unsettled += [(when, reward, units) for reward, units in merged.items()]
            elif confirmed < len(MONTHS):
                month = MONTHS[confirmed]
                view = settlements.confirm_settlement(admin, shop, month, now=NOW)
                due = [item for item in unsettled if settlements.month_of(item[0]) <= month]
                assert view.total_fen == worth(due)
                assert sum(line.amount_fen for line in view.lines if line.adjusts_month is None) == worth(
                    [item for item in due if settlements.month_of(item[0]) == month]
                )
                unsettled = [item for item in unsettled if item not in due]
                confirmed += 1
        views = [settlements.read_settlement(admin, shop, month, now=NOW) for month in (*MONTHS, "2026-11")]
        frozen = [view for view in views if view.status == "confirmed"]
        drafts = [view for view in views if view.status == "draft"]
        assert len(frozen) == confirmed
        assert sum(view.total_fen for view in drafts) == worth(unsettled)
        assert sum(view.total_fen for view in frozen) + sum(view.total_fen for view in drafts) == worth(
            everything
        )
        if confirmed == 0:
            assert [view.total_fen for view in views[:3]] == [
                worth([item for item in everything if settlements.month_of(item[0]) == month])
                for month in MONTHS
            ]


# --- the demo ------------------------------------------------------------------------------------


def test_the_demo_shows_a_confirmed_settlement_for_last_month_once(app, runner):
    from core.clock import last_month

    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0, first.output
    assert f"for {last_month()}:" in first.output and "confirmed" in first.output
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    with app.app_context():
        confirmed = db.session.scalars(sa.select(Settlement)).all()
        assert [row.month for row in confirmed] == [last_month()]
        assert confirmed[0].total_fen > 0
        assert confirmed[0].total_fen == sum(line.amount_fen for line in confirmed[0].lines)
    assert runner.invoke(args=["ledger", "verify"]).exit_code == 0
