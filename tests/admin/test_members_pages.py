"""Members in the console: search, create, edit and move grid, suspend, reset password, roles."""

import re

from tests.factories import PASSWORD
from tests.support.pages import csrf_token, signed_in


def sign_in_status(app, phone, password):
    browser = app.test_client()
    token = csrf_token(browser.get("/login").get_data(as_text=True))
    return browser.post(
        "/login", data={"csrf_token": token, "phone": phone, "password": password}
    ).status_code


def member_form(console, name: str, phone: str, grid: str, **fields) -> dict:
    """The member form's fields: a name, a phone and one of the console world's grids."""
    return {"name": name, "phone": phone, "org_unit": str(console.units[grid]), **fields}


def test_search_finds_members_by_name_or_phone_and_paginates(app, console):
    organiser = signed_in(app, console, "organiser")
    by_name = organiser.get("/admin/members?q=张").get_data(as_text=True)
    assert "张居民" in by_name and "钱村民" not in by_name
    by_phone = organiser.get(f"/admin/members?q={console.phones['villager'][-6:]}").get_data(as_text=True)
    assert "钱村民" in by_phone and "张居民" not in by_phone
    token = csrf_token(organiser.get("/admin/members/new").get_data(as_text=True))
    for index in range(21):
        assert (
            organiser.post(
                "/admin/members/new",
                data={
                    "csrf_token": token,
                    **member_form(
                        console,
                        f"新居民{index}",
                        f"1371234{index:04d}",
                        "grid_a2",
                        password="long enough password",
                    ),
                },
            ).status_code
            == 303
        )
    first = organiser.get("/admin/members?q=新居民").get_data(as_text=True)
    assert 'rel="next"' in first and "q=%E6%96%B0%E5%B1%85%E6%B0%91" in first
    second = organiser.get("/admin/members?q=新居民&page=2").get_data(as_text=True)
    assert len(re.findall(r'href="/admin/members/\d+"', second)) == 1


def test_a_refused_new_member_keeps_what_was_typed(app, console):
    organiser = signed_in(app, console, "organiser")
    token = csrf_token(organiser.get("/admin/members/new").get_data(as_text=True))
    taken = organiser.post(
        "/admin/members/new",
        data={
            "csrf_token": token,
            **member_form(
                console, "重名人", console.phones["resident"], "grid_a", password="long enough password"
            ),
        },
    )
    assert taken.status_code == 409
    html = taken.get_data(as_text=True)
    assert 'value="重名人"' in html and f'value="{console.phones["resident"]}"' in html
    assert (
        f'selected value="{console.units["grid_a"]}"' in html
        or f'value="{console.units["grid_a"]}" selected' in html
    )
    bad_phone = organiser.post(
        "/admin/members/new",
        data={
            "csrf_token": token,
            **member_form(console, "新人", "12345", "grid_a", password="long enough password"),
        },
    )
    assert bad_phone.status_code == 422 and 'value="12345"' in bad_phone.get_data(as_text=True)


def test_editing_moves_a_member_to_another_grid(app, client, console):
    organiser = signed_in(app, console, "organiser")
    member = console.people["resident"]
    token = csrf_token(organiser.get(f"/admin/members/{member}").get_data(as_text=True))
    moved = organiser.post(
        f"/admin/members/{member}",
        data={"csrf_token": token, **member_form(console, "张居民", console.phones["resident"], "grid_a2")},
    )
    assert moved.status_code == 303
    read = client.get(f"/api/v1/members/{member}", headers=console.headers["organiser"]).get_json()
    assert read["org_unit"]["id"] == console.units["grid_a2"]
    clash = organiser.post(
        f"/admin/members/{member}",
        data={"csrf_token": token, **member_form(console, "张改名", console.phones["villager"], "grid_a2")},
    )
    assert clash.status_code == 409 and 'value="张改名"' in clash.get_data(as_text=True)


def test_suspending_ends_sign_in_and_unsuspending_restores_it(app, console):
    organiser = signed_in(app, console, "organiser")
    member = console.people["resident"]
    token = csrf_token(organiser.get(f"/admin/members/{member}").get_data(as_text=True))
    assert (
        organiser.post(
            f"/admin/members/{member}/status", data={"csrf_token": token, "status": "suspended"}
        ).status_code
        == 303
    )
    assert "已暂停" in organiser.get(f"/admin/members/{member}").get_data(as_text=True)
    assert sign_in_status(app, console.phones["resident"], PASSWORD) == 403
    organiser.post(f"/admin/members/{member}/status", data={"csrf_token": token, "status": "active"})
    assert sign_in_status(app, console.phones["resident"], PASSWORD) == 302


def test_resetting_a_password_lets_the_member_sign_in_with_the_new_one(app, console):
    organiser = signed_in(app, console, "organiser")
    member = console.people["villager"]
    token = csrf_token(organiser.get(f"/admin/members/{member}").get_data(as_text=True))
    short = organiser.post(
        f"/admin/members/{member}/password", data={"csrf_token": token, "password": "short"}
    )
    assert short.status_code == 422
    assert (
        organiser.post(
            f"/admin/members/{member}/password", data={"csrf_token": token, "password": "brand new secret"}
        ).status_code
        == 303
    )
    assert sign_in_status(app, console.phones["villager"], PASSWORD) == 401
    assert sign_in_status(app, console.phones["villager"], "brand new secret") == 302


def test_administrators_grant_and_revoke_roles_and_organisers_cannot(app, client, console):
    member = console.people["villager"]
    organiser = signed_in(app, console, "organiser")
    page = organiser.get(f"/admin/members/{member}").get_data(as_text=True)
    assert '/roles"' not in page
    assert organiser.post(
        f"/admin/members/{member}/roles",
        data={
            "csrf_token": csrf_token(page),
            "role": "grid_worker",
            "target": f"u:{console.units['grid_a']}",
        },
    ).status_code in (403, 422)
    admin = signed_in(app, console, "admin")
    token = csrf_token(admin.get(f"/admin/members/{member}").get_data(as_text=True))
    assert (
        admin.post(
            f"/admin/members/{member}/roles",
            data={"csrf_token": token, "role": "grid_worker", "target": f"u:{console.units['grid_a']}"},
        ).status_code
        == 303
    )
    grants = client.get(f"/api/v1/members/{member}/roles", headers=console.headers["admin"]).get_json()
    grants = grants["items"] if isinstance(grants, dict) else grants
    assert [grant["role"] for grant in grants] == ["grid_worker"]
    twice = admin.post(
        f"/admin/members/{member}/roles",
        data={"csrf_token": token, "role": "grid_worker", "target": f"u:{console.units['grid_a']}"},
    )
    assert twice.status_code == 409
    revoked = admin.post(
        f"/admin/members/{member}/roles/{grants[0]['id']}/revoke", data={"csrf_token": token}
    )
    assert revoked.status_code == 303
    after = client.get(f"/api/v1/members/{member}/roles", headers=console.headers["admin"]).get_json()
    assert (after["items"] if isinstance(after, dict) else after) == []
