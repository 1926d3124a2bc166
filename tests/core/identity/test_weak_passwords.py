"""The commonest passwords and blank ones are refused wherever a password is chosen: creating a
member, an organiser's reset, one's own change, the first password of an activation."""

from __future__ import annotations

import pytest

from core.identity.passwords import common_passwords, password_problem
from tests.factories import PASSWORD, next_phone
from tests.support.pages import change_own_password, signed_in

WEAK = [
    "12345678",
    "        ",
    "88888888",
    "Password",
    "QWERTYUI",
    "1qaz2wsx",
    "woaini1314",
    "aaaaaaaaaa",
    "\t\t\t\t\t\t\t\t",
]


@pytest.mark.parametrize("password", WEAK)
def test_the_commonest_blank_and_one_letter_passwords_have_a_problem(password):
    assert password_problem(password) is not None


@pytest.mark.parametrize("password", [PASSWORD, "pingan2026", "我家住在东街一号", "a-good-password"])
def test_ordinary_passwords_will_do(password):
    assert password_problem(password) is None


def test_the_bundled_list_holds_only_passwords_the_length_rule_would_let_through():
    assert len(common_passwords()) > 100 and all(len(password) >= 8 for password in common_passwords())


@pytest.mark.parametrize("password", WEAK[:4])
def test_every_way_of_choosing_a_password_refuses_a_weak_one(client, world, password):
    created = client.post(
        "/api/v1/members",
        headers=world.headers["organiser"],
        json={
            "name": "新居民",
            "phone": next_phone(),
            "password": password,
            "org_unit_id": world.units["grid_a"],
        },
    )
    assert created.status_code == 422 and "password" in created.get_json()["errors"]
    reset = client.post(
        f"/api/v1/members/{world.people['resident']}/password",
        json={"password": password},
        headers=world.headers["organiser"],
    )
    assert reset.status_code == 422 and "password" in reset.get_json()["errors"]
    changed = client.post(
        "/api/v1/me/password",
        headers=world.headers["villager"],
        json={"current_password": PASSWORD, "new_password": password},
    )
    assert changed.status_code == 422 and "new_password" in changed.get_json()["errors"]
    activated = client.post(
        "/api/v1/auth/activate",
        json={"phone": world.phones["neighbour"], "code": "ABCDEFGH", "password": password},
    )
    assert activated.status_code == 422 and "password" in activated.get_json()["errors"]
    assert (
        client.post(
            "/api/v1/auth/tokens", json={"phone": world.phones["villager"], "password": PASSWORD}
        ).status_code
        == 201
    )


def test_the_account_page_says_why_beside_the_new_password(app, world):
    browser = signed_in(app, world, "resident")
    response = change_own_password(browser, "12345678")
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and "太常见" in html
