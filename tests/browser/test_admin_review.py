"""The console's review queue in Chromium: an organiser ticks two claims and approves them at once."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from tests.browser.conftest import console_errors, serve


def _world_with_claims():
    """The standard world, an activity and three pending claims (two get approved in the test)."""
    from core.database import utcnow
    from core.extensions import db
    from core.identity.models import Member
    from points import contributions
    from tests.factories import build_world, make_activity

    world = build_world()
    make_activity("mediation", points=20, category="mediation", name="调解纠纷")
    world.claims = {}
    for key in ("resident", "villager", "neighbour"):
        member = db.session.get(Member, world.people[key])
        world.claims[key] = contributions.record_contribution(
            member, member.id, "mediation", Decimal(1), utcnow() - timedelta(hours=1)
        ).id
    return world


@pytest.fixture
def live_console(tmp_path, sqlite_template):
    """The app with three pending claims in town A, served on loopback."""
    with serve(tmp_path, sqlite_template, _world_with_claims) as (url, world):
        yield url, world


def test_an_organiser_approves_two_claims_at_once_and_sees_the_balances(page, live_console):
    base, world = live_console
    errors = console_errors(page)
    page.goto(base + "/admin/review")
    page.wait_for_url(lambda url: "/login" in url)
    page.get_by_label("手机号").fill(world.phones["organiser"])
    page.get_by_label("密码").fill("correct horse")
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(base + "/admin/review")
    assert page.locator("h1").inner_text() == "审核队列"
    assert page.locator("tbody tr").count() == 3

    page.get_by_label("选择 张居民 的申报").check()
    page.get_by_label("选择 钱村民 的申报").check()
    page.get_by_label("处理方式").select_option("approve")
    page.get_by_role("button", name="处理所勾选的申报").click()

    status = page.get_by_role("status")
    status.wait_for()
    assert "已处理：2 条。" in status.inner_text()
    assert "张居民：+20 积分，余额 20。" in status.inner_text()
    assert "钱村民：+20 积分，余额 20。" in status.inner_text()
    assert page.locator(f"#claim-{world.claims['resident']}").count() == 0
    assert page.locator(f"#claim-{world.claims['villager']}").count() == 0
    assert page.locator(f"#claim-{world.claims['neighbour']}").count() == 1

    page.goto(f"{base}/admin/members/{world.people['resident']}")
    assert page.locator("dd.available").inner_text() == "20"
    assert errors == [], f"console errors (CSP, script or a missing asset): {errors}"
