"""A micro-wish on real phones, in Chromium: a resident posts it from the phone, a volunteer nearby takes
it and marks it done, the resident confirms with a rating, and the volunteer is paid once."""

from __future__ import annotations

import re
from datetime import timedelta

from core.database import utcnow
from tests.browser.conftest import new_phone, sign_in
from tests.factories import PASSWORD

TITLE = "帮忙修自行车"


def balance(tab, base: str, headers: dict) -> int:
    response = tab.request.get(base + "/api/v1/me", headers=headers)
    assert response.ok, response.status
    return response.json()["balance"]["available"]


def test_a_resident_posts_a_wish_and_a_volunteer_completes_it(browser, live_scene):
    base, scene, _app = live_scene
    world = scene.world
    resident = new_phone(browser, 360).new_page()
    volunteer = new_phone(browser, 360).new_page()
    sign_in(resident, base, world.phones["villager"], PASSWORD)
    sign_in(volunteer, base, world.phones["neighbour"], PASSWORD)
    before = balance(volunteer, base, world.headers["neighbour"])

    # 居民点单: the resident posts the wish from the phone (large type, no photo).
    resident.goto(base + "/wishes/new")
    resident.get_by_label("您需要什么帮助？").fill(TITLE)
    resident.get_by_label("详细说明：地点、时间，以及帮忙的人需要知道的事").fill("车链掉了，放在楼下车棚")
    resident.get_by_role("button", name="发布我的心愿").click()
    resident.wait_for_url(re.compile(r".*/wishes/\d+$"))
    wish_id = int(resident.url.rsplit("/", 1)[1])
    assert resident.locator("#wish-state").get_attribute("data-status") == "submitted"

    # 网格交单 and 共同体下单 through the API: the grid worker vets it, the organiser publishes it.
    due = (utcnow() + timedelta(days=3)).isoformat()
    for who, step, body in (
        ("grid_worker", "vet", {"decision": "accept"}),
        ("organiser", "publish", {"points": 30, "due_at": due}),
    ):
        answer = volunteer.request.post(
            f"{base}/api/v1/wishes/{wish_id}/{step}", data=body, headers=world.headers[who]
        )
        assert answer.ok, (step, answer.status, answer.text())

    # 成员认领接单: the volunteer finds it among the open wishes near them, takes it, and does it.
    volunteer.goto(base + "/wishes")
    volunteer.get_by_role("link", name=TITLE).click()
    volunteer.wait_for_url(base + f"/wishes/{wish_id}")
    volunteer.get_by_role("button", name="我来帮忙：认领这个心愿").click()
    volunteer.locator("#wish-state[data-status=taken]").wait_for()
    volunteer.get_by_label("您做了什么？").fill("装好了车链，打了气")
    volunteer.get_by_role("button", name="标记为已完成").click()
    volunteer.locator("#wish-state[data-status=done]").wait_for()

    # The resident confirms with a rating; the volunteer earns the wish's points, once.
    resident.goto(base + f"/wishes/{wish_id}")
    assert "装好了车链，打了气" in resident.locator("main").inner_text()
    resident.get_by_label("4 · 满意").check()
    resident.get_by_role("button", name="确认已完成").dblclick()
    resident.locator("#wish-state[data-status=completed]").wait_for()
    assert resident.locator("[aria-label='4 星（满 5 星）']").count() == 1
    assert balance(volunteer, base, world.headers["neighbour"]) == before + 30
    for tab in (resident, volunteer):
        assert tab.evaluate("document.documentElement.scrollWidth") <= 360
        tab.context.close()
