"""The dashboard: this month's figures and bars for the organiser's town, and month boundaries in Shanghai."""

import re
from datetime import UTC, datetime

from core.clock import bounds_of
from points import contributions
from tests.rewards.conftest import person
from tests.support.pages import INLINE_SCRIPT, signed_in


def test_the_dashboard_shows_this_months_points_members_and_categories(app, console):
    with app.app_context():
        for key in ("resident", "villager", "outsider"):
            contributions.approve_contribution(person(console, "global_admin"), console.claims[key])
    page = signed_in(app, console, "organiser").get("/admin/dashboard").get_data(as_text=True)
    this_month = page.split('id="month-2"')[0]
    assert '<dd class="issued">40</dd>' in this_month  # the outsider's 20 are town B's
    assert '<dd class="active">2</dd>' in this_month
    assert '<dd class="pending">0</dd>' in page
    chart = re.findall(r'<svg class="chart".*?</svg>', page, re.S)[-1]
    assert (
        "调解矛盾纠纷" in chart and re.search(r'<rect class="bar" [^>]*width="(\d+)"', chart).group(1) != "0"
    )
    assert "style=" not in page and not INLINE_SCRIPT.search(page)


def test_months_are_counted_in_shanghai_time():
    start, end = bounds_of("month", datetime(2026, 12, 31, 17, 0, tzinfo=UTC))  # 01:00 on 1 January there
    assert (start.year, start.month, start.day, end.year, end.month) == (2027, 1, 1, 2027, 2)
    start, end = bounds_of("month", datetime(2026, 12, 31, 15, 0, tzinfo=UTC))
    assert (start.month, end.year, end.month, end.day) == (12, 2027, 1, 1)
    assert start.utcoffset().total_seconds() == 8 * 3600
