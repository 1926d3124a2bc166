"""Fixtures for points tests: the standard world plus a few activities."""

import pytest

from tests.factories import make_activity


@pytest.fixture
def activities(app, world):
    """Activities: per item with and without review and with a daily cap; per hour."""
    with app.app_context():
        make_activity("publicity", points=5, daily_cap=20, category="publicity")
        make_activity("mediation", points=20, category="mediation")
        make_activity("patrol", points=10, unit="hour", daily_cap=40)
        make_activity("daily_checkin", points=1, daily_cap=1, needs_review=False, category="daily_checkin")
    return world
