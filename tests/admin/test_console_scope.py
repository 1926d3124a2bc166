"""An organiser of one town sees nothing of another: no rows, and 403/404 on its objects."""

import re

from tests.support.pages import csrf_token, signed_in


def test_lists_show_nothing_of_another_town(app, console):
    organiser = signed_in(app, console, "organiser")
    review = organiser.get("/admin/review").get_data(as_text=True)
    assert "张居民" in review and "孙外镇" not in review
    members = organiser.get("/admin/members?q=").get_data(as_text=True)
    assert "张居民" in members and "孙外镇" not in members and "吴网格" not in members
    assert "孙外镇" not in organiser.get("/admin/members?q=孙").get_data(as_text=True)
    activities = organiser.get("/admin/activities").get_data(as_text=True)
    assert "城关巡逻" in activities and "河口巡逻" not in activities
    events = organiser.get("/admin/events").get_data(as_text=True)
    assert "城关夜巡" in events and "河口夜巡" not in events
    new_event = organiser.get("/admin/events/new").get_data(as_text=True)
    assert "河口" not in new_event
    assert "河口一网格" not in organiser.get("/admin/members/new").get_data(as_text=True)


def test_the_dashboard_counts_only_the_organisers_town(app, console):
    organiser = signed_in(app, console, "organiser")
    page = organiser.get("/admin/dashboard").get_data(as_text=True)
    assert '<dd class="pending">2</dd>' in page  # resident and villager; not the outsider in town B
    global_admin = signed_in(app, console, "global_admin").get("/admin/dashboard").get_data(as_text=True)
    assert '<dd class="pending">3</dd>' in global_admin


def test_every_page_and_action_on_another_towns_objects_is_refused(app, console):
    organiser = signed_in(app, console, "organiser")
    token = csrf_token(organiser.get("/admin/members/new").get_data(as_text=True))
    outsider, event_b, shop_b = console.people["outsider"], console.events["b"], console.shops["b"]
    gets = [
        f"/admin/members/{outsider}",
        f"/admin/events/{event_b}",
        "/admin/activities/patrol_b",
        f"/admin/supermarkets/{shop_b}",
        f"/admin/supermarkets/{shop_b}/vouchers",
    ]
    for path in gets:
        assert organiser.get(path).status_code in (403, 404), path
    posts = {
        f"/admin/members/{outsider}": {
            "name": "改名",
            "phone": console.phones["outsider"],
            "org_unit": str(console.units["grid_b"]),
        },
        f"/admin/members/{outsider}/status": {"status": "suspended"},
        f"/admin/members/{outsider}/password": {"password": "a new password"},
        f"/admin/members/{outsider}/roles": {"role": "grid_worker", "target": f"u:{console.units['grid_b']}"},
        f"/admin/events/{event_b}/close": {},
        "/admin/activities/patrol_b": {"name": "改", "category": "patrol", "points": "99", "unit": "hour"},
        "/admin/activities/patrol_b/active": {},
        f"/admin/supermarkets/{shop_b}/receive": {"reward": str(console.rewards["soap"]), "quantity": "5"},
        f"/admin/supermarkets/{shop_b}/stock/{console.rewards['soap']}/correct": {
            "quantity": "0",
            "reason": "盘点",
        },
    }
    for path, data in posts.items():
        assert organiser.post(path, data={"csrf_token": token, **data}).status_code in (403, 404), path
    new_member = organiser.post(
        "/admin/members/new",
        data={
            "csrf_token": token,
            "name": "外人",
            "phone": "13912345678",
            "password": "long enough password",
            "org_unit": str(console.units["grid_b"]),
        },
    )
    assert new_member.status_code == 422  # grid B is no choice of theirs
    outside_claim = organiser.post(
        "/admin/review",
        data={"csrf_token": token, "decision": "approve", "claim": str(console.claims["outsider"])},
    )
    assert f'id="claim-{console.claims["outsider"]}"' not in outside_claim.get_data(as_text=True)
    claim = (
        app.test_client()
        .get(f"/api/v1/contributions/{console.claims['outsider']}", headers=console.headers["global_admin"])
        .get_json()
    )
    assert claim["status"] == "pending"
    # nothing of town B changed
    admin = signed_in(app, console, "global_admin")
    assert "孙外镇" in admin.get("/admin/review").get_data(as_text=True)
    assert "河口巡逻" in admin.get("/admin/activities").get_data(as_text=True)
    assert "已暂停" not in admin.get(f"/admin/members/{outsider}").get_data(as_text=True)


def test_a_town_administrator_cannot_touch_another_towns_supermarket(app, console):
    admin = signed_in(app, console, "admin")
    shop_b, soap = console.shops["b"], console.rewards["soap"]
    listing = admin.get("/admin/supermarkets").get_data(as_text=True)
    assert "城关镇平安超市" in listing and "河口镇平安超市" not in listing
    token = csrf_token(admin.get(f"/admin/supermarkets/{console.shops['a']}").get_data(as_text=True))
    assert admin.get(f"/admin/supermarkets/{shop_b}").status_code == 403
    assert admin.get(f"/admin/supermarkets/{shop_b}/vouchers").status_code == 403
    assert (
        admin.post(
            f"/admin/supermarkets/{shop_b}/receive",
            data={"csrf_token": token, "reward": str(soap), "quantity": "5"},
        ).status_code
        == 403
    )
    assert (
        admin.post(
            f"/admin/supermarkets/{shop_b}/stock/{soap}/correct",
            data={"csrf_token": token, "quantity": "0", "reason": "盘点"},
        ).status_code
        == 403
    )
    assert admin.get("/admin/supermarkets/9999").status_code == 404
    other = (
        signed_in(app, console, "global_admin").get(f"/admin/supermarkets/{shop_b}").get_data(as_text=True)
    )
    assert re.search(rf'<tr id="stock-{soap}">.*?>2<', other, re.S)
