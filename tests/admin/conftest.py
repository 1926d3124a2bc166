"""Fixtures for console tests: the standard world, activities, claims, events and stock in both towns."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from core.database import utcnow
from core.extensions import db
from core.identity.models import OrgUnit
from points import contributions, events
from rewards import stock
from tests.factories import make_activity
from tests.rewards.conftest import make_reward, person


@pytest.fixture
def console(app, world):
    """Town A and town B each with a scoped activity, an event, a pending claim and a stocked shop.

    ``world.claims`` names the pending claims: ``resident`` and ``villager`` in town A,
    ``outsider`` in town B; ``world.events`` the events; ``world.rewards`` soap and oil.
    """
    with app.app_context():
        town_a, town_b = (db.session.get(OrgUnit, world.units[key]) for key in ("town_a", "town_b"))
        make_activity("mediation", points=20, category="mediation", name="调解纠纷")
        make_activity("publicity", points=5, daily_cap=20, category="publicity", name="平安宣传")
        make_activity("patrol_a", points=10, unit="hour", category="patrol", org_unit=town_a, name="城关巡逻")
        make_activity("patrol_b", points=10, unit="hour", category="patrol", org_unit=town_b, name="河口巡逻")
        when = utcnow() - timedelta(hours=2)
        world.claims = {
            key: contributions.record_contribution(
                person(world, key), world.people[key], "mediation", Decimal(1), when, note=f"{key} 调解"
            ).id
            for key in ("resident", "villager", "outsider")
        }
        start = utcnow() - timedelta(hours=1)
        world.events = {
            "a": events.create_event(
                person(world, "organiser"),
                "城关夜巡",
                "patrol_a",
                world.units["town_a"],
                start,
                start + timedelta(hours=3),
            ).id,
            "b": events.create_event(
                person(world, "global_admin"),
                "河口夜巡",
                "patrol_b",
                world.units["town_b"],
                start,
                start + timedelta(hours=3),
            ).id,
        }
        world.rewards = {"soap": make_reward("肥皂", 30), "oil": make_reward("食用油", 100)}
        admin = person(world, "global_admin")
        stock.receive_stock(admin, world.shops["a"], world.rewards["soap"], 10)
        stock.receive_stock(admin, world.shops["a"], world.rewards["oil"], 3)
        stock.receive_stock(admin, world.shops["b"], world.rewards["soap"], 2)
    return world
